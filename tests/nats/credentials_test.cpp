// NKeys, .creds files and the authentication/TLS settings, without a server: key round
// trips, a signature checked by OpenSSL and by a vector from nats.c's own tests, every
// malformed shape rejected with seamq::Error(config) whose text never holds the secret.
#include "seamq/nats/credentials.hpp"

#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "seamq/core/error.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::nats {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// An independent encoder for crafting keys (RFC 4648 base32, no padding; CRC-16/XMODEM).
constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string base32(const std::vector<std::uint8_t>& bytes) {
    std::string out;
    std::uint64_t buffer = 0;
    int bits = 0;
    for (const auto byte : bytes) {
        buffer = (buffer << 8) | byte;
        bits += 8;
        while (bits >= 5) {
            out += alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
    return out;
}

std::vector<std::uint8_t> unbase32(std::string_view text) {
    std::vector<std::uint8_t> out;
    std::uint64_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        buffer = (buffer << 5) | alphabet.find(c);
        bits += 5;
        if (bits >= 8) {
            out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
            bits -= 8;
        }
    }
    return out;
}

std::uint16_t crc16(const std::vector<std::uint8_t>& bytes) {
    std::uint16_t crc = 0;
    for (const auto byte : bytes) {
        crc ^= static_cast<std::uint16_t>(byte << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                      : static_cast<std::uint16_t>(crc << 1);
    }
    return crc;
}

std::string with_checksum(std::vector<std::uint8_t> bytes) {
    const auto crc = crc16(bytes);
    bytes.push_back(static_cast<std::uint8_t>(crc & 0xff));
    bytes.push_back(static_cast<std::uint8_t>(crc >> 8));
    return base32(bytes);
}

// A seed for role prefix byte `prefix` (the role letter's base32 index << 3).
std::string seed_with_prefix(std::uint8_t prefix, std::size_t raw_size = 32) {
    std::vector<std::uint8_t> bytes{static_cast<std::uint8_t>((18 << 3) | (prefix >> 5)),
                                    static_cast<std::uint8_t>((prefix & 31) << 3)};
    for (std::size_t i = 0; i < raw_size; ++i) bytes.push_back(static_cast<std::uint8_t>(i * 7 + 1));
    return with_checksum(std::move(bytes));
}

// The seed nats.c's tests sign with; its public key was derived independently (Python's
// base64.b32decode + `openssl pkey -pubout`), its signature of "nonce" is nats.c's vector.
constexpr std::string_view known_seed = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY";
constexpr std::string_view known_public_key = "UAT6BWCSCWLUKJT6K6MBJJOEOTXZ5AJDOYKNEVRFC7VNO6OA43N4TRNO";
constexpr std::array<std::uint8_t, 64> known_nonce_signature = {
    155, 157, 8,   183, 93,  154, 78,  7,   219, 39,  11,  16,  134, 231, 46,  142,
    168, 87,  110, 202, 187, 180, 179, 62,  49,  255, 225, 74,  48,  80,  176, 111,
    248, 162, 121, 188, 203, 101, 100, 195, 162, 70,  213, 182, 220, 14,  71,  113,
    93,  239, 141, 131, 66,  190, 237, 127, 104, 191, 138, 217, 227, 1,   92,  14};

bool verifies(std::string_view public_key, std::string_view data, std::string_view signature) {
    const auto decoded = unbase32(public_key);
    if (decoded.size() != 35) return false;
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, decoded.data() + 1, 32), EVP_PKEY_free);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    return key && context && EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
           EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size()) == 1;
}

// The error parse() raises for `text`; fails the test when it parses.
std::string seed_error(const std::string& text) {
    try {
        NKeySeed::parse(text);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::config) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "parsed: " << text;
    return "";
}

