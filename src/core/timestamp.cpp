#include "seamq/core/timestamp.hpp"

#include <cstdint>

#include <fmt/format.h>

namespace seamq {

std::string format_rfc3339(std::chrono::system_clock::time_point time, TimePrecision precision) {
    using namespace std::chrono;
    // Calendar arithmetic instead of gmtime: no time_t range, and times before 1970 keep
    // a positive fraction.
    const auto micros = floor<microseconds>(time);
    const auto day = floor<days>(micros);
    const year_month_day date{day};
    const hh_mm_ss clock{micros - day};
    std::string text = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<int>(date.year()),
                                   static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                                   clock.hours().count(), clock.minutes().count(), clock.seconds().count());
    const auto fraction = clock.subseconds().count();
    if (precision == TimePrecision::milliseconds) text += fmt::format(".{:03}", fraction / 1000);
    if (precision == TimePrecision::microseconds) text += fmt::format(".{:06}", fraction);
    text += 'Z';
    return text;
}

std::string now_rfc3339(TimePrecision precision) {
    return format_rfc3339(std::chrono::system_clock::now(), precision);
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) {
    using namespace std::chrono;
    std::size_t position = 0;
    // `length` digits at the current position (digits only: no sign, no spaces).
    auto digits = [&](std::size_t length) -> std::optional<int> {
        if (text.size() - position < length) return std::nullopt;
        int value = 0;
        for (std::size_t i = 0; i < length; ++i) {
            const char c = text[position + i];
            if (c < '0' || c > '9') return std::nullopt;
            value = value * 10 + (c - '0');
        }
        position += length;
        return value;
    };
    auto separator = [&](char expected, char alternative) {
        if (position >= text.size() || (text[position] != expected && text[position] != alternative))
            return false;
        ++position;
        return true;
    };
    const auto year = digits(4);
    if (!year || !separator('-', '-')) return std::nullopt;
    const auto month = digits(2);
    if (!month || !separator('-', '-')) return std::nullopt;
    const auto day = digits(2);
    if (!day || !separator('T', 't')) return std::nullopt;
    const auto hour = digits(2);
    if (!hour || !separator(':', ':')) return std::nullopt;
    const auto minute = digits(2);
    if (!minute || !separator(':', ':')) return std::nullopt;
    const auto second = digits(2);
    if (!second || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
    std::int64_t nanos = 0;
    if (separator('.', '.')) {
        int count = 0;
        for (; position < text.size() && text[position] >= '0' && text[position] <= '9';
             ++position, ++count) {
            if (count < 9) nanos = nanos * 10 + (text[position] - '0');
        }
        if (count == 0) return std::nullopt;
        for (; count < 9; ++count) nanos *= 10;
    }
    int offset_minutes = 0;
    if (!separator('Z', 'z')) {
        if (position >= text.size() || (text[position] != '+' && text[position] != '-')) return std::nullopt;
        const bool negative = text[position] == '-';
        ++position;
        const auto offset_hours = digits(2);
        if (!offset_hours || !separator(':', ':')) return std::nullopt;
        const auto offset_rest = digits(2);
        if (!offset_rest || *offset_hours > 23 || *offset_rest > 59) return std::nullopt;
        offset_minutes = (*offset_hours * 60 + *offset_rest) * (negative ? -1 : 1);
    }
    if (position != text.size()) return std::nullopt;
    const year_month_day date{std::chrono::year(*year), std::chrono::month(static_cast<unsigned>(*month)),
                              std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok()) return std::nullopt;
    // In seconds first: nanoseconds since 1970 overflow for years past 2262.
    const std::int64_t since_epoch =
        static_cast<std::int64_t>(sys_days(date).time_since_epoch().count()) * 86'400 + *hour * 3600 +
        *minute * 60 + *second - std::int64_t{offset_minutes} * 60;
    constexpr auto limit = duration_cast<seconds>(system_clock::duration::max()).count() - 1;
    if (since_epoch > limit || since_epoch < -limit) return std::nullopt;
    return system_clock::time_point(duration_cast<system_clock::duration>(seconds(since_epoch)) +
                                    duration_cast<system_clock::duration>(nanoseconds(nanos)));
}

}  // namespace seamq
