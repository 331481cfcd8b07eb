#include "seamq/edges/webhook_signature.hpp"

#include <array>
#include <charconv>
#include <limits>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "seamq/core/error.hpp"

namespace seamq::edges {
namespace {

constexpr std::string_view secret_prefix = "whsec_";
constexpr std::size_t min_key_bytes = 24;
constexpr std::size_t max_key_bytes = 64;
constexpr std::size_t digest_bytes = 32;
// base64 of 32 bytes, padded.
constexpr std::size_t encoded_digest_chars = 44;
// An id longer than this is not one any sender produces; refusing it bounds the HMAC input.
constexpr std::size_t max_id_chars = 256;

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

std::array<unsigned char, digest_bytes> mac(const std::string& key, std::string_view id,
                                            std::int64_t timestamp, std::string_view body) {
    std::array<unsigned char, digest_bytes> digest{};
    // Fed in pieces, so "id.timestamp.body" is never copied whole.
    EVP_MAC* algorithm = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MAC_CTX* state = algorithm ? EVP_MAC_CTX_new(algorithm) : nullptr;
    if (!state) {
        EVP_MAC_free(algorithm);
        raise(Errc::internal, "webhook signature: OpenSSL has no HMAC");
    }
    char digest_name[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest_name, 0), OSSL_PARAM_END};
    const auto timestamp_text = std::to_string(timestamp);
    std::size_t length = 0;
    const bool ok =
        EVP_MAC_init(state, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) == 1 &&
        EVP_MAC_update(state, reinterpret_cast<const unsigned char*>(id.data()), id.size()) == 1 &&
        EVP_MAC_update(state, reinterpret_cast<const unsigned char*>("."), 1) == 1 &&
        EVP_MAC_update(state, reinterpret_cast<const unsigned char*>(timestamp_text.data()),
                       timestamp_text.size()) == 1 &&
        EVP_MAC_update(state, reinterpret_cast<const unsigned char*>("."), 1) == 1 &&
        EVP_MAC_update(state, reinterpret_cast<const unsigned char*>(body.data()), body.size()) == 1 &&
        EVP_MAC_final(state, digest.data(), &length, digest.size()) == 1 && length == digest.size();
    EVP_MAC_CTX_free(state);
    EVP_MAC_free(algorithm);
    if (!ok) raise(Errc::internal, "webhook signature: HMAC-SHA256 failed in OpenSSL");
    return digest;
}

std::string encoded_mac(const std::string& key, std::string_view id, std::int64_t timestamp,
                        std::string_view body) {
    const auto digest = mac(key, id, timestamp, body);
    return base64_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool parse_timestamp(std::string_view text, std::int64_t& seconds) {
    if (text.empty() || text.size() > 18) return false;
    for (const char c : text)
        if (c < '0' || c > '9') return false;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
    std::string text;
    text.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const unsigned value = static_cast<unsigned char>(bytes[i]) << 16 |
                               static_cast<unsigned char>(bytes[i + 1]) << 8 |
                               static_cast<unsigned char>(bytes[i + 2]);
        text += alphabet[value >> 18 & 63];
        text += alphabet[value >> 12 & 63];
        text += alphabet[value >> 6 & 63];
        text += alphabet[value & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        unsigned value = static_cast<unsigned char>(bytes[i]) << 16;
        if (rest == 2) value |= static_cast<unsigned char>(bytes[i + 1]) << 8;
        text += alphabet[value >> 18 & 63];
        text += alphabet[value >> 12 & 63];
        text += rest == 2 ? alphabet[value >> 6 & 63] : '=';
        text += '=';
    }
    return text;
}

bool base64_decode(std::string_view text, std::string& bytes) {
    bytes.clear();
    std::size_t padding = 0;
    while (!text.empty() && text.back() == '=' && padding < 2) {
        text.remove_suffix(1);
        ++padding;
    }
    if (text.size() % 4 == 1) return false;
    if (padding > 0 && (text.size() + padding) % 4 != 0) return false;
    bytes.reserve(text.size() * 3 / 4);
    unsigned buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const int value = base64_value(c);
        if (value < 0) return false;
        buffer = (buffer << 6 | static_cast<unsigned>(value)) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes += static_cast<char>(buffer >> bits & 0xff);
        }
    }
    return true;
}