TEST(NKeySeed, GeneratedKeysRoundTripThroughTheirSeedForEveryRole) {
    for (const auto& [role, letter] : {std::pair{NKeyRole::user, 'U'}, std::pair{NKeyRole::account, 'A'},
                                       std::pair{NKeyRole::operator_, 'O'}, std::pair{NKeyRole::server, 'N'},
                                       std::pair{NKeyRole::cluster, 'C'}}) {
        SCOPED_TRACE(letter);
        const auto key = NKeySeed::generate(role);
        const auto seed = key.seed();
        const auto public_key = key.public_key();
        EXPECT_EQ(seed.size(), 58u);
        EXPECT_EQ(seed[0], 'S');
        EXPECT_EQ(seed[1], letter);
        EXPECT_EQ(public_key.size(), 56u);
        EXPECT_EQ(public_key[0], letter);

        const auto parsed = NKeySeed::parse(seed);
        EXPECT_EQ(parsed.role(), role);
        EXPECT_EQ(parsed.public_key(), public_key);
        EXPECT_EQ(parsed.seed(), seed);
        // Surrounding whitespace (a seed file's newline, CRLF) is not part of the seed.
        EXPECT_EQ(NKeySeed::parse("  " + seed + "\r\n").public_key(), public_key);
    }
    EXPECT_NE(NKeySeed::generate(NKeyRole::user).seed(), NKeySeed::generate(NKeyRole::user).seed());
}

TEST(NKeySeed, DerivesTheKnownPublicKeyAndSignatureOfAFixedSeed) {
    const auto key = NKeySeed::parse(known_seed);
    EXPECT_EQ(key.role(), NKeyRole::user);
    EXPECT_EQ(key.public_key(), known_public_key);
    const auto signature = key.sign("nonce");
    EXPECT_EQ(signature, std::string(known_nonce_signature.begin(), known_nonce_signature.end()));
}

TEST(NKeySeed, SignaturesVerifyWithThePublicKeyAndOnlyForTheSignedData) {
    const auto key = NKeySeed::generate(NKeyRole::account);
    const std::string data = "header.claims";
    const auto signature = key.sign(data);
    ASSERT_EQ(signature.size(), 64u);
    EXPECT_TRUE(verifies(key.public_key(), data, signature));
    EXPECT_FALSE(verifies(key.public_key(), "header.claimz", signature));
    EXPECT_FALSE(verifies(NKeySeed::generate(NKeyRole::account).public_key(), data, signature));
    EXPECT_TRUE(verifies(known_public_key, "nonce", NKeySeed::parse(known_seed).sign("nonce")));
}

TEST(NKeySeed, RejectsEachMalformedShapeWithoutEchoingIt) {
    const std::string good(known_seed);
    struct Case {
        std::string text;
        std::string says;
    };
    std::string bad_checksum = good;
    bad_checksum[20] = bad_checksum[20] == 'A' ? 'B' : 'A';
    const std::vector<Case> cases = {
        {"", "empty"},
        {" \n\t", "empty"},
        {std::string(known_public_key), "starts with 'S'"},
        {"SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4G1", "not base32"},
        {"suamk2fg4mi6ue3acf3fk3oiqbceiezv7nswffew63uxmrlfm2xlaxk4gy", "starts with 'S'"},
        {"SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4gy", "not base32"},
        {"SUAMK2FG4MI6UE3A CF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY", "not base32"},
        {good.substr(0, 40), "bytes instead of 36"},
        {good + "AAAA", "bytes instead of 36"},
        {bad_checksum, "checksum"},
        {seed_with_prefix(15 << 3), "unknown key type"},  // 'P': a private key, not a seed
        {seed_with_prefix(20 << 3, 31), "bytes instead of 36"},
    };
    for (const auto& [text, says] : cases) {
        SCOPED_TRACE(text);
        const auto error = seed_error(text);
        EXPECT_THAT(error, HasSubstr(says));
        if (text.size() > 8) {
            EXPECT_THAT(error, Not(HasSubstr(text.substr(2, 20)))) << "echoes the seed";
        }
    }
    // A crafted seed of each role with a valid checksum parses: only the shape is judged.
    EXPECT_EQ(NKeySeed::parse(seed_with_prefix(0)).role(), NKeyRole::account);
    EXPECT_EQ(NKeySeed::parse(seed_with_prefix(20 << 3)).role(), NKeyRole::user);
}

std::string creds_file(std::string_view jwt, std::string_view seed) {
    // The layout `nsc generate creds` writes, banner and all.
    return fmt::format(
        "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n"
        "*************************************************************\n",
        jwt, seed);
}

constexpr std::string_view some_jwt =
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJYIn0.c2ln-_0";

std::string credentials_error(const std::string& text) {
    try {
        parse_credentials(text, "'/etc/app.creds'");
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::config) << e.what();
        EXPECT_THAT(e.what(), HasSubstr("/etc/app.creds"));
        return e.what();
    }
    ADD_FAILURE() << "parsed: " << text;
    return "";
}

