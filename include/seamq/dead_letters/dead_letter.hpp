#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/message.hpp"

//! Dead letters: copies of messages a consumer gave up on, kept in the context's DLQ
//! stream (`dlq.{context}.{consumer}`) with headers saying where they came from and why.
//! Header reference: src/dead_letters/README.md.
namespace seamq::dead_letters {

//! Header names of a dead letter (all set by sea-mq; values are plain text).
namespace header {
inline constexpr std::string_view original_subject = "Seamq-Original-Subject";
inline constexpr std::string_view original_stream = "Seamq-Original-Stream";
inline constexpr std::string_view original_sequence = "Seamq-Original-Sequence";
inline constexpr std::string_view original_message_id = "Seamq-Original-Msg-Id";
inline constexpr std::string_view consumer = "Seamq-Consumer";
inline constexpr std::string_view context = "Seamq-Context";
inline constexpr std::string_view deliveries = "Seamq-Deliveries";
inline constexpr std::string_view error_class = "Seamq-Error-Class";
inline constexpr std::string_view error_message = "Seamq-Error";
inline constexpr std::string_view first_failure = "Seamq-First-Failure";
inline constexpr std::string_view last_failure = "Seamq-Last-Failure";
//! On a replayed message: the one consumer that should handle it; others ack and skip.
inline constexpr std::string_view replay_for = "Seamq-Replay-For";
//! On a replayed message: the DLQ stream and sequence it was replayed from.
inline constexpr std::string_view replayed_from = "Seamq-Replayed-From";
}  // namespace header

//! Why a message was dead-lettered.
enum class ErrorClass {
    poison,     //!< not a valid envelope: never reached a handler
    permanent,  //!< the handler said retrying cannot help (PermanentFailure)
    exhausted,  //!< the handler failed on every allowed delivery
};
std::string_view to_string(ErrorClass value) noexcept;
//! nullopt for anything but "poison", "permanent", "exhausted".
std::optional<ErrorClass> parse_error_class(std::string_view text) noexcept;

//! One dead letter: the original message and the circumstances.
struct DeadLetter {
    std::string context;           //!< bounded context of the consumer (selects the DLQ stream)
    std::string consumer;          //!< durable consumer that gave up
    std::string original_subject;  //!< subject the message was delivered on
    std::string original_stream;
    std::uint64_t original_sequence = 0;
    std::string original_message_id;  //!< Nats-Msg-Id of the original, "" if none
    std::uint64_t deliveries = 0;     //!< NumDelivered of the last delivery
    ErrorClass error_class = ErrorClass::exhausted;
    std::string error_message;  //!< the last failure, shortened to 1000 bytes
    std::chrono::system_clock::time_point first_failure{};
    std::chrono::system_clock::time_point last_failure{};
    std::string payload;  //!< the original bytes, unchanged
    //! The original's own headers (traceparent...), without Nats-* and Seamq-* ones.
    nats::Headers original_headers;

    // Filled when read back from the DLQ stream:
    std::string dead_letter_stream;
    std::uint64_t dead_letter_sequence = 0;
    std::string dead_letter_subject;
    std::chrono::system_clock::time_point dead_lettered_at{};  //!< when the DLQ stored it
};

//! `dlq.{context}.{consumer}`.
std::string dead_letter_subject(std::string_view context, std::string_view consumer);
//! The Nats-Msg-Id of a dead letter: deterministic from the original's position, so a
//! second dead-lettering of the same delivery (crash between the DLQ publish and the
//! Term) lands in the DLQ stream's duplicate window instead of the stream.
std::string dead_letter_message_id(std::string_view consumer, std::string_view stream,
                                   std::uint64_t sequence);
//! `sea` -> `SEA_DLQ` (the rule of config/streams.yaml, see seamq::streams).
std::string dead_letter_stream_name(std::string_view context);

//! The message to publish for `letter` (subject, deterministic id, headers, payload).
nats::OutgoingMessage to_message(const DeadLetter& letter, std::string expected_stream = {});
//! Reads a dead letter from a DLQ message's subject, headers and payload (fields the
//! headers lack stay empty). Throws seamq::Error(invalid_argument) when the headers
//! that make it a dead letter (consumer, original subject) are missing.
DeadLetter from_parts(std::string subject, const nats::Headers& headers, std::string payload);

//! RFC 3339 UTC with milliseconds, and back (nullopt when malformed).
std::string format_time(std::chrono::system_clock::time_point time);
std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text);

//! Publishes dead letters and waits for the DLQ stream's PubAck.
class DeadLetterPublisher {
public:
    //! `expect_stream`: send Nats-Expected-Stream = the context's DLQ stream name, so a
    //! missing DLQ stream fails loudly instead of landing elsewhere.
    explicit DeadLetterPublisher(nats::JetStream& jetstream, bool expect_stream = true)
        : jetstream_(jetstream), expect_stream_(expect_stream) {}

    //! Publishes and returns the PubAck (duplicate = it was dead-lettered before). Throws
    //! NatsError; the caller must then not Term the original.
    nats::PubAck publish(const DeadLetter& letter,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

private:
    nats::JetStream& jetstream_;
    bool expect_stream_;
};

}  // namespace seamq::dead_letters
