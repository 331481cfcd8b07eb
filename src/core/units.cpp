#include "seamq/core/units.hpp"

#include <limits>
#include <optional>
#include <utility>

#include "seamq/core/error.hpp"

namespace seamq {

namespace {

constexpr auto max_int64 = std::numeric_limits<std::int64_t>::max();

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The leading digits of `text` as a number, or nullopt past int64 (the digits are consumed
// either way).
std::optional<std::int64_t> take_number(std::string_view& text) {
    std::int64_t value = 0;
    bool fits = true;
    std::size_t i = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
        const int digit = text[i] - '0';
        if (value > (max_int64 - digit) / 10) fits = false;
        if (fits) value = value * 10 + digit;
    }
    text.remove_prefix(i);
    if (!fits) return std::nullopt;
    return value;
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
    const std::string_view original = text;
    if (text.empty())
        raise(Errc::invalid_argument, "empty duration (expected e.g. 2m, 90s, 1h30m, 7d, 500ms)");
    if (text == "0") return std::chrono::milliseconds(0);
    std::int64_t total = 0;
    bool too_long = false;
    while (!text.empty()) {
        if (!is_digit(text.front()))
            raise(Errc::invalid_argument, "bad duration '{}' (expected e.g. 2m, 90s, 1h30m, 7d, 500ms)",
                  original);
        const auto number = take_number(text);
        std::size_t unit_length = 0;
        while (unit_length < text.size() && is_letter(text[unit_length])) ++unit_length;
        const auto unit = text.substr(0, unit_length);
        text.remove_prefix(unit_length);
        std::int64_t scale = 0;
        if (unit == "ms") {
            scale = 1;
        } else if (unit == "s") {
            scale = 1000;
        } else if (unit == "m") {
            scale = 60'000;
        } else if (unit == "h") {
            scale = 3'600'000;
        } else if (unit == "d") {
            scale = 86'400'000;
        } else if (unit.empty()) {
            raise(Errc::invalid_argument, "bad duration '{}': a number without a unit (ms, s, m, h or d)",
                  original);
        } else {
            raise(Errc::invalid_argument, "bad duration '{}': unit '{}' is not one of ms, s, m, h, d",
                  original, unit);
        }
        if (!number || *number > (max_int64 - total) / scale) {
            too_long = true;  // keep reading: a malformed rest is the better message
        } else {
            total += *number * scale;
        }
    }
    if (too_long) raise(Errc::invalid_argument, "duration '{}' is too long to represent", original);
    return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds duration) {
    auto rest = duration.count();
    if (rest == 0) return "0s";
    std::string out;
    // The most negative value has no positive twin: format it one millisecond shorter.
    if (rest == std::numeric_limits<std::int64_t>::min()) ++rest;
    if (rest < 0) {
        out = "-";
        rest = -rest;
    }
    const std::pair<std::int64_t, const char*> units[] = {
        {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
    for (const auto& [scale, unit] : units) {
        if (rest >= scale) {
            out += std::to_string(rest / scale);
            out += unit;
            rest %= scale;
        }
    }
    return out;
}

std::int64_t parse_byte_size(std::string_view text) {
    const std::string_view original = text;
    if (text.empty() || !is_digit(text.front()))
        raise(Errc::invalid_argument, "bad size '{}' (expected bytes or e.g. 512KiB, 1MiB, 10GiB, 5GB)",
              original);
    const auto number = take_number(text);
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    static constexpr std::pair<std::string_view, std::int64_t> units[] = {
        {"", 1},
        {"B", 1},
        {"KB", 1000},
        {"MB", 1000 * 1000},
        {"GB", 1000LL * 1000 * 1000},
        {"TB", 1000LL * 1000 * 1000 * 1000},
        {"KiB", 1024},
        {"MiB", 1024 * 1024},
        {"GiB", 1024LL * 1024 * 1024},
        {"TiB", 1024LL * 1024 * 1024 * 1024}};
    for (const auto& [unit, scale] : units) {
        if (unit != text) continue;
        if (!number || *number > max_int64 / scale)
            raise(Errc::invalid_argument, "size '{}' is too large", original);
        return *number * scale;
    }
    raise(Errc::invalid_argument,
          "bad size '{}': unit '{}' is not one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB", original, text);
}

}  // namespace seamq