TEST(Credentials, ParsesAnNscStyleFileIncludingCrlfLineEnds) {
    const auto parsed = parse_credentials(creds_file(some_jwt, known_seed), "x.creds");
    EXPECT_EQ(parsed.jwt, some_jwt);
    EXPECT_EQ(parsed.seed.public_key(), known_public_key);

    std::string crlf;
    for (const char c : creds_file(some_jwt, known_seed))
        crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    EXPECT_EQ(parse_credentials(crlf, "x.creds").jwt, some_jwt);
}

TEST(Credentials, RejectsEachMalformedShapeNamingTheFileButNotTheSeed) {
    const std::string seed(known_seed);
    const std::string account_seed = NKeySeed::generate(NKeyRole::account).seed();
    struct Case {
        std::string text;
        std::string says;
    };
    const std::vector<Case> cases = {
        {"", "found 0"},
        {std::string(some_jwt) + "\n" + seed + "\n", "found 0"},  // no blocks at all
        {"-----BEGIN NATS USER JWT-----\n" + std::string(some_jwt) + "\n------END NATS USER JWT------\n",
         "found 1"},
        {"-----BEGIN NATS USER JWT-----\n" + std::string(some_jwt) + "\n-----BEGIN USER NKEY SEED-----\n" +
             seed,
         "found 1"},  // the seed block never ends
        {creds_file("eyJhbGciOiJub25lIn0.eyJ9", seed), "not a JWT"},
        {creds_file("a.b.c.d", seed), "not a JWT"},
        {creds_file("eyJ0.eyJ9.si+g/", seed), "not a JWT"},
        {creds_file("a..c", seed), "not a JWT"},
        {creds_file(seed, some_jwt), "not a JWT"},  // blocks swapped
        {creds_file(some_jwt, account_seed), "not a user seed"},
        {creds_file(some_jwt, seed.substr(0, 50)), "bytes instead of 36"},
        {creds_file(some_jwt, std::string(known_public_key)), "starts with 'S'"},
    };
    for (const auto& [text, says] : cases) {
        SCOPED_TRACE(text);
        const auto error = credentials_error(text);
        EXPECT_THAT(error, HasSubstr(says));
        EXPECT_THAT(error, Not(HasSubstr(seed.substr(2, 20))));
        EXPECT_THAT(error, Not(HasSubstr(account_seed.substr(2, 20))));
    }
}

TEST(Credentials, FilesThatAreMissingUnreadableOrMalformedFailByName) {
    testing::TempDir dir("creds");
    const auto missing = dir.path() / "missing.creds";
    const auto expect_config_error = [](auto&& call, const std::string& says) {
        try {
            call();
            ADD_FAILURE() << "no error, expected: " << says;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::config);
            EXPECT_THAT(e.what(), HasSubstr(says));
        }
    };
    expect_config_error([&] { read_credentials_file(missing); }, missing.string() + "' does not exist");
    expect_config_error([&] { read_credentials_file(dir.path()); }, "is a directory");
    expect_config_error([&] { read_nkey_seed_file(missing); }, "NKey seed file '" + missing.string());

    const auto garbage = dir.path() / "garbage.creds";
    std::ofstream(garbage) << "not a creds file\n";
    expect_config_error([&] { read_credentials_file(garbage); },
                        "credentials file '" + garbage.string() + "'");

    const auto account = dir.path() / "account.nk";
    std::ofstream(account) << NKeySeed::generate(NKeyRole::account).seed() << "\n";
    expect_config_error([&] { read_nkey_seed_file(account); }, "no user seed");

    const auto user = dir.path() / "user.nk";
    std::ofstream(user) << known_seed << "\n";
    EXPECT_EQ(read_nkey_seed_file(user).public_key(), known_public_key);
    const auto good = dir.path() / "good.creds";
    std::ofstream(good) << creds_file(some_jwt, known_seed);
    EXPECT_EQ(read_credentials_file(good).jwt, some_jwt);
}

TEST(Base64Url, EncodesWithoutPaddingInTheUrlAlphabet) {
    EXPECT_EQ(base64url_encode(""), "");
    EXPECT_EQ(base64url_encode("f"), "Zg");
    EXPECT_EQ(base64url_encode("fo"), "Zm8");
    EXPECT_EQ(base64url_encode("foo"), "Zm9v");
    EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
    EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
    EXPECT_EQ(base64url_encode(R"({"typ":"JWT","alg":"ed25519-nkey"})"),
              "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ");
}

