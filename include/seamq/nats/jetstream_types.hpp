#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace seamq::nats {

enum class StorageType { file, memory };
enum class RetentionPolicy { limits, interest, work_queue };
enum class DiscardPolicy { old_messages, new_messages };
std::string_view to_string(StorageType value) noexcept;
std::string_view to_string(RetentionPolicy value) noexcept;
std::string_view to_string(DiscardPolicy value) noexcept;

//! A stream this stream copies messages from (JetStream stream sources). `api_prefix` set
//! means the other stream is in another JetStream domain (or account): "$JS.<domain>.API".
//! Copied messages keep their subject and headers (Nats-Msg-Id included, so this stream's
//! duplicate window applies to them) and gain Nats-Stream-Source.
struct StreamSource {
    std::string name;
    std::string api_prefix;      //!< "" for a stream of the same domain and account
    std::string filter_subject;  //!< "" for all of it
    bool operator==(const StreamSource&) const = default;
};

//! The stream settings sea-mq manages (a subset of jsStreamConfig; the rest keep the
//! server's defaults). Limits use -1 for "unlimited", as JetStream does.
struct StreamConfig {
    std::string name;
    std::string description;
    std::vector<std::string> subjects;
    RetentionPolicy retention = RetentionPolicy::limits;
    StorageType storage = StorageType::file;
    int replicas = 1;
    std::chrono::nanoseconds max_age{0};  //!< 0: unlimited
    std::int64_t max_bytes = -1;
    std::int64_t max_messages = -1;
    std::int64_t max_messages_per_subject = -1;
    std::int32_t max_message_size = -1;
    std::int64_t max_consumers = -1;
    DiscardPolicy discard = DiscardPolicy::old_messages;
    std::chrono::nanoseconds duplicate_window{std::chrono::minutes(2)};
    bool deny_delete = false;
    bool deny_purge = false;
    bool allow_rollup = false;
    std::vector<StreamSource> sources;  //!< streams copied into this one
};

struct StreamState {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t first_sequence = 0;
    std::uint64_t last_sequence = 0;
    std::int64_t first_time_ns = 0;
    std::int64_t last_time_ns = 0;
    std::int64_t consumers = 0;
    std::int64_t subjects = 0;
    std::uint64_t deleted = 0;
};

//! One replica (not the leader) of a clustered stream or consumer.
struct PeerInfo {
    std::string name;
    bool current = false;
    bool offline = false;
    std::chrono::nanoseconds active{0};  //!< since last heard from
    std::uint64_t lag = 0;               //!< operations behind the leader
};

struct ClusterInfo {
    std::string name;
    std::string leader;              //!< server name; "" during an election
    std::vector<PeerInfo> replicas;  //!< the followers
};

//! How far one source of a stream has come (the server's view on the stream leader).
struct StreamSourceInfo {
    std::string name;
    std::string api_prefix;
    std::uint64_t lag = 0;  //!< messages of the source not yet copied, as last reported
    //! Since the source was last heard from (messages or heartbeats); negative: never or
    //! no source consumer at the moment (the link is down or being set up).
    std::chrono::nanoseconds active{-1};
};

struct StreamInfo {
    StreamConfig config;
    StreamState state;
    std::vector<StreamSourceInfo> sources;
    std::optional<ClusterInfo> cluster;  //!< set when the server is clustered
    std::int64_t created_ns = 0;
};

enum class AckPolicy { explicit_ack, none, all };
enum class DeliverPolicy { all, last, new_only, by_start_sequence, by_start_time, last_per_subject };

//! Consumer settings (a subset of jsConsumerConfig). Leave deliver_subject empty for a
//! pull consumer.
struct ConsumerConfig {
    std::string durable_name;  //!< required: sea-mq only manages durable consumers
    std::string description;
    std::string filter_subject;
    DeliverPolicy deliver_policy = DeliverPolicy::all;
    std::uint64_t start_sequence = 0;  //!< with by_start_sequence
    AckPolicy ack_policy = AckPolicy::explicit_ack;
    std::chrono::nanoseconds ack_wait{std::chrono::seconds(30)};
    std::int64_t max_deliver = -1;
    //! Redelivery delays after ack timeouts (never after naks); max_deliver must exceed its length.
    std::vector<std::chrono::nanoseconds> backoff;
    std::int64_t max_ack_pending = -1;  //!< -1: server default
    std::int64_t max_waiting = 0;       //!< pull requests waiting at once; 0: server default
    std::int64_t max_request_batch = 0;
    int replicas = 0;  //!< 0: inherit from the stream
    bool memory_storage = false;
    std::string deliver_subject;  //!< push consumers only
    std::string deliver_group;
};

struct SequenceInfo {
    std::uint64_t consumer_sequence = 0;
    std::uint64_t stream_sequence = 0;
};

struct ConsumerInfo {
    std::string stream;
    std::string name;
    ConsumerConfig config;
    SequenceInfo delivered;
    SequenceInfo ack_floor;
    std::int64_t num_ack_pending = 0;
    std::int64_t num_redelivered = 0;
    std::int64_t num_waiting = 0;
    std::uint64_t num_pending = 0;
    std::optional<ClusterInfo> cluster;
};

struct AccountInfo {
    std::uint64_t memory = 0;
    std::uint64_t store = 0;
    std::int64_t streams = 0;
    std::int64_t consumers = 0;
    std::string domain;
    std::int64_t max_memory = -1;
    std::int64_t max_store = -1;
    std::int64_t max_streams = -1;
    std::int64_t max_consumers = -1;
};

//! The server's answer to a JetStream publish. A duplicate (same Nats-Msg-Id inside the
//! duplicate window) is not an error: `duplicate` is true and `sequence` is the original's.
struct PubAck {
    std::string stream;
    std::uint64_t sequence = 0;
    bool duplicate = false;
    std::string domain;
};

}  // namespace seamq::nats
