#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/nats/jetstream_types.hpp"

namespace seamq::streams {

//! The two streams of one bounded context: its events (`{context}.>`) and its dead
//! letters (`dlq.{context}.>`).
struct ContextStreams {
    std::string context;
    nats::StreamConfig events;
    nats::StreamConfig dead_letters;
};

//! A parsed, validated streams file (config/streams.yaml).
struct StreamsConfig {
    std::string source;  //!< file name, for messages
    std::vector<ContextStreams> contexts;
    //! Every stream in file order (events, dead letters, next context...).
    std::vector<nats::StreamConfig> streams() const;
};

//! `sea` -> `SEA_EVENTS`; context names are [a-z][a-z0-9_-]*.
std::string event_stream_name(std::string_view context);
//! `sea` -> `SEA_DLQ`.
std::string dead_letter_stream_name(std::string_view context);
//! `sea` -> `sea.>`.
std::string event_subjects(std::string_view context);
//! `sea` -> `dlq.sea.>`.
std::string dead_letter_subjects(std::string_view context);

//! Parses and validates a streams file. Throws seamq::Error(Errc::config) naming the
//! source, the key and the line:column of the problem.
StreamsConfig parse_streams_config(std::string_view yaml_text, std::string source = "<string>");
StreamsConfig load_streams_config(const std::filesystem::path& file);

//! seamq::parse_duration (core/units.hpp: "2m", "90s", "1h30m", "7d", "500ms", "0"), at most
//! what JetStream's nanoseconds hold. Throws seamq::Error(invalid_argument).
std::chrono::nanoseconds parse_duration(std::string_view text);
//! seamq::parse_byte_size ("1048576", "1MiB", "512KiB", "10GB"), or -1 / "unlimited" for
//! unlimited (-1). Throws seamq::Error(invalid_argument).
std::int64_t parse_size(std::string_view text);
//! 120s -> "2m", 0 -> "0s"; the inverse of parse_duration for display.
std::string format_duration(std::chrono::nanoseconds value);

}  // namespace seamq::streams
