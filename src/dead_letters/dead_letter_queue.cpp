#include "seamq/dead_letters/dead_letter_queue.hpp"

#include <array>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"

namespace seamq::dead_letters {

namespace {

// JetStream error codes of STREAM.MSG.GET / DELETE we expect in normal operation.
constexpr int js_no_message_found = 10037;
constexpr int js_stream_not_found = 10059;
constexpr int js_sequence_not_found = 10057;

std::string decode_base64(std::string_view text) {
    static const auto table = [] {
        std::array<int, 256> values{};
        values.fill(-1);
        const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (std::size_t i = 0; i < alphabet.size(); ++i)
            values[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
        return values;
    }();
    std::string result;
    result.reserve(text.size() * 3 / 4);
    int buffer = 0, bits = 0;
    for (const char c : text) {
        if (c == '=') break;
        const int value = table[static_cast<unsigned char>(c)];
        if (value < 0) continue;  // whitespace
        buffer = (buffer << 6) | value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            result += static_cast<char>((buffer >> bits) & 0xFF);
        }
    }
    return result;
}

// "NATS/1.0\r\nName: value\r\n...\r\n\r\n" as JetStream stores headers.
nats::Headers parse_header_block(std::string_view block) {
    nats::Headers headers;
    std::size_t position = block.find("\r\n");
    if (position == std::string_view::npos) return headers;
    position += 2;
    while (position < block.size()) {
        const auto end = block.find("\r\n", position);
        const auto line =
            block.substr(position, end == std::string_view::npos ? std::string_view::npos : end - position);
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon != std::string_view::npos) {
            auto value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
        }
        if (end == std::string_view::npos) break;
        position = end + 2;
    }
    return headers;
}

std::vector<std::string_view> tokens(std::string_view subject) {
    std::vector<std::string_view> result;
    std::size_t start = 0;
    while (true) {
        const auto dot = subject.find('.', start);
        result.push_back(
            subject.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return result;
}

}  // namespace

bool subject_matches(std::string_view pattern, std::string_view subject) {
    const auto wanted = tokens(pattern);
    const auto actual = tokens(subject);
    for (std::size_t i = 0; i < wanted.size(); ++i) {
        if (wanted[i] == ">") return actual.size() > i;
        if (i >= actual.size()) return false;
        if (wanted[i] != "*" && wanted[i] != actual[i]) return false;
    }
    return wanted.size() == actual.size();
}

bool Filter::matches(const DeadLetter& letter) const {
    if (!consumer.empty() && letter.consumer != consumer) return false;
    if (!subject.empty() && !subject_matches(subject, letter.original_subject)) return false;
    if (since && letter.dead_lettered_at < *since) return false;
    if (until && letter.dead_lettered_at >= *until) return false;
    if (from_sequence != 0 && letter.dead_letter_sequence < from_sequence) return false;
    if (to_sequence != 0 && letter.dead_letter_sequence > to_sequence) return false;
    return true;
}

DeadLetterQueue::DeadLetterQueue(nats::JetStream& jetstream, std::string context, std::string stream)
    : jetstream_(jetstream),
      context_(std::move(context)),
      stream_(stream.empty() ? dead_letter_stream_name(context_) : std::move(stream)) {}

std::optional<DeadLetter> DeadLetterQueue::next(std::uint64_t from_sequence,
                                                const std::string& subject_filter) {
    nlohmann::json request = {{"seq", std::max<std::uint64_t>(from_sequence, 1)}};
    if (!subject_filter.empty()) request["next_by_subj"] = subject_filter;
    const auto api_subject = fmt::format("{}.STREAM.MSG.GET.{}", jetstream_.api_prefix(), stream_);
    auto reply =
        jetstream_.connection().request(api_subject, request.dump(), jetstream_.options().api_timeout);
    nlohmann::json response;
    try {
        response = nlohmann::json::parse(reply.payload());
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::nats, "reading dead letters of stream {}: unreadable answer from the server: {}", stream_,
              e.what());
    }
    // A JSON answer of an unexpected shape is the server's error, not a crash.
    try {
        if (response.contains("error")) {
            const auto& error = response["error"];
            const int code = error.value("err_code", 0);
            if (code == js_no_message_found || code == js_sequence_not_found ||
                error.value("code", 0) == 404) {
                if (code == js_stream_not_found)
                    raise(Errc::not_found,
                          "dead-letter stream {} of context '{}' does not exist (apply config/streams.yaml "
                          "with `sea-mq streams apply`)",
                          stream_, context_);
                return std::nullopt;
            }
            raise(Errc::nats, "reading dead letters of stream {} from sequence {}: {} (JetStream error {})",
                  stream_, from_sequence, error.value("description", std::string("unknown error")), code);
        }
        const auto& message = response.at("message");
        DeadLetter letter;
        const auto headers = parse_header_block(decode_base64(message.value("hdrs", std::string())));
        try {
            letter = from_parts(message.value("subject", std::string()), headers,
                                decode_base64(message.value("data", std::string())));
        } catch (const Error&) {
            // Something other than a dead letter in the DLQ stream: show it as it is.
            letter.dead_letter_subject = message.value("subject", std::string());
            letter.payload = decode_base64(message.value("data", std::string()));
            letter.original_headers = headers;
            letter.error_message = "not a sea-mq dead letter (headers missing)";
        }
        letter.dead_letter_stream = stream_;
        letter.dead_letter_sequence = message.value("seq", std::uint64_t{0});
        letter.dead_lettered_at = parse_time(message.value("time", std::string()))
                                      .value_or(std::chrono::system_clock::time_point{});
        return letter;
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::nats,
              "reading dead letters of stream {} from sequence {}: unexpected answer from the server: {}",
              stream_, from_sequence, e.what());
    }
}

