// Standard Webhooks v1 in C++: the specification's published vector, every verdict of
// verify, rotation, the header parser's bounds; and interoperability both ways with the
// npm reference library (tests/node/standard_webhooks_peer.mjs).
#include "seamq/edges/webhook_signature.hpp"

#include <chrono>
#include <fstream>

#include "tests/envelope/run_command.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/testing/process.hpp"

using namespace seamq;
using namespace seamq::edges;
using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

// The specification's published test vector (also in every reference library's tests).
constexpr const char* vector_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* vector_id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr std::int64_t vector_timestamp = 1614265330;
constexpr const char* vector_body = R"({"test": 2432232314})";
constexpr const char* vector_signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

system_clock::time_point at(std::int64_t unix_seconds) {
    return system_clock::time_point(seconds(unix_seconds));
}

WebhookHeaders vector_headers() {
    return {vector_id, std::to_string(vector_timestamp), vector_signature};
}

}  // namespace

TEST(WebhookSignature, SignsThePublishedTestVector) {
    const auto secret = WebhookSecret::parse(vector_secret);
    EXPECT_EQ(secret.key().size(), 24u);
    EXPECT_EQ(sign(secret, vector_id, vector_timestamp, vector_body), vector_signature);
    EXPECT_EQ(secret.to_string(), vector_secret);
}

TEST(WebhookSignature, VerifiesThePublishedTestVector) {
    const std::vector secrets{WebhookSecret::parse(vector_secret)};
    EXPECT_EQ(verify(secrets, vector_headers(), vector_body, at(vector_timestamp)), Verdict::valid);
    EXPECT_EQ(verify(secrets, vector_headers(), vector_body, at(vector_timestamp + 300)), Verdict::valid);
}

TEST(WebhookSignature, TamperedBodyIdOrTimestampIsRefused) {
    const std::vector secrets{WebhookSecret::parse(vector_secret)};
    EXPECT_EQ(verify(secrets, vector_headers(), R"({"test": 2432232315})", at(vector_timestamp)),
              Verdict::no_matching_signature);
    auto headers = vector_headers();
    headers.id = "msg_p5jXN8AQM9LWM0D4loKWxJeK";
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::no_matching_signature);
    headers = vector_headers();
    headers.timestamp = std::to_string(vector_timestamp + 1);
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::no_matching_signature);
}

TEST(WebhookSignature, StaleAndFutureTimestampsAreRefusedOutsideTheTolerance) {
    const std::vector secrets{WebhookSecret::parse(vector_secret)};
    EXPECT_EQ(verify(secrets, vector_headers(), vector_body, at(vector_timestamp + 301)),
              Verdict::timestamp_too_old);
    EXPECT_EQ(verify(secrets, vector_headers(), vector_body, at(vector_timestamp - 301)),
              Verdict::timestamp_too_new);
    EXPECT_EQ(verify(secrets, vector_headers(), vector_body, at(vector_timestamp - 300)), Verdict::valid);
    EXPECT_EQ(verify(secrets, vector_headers(), vector_body, at(vector_timestamp + 10), seconds(5)),
              Verdict::timestamp_too_old);
}

TEST(WebhookSignature, WrongSecretIsRefusedAndRotationAcceptsEitherSecret) {
    const auto old_secret = WebhookSecret::parse(vector_secret);
    const auto new_secret = WebhookSecret::generate();
    EXPECT_EQ(verify({new_secret}, vector_headers(), vector_body, at(vector_timestamp)),
              Verdict::no_matching_signature);
    // A receiver mid-rotation holds both secrets and accepts a sender that signs with either.
    EXPECT_EQ(verify({new_secret, old_secret}, vector_headers(), vector_body, at(vector_timestamp)),
              Verdict::valid);
    // A sender mid-rotation signs with both; a receiver holding only one accepts.
    const auto both = signature_header({old_secret, new_secret}, "msg_1", vector_timestamp, "{}");
    EXPECT_EQ(parse_signature_header(both).size(), 2u);
    EXPECT_EQ(
        verify({new_secret}, {"msg_1", std::to_string(vector_timestamp), both}, "{}", at(vector_timestamp)),
        Verdict::valid);
    EXPECT_EQ(
        verify({old_secret}, {"msg_1", std::to_string(vector_timestamp), both}, "{}", at(vector_timestamp)),
        Verdict::valid);
}

