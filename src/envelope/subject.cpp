// The subject grammar: `{context}.{event|command}.{name}.v{n}`. Kept in step with the
// `type` pattern of schemas/events/envelope-v1.schema.json (the agreement test checks both).
#include <charconv>
#include <vector>

#include "seamq/core/error.hpp"
#include "seamq/envelope/envelope.hpp"

namespace seamq::envelope {

namespace {

constexpr std::size_t max_type_length = 128;
constexpr std::size_t max_context_length = 32;
constexpr std::size_t max_name_length = 64;

bool is_lower_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// `^[a-z][a-z0-9]*([-_][a-z0-9]+)*$`: why `token` breaks it, or empty.
std::string word_problem(std::string_view what, std::string_view token, std::size_t max_length) {
    if (token.empty()) return fmt::format("{} is empty", what);
    if (token.size() > max_length) {
        return fmt::format("{} '{}' has {} characters, more than {}", what, token, token.size(), max_length);
    }
    if (!(token.front() >= 'a' && token.front() <= 'z')) {
        return fmt::format("{} '{}' must start with a lowercase letter", what, token);
    }
    for (std::size_t i = 0; i < token.size(); ++i) {
        const char c = token[i];
        if (is_lower_alnum(c)) continue;
        if (c == '-' || c == '_') {
            if (i + 1 == token.size() || !is_lower_alnum(token[i + 1])) {
                return fmt::format("{} '{}' has a '{}' not followed by a letter or digit", what, token, c);
            }
            continue;
        }
        return fmt::format(
            "{} '{}' contains '{}'; allowed are lowercase letters, digits and single '-' or '_' "
            "between them",
            what, token, c);
    }
    return {};
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> tokens;
    std::size_t start = 0;
    while (true) {
        const auto end = text.find(separator, start);
        tokens.push_back(
            text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) break;
        start = end + 1;
    }
    return tokens;
}

std::optional<std::string> check(std::string_view type, Subject* parsed) {
    constexpr std::string_view shape = "{context}.event.{name}.v{n} or {context}.command.{name}.v{n}";
    if (type.empty()) return fmt::format("type is empty; expected {}", shape);
    if (type.size() > max_type_length) {
        return fmt::format("type has {} characters, more than {}", type.size(), max_type_length);
    }
    for (const char c : type) {
        if (c == ' ' || c == '*' || c == '>' || static_cast<unsigned char>(c) < 0x21 ||
            static_cast<unsigned char>(c) > 0x7e) {
            return fmt::format("type contains {}, which cannot appear in the NATS subject it is published on",
                               c == ' ' ? std::string("a space") : fmt::format("'{}'", c));
        }
    }
    const auto tokens = split(type, '.');
    for (const auto& token : tokens) {
        if (token.empty()) return fmt::format("type '{}' has an empty token; expected {}", type, shape);
    }
    if (tokens.size() != 4) {
        return fmt::format("type '{}' has {} dot-separated tokens, not 4; expected {}", type, tokens.size(),
                           shape);
    }
    if (auto problem = word_problem("context", tokens[0], max_context_length); !problem.empty())
        return problem;
    if (tokens[0] == "dlq")
        return std::string("context 'dlq' is reserved for dead-letter subjects (dlq.{context}.>)");
    Kind kind;
    if (tokens[1] == "event") {
        kind = Kind::event;
    } else if (tokens[1] == "command") {
        kind = Kind::command;
    } else {
        return fmt::format("second token of type '{}' is '{}'; it must be 'event' or 'command'", type,
                           tokens[1]);
    }
    if (auto problem = word_problem("name", tokens[2], max_name_length); !problem.empty()) return problem;
    const auto version = tokens[3];
    const auto digits = version.substr(1);
    if (version.front() != 'v' || digits.empty() || digits.size() > 6 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos || digits.front() == '0') {
        return fmt::format(
            "version '{}' of type '{}' must be 'v' and a number from 1 to 999999 without leading zeros",
            version, type);
    }
    unsigned number = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (parsed) *parsed = Subject{std::string(tokens[0]), kind, std::string(tokens[2]), number};
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Kind kind) noexcept {
    return kind == Kind::event ? "event" : "command";
}

std::string_view to_string(Visibility visibility) noexcept {
    return visibility == Visibility::internal ? "internal" : "external";
}

std::string Subject::to_string() const {
    return fmt::format("{}.{}.{}.v{}", context, envelope::to_string(kind), name, version);
}

std::optional<std::string> subject_problem(std::string_view type) {
    return check(type, nullptr);
}

Subject parse_subject(std::string_view type) {
    Subject parsed;
    if (auto problem = check(type, &parsed))
        raise(Errc::invalid_envelope, "invalid event type: {}", *problem);
    return parsed;
}

}  // namespace seamq::envelope