std::vector<DeadLetter> DeadLetterQueue::list(const Filter& filter) {
    const auto info = jetstream_.stream_info(stream_);
    if (!info)
        raise(Errc::not_found,
              "dead-letter stream {} of context '{}' does not exist (apply config/streams.yaml with `sea-mq "
              "streams "
              "apply`)",
              stream_, context_);
    std::vector<DeadLetter> result;
    if (info->state.messages == 0) return result;
    const std::string subject_filter = filter.consumer.empty()
                                           ? fmt::format("dlq.{}.>", context_)
                                           : dead_letter_subject(context_, filter.consumer);
    std::uint64_t sequence = std::max(filter.from_sequence, info->state.first_sequence);
    const std::uint64_t last = filter.to_sequence == 0
                                   ? info->state.last_sequence
                                   : std::min(filter.to_sequence, info->state.last_sequence);
    // Bounded: every round moves `sequence` forward by at least one.
    while (sequence <= last) {
        auto letter = next(sequence, subject_filter);
        if (!letter || letter->dead_letter_sequence > last) break;
        sequence = letter->dead_letter_sequence + 1;
        if (!filter.matches(*letter)) continue;
        result.push_back(std::move(*letter));
        if (filter.limit != 0 && result.size() >= filter.limit) break;
    }
    return result;
}

std::optional<DeadLetter> DeadLetterQueue::get(std::uint64_t sequence) {
    auto letter = next(sequence, fmt::format("dlq.{}.>", context_));
    if (!letter || letter->dead_letter_sequence != sequence) return std::nullopt;
    return letter;
}

std::string replay_subject(std::string_view original_stream, std::string_view original_subject) {
    constexpr std::string_view imports_suffix = "_IMPORTS";
    constexpr std::string_view export_prefix = "export.";
    if (original_stream.ends_with(imports_suffix) && original_subject.starts_with(export_prefix))
        return fmt::format("import.{}", original_subject.substr(export_prefix.size()));
    return std::string(original_subject);
}

ReplayOutcome DeadLetterQueue::replay(const DeadLetter& letter) {
    if (letter.consumer.empty() || letter.original_subject.empty())
        raise(Errc::invalid_argument,
              "dead letter {} in {} cannot be replayed: it does not say which consumer and subject it came "
              "from",
              letter.dead_letter_sequence, stream_);
    std::string envelope_id;
    try {
        const auto document = nlohmann::json::parse(letter.payload);
        if (document.is_object() && document.contains("id") && document["id"].is_string())
            envelope_id = document["id"].get<std::string>();
    } catch (const nlohmann::json::exception&) {
        // A poison message: replayed as it is (it will most likely be dead-lettered again).
    }
    ReplayOutcome outcome;
    outcome.dead_letter_sequence = letter.dead_letter_sequence;
    outcome.message_id = fmt::format("{}/replay/{}", envelope_id.empty() ? "poison" : envelope_id,
                                     letter.dead_letter_sequence);
    nats::OutgoingMessage message;
    message.subject = replay_subject(letter.original_stream, letter.original_subject);
    message.payload = letter.payload;
    message.message_id = outcome.message_id;
    message.expected_stream = letter.original_stream;
    message.headers = letter.original_headers;
    message.headers.emplace_back(std::string(header::replay_for), letter.consumer);
    message.headers.emplace_back(std::string(header::replayed_from),
                                 fmt::format("{}/{}", stream_, letter.dead_letter_sequence));
    outcome.ack = jetstream_.publish(message);
    try {
        outcome.removed = remove(letter.dead_letter_sequence);
    } catch (const Error& error) {
        outcome.remove_error = error.what();  // published all the same: the caller must know both
    }
    return outcome;
}

bool DeadLetterQueue::remove(std::uint64_t sequence) {
    const nlohmann::json request = {{"seq", sequence}, {"no_erase", true}};
    const auto api_subject = fmt::format("{}.STREAM.MSG.DELETE.{}", jetstream_.api_prefix(), stream_);
    auto reply =
        jetstream_.connection().request(api_subject, request.dump(), jetstream_.options().api_timeout);
    nlohmann::json response;
    try {
        response = nlohmann::json::parse(reply.payload());
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::nats, "deleting dead letter {} from {}: unreadable answer from the server: {}", sequence,
              stream_, e.what());
    }
    // A JSON answer of an unexpected shape is the server's error, not a crash.
    try {
        if (response.contains("error")) {
            const auto& error = response["error"];
            const int code = error.value("err_code", 0);
            if (code == js_sequence_not_found || code == js_no_message_found || error.value("code", 0) == 404)
                return false;
            raise(Errc::nats, "deleting dead letter {} from {}: {} (JetStream error {})", sequence, stream_,
                  error.value("description", std::string("unknown error")), code);
        }
        return response.value("success", false);
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::nats, "deleting dead letter {} from {}: unexpected answer from the server: {}", sequence,
              stream_, e.what());
    }
}

}  // namespace seamq::dead_letters
