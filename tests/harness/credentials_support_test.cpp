// The harness's NATS operator-mode JWTs and throwaway certificates, checked by other means
// than the servers that use them: JWT parts decoded and the signature verified with
// OpenSSL; certificates verified (or not) by `openssl verify`.
#include <fstream>
#include <memory>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "seamq/core/error.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/nats_operator.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::testing {
namespace {

using ::testing::HasSubstr;

std::string base64url_decode(std::string_view text) {
    static constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : text) {
        buffer = (buffer << 6) | static_cast<std::uint32_t>(alphabet.find(c));
        bits += 6;
        if (bits >= 8) {
            out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return out;
}

// The 32 raw bytes of an NKey public key (base32: role byte, key, CRC-16).
std::string raw_public_key(std::string_view public_key) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (const char c : public_key) {
        buffer = (buffer << 5) | static_cast<std::uint32_t>(alphabet.find(c));
        bits += 5;
        if (bits >= 8) {
            out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
            bits -= 8;
        }
    }
    return out.substr(1, 32);
}

bool signature_verifies(const std::string& jwt, const std::string& issuer_public_key) {
    const auto last_dot = jwt.rfind('.');
    const auto signed_part = jwt.substr(0, last_dot);
    const auto signature = base64url_decode(jwt.substr(last_dot + 1));
    const auto raw = raw_public_key(issuer_public_key);
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                    reinterpret_cast<const unsigned char*>(raw.data()), raw.size()),
        EVP_PKEY_free);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    return key && context && EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
           EVP_DigestVerify(context.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                            signed_part.size()) == 1;
}

nlohmann::json part(const std::string& jwt, int index) {
    const auto first = jwt.find('.');
    const auto second = jwt.find('.', first + 1);
    const auto text = index == 0 ? jwt.substr(0, first) : jwt.substr(first + 1, second - first - 1);
    return nlohmann::json::parse(base64url_decode(text));
}

TEST(NatsOperator, JwtsChainOperatorToAccountToUserWithValidSignatures) {
    NatsOperator nats_operator("op");
    const auto& account = nats_operator.add_account("APP");
    const auto user = nats::NKeySeed::generate(nats::NKeyRole::user);
    const auto user_jwt =
        nats_operator.user_jwt("APP", user, "relay", {.publish_allow = {"a.>"}, .subscribe_allow = {}});

    EXPECT_EQ(part(nats_operator.jwt(), 0), nlohmann::json({{"typ", "JWT"}, {"alg", "ed25519-nkey"}}));
    const auto operator_claims = part(nats_operator.jwt(), 1);
    EXPECT_EQ(operator_claims["iss"], nats_operator.key().public_key());
    EXPECT_EQ(operator_claims["sub"], nats_operator.key().public_key());
    EXPECT_EQ(operator_claims["nats"]["type"], "operator");
    EXPECT_EQ(operator_claims["nats"]["version"], 2);
    EXPECT_EQ(operator_claims["nats"]["system_account"], nats_operator.system_account().key.public_key());
    EXPECT_EQ(operator_claims["jti"].get<std::string>().size(), 52u);  // base32 of 32 bytes, no padding
    EXPECT_TRUE(signature_verifies(nats_operator.jwt(), nats_operator.key().public_key()));

    const auto account_claims = part(account.jwt, 1);
    EXPECT_EQ(account_claims["iss"], nats_operator.key().public_key());
    EXPECT_EQ(account_claims["sub"], account.key.public_key());
    EXPECT_EQ(account_claims["name"], "APP");
    EXPECT_EQ(account_claims["nats"]["limits"]["disk_storage"], -1);
    EXPECT_EQ(account_claims["nats"]["limits"]["mem_storage"], -1);
    EXPECT_TRUE(signature_verifies(account.jwt, nats_operator.key().public_key()));
    EXPECT_FALSE(part(nats_operator.system_account().jwt, 1)["nats"]["limits"].contains("disk_storage"));

    const auto user_claims = part(user_jwt, 1);
    EXPECT_EQ(user_claims["iss"], account.key.public_key());
    EXPECT_EQ(user_claims["sub"], user.public_key());
    EXPECT_EQ(user_claims["nats"]["type"], "user");
    EXPECT_EQ(user_claims["nats"]["pub"]["allow"], nlohmann::json::array({"a.>"}));
    EXPECT_TRUE(signature_verifies(user_jwt, account.key.public_key()));
    EXPECT_FALSE(signature_verifies(user_jwt, nats_operator.key().public_key()));

    const auto config = nats_operator.server_config();
    EXPECT_THAT(config, HasSubstr("resolver: MEMORY"));
    EXPECT_THAT(config, HasSubstr("system_account: " + nats_operator.system_account().key.public_key()));
    EXPECT_THAT(config, HasSubstr(account.key.public_key() + ": \"" + account.jwt + "\""));
}

TEST(NatsOperator, CredentialsFilesParseAsSeaMqReadsThem) {
    TempDir dir("creds");
    NatsOperator nats_operator;
    nats_operator.add_account("APP");
    const auto file = nats_operator.write_credentials("APP", "relay", dir.path() / "relay.creds");
    const auto credentials = nats::read_credentials_file(file);
    EXPECT_EQ(part(credentials.jwt, 1)["sub"], credentials.seed.public_key());
    EXPECT_TRUE(signature_verifies(credentials.jwt, nats_operator.account("APP").key.public_key()));
}

std::string openssl_output(const std::vector<std::string>& argv, const std::filesystem::path& log) {
    std::filesystem::remove(log);
    try {
        run_to_completion(argv, log);
    } catch (const seamq::Error&) {  // a failed check: its output is the answer
    }
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TEST(CertificateAuthority, IssuesCertificatesOnlyItsOwnCaVerifies) {
    CertificateAuthority ca("test CA");
    CertificateAuthority stranger("stranger CA");
    const auto server = ca.issue_server("server");
    const auto client = ca.issue_client("client");
    const auto log = ca.directory() / "check.log";
    EXPECT_THAT(openssl_output({"openssl", "verify", "-CAfile", ca.certificate_file().string(), "-purpose",
                                "sslserver", server.certificate_file.string()},
                               log),
                HasSubstr(": OK"));
    EXPECT_THAT(openssl_output({"openssl", "verify", "-CAfile", ca.certificate_file().string(), "-purpose",
                                "sslclient", client.certificate_file.string()},
                               log),
                HasSubstr(": OK"));
    EXPECT_THAT(openssl_output({"openssl", "verify", "-CAfile", stranger.certificate_file().string(),
                                server.certificate_file.string()},
                               log),
                HasSubstr("unable to get local issuer certificate"));
    const auto names = openssl_output(
        {"openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", server.certificate_file.string()},
        log);
    EXPECT_THAT(names, HasSubstr("DNS:localhost"));
    EXPECT_THAT(names, HasSubstr("IP Address:127.0.0.1"));
    EXPECT_EQ(std::filesystem::status(server.key_file).permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace
}  // namespace seamq::testing
