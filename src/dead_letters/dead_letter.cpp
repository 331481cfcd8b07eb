#include "seamq/dead_letters/dead_letter.hpp"

#include <cctype>
#include <charconv>
#include <ctime>

#include <fmt/format.h>

#include "seamq/core/error.hpp"

namespace seamq::dead_letters {

namespace {

constexpr std::size_t max_error_bytes = 1000;

// Header values must stay on one line: NATS headers end at CR LF.
std::string one_line(std::string_view text, std::size_t limit) {
    std::string result;
    result.reserve(std::min(text.size(), limit));
    for (const char c : text) {
        if (result.size() >= limit) break;
        result += (c == '\r' || c == '\n') ? ' ' : c;
    }
    return result;
}

std::uint64_t to_unsigned(std::string_view text) {
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc() && end == text.data() + text.size() ? value : 0;
}

bool is_managed_header(std::string_view name) {
    auto starts_with_ci = [&](std::string_view prefix) {
        if (name.size() < prefix.size()) return false;
        for (std::size_t i = 0; i < prefix.size(); ++i) {
            if (std::tolower(static_cast<unsigned char>(name[i])) != prefix[i]) return false;
        }
        return true;
    };
    return starts_with_ci("nats-") || starts_with_ci("seamq-");
}

}  // namespace

std::string_view to_string(ErrorClass value) noexcept {
    switch (value) {
        case ErrorClass::poison: return "poison";
        case ErrorClass::permanent: return "permanent";
        case ErrorClass::exhausted: return "exhausted";
    }
    return "exhausted";
}

std::optional<ErrorClass> parse_error_class(std::string_view text) noexcept {
    if (text == "poison") return ErrorClass::poison;
    if (text == "permanent") return ErrorClass::permanent;
    if (text == "exhausted") return ErrorClass::exhausted;
    return std::nullopt;
}

std::string dead_letter_subject(std::string_view context, std::string_view consumer) {
    return fmt::format("dlq.{}.{}", context, consumer);
}

std::string dead_letter_message_id(std::string_view consumer, std::string_view stream,
                                   std::uint64_t sequence) {
    return fmt::format("dlq/{}/{}/{}", consumer, stream, sequence);
}

std::string dead_letter_stream_name(std::string_view context) {
    std::string name;
    for (const char c : context) {
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return name + "_DLQ";
}

std::string format_time(std::chrono::system_clock::time_point time) {
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                       utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis % 1000);
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
    if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
        text[13] != ':' || text[16] != ':')
        return std::nullopt;
    auto number = [&](std::size_t position, std::size_t length) -> std::optional<int> {
        int value = 0;
        const auto [end, error] =
            std::from_chars(text.data() + position, text.data() + position + length, value);
        if (error != std::errc() || end != text.data() + position + length) return std::nullopt;
        return value;
    };
    const auto year = number(0, 4), month = number(5, 2), day = number(8, 2), hour = number(11, 2),
               minute = number(14, 2), second = number(17, 2);
    if (!year || !month || !day || !hour || !minute || !second || *month < 1 || *month > 12 || *day < 1 ||
        *day > 31 || *hour > 23 || *minute > 59 || *second > 60)
        return std::nullopt;
    std::size_t position = 19;
    std::chrono::nanoseconds fraction{0};
    if (position < text.size() && text[position] == '.') {
        ++position;
        std::int64_t nanos = 0;
        int digits = 0;
        while (position < text.size() && std::isdigit(static_cast<unsigned char>(text[position]))) {
            if (digits < 9) {
                nanos = nanos * 10 + (text[position] - '0');
                ++digits;
            }
            ++position;
        }
        if (digits == 0) return std::nullopt;
        for (; digits < 9; ++digits) nanos *= 10;
        fraction = std::chrono::nanoseconds(nanos);
    }
    std::chrono::minutes offset{0};
    if (position >= text.size()) return std::nullopt;
    if (text[position] == 'Z' || text[position] == 'z') {
        ++position;
    } else if (text[position] == '+' || text[position] == '-') {
        const auto offset_hours = number(position + 1, 2);
        const auto offset_minutes = position + 6 <= text.size() ? number(position + 4, 2) : std::nullopt;
        if (!offset_hours || !offset_minutes || text[position + 3] != ':') return std::nullopt;
        offset = std::chrono::minutes(*offset_hours * 60 + *offset_minutes);
        if (text[position] == '-') offset = -offset;
        position += 6;
    } else {
        return std::nullopt;
    }
    if (position != text.size()) return std::nullopt;
    const std::chrono::year_month_day date{std::chrono::year(*year),
                                           std::chrono::month(static_cast<unsigned>(*month)),
                                           std::chrono::day(static_cast<unsigned>(*day))};
    if (!date.ok()) return std::nullopt;
    const auto time = std::chrono::sys_days(date) + std::chrono::hours(*hour) +
                      std::chrono::minutes(*minute) + std::chrono::seconds(*second) - offset;
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(
        std::chrono::system_clock::time_point(time) +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction));
}

