#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nats/nats.h>

#include "seamq/nats/api_reply.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/nats/jetstream_types.hpp"
#include "seamq/nats/message.hpp"

namespace seamq::nats {

//! Outcome of one asynchronous publish, given to JetStreamOptions::on_publish_result.
struct AsyncPublishResult {
    std::string message_id;  //!< Nats-Msg-Id of the published message ("" if none)
    std::string subject;
    std::optional<PubAck> ack;  //!< set on success (check ack->duplicate)
    // On failure (ack empty):
    int status = 0;                         //!< natsStatus, e.g. NATS_TIMEOUT when MaxWait passed
    int js_error_code = 0;                  //!< e.g. 10060 expected stream mismatch, 10054 too large
    std::string error;                      //!< server or library text
    ErrorKind kind = ErrorKind::transient;  //!< see classify()
    bool ok() const noexcept { return ack.has_value(); }
};

//! Called once per async publish, on nats.c's reply thread, in ack arrival order.
//! It must not block for long and must not call publish_async (that can stall the
//! very thread that would free pending slots): hand retries to another thread.
using PublishResultHandler = std::function<void(const AsyncPublishResult&)>;

struct JetStreamOptions {
    std::string domain;                               //!< JetStream domain; "" for none
    std::chrono::milliseconds api_timeout{5000};      //!< stream/consumer API requests
    std::chrono::milliseconds publish_timeout{5000};  //!< sync publish, and async ack timeout
    std::int64_t max_pending_async = 4096;            //!< async publishes in flight; >0
    std::chrono::milliseconds stall_wait{5000};       //!< publish_async blocks this long at max pending
    PublishResultHandler on_publish_result;           //!< optional
};

//! Counters of asynchronous publishing since construction.
struct AsyncPublishCounters {
    std::uint64_t published = 0;   //!< accepted by publish_async
    std::uint64_t acked = 0;       //!< PubAck received (duplicates included)
    std::uint64_t duplicates = 0;  //!< of which the server reported duplicate
    std::uint64_t failed = 0;      //!< error or ack timeout
};

//! A JetStream context on a Connection (which must outlive it): publishing and stream /
//! consumer management. Errors are NatsError with the nats.c status, the JetStream error
//! code and ErrorKind.
class JetStream {
public:
    explicit JetStream(Connection& connection, JetStreamOptions options = {});
    //! Drops un-acked async publishes (use pending_async_messages() first to keep them)
    //! and waits (bounded) for a running result handler to return.
    ~JetStream();
    JetStream(const JetStream&) = delete;
    JetStream& operator=(const JetStream&) = delete;

    Connection& connection() const noexcept { return connection_; }
    const JetStreamOptions& options() const noexcept { return options_; }

    // --- publishing ---------------------------------------------------------------
    //! Publishes and waits for the PubAck. `timeout` 0 uses options().publish_timeout.
    PubAck publish(const OutgoingMessage& message,
                   std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
    //! Hands the message to nats.c and returns; the result comes to on_publish_result.
    //! The ack times out after options().publish_timeout (MaxWait), so nothing stays pending
    //! forever. Blocks up to stall_wait while max_pending_async are in flight, then throws
    //! a transient NatsError (the message was not published).
    void publish_async(const OutgoingMessage& message);
    //! Waits until every async publish got its result; false on timeout.
    bool wait_async_complete(std::chrono::milliseconds timeout);
    //! Async publishes without a result yet.
    std::int64_t pending_async() const;
    //! Takes back every un-acked async message (their results will not be reported) so
    //! the caller can resend them with the same id.
    std::vector<OutgoingMessage> take_pending_async_messages();
    AsyncPublishCounters async_counters() const;

    // --- streams ------------------------------------------------------------------
    StreamInfo add_stream(const StreamConfig& config);
    StreamInfo update_stream(const StreamConfig& config);
    //! nullopt when the stream does not exist.
    std::optional<StreamInfo> stream_info(const std::string& name);
    //! The stream's sources (lag, last heard from) from the raw `STREAM.INFO` reply,
    //! parsed by `parse_stream_sources_reply`; nullopt when there is no such stream.
    //! `timeout` 0: the API timeout of these options.
    std::optional<StreamSourcesReply> stream_sources(const std::string& name,
                                                     std::chrono::milliseconds timeout = {});
    //! The message at `sequence`, read from the stream leader (no consumer); nullopt when
    //! the stream has none there. natsMsg_GetSequence/GetTime on native() give its place.
    std::optional<Message> get_message(const std::string& stream, std::uint64_t sequence);
    //! Deletes the stream; false if it did not exist.
    bool delete_stream(const std::string& name);
    void purge_stream(const std::string& name);
    std::vector<std::string> stream_names();
    //! The stream capturing `subject` (a concrete subject or a wildcard), nullopt when none.
    //! Tells the two meanings of "no responders" apart: no stream vs. an election.
    std::optional<std::string> stream_for_subject(const std::string& subject);

    // --- consumers ----------------------------------------------------------------
    //! Creates a durable consumer (pull unless deliver_subject is set). Create consumers
    //! here, never through a subscription: nats.c deletes a consumer its subscription
    //! created on Unsubscribe/Drain.
    ConsumerInfo add_consumer(const std::string& stream, const ConsumerConfig& config);
    ConsumerInfo update_consumer(const std::string& stream, const ConsumerConfig& config);
    std::optional<ConsumerInfo> consumer_info(const std::string& stream, const std::string& consumer);
    bool delete_consumer(const std::string& stream, const std::string& consumer);
    std::vector<std::string> consumer_names(const std::string& stream);

    AccountInfo account_info();

    //! Subject prefix of the JetStream API for this context, e.g. "$JS.API" or
    //! "$JS.<domain>.API".
    std::string api_prefix() const;

    jsCtx* native() const noexcept { return context_; }

    struct State;  //!< shared with nats.c callbacks (defined in src/nats)

private:
    Connection& connection_;
    JetStreamOptions options_;
    std::shared_ptr<State> state_;
    jsCtx* context_ = nullptr;
};

}  // namespace seamq::nats
