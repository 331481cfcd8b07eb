#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nats/nats.h>

namespace seamq::nats {

//! Header names sea-mq sets; JetStream interprets the first two.
inline constexpr std::string_view message_id_header = "Nats-Msg-Id";
inline constexpr std::string_view expected_stream_header = "Nats-Expected-Stream";

//! Message headers in order; a name may repeat (NATS headers are multi-valued).
using Headers = std::vector<std::pair<std::string, std::string>>;

//! A message to publish. `message_id` becomes Nats-Msg-Id (JetStream deduplicates on it
//! inside the stream's duplicate window); `expected_stream` becomes Nats-Expected-Stream
//! (the publish fails with JetStream error 10060 if another stream captures the subject).
struct OutgoingMessage {
    std::string subject;
    std::string payload;
    std::string message_id;       //!< empty: no Nats-Msg-Id
    std::string expected_stream;  //!< empty: any stream
    Headers headers;              //!< further headers, e.g. traceparent
};

//! Where a JetStream message sits, parsed from its `$JS.ACK...` reply subject.
struct MessageMetadata {
    std::string stream;
    std::string consumer;
    std::string domain;
    std::uint64_t stream_sequence = 0;
    std::uint64_t consumer_sequence = 0;
    std::uint64_t num_delivered = 0;  //!< 1 on first delivery
    std::uint64_t num_pending = 0;    //!< messages left for the consumer after this one
    std::int64_t timestamp_ns = 0;    //!< when the stream stored it (UTC ns since epoch)
};

//! A received message (owns the natsMsg). Acknowledgements work for messages delivered
//! by a JetStream consumer (reply subject `$JS.ACK...`), whatever subscription got them:
//! they are sent by sea-mq itself, not by natsMsg_Ack, which requires a nats.c
//! JetStream subscription.
class Message {
public:
    Message() = default;
    //! Takes ownership of `message`; acks go out on `connection` (may be null: no acks).
    Message(natsMsg* message, natsConnection* connection) noexcept
        : message_(message), connection_(connection) {}
    ~Message();
    Message(Message&& other) noexcept
        : message_(std::exchange(other.message_, nullptr)),
          connection_(other.connection_),
          acked_(other.acked_) {}
    Message& operator=(Message&& other) noexcept;
    Message(const Message&) = delete;
    Message& operator=(const Message&) = delete;

    explicit operator bool() const noexcept { return message_ != nullptr; }
    std::string_view subject() const;
    std::string_view reply() const;  //!< empty if none
    std::string_view payload() const;
    std::string payload_string() const { return std::string(payload()); }
    //! First value of header `name`, nullopt if absent.
    std::optional<std::string> header(std::string_view name) const;
    Headers headers() const;  //!< every header, in order
    //! Nats-Msg-Id or "".
    std::string message_id() const { return header(message_id_header).value_or(""); }

    //! A status-only message (NATS/1.0 <code>): 404/408/409 for pull requests, 100 for
    //! heartbeats, 503 for no responders. nullopt for an ordinary message.
    std::optional<int> status_code() const;
    //! True when the reply subject is a JetStream ack subject.
    bool is_jetstream() const;
    //! Parsed from the reply subject; throws NatsError if this is not a JetStream message.
    MessageMetadata metadata() const;

    //! Acknowledge (fire and forget). No-op after a previous ack/nak/term.
    void ack();
    //! Acknowledge and wait for the server to confirm; use it where the ack closes an
    //! exactly-once step (acks sent during a consumer leader change are lost otherwise).
    void ack_sync(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    //! Negative ack: redeliver now.
    void nak();
    //! Negative ack with a redelivery delay (BackOff never applies to naks).
    void nak_with_delay(std::chrono::milliseconds delay);
    //! Work in progress: resets the ack wait timer; may be sent repeatedly.
    void in_progress();
    //! Terminate: never redeliver.
    void term();
    bool acknowledged() const noexcept { return acked_; }

    natsMsg* native() const noexcept { return message_; }
    natsMsg* release() noexcept { return std::exchange(message_, nullptr); }

private:
    void send_ack(std::string_view body, bool final_ack, bool wait, std::chrono::milliseconds timeout);

    natsMsg* message_ = nullptr;
    natsConnection* connection_ = nullptr;
    bool acked_ = false;
};

//! Builds a natsMsg (headers included); caller owns it. Throws NatsError.
natsMsg* make_native_message(const OutgoingMessage& message);

}  // namespace seamq::nats
