#include "seamq/dead_letters/dead_letter.hpp"

#include <cctype>
#include <charconv>
#include <ctime>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/core/timestamp.hpp"

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
    return format_rfc3339(time, TimePrecision::milliseconds);
}

std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text) {
    return parse_rfc3339(text);
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