TEST(WebhookSignature, MissingOrMalformedHeadersAreNamed) {
    const std::vector secrets{WebhookSecret::parse(vector_secret)};
    for (auto field : {&WebhookHeaders::id, &WebhookHeaders::timestamp, &WebhookHeaders::signature}) {
        auto headers = vector_headers();
        headers.*field = "";
        EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::missing_header);
    }
    for (const char* timestamp :
         {"16142653x0", "-1614265330", "1614265330.5", "99999999999999999999", " 1"}) {
        auto headers = vector_headers();
        headers.timestamp = timestamp;
        EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::malformed_timestamp)
            << timestamp;
    }
    auto headers = vector_headers();
    headers.id = std::string(257, 'a');
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::missing_header);
}

TEST(WebhookSignature, OtherVersionsAndJunkEntriesAreSkipped) {
    const std::vector secrets{WebhookSecret::parse(vector_secret)};
    auto headers = vector_headers();
    const std::string mac = std::string(vector_signature).substr(3);
    headers.signature = "v1a," + mac + " junk v2," + mac;
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::no_matching_signature);
    headers.signature = "v1a," + mac + " junk v1," + mac;
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::valid);
    headers.signature = "v1," + mac.substr(0, 43);
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::no_matching_signature);
}

TEST(WebhookSignature, OnlyTheFirstSixteenEntriesAreRead) {
    const std::vector secrets{WebhookSecret::parse(vector_secret)};
    std::string header;
    for (int i = 0; i < 16; ++i) header += "v1,AAAA ";
    auto headers = vector_headers();
    headers.signature = header + vector_signature;
    EXPECT_EQ(parse_signature_header(headers.signature).size(), max_signature_entries);
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::no_matching_signature);
    headers.signature = header.substr(8) + vector_signature;
    EXPECT_EQ(verify(secrets, headers, vector_body, at(vector_timestamp)), Verdict::valid);
}

