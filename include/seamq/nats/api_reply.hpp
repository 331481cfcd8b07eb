#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/nats/jetstream_types.hpp"

//! The JetStream replies sea-mq reads itself (nats.c reads PubAcks, stream and consumer
//! info): pure functions of the bytes the server sent, so they are tested and fuzzed
//! without a server.
namespace seamq::nats {

//! The first stream named in a `$JS.API.STREAM.NAMES` reply, nullopt when it names none.
//! Throws NatsError for an API error reply ({"error": {"code", "err_code", "description"}})
//! and seamq::Error(Errc::nats) for a reply that is not the API's JSON. `what` starts
//! each message ("finding the stream for subject 'x'").
std::optional<std::string> parse_stream_names_reply(std::string_view payload, std::string_view what);

//! What a `$JS.API.STREAM.INFO.<stream>` reply says of the stream's sources (federation
//! status and the worker's federation gauges read it; nats.c 3.4.1 drops nothing of it,
//! but asking directly keeps one parser of ours, tested and fuzzed).
struct StreamSourcesReply {
    std::string name;
    std::uint64_t messages = 0;
    std::vector<StreamSourceInfo> sources;
};

//! Parses a `$JS.API.STREAM.INFO` reply; nullopt when the stream does not exist (JetStream
//! error 10059). Other API errors throw NatsError, a reply that is not the API's JSON
//! seamq::Error(Errc::nats); `what` starts each message.
std::optional<StreamSourcesReply> parse_stream_sources_reply(std::string_view payload, std::string_view what);

//! A status header of an empty JetStream message ("100", "404", "408", "409") as a number,
//! nullopt unless it is exactly three digits.
std::optional<int> parse_status_header(std::string_view value);

}  // namespace seamq::nats
