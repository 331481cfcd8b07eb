#include "seamq/nats/credentials.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "seamq/core/error.hpp"

namespace seamq::nats {

namespace {

constexpr std::string_view base32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::uint8_t seed_prefix = 18 << 3;  // 'S' in the first base32 character

std::uint8_t role_prefix(NKeyRole role) {
    switch (role) {
        case NKeyRole::user: return 20 << 3;
        case NKeyRole::account: return 0;
        case NKeyRole::operator_: return 14 << 3;
        case NKeyRole::server: return 13 << 3;
        case NKeyRole::cluster: return 2 << 3;
    }
    return 0;
}

std::optional<NKeyRole> role_of_prefix(std::uint8_t prefix) {
    for (const auto role :
         {NKeyRole::user, NKeyRole::account, NKeyRole::operator_, NKeyRole::server, NKeyRole::cluster}) {
        if (role_prefix(role) == prefix) return role;
    }
    return std::nullopt;
}

// CRC-16/XMODEM, the checksum NKeys carry (little-endian, after the payload).
std::uint16_t crc16(const std::uint8_t* data, std::size_t size) {
    std::uint16_t crc = 0;
    for (std::size_t i = 0; i < size; ++i) {
        crc ^= static_cast<std::uint16_t>(data[i]) << 8;
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                      : static_cast<std::uint16_t>(crc << 1);
        }
    }
    return crc;
}

std::string base32_encode(const std::vector<std::uint8_t>& bytes) {
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const auto byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            out += base32_alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out += base32_alphabet[(buffer << (5 - bits)) & 31];
    return out;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
    std::vector<std::uint8_t> out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const auto index = base32_alphabet.find(c);
        if (index == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 5) | static_cast<std::uint32_t>(index);
        bits += 5;
        if (bits >= 8) {
            out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
            bits -= 8;
        }
    }
    return out;
}

std::string encode_with_checksum(std::vector<std::uint8_t> bytes) {
    const auto crc = crc16(bytes.data(), bytes.size());
    bytes.push_back(static_cast<std::uint8_t>(crc & 0xff));
    bytes.push_back(static_cast<std::uint8_t>(crc >> 8));
    return base32_encode(bytes);
}

struct KeyDeleter {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct DigestDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

std::unique_ptr<EVP_PKEY, KeyDeleter> private_key(const std::array<std::uint8_t, 32>& raw) {
    std::unique_ptr<EVP_PKEY, KeyDeleter> key(
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
    if (!key) raise(Errc::internal, "OpenSSL cannot load an Ed25519 key");
    return key;
}

std::string read_file(const std::filesystem::path& file, std::string_view what) {
    check_readable_file(file, what);
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) raise(Errc::config, "{} '{}' cannot be read", what, file.string());
    return text.str();
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0)
        text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.remove_suffix(1);
    return text;
}

bool is_base64url(std::string_view text) {
    if (text.empty()) return false;
    for (const char c : text) {
        if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '-' && c != '_') return false;
    }
    return true;
}

}  // namespace

std::string Authentication::mode() const {
    if (!credentials_file.empty()) return "credentials file";
    if (!nkey_seed_file.empty()) return "nkey";
    if (!token.empty()) return "token";
    if (!user.empty()) return "user/password";
    return "none";
}

std::string Authentication::problem() const {
    std::vector<std::string> modes;
    if (!user.empty() || !password.empty()) modes.emplace_back("user/password");
    if (!token.empty()) modes.emplace_back("token");
    if (!nkey_seed_file.empty()) modes.emplace_back("nkey seed file");
    if (!credentials_file.empty()) modes.emplace_back("credentials file");
    if (modes.size() > 1) {
        return fmt::format("give one way to authenticate, not {}", fmt::join(modes, " and "));
    }
    if (!password.empty() && user.empty()) return "a password needs a user";
    return "";
}

bool TlsOptions::active(const std::vector<std::string>& urls) const {
    if (enabled || !ca_file.empty() || !certificate_file.empty() || !key_file.empty()) return true;
    for (const auto& url : urls) {
        if (url.size() >= 6 && url.compare(0, 6, "tls://") == 0) return true;
    }
    return false;
}

std::string TlsOptions::problem() const {
    if (certificate_file.empty() != key_file.empty()) {
        return "a client certificate needs its key and a key its certificate (certificate_file and key_file)";
    }
    if (min_version != "1.2" && min_version != "1.3") {
        return fmt::format("min_version '{}' is not 1.2 or 1.3", min_version);
    }
    return "";
}

NKeySeed NKeySeed::parse(std::string_view text) {
    text = trim(text);
    if (text.empty()) raise(Errc::config, "the NKey seed is empty");
    if (text.front() != 'S') {
        raise(Errc::config, "not an NKey seed: a seed starts with 'S' (a public key was given?)");
    }
    const auto raw = base32_decode(text);
    if (!raw) raise(Errc::config, "not an NKey seed: it is not base32 (A-Z, 2-7)");
    if (raw->size() != 36) raise(Errc::config, "not an NKey seed: {} bytes instead of 36", raw->size());
    const auto expected = crc16(raw->data(), 34);
    const auto stored = static_cast<std::uint16_t>((*raw)[34] | ((*raw)[35] << 8));
    if (expected != stored)
        raise(Errc::config, "not an NKey seed: its checksum is wrong (a typo or a truncation)");
    if (((*raw)[0] & 0xf8) != seed_prefix) raise(Errc::config, "not an NKey seed: wrong seed prefix");
    const auto prefix = static_cast<std::uint8_t>((((*raw)[0] & 7) << 5) | (((*raw)[1] & 0xf8) >> 3));
    const auto role = role_of_prefix(prefix);
    if (!role) raise(Errc::config, "not an NKey seed: unknown key type");
    std::array<std::uint8_t, 32> seed{};
    std::copy(raw->begin() + 2, raw->begin() + 34, seed.begin());
    return NKeySeed(*role, seed);
}

