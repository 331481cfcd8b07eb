#include "src/cli/output.hpp"

#include <cstdint>

namespace seamq::cli {

bool is_utf8(std::string_view text) {
    std::size_t index = 0;
    while (index < text.size()) {
        const auto lead = static_cast<unsigned char>(text[index]);
        std::size_t length = 0;
        std::uint32_t code = 0;
        if (lead < 0x80) {
            ++index;
            continue;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
            code = lead & 0x1F;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            code = lead & 0x0F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            code = lead & 0x07;
        } else {
            return false;
        }
        if (index + length > text.size()) return false;
        for (std::size_t next = 1; next < length; ++next) {
            const auto byte = static_cast<unsigned char>(text[index + next]);
            if ((byte & 0xC0) != 0x80) return false;
            code = (code << 6) | (byte & 0x3F);
        }
        const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
        const bool surrogate = code >= 0xD800 && code <= 0xDFFF;
        if (overlong || surrogate || code > 0x10FFFF) return false;
        index += length;
    }
    return true;
}

std::string encode_base64(std::string_view bytes) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string result;
    result.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t index = 0;
    for (; index + 3 <= bytes.size(); index += 3) {
        const std::uint32_t group = (static_cast<unsigned char>(bytes[index]) << 16) |
                                    (static_cast<unsigned char>(bytes[index + 1]) << 8) |
                                    static_cast<unsigned char>(bytes[index + 2]);
        result += alphabet[(group >> 18) & 0x3F];
        result += alphabet[(group >> 12) & 0x3F];
        result += alphabet[(group >> 6) & 0x3F];
        result += alphabet[group & 0x3F];
    }
    const auto left = bytes.size() - index;
    if (left > 0) {
        std::uint32_t group = static_cast<unsigned char>(bytes[index]) << 16;
        if (left == 2) group |= static_cast<unsigned char>(bytes[index + 1]) << 8;
        result += alphabet[(group >> 18) & 0x3F];
        result += alphabet[(group >> 12) & 0x3F];
        result += left == 2 ? alphabet[(group >> 6) & 0x3F] : '=';
        result += '=';
    }
    return result;
}

void put_payload(nlohmann::json& object, std::string_view payload) {
    auto parsed = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) {
        object["payload"] = std::move(parsed);
    } else if (is_utf8(payload)) {
        object["payload_text"] = std::string(payload);
    } else {
        object["payload_base64"] = encode_base64(payload);
    }
}

std::string dump_json(const nlohmann::json& value, int indent) {
    return value.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace seamq::cli