WebhookSecret WebhookSecret::parse(std::string_view text) {
    if (text.substr(0, secret_prefix.size()) != secret_prefix)
        raise(Errc::invalid_argument,
              "webhook secret: it must start with 'whsec_' followed by base64 (make one with "
              "`echo whsec_$(openssl rand -base64 32)`, or take the partner's secret as they gave it)");
    std::string key;
    if (!base64_decode(text.substr(secret_prefix.size()), key))
        raise(Errc::invalid_argument, "webhook secret: what follows 'whsec_' is not base64 ({} characters)",
              text.size() - secret_prefix.size());
    if (key.size() < min_key_bytes || key.size() > max_key_bytes)
        raise(Errc::invalid_argument,
              "webhook secret: its key is {} bytes; Standard Webhooks keys are {} to {} bytes", key.size(),
              min_key_bytes, max_key_bytes);
    return WebhookSecret(std::move(key));
}

WebhookSecret WebhookSecret::generate() {
    std::string key(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
        raise(Errc::internal, "webhook secret: OpenSSL's RAND_bytes failed");
    return WebhookSecret(std::move(key));
}

std::string WebhookSecret::to_string() const {
    return std::string(secret_prefix) + base64_encode(key_);
}

std::string sign(const WebhookSecret& secret, std::string_view id, std::int64_t timestamp,
                 std::string_view body) {
    return "v1," + encoded_mac(secret.key(), id, timestamp, body);
}

std::string signature_header(const std::vector<WebhookSecret>& secrets, std::string_view id,
                             std::int64_t timestamp, std::string_view body) {
    std::string header;
    for (const auto& secret : secrets) {
        if (!header.empty()) header += ' ';
        header += sign(secret, id, timestamp, body);
    }
    return header;
}

std::vector<SignatureEntry> parse_signature_header(std::string_view header) {
    std::vector<SignatureEntry> entries;
    while (!header.empty() && entries.size() < max_signature_entries) {
        const auto space = header.find(' ');
        const auto entry = header.substr(0, space);
        header.remove_prefix(space == std::string_view::npos ? header.size() : space + 1);
        const auto comma = entry.find(',');
        if (comma == std::string_view::npos) continue;
        entries.push_back({entry.substr(0, comma), entry.substr(comma + 1)});
    }
    return entries;
}

std::string_view to_string(Verdict verdict) noexcept {
    switch (verdict) {
        case Verdict::valid: return "valid";
        case Verdict::missing_header: return "missing_header";
        case Verdict::malformed_timestamp: return "malformed_timestamp";
        case Verdict::timestamp_too_old: return "timestamp_too_old";
        case Verdict::timestamp_too_new: return "timestamp_too_new";
        case Verdict::no_matching_signature: return "no_matching_signature";
    }
    return "unknown";
}

Verdict verify(const std::vector<WebhookSecret>& secrets, const WebhookHeaders& headers,
               std::string_view body, std::chrono::system_clock::time_point now,
               std::chrono::seconds tolerance) {
    if (headers.id.empty() || headers.timestamp.empty() || headers.signature.empty() ||
        headers.id.size() > max_id_chars)
        return Verdict::missing_header;
    std::int64_t timestamp = 0;
    if (!parse_timestamp(headers.timestamp, timestamp)) return Verdict::malformed_timestamp;
    const std::int64_t now_seconds =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (now_seconds - timestamp > tolerance.count()) return Verdict::timestamp_too_old;
    if (timestamp - now_seconds > tolerance.count()) return Verdict::timestamp_too_new;

    const auto entries = parse_signature_header(headers.signature);
    bool matched = false;
    for (const auto& secret : secrets) {
        const auto expected = encoded_mac(secret.key(), headers.id, timestamp, body);
        for (const auto& entry : entries) {
            if (entry.version != "v1" || entry.signature.size() != encoded_digest_chars) continue;
            // No early exit: the time taken does not say which entry or secret matched.
            matched |= CRYPTO_memcmp(entry.signature.data(), expected.data(), encoded_digest_chars) == 0;
        }
    }
    return matched ? Verdict::valid : Verdict::no_matching_signature;
}

}  // namespace seamq::edges