TEST(WebhookSignature, SecretsAreParsedStrictlyWithoutEchoingThem) {
    for (const char* bad :
         {"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_MfKQ9r8G*YqrTwjUPD8ILPZIo2LaLaSw",
          "whsec_c2hvcnQ=", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwX"}) {
        try {
            WebhookSecret::parse(bad);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const Error& error) {
            EXPECT_EQ(error.code(), Errc::invalid_argument);
            EXPECT_EQ(std::string(error.what()).find("MfKQ9r8G"), std::string::npos) << error.what();
        }
    }
    const auto generated = WebhookSecret::generate();
    EXPECT_EQ(generated.key().size(), 32u);
    EXPECT_EQ(WebhookSecret::parse(generated.to_string()).key(), generated.key());
    EXPECT_NE(WebhookSecret::generate().key(), generated.key());
}

TEST(WebhookSignature, Base64RoundTripsEveryLength) {
    std::string bytes;
    for (int length = 0; length < 70; ++length) {
        std::string decoded;
        const auto text = base64_encode(bytes);
        EXPECT_EQ(text.size() % 4, 0u);
        ASSERT_TRUE(base64_decode(text, decoded)) << text;
        EXPECT_EQ(decoded, bytes);
        bytes += static_cast<char>(length * 37 + 11);
    }
    std::string out;
    EXPECT_FALSE(base64_decode("A", out));
    EXPECT_FALSE(base64_decode("AB=", out));
    EXPECT_FALSE(base64_decode("AB-_", out));
    EXPECT_TRUE(base64_decode("AB", out));  // unpadded
}

// Both directions through the reference implementation, with current timestamps (its
// verifier applies its own clock): it verifies what sea-mq signs, sea-mq verifies what it
// signs, and a tampered body fails on both sides.
TEST(StandardWebhooksInterop, ReferenceLibraryAndSeaMqAcceptEachOthersSignatures) {
    const auto now = std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
    const std::vector<std::string> bodies = {
        "{}", R"({"specversion":"1.0","type":"sea.event.order_placed.v1","data":{"note":"caf\u00e9 ☕"}})",
        std::string(70000, 'x'), "", "line1\nline2\r\n\ttab \"quoted\" \\ back"};
    const std::vector<std::string> secrets = {vector_secret, WebhookSecret::generate().to_string(),
                                              WebhookSecret::generate().to_string()};
    nlohmann::json cases = {{"sign", nlohmann::json::array()}, {"verify", nlohmann::json::array()}};
    std::vector<std::string> ours;
    int n = 0;
    for (const auto& secret : secrets) {
        for (const auto& body : bodies) {
            const std::string id = "msg_" + std::to_string(++n) + "_01J9Z";
            const std::int64_t timestamp = now - n;
            cases["sign"].push_back(
                {{"secret", secret}, {"id", id}, {"timestamp", timestamp}, {"body", body}});
            ours.push_back(sign(WebhookSecret::parse(secret), id, timestamp, body));
            cases["verify"].push_back({{"secret", secret},
                                       {"id", id},
                                       {"timestamp", timestamp},
                                       {"signature", ours.back()},
                                       {"body", body}});
        }
    }
    // Two that must fail at the reference too: a tampered body, and a wrong secret.
    cases["verify"].push_back({{"secret", secrets[0]},
                               {"id", "msg_1_01J9Z"},
                               {"timestamp", now - 1},
                               {"signature", ours[0]},
                               {"body", "{ }"}});
    cases["verify"].push_back({{"secret", secrets[1]},
                               {"id", "msg_1_01J9Z"},
                               {"timestamp", now - 1},
                               {"signature", ours[0]},
                               {"body", "{}"}});

    seamq::testing::TempDir work("interop");
    const auto cases_file = work.path() / "cases.json";
    std::ofstream(cases_file) << cases.dump();
    const auto node = test::run_command(
        {"node", (test::environment_path("SEAMQ_NODE_DIR") / "standard_webhooks_peer.mjs").string(),
         cases_file.string()});
    ASSERT_EQ(node.exit_code, 0) << "the reference library failed (scripts/bootstrap installs it): "
                                 << node.err;
    const auto answer = nlohmann::json::parse(node.out);

    ASSERT_EQ(answer["signed"].size(), ours.size());
    ASSERT_EQ(answer["verified"].size(), ours.size() + 2);
    const auto clock = system_clock::now();
    for (std::size_t i = 0; i < ours.size(); ++i) {
        const auto& sent = cases["sign"][i];
        EXPECT_EQ(answer["signed"][i], ours[i]) << "case " << i;
        EXPECT_TRUE(answer["verified"][i]["ok"].get<bool>()) << "case " << i << ": " << answer["verified"][i];
        // sea-mq verifies the reference's signature, as a header with an unknown version first.
        const WebhookHeaders headers{sent["id"], std::to_string(sent["timestamp"].get<std::int64_t>()),
                                     "v0,AAAA " + answer["signed"][i].get<std::string>()};
        EXPECT_EQ(verify({WebhookSecret::parse(sent["secret"].get<std::string>())}, headers,
                         sent["body"].get<std::string>(), clock),
                  Verdict::valid)
            << "case " << i;
    }
    EXPECT_FALSE(answer["verified"][ours.size()]["ok"].get<bool>());
    EXPECT_FALSE(answer["verified"][ours.size() + 1]["ok"].get<bool>());
}
