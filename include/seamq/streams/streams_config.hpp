#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/nats/jetstream_types.hpp"

namespace seamq::streams {

//! The streams of one bounded context: its events (`{context}.>`), its dead letters
//! (`dlq.{context}.>`) and, when it exports (`export: true`), its export stream
//! (`export.{context}.>`: external copies for other cells, docs/federation.md).
struct ContextStreams {
    std::string context;
    nats::StreamConfig events;
    nats::StreamConfig dead_letters;
    std::optional<nats::StreamConfig> exports;
};

//! One `imports[]` entry: this cell's copy of the external events of a context exported
//! by other cells: `<CONTEXT>_IMPORTS`, sourcing `<CONTEXT>_EXPORT` of each cell through
//! `$JS.<cell>.API` (one stream per context, so nats.conf can name it in the permissions
//! of worker-<context>, who consumes it).
struct ImportedStream {
    std::string context;
    std::vector<std::string> cells;  //!< the exporting cells' JetStream domains, e.g. cell-a
    nats::StreamConfig stream;
};

//! A parsed, validated streams file (config/streams.yaml).
struct StreamsConfig {
    std::string source;  //!< file name, for messages
    std::vector<ContextStreams> contexts;
    std::vector<ImportedStream> imports;
    //! Every stream in file order (events, dead letters, export, next context..., then imports).
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
//! `sea` -> `SEA_EXPORT`.
std::string export_stream_name(std::string_view context);
//! `sea` -> `export.sea.>`.
std::string export_subjects(std::string_view context);
//! The subject an event's external copy is published to: `export.` + its type.
std::string export_subject(std::string_view event_type);
//! `sea` -> `SEA_IMPORTS`.
std::string import_stream_name(std::string_view context);
//! The import stream's one subject of its own, `import.{context}.>`: replayed dead letters
//! of imported events (its other messages come from its sources, on `export.{context}.>`).
std::string import_replay_subjects(std::string_view context);
//! `cell-a` -> `$JS.cell-a.API`: a JetStream domain's API as seen across a leafnode.
std::string domain_api_prefix(std::string_view domain);

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
