#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

//! RFC 3339 timestamps, the one text form of a point in time in sea-mq (envelope `time`,
//! dead-letter headers, JSON logs, CLI output).
namespace seamq {

//! Digits after the seconds.
enum class TimePrecision { seconds, milliseconds, microseconds };

//! UTC with a 'Z', e.g. "2024-05-01T12:00:00.123Z"; truncated (not rounded) to `precision`.
std::string format_rfc3339(std::chrono::system_clock::time_point time,
                           TimePrecision precision = TimePrecision::milliseconds);

//! The current time, formatted as above.
std::string now_rfc3339(TimePrecision precision = TimePrecision::milliseconds);

//! Reads YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) ('t' and 'z' too): a real calendar
//! date, hour 00-23, minute 00-59, second 00-60 (60, a leap second, counts as the next
//! minute's 00), offset at most 23:59, fraction digits beyond nanoseconds ignored.
//! nullopt when malformed or outside what system_clock holds (about 1678 to 2262).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace seamq