NKeySeed NKeySeed::generate(NKeyRole role) {
    std::array<std::uint8_t, 32> seed{};
    if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
        raise(Errc::internal, "OpenSSL has no random bytes");
    }
    return NKeySeed(role, seed);
}

std::string NKeySeed::seed() const {
    const auto prefix = role_prefix(role_);
    std::vector<std::uint8_t> bytes{static_cast<std::uint8_t>(seed_prefix | (prefix >> 5)),
                                    static_cast<std::uint8_t>((prefix & 31) << 3)};
    bytes.insert(bytes.end(), raw_.begin(), raw_.end());
    return encode_with_checksum(std::move(bytes));
}

std::string NKeySeed::public_key() const {
    const auto key = private_key(raw_);
    std::array<std::uint8_t, 32> public_raw{};
    std::size_t size = public_raw.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), public_raw.data(), &size) != 1 || size != 32) {
        raise(Errc::internal, "OpenSSL cannot derive an Ed25519 public key");
    }
    std::vector<std::uint8_t> bytes{role_prefix(role_)};
    bytes.insert(bytes.end(), public_raw.begin(), public_raw.end());
    return encode_with_checksum(std::move(bytes));
}

std::string NKeySeed::sign(std::string_view data) const {
    const auto key = private_key(raw_);
    std::unique_ptr<EVP_MD_CTX, DigestDeleter> context(EVP_MD_CTX_new());
    std::string signature(64, '\0');
    std::size_t size = signature.size();
    if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
        EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
        raise(Errc::internal, "OpenSSL cannot sign with Ed25519");
    }
    signature.resize(size);
    return signature;
}

Credentials parse_credentials(std::string_view text, std::string_view source) {
    // Blocks: a line of dashes with BEGIN, the content lines, a line of dashes with END.
    std::vector<std::string> blocks;
    std::string current;
    bool inside = false;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = std::min(text.find('\n', start), text.size());
        const auto line = trim(text.substr(start, end - start));
        const bool marker = line.size() >= 3 && line.substr(0, 3) == "---";
        if (marker && !inside && line.find("BEGIN") != std::string_view::npos) {
            inside = true;
            current.clear();
        } else if (marker && inside) {
            inside = false;
            blocks.push_back(current);
        } else if (inside && !line.empty()) {
            current += line;
        }
        if (end == text.size()) break;
        start = end + 1;
    }
    if (blocks.size() < 2) {
        raise(Errc::config,
              "credentials file {}: expected a user JWT block and an NKey seed block (-----BEGIN ...----- "
              "lines), found {}",
              source, blocks.size());
    }
    const auto& jwt = blocks[0];
    const auto first_dot = jwt.find('.');
    const auto second_dot = first_dot == std::string::npos ? std::string::npos : jwt.find('.', first_dot + 1);
    if (second_dot == std::string::npos || jwt.find('.', second_dot + 1) != std::string::npos ||
        !is_base64url(std::string_view(jwt).substr(0, first_dot)) ||
        !is_base64url(std::string_view(jwt).substr(first_dot + 1, second_dot - first_dot - 1)) ||
        !is_base64url(std::string_view(jwt).substr(second_dot + 1))) {
        raise(Errc::config, "credentials file {}: the first block is not a JWT (three base64url parts)",
              source);
    }
    try {
        auto seed = NKeySeed::parse(blocks[1]);
        if (seed.role() != NKeyRole::user) {
            raise(Errc::config, "the seed is not a user seed (SU...)");
        }
        return Credentials{jwt, seed};
    } catch (const Error& error) {
        raise(Errc::config, "credentials file {}: {}", source, error.what());
    }
}

void check_readable_file(const std::filesystem::path& file, std::string_view what) {
    std::error_code error;
    const auto status = std::filesystem::status(file, error);
    if (error || !std::filesystem::exists(status))
        raise(Errc::config, "{} '{}' does not exist", what, file.string());
    if (std::filesystem::is_directory(status))
        raise(Errc::config, "{} '{}' is a directory", what, file.string());
    std::ifstream in(file, std::ios::binary);
    if (!in) raise(Errc::config, "{} '{}' cannot be read (permissions?)", what, file.string());
}

NKeySeed read_nkey_seed_file(const std::filesystem::path& file) {
    const auto text = read_file(file, "NKey seed file");
    try {
        auto seed = NKeySeed::parse(text);
        if (seed.role() != NKeyRole::user) raise(Errc::config, "it holds no user seed (SU...)");
        return seed;
    } catch (const Error& error) {
        raise(Errc::config, "NKey seed file '{}': {}", file.string(), error.what());
    }
}

Credentials read_credentials_file(const std::filesystem::path& file) {
    return parse_credentials(read_file(file, "credentials file"), "'" + file.string() + "'");
}

std::string base64url_encode(std::string_view bytes) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : bytes) {
        buffer = (buffer << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            out += alphabet[(buffer >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 63];
    return out;
}

}  // namespace seamq::nats
