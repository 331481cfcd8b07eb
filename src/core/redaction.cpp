#include "seamq/core/redaction.hpp"

#include <algorithm>
#include <cctype>
#include <utility>
#include <vector>

namespace seamq {

namespace {

constexpr std::string_view mask = "***";
// A quoted value stays quoted, so the text still parses the same way (and masks the same
// way again).
constexpr std::string_view quoted_mask = "'***'";

// A byte range of the input and what replaces it.
struct Span {
    std::size_t from;
    std::size_t to;
    std::string_view replacement = mask;
};

bool is_space_or_control(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
}

bool is_scheme_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
}

char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

// Where the authority that starts at `start` ends, for a URL of scheme `scheme`.
std::size_t authority_end(std::string_view text, std::size_t start, std::string_view scheme) {
    const bool libpq = equals_ignoring_case(scheme, "postgresql") || equals_ignoring_case(scheme, "postgres");
    std::size_t end = start;
    while (end < text.size()) {
        const char c = text[end];
        if (is_space_or_control(c) || c == '/' || c == '"' || c == '`' || c == '<' || c == '>') break;
        if (!libpq && (c == '?' || c == '#')) break;
        ++end;
    }
    return end;
}

std::string apply(std::string_view text, const std::vector<Span>& spans) {
    if (spans.empty()) return std::string(text);
    std::string out;
    out.reserve(text.size());
    std::size_t position = 0;
    for (const auto& span : spans) {
        out.append(text.substr(position, span.from - position));
        out.append(span.replacement);
        position = span.to;
    }
    out.append(text.substr(position));
    return out;
}

}  // namespace

std::string mask_url_credentials(std::string_view text) {
    std::vector<Span> spans;
    for (auto separator = text.find("://"); separator != std::string_view::npos;
         separator = text.find("://", separator + 1)) {
        auto scheme_start = separator;
        while (scheme_start > 0 && is_scheme_char(text[scheme_start - 1])) --scheme_start;
        const auto scheme = text.substr(scheme_start, separator - scheme_start);
        const auto start = separator + 3;
        const auto end = authority_end(text, start, scheme);
        const auto authority = text.substr(start, end - start);
        const auto at = authority.rfind('@');
        if (at == std::string_view::npos || at == 0) continue;
        // user:password keeps the user; a lone token goes entirely, and so does user info
        // whose first '@' comes before its first ':' (a token, then more of a list).
        const auto userinfo = authority.substr(0, at);
        const auto colon = userinfo.find(':');
        const bool keep_user = colon != std::string_view::npos && colon < userinfo.find('@');
        const auto from = keep_user ? start + colon + 1 : start;
        spans.push_back({from, start + at});
    }
    // Each span lies before the '/' of the next "://", so they are ordered and disjoint.
    return apply(text, spans);
}

std::string mask_password_parameters(std::string_view text) {
    constexpr std::string_view key = "password";
    std::vector<Span> spans;
    std::size_t search = 0;
    while (search + key.size() <= text.size()) {
        std::size_t found = std::string_view::npos;
        for (std::size_t i = search; i + key.size() <= text.size(); ++i) {
            if (equals_ignoring_case(text.substr(i, key.size()), key)) {
                found = i;
                break;
            }
        }
        if (found == std::string_view::npos) break;
        search = found + 1;
        std::size_t position = found + key.size();
        while (position < text.size() && (text[position] == ' ' || text[position] == '\t')) ++position;
        if (position >= text.size() || text[position] != '=') continue;
        ++position;
        while (position < text.size() && (text[position] == ' ' || text[position] == '\t')) ++position;
        const auto value_start = position;
        const bool quoted = position < text.size() && text[position] == '\'';
        if (quoted) {
            // libpq quoting: up to the closing quote, backslash escaping the next byte; an
            // unterminated value runs to the end.
            ++position;
            while (position < text.size() && text[position] != '\'')
                position += text[position] == '\\' ? 2 : 1;
            position = std::min(position + 1, text.size());
        } else {
            // In a URL query ("?password=" or "&password=") '&' and '#' end the value too.
            const auto start_of_key = [&] {
                auto i = found;
                while (i > 0 && std::isalnum(static_cast<unsigned char>(text[i - 1])) != 0) --i;
                return i;
            }();
            const bool query =
                start_of_key > 0 && (text[start_of_key - 1] == '?' || text[start_of_key - 1] == '&');
            while (position < text.size() && !is_space_or_control(text[position]) &&
                   !(query && (text[position] == '&' || text[position] == '#')))
                ++position;
        }
        if (position == value_start) continue;
        if (!spans.empty() && value_start < spans.back().to) {
            // A key inside a value masked already: that value may have been read wrongly (a
            // quote inside an unquoted host= ran to this key's own quote), so both go.
            // To the end of the word, as an unquoted value would run: masking the result
            // again then finds the same values.
            auto to = std::max(spans.back().to, position);
            while (to < text.size() && !is_space_or_control(text[to])) ++to;
            spans.back().to = to;
            continue;
        }
        spans.push_back({value_start, position, quoted ? quoted_mask : mask});
    }
    return apply(text, spans);
}

std::string mask_credentials(std::string_view text) {
    // Until nothing changes: a masked password= value can close up the white space that
    // ended a URL's authority, making user info of what was not (found by the fuzzer).
    // Each round only replaces text by masks, so a few rounds settle any input.
    std::string masked = mask_password_parameters(mask_url_credentials(text));
    for (int round = 0; round < 8; ++round) {
        auto again = mask_password_parameters(mask_url_credentials(masked));
        if (again == masked) break;
        masked = std::move(again);
    }
    return masked;
}

}  // namespace seamq