TEST(Authentication, NamesTheModeAndRefusesMoreThanOne) {
    Authentication auth;
    EXPECT_EQ(auth.mode(), "none");
    EXPECT_EQ(auth.problem(), "");
    auth.user = "app";
    EXPECT_EQ(auth.mode(), "user/password");
    EXPECT_EQ(auth.problem(), "");
    auth.password = "secret";
    EXPECT_EQ(auth.problem(), "");
    auth.token = "t0ken";
    EXPECT_EQ(auth.problem(), "give one way to authenticate, not user/password and token");
    auth.credentials_file = "/x.creds";
    auth.nkey_seed_file = "/x.nk";
    EXPECT_EQ(
        auth.problem(),
        "give one way to authenticate, not user/password and token and nkey seed file and credentials file");
    EXPECT_THAT(auth.problem(), Not(HasSubstr("secret")));
    EXPECT_THAT(auth.problem(), Not(HasSubstr("t0ken")));

    Authentication password_only;
    password_only.password = "secret";
    EXPECT_EQ(password_only.problem(), "a password needs a user");
    Authentication token;
    token.token = "t";
    EXPECT_EQ(token.mode(), "token");
    Authentication nkey;
    nkey.nkey_seed_file = "/x.nk";
    EXPECT_EQ(nkey.mode(), "nkey");
    Authentication creds;
    creds.credentials_file = "/x.creds";
    EXPECT_EQ(creds.mode(), "credentials file");
}

TEST(TlsOptions, IsActiveWhenConfiguredAndRefusesInconsistentSettings) {
    TlsOptions tls;
    EXPECT_FALSE(tls.active({"nats://127.0.0.1:4222"}));
    EXPECT_TRUE(tls.active({"nats://a:4222", "tls://b:4222"}));
    EXPECT_EQ(tls.problem(), "");
    tls.ca_file = "/ca.pem";
    EXPECT_TRUE(tls.active({"nats://127.0.0.1:4222"}));
    TlsOptions enabled;
    enabled.enabled = true;
    EXPECT_TRUE(enabled.active({}));

    TlsOptions certificate_only;
    certificate_only.certificate_file = "/client.pem";
    EXPECT_THAT(certificate_only.problem(), HasSubstr("needs its key"));
    TlsOptions key_only;
    key_only.key_file = "/client.key";
    EXPECT_THAT(key_only.problem(), HasSubstr("needs its key"));
    TlsOptions old_version;
    old_version.min_version = "1.1";
    EXPECT_EQ(old_version.problem(), "min_version '1.1' is not 1.2 or 1.3");
    old_version.min_version = "1.3";
    EXPECT_EQ(old_version.problem(), "");
}

// The checks run before nats.c is asked to connect: no server is needed to fail them.
TEST(ConnectionAuthentication, BadSettingsAndFilesFailAtConstructionNamingTheFile) {
    testing::TempDir dir("auth");
    const auto connect = [](const std::function<void(ConnectionOptions&)>& change) -> std::string {
        auto options = ConnectionOptions::from_urls("nats://127.0.0.1:1");
        options.connect_timeout = std::chrono::milliseconds(200);
        change(options);
        try {
            Connection connection(options);
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::config) << e.what();
            return e.what();
        }
        ADD_FAILURE() << "connected";
        return "";
    };
    const auto missing = (dir.path() / "nope.creds").string();
    EXPECT_THAT(connect([&](auto& o) { o.auth.credentials_file = missing; }),
                HasSubstr("credentials file '" + missing + "' does not exist"));
    const auto garbage = dir.path() / "garbage.nk";
    std::ofstream(garbage) << "hello\n";
    EXPECT_THAT(connect([&](auto& o) { o.auth.nkey_seed_file = garbage; }),
                HasSubstr("NKey seed file '" + garbage.string() + "'"));
    EXPECT_THAT(connect([&](auto& o) {
                    o.auth.user = "u";
                    o.auth.token = "t";
                }),
                HasSubstr("NATS authentication: give one way"));
    const auto no_ca = (dir.path() / "ca.pem").string();
    EXPECT_THAT(connect([&](auto& o) { o.tls.ca_file = no_ca; }),
                HasSubstr("NATS TLS CA file '" + no_ca + "' does not exist"));
    EXPECT_THAT(connect([&](auto& o) { o.tls.certificate_file = "/client.pem"; }), HasSubstr("NATS TLS: "));
}

}  // namespace
}  // namespace seamq::nats
