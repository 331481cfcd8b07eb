#pragma once

#include <optional>
#include <string>
#include <string_view>

//! The JetStream replies sea-mq reads itself (nats.c reads PubAcks, stream and consumer
//! info): pure functions of the bytes the server sent, so they are tested and fuzzed
//! without a server.
namespace seamq::nats {

//! The first stream named in a `$JS.API.STREAM.NAMES` reply, nullopt when it names none.
//! Throws NatsError for an API error reply ({"error": {"code", "err_code", "description"}})
//! and seamq::Error(Errc::nats) for a reply that is not the API's JSON. `what` starts
//! each message ("finding the stream for subject 'x'").
std::optional<std::string> parse_stream_names_reply(std::string_view payload, std::string_view what);

//! A status header of an empty JetStream message ("100", "404", "408", "409") as a number,
//! nullopt unless it is exactly three digits.
std::optional<int> parse_status_header(std::string_view value);

}  // namespace seamq::nats
