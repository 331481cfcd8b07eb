// The JetStream replies sea-mq reads itself, on the bytes alone (no server).
#include "seamq/nats/api_reply.hpp"

#include <gtest/gtest.h>

#include "seamq/core/error.hpp"
#include "seamq/nats/error.hpp"

using namespace seamq;
using namespace seamq::nats;

namespace {

constexpr std::string_view what = "finding the stream for subject 'sea.x'";

//! The message of the seamq::Error the reply makes parse_stream_names_reply throw.
std::string error_of(std::string_view reply) {
    try {
        parse_stream_names_reply(reply, what);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::nats);
        return e.what();
    }
    ADD_FAILURE() << "accepted " << reply;
    return {};
}

}  // namespace

TEST(StreamNamesReply, GivesTheFirstStreamOrNone) {
    EXPECT_EQ(
        parse_stream_names_reply(R"({"type":"io.nats.jetstream.api.v1.stream_names_response","total":1,)"
                                 R"("offset":0,"limit":1024,"streams":["SEA_EVENTS","OTHER"]})",
                                 what),
        "SEA_EVENTS");
    EXPECT_EQ(parse_stream_names_reply(R"({"total":0,"streams":null})", what), std::nullopt);
    EXPECT_EQ(parse_stream_names_reply(R"({"total":0,"streams":[]})", what), std::nullopt);
    EXPECT_EQ(parse_stream_names_reply(R"({"total":0})", what), std::nullopt);
}

TEST(StreamNamesReply, AnApiErrorIsANatsErrorWithItsCode) {
    try {
        parse_stream_names_reply(R"({"error":{"code":503,"err_code":10008,"description":"JetStream system )"
                                 R"(temporarily unavailable"}})",
                                 what);
        FAIL() << "no error";
    } catch (const NatsError& e) {
        EXPECT_EQ(e.js_error_code(), 10008);
        EXPECT_EQ(std::string(e.what()),
                  "finding the stream for subject 'sea.x': JetStream system temporarily unavailable "
                  "(JetStream error 10008)");
    }
    // A malformed error member is still an error, not an exception from the JSON library.
    for (const auto* reply : {R"({"error":"x"})", R"({"error":{"err_code":"x","description":7}})",
                              R"({"error":{"err_code":1e300}})"}) {
        EXPECT_NE(error_of(reply).find("unknown error (JetStream error 0)"), std::string::npos) << reply;
    }
}

TEST(StreamNamesReply, AReplyThatIsNotTheApisJsonIsAnError) {
    // Each threw nlohmann's own exceptions (type_error, out_of_range) before.
    EXPECT_NE(error_of(R"({"streams":[1]})").find("not strings"), std::string::npos);
    EXPECT_NE(error_of(R"({"streams":[null]})").find("not strings"), std::string::npos);
    EXPECT_NE(error_of("[1]").find("not a JSON object"), std::string::npos);
    EXPECT_NE(error_of("\"x\"").find("not a JSON object"), std::string::npos);
    EXPECT_NE(error_of("{\"streams\":[1e999]}").find("unreadable API response"), std::string::npos);
    EXPECT_NE(error_of("").find("unreadable API response"), std::string::npos);
}

TEST(StatusHeader, OnlyThreeDigitsAreAStatus) {
    EXPECT_EQ(parse_status_header("404"), 404);
    EXPECT_EQ(parse_status_header("100"), 100);
    EXPECT_EQ(parse_status_header("008"), 8);
    // std::stoi took these.
    for (const auto* bad : {"+12", "-12", " 12", "4x4", "1e2", "", "4040", "40"}) {
        EXPECT_EQ(parse_status_header(bad), std::nullopt) << bad;
    }
}
