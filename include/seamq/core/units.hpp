#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

//! The duration and byte-size syntax every sea-mq configuration uses (worker file,
//! streams file, CLI options): one parser each, so the same text means the same
//! thing everywhere.
namespace seamq {

//! "500ms", "2s", "1m30s", "1h30m", "7d": one or more <digits><unit> terms, summed, unit
//! one of ms, s, m, h, d; "0" alone is zero. Throws Error(Errc::invalid_argument) naming
//! the problem when the text is malformed or the sum does not fit 64-bit milliseconds.
std::chrono::milliseconds parse_duration(std::string_view text);

//! Compact, the inverse of parse_duration: 90000ms -> "1m30s", 0 -> "0s", -1500ms -> "-1s500ms".
std::string format_duration(std::chrono::milliseconds duration);

//! "1048576", "512KiB", "8MiB", "1GB", "1 MiB": <digits>, optional spaces, optional unit B,
//! KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024). Throws
//! Error(Errc::invalid_argument) naming the problem when malformed, negative or beyond
//! 64 bits.
std::int64_t parse_byte_size(std::string_view text);

}  // namespace seamq
