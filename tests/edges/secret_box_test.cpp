// Webhook secrets at rest: sealing opens only with the same key and for the same
// endpoint, any altered byte is refused, plain rows pass through, errors never quote.
#include "seamq/edges/secret_box.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "seamq/core/error.hpp"
#include "seamq/edges/webhook_signature.hpp"

using namespace seamq;
using namespace seamq::edges;

namespace {

const std::string key = "q2Xo0dY4nQ2m8m7oKk9k3s1v0aW5b6c7d8e9f0g1h2I=";  // 32 bytes
const std::string other_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

TEST(SecretBox, SealedSecretsOpenOnlyWithTheirKeyAndEndpoint) {
    const auto box = SecretBox::parse(key);
    const auto sealed = box.seal("acme", secret);
    EXPECT_TRUE(sealed.starts_with("enc:v1:")) << sealed;
    EXPECT_EQ(sealed.find(secret.substr(6)), std::string::npos);
    EXPECT_NE(box.seal("acme", secret), sealed) << "a fresh nonce each time";
    EXPECT_EQ(box.open("acme", sealed), secret);

    const auto refused = [&](const SecretBox& with, const std::string& name, const std::string& stored) {
        try {
            (void)with.open(name, stored);
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::invalid_argument);
            EXPECT_EQ(std::string(e.what()).find(secret.substr(6)), std::string::npos) << e.what();
            return true;
        }
        return false;
    };
    EXPECT_TRUE(refused(box, "globex", sealed)) << "another endpoint's row";
    EXPECT_TRUE(refused(SecretBox::parse(other_key), "acme", sealed)) << "another key";
    // Not the last two characters: padding, and unused low bits of the last one.
    for (std::size_t at = sealed_prefix.size(); at + 2 < sealed.size(); at += 5) {
        auto altered = sealed;
        altered[at] = altered[at] == 'A' ? 'B' : 'A';
        EXPECT_TRUE(refused(box, "acme", altered)) << "byte " << at;
    }
    EXPECT_TRUE(refused(box, "acme", "enc:v1:"));
    EXPECT_TRUE(refused(box, "acme", "enc:v1:!!"));
}

TEST(SecretBox, PlainRowsPassAndSealedOnesNeedTheKey) {
    const auto box = SecretBox::parse(key);
    EXPECT_EQ(box.open("acme", secret), secret);
    EXPECT_EQ(open_stored_secret(std::nullopt, "acme", secret), secret);
    const auto sealed = box.seal("acme", secret);
    EXPECT_EQ(open_stored_secret(box, "acme", sealed), secret);
    try {
        (void)open_stored_secret(std::nullopt, "acme", sealed);
        FAIL() << "a sealed secret opened without a key";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::config);
        EXPECT_NE(std::string(e.what()).find("secrets_key"), std::string::npos) << e.what();
    }
}

TEST(SecretBox, AKeyMustBe32BytesOfBase64AndIsNeverQuoted) {
    for (const std::string& bad : std::vector<std::string>{"not base64 at all!", "c2hvcnQ=", key + key}) {
        try {
            (void)SecretBox::parse(bad);
            ADD_FAILURE() << "accepted a bad key";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::config);
            EXPECT_EQ(std::string(e.what()).find(bad), std::string::npos) << e.what();
        }
    }
}

}  // namespace
