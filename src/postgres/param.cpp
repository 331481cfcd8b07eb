#include "seamq/postgres/param.hpp"

#include <array>
#include <charconv>

namespace seamq::postgres {

Param::Param(double value) {
    std::array<char, 64> buffer{};
    const auto [end, error] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    text_ = std::string(buffer.data(), error == std::errc() ? end : buffer.data());
}

namespace {

void append_element(std::string& out, std::string_view value) {
    // Always quoted: then only `"` and `\` need escaping, whatever the element holds.
    out += '"';
    for (const char c : value) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

}  // namespace

std::string array_literal(std::span<const std::string> values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        append_element(out, values[i]);
    }
    out += '}';
    return out;
}

std::string array_literal(std::span<const std::optional<std::string>> values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) out += ',';
        if (values[i]) {
            append_element(out, *values[i]);
        } else {
            out += "NULL";
        }
    }
    out += '}';
    return out;
}

std::string bytea_literal(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "\\x";
    out.reserve(2 + bytes.size() * 2);
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        out += digits[byte >> 4];
        out += digits[byte & 0x0f];
    }
    return out;
}

}  // namespace seamq::postgres