nats::OutgoingMessage to_message(const DeadLetter& letter, std::string expected_stream) {
    if (letter.context.empty() || letter.consumer.empty())
        raise(Errc::invalid_argument, "dead letter of '{}' (sequence {}) needs a context and a consumer",
              letter.original_subject, letter.original_sequence);
    nats::OutgoingMessage message;
    message.subject = dead_letter_subject(letter.context, letter.consumer);
    message.payload = letter.payload;
    message.message_id =
        dead_letter_message_id(letter.consumer, letter.original_stream, letter.original_sequence);
    message.expected_stream = std::move(expected_stream);
    auto add = [&](std::string_view name, std::string value) {
        if (!value.empty()) message.headers.emplace_back(std::string(name), std::move(value));
    };
    add(header::original_subject, letter.original_subject);
    add(header::original_stream, letter.original_stream);
    add(header::original_sequence, std::to_string(letter.original_sequence));
    add(header::original_message_id, one_line(letter.original_message_id, 200));
    add(header::consumer, letter.consumer);
    add(header::context, letter.context);
    add(header::deliveries, std::to_string(letter.deliveries));
    add(header::error_class, std::string(to_string(letter.error_class)));
    add(header::error_message,
        one_line(letter.error_message.empty() ? "(no message)" : letter.error_message, max_error_bytes));
    add(header::first_failure, format_time(letter.first_failure));
    add(header::last_failure, format_time(letter.last_failure));
    for (const auto& [name, value] : letter.original_headers) {
        if (!is_managed_header(name)) message.headers.emplace_back(name, one_line(value, 4096));
    }
    return message;
}

DeadLetter from_parts(std::string subject, const nats::Headers& headers, std::string payload) {
    DeadLetter letter;
    letter.dead_letter_subject = std::move(subject);
    letter.payload = std::move(payload);
    bool has_consumer = false, has_subject = false;
    for (const auto& [name, value] : headers) {
        if (name == header::original_subject) {
            letter.original_subject = value;
            has_subject = true;
        } else if (name == header::original_stream) {
            letter.original_stream = value;
        } else if (name == header::original_sequence) {
            letter.original_sequence = to_unsigned(value);
        } else if (name == header::original_message_id) {
            letter.original_message_id = value;
        } else if (name == header::consumer) {
            letter.consumer = value;
            has_consumer = true;
        } else if (name == header::context) {
            letter.context = value;
        } else if (name == header::deliveries) {
            letter.deliveries = to_unsigned(value);
        } else if (name == header::error_class) {
            letter.error_class = parse_error_class(value).value_or(ErrorClass::exhausted);
        } else if (name == header::error_message) {
            letter.error_message = value;
        } else if (name == header::first_failure) {
            letter.first_failure = parse_time(value).value_or(std::chrono::system_clock::time_point{});
        } else if (name == header::last_failure) {
            letter.last_failure = parse_time(value).value_or(std::chrono::system_clock::time_point{});
        } else if (!is_managed_header(name)) {
            letter.original_headers.emplace_back(name, value);
        }
    }
    if (!has_consumer || !has_subject)
        raise(Errc::invalid_argument,
              "message on '{}' is not a sea-mq dead letter: header {} or {} is missing (was it published "
              "to the DLQ stream by something else?)",
              letter.dead_letter_subject, header::consumer, header::original_subject);
    return letter;
}

nats::PubAck DeadLetterPublisher::publish(const DeadLetter& letter, std::chrono::milliseconds timeout) {
    return jetstream_.publish(
        to_message(letter, expect_stream_ ? dead_letter_stream_name(letter.context) : ""), timeout);
}

}  // namespace seamq::dead_letters
