// The federation status's reading of the servers' replies, without servers: /leafz
// bodies and STREAM.INFO replies (the bodies are nats-server 2.9.10's shapes; the
// partition test reads live ones), and the verdicts on links and sources.
#include "seamq/federation/status.hpp"

#include <gtest/gtest.h>

#include "seamq/core/error.hpp"
#include "seamq/nats/api_reply.hpp"
#include "seamq/nats/error.hpp"

namespace seamq::federation {
namespace {

TEST(GoDuration, ReadsNatsServerRtts) {
    EXPECT_DOUBLE_EQ(go_duration_seconds("215µs"), 215e-6);
    EXPECT_DOUBLE_EQ(go_duration_seconds("1.25ms"), 1.25e-3);
    EXPECT_DOUBLE_EQ(go_duration_seconds("2s"), 2.0);
    EXPECT_DOUBLE_EQ(go_duration_seconds("1m2.5s"), 62.5);
    EXPECT_DOUBLE_EQ(go_duration_seconds("0s"), 0.0);
    for (const auto* bad : {"", "ms", "12parsecs", "1.2.3s", "-1s", "1e3s"})
        EXPECT_EQ(go_duration_seconds(bad), -1) << bad;
}

TEST(Leafz, ReadsEachLink) {
    const auto links = parse_leafz(
        R"({"server_id":"N1","leafnodes":2,"leafs":[{"name":"hub-2","account":"SEAMQ","ip":"127.0.0.1",)"
        R"("port":40522,"rtt":"215µs","in_msgs":12,"out_msgs":960},{"account":"SEAMQ","ip":"127.0.0.2",)"
        R"("port":4001,"rtt":"3ms"}]})");
    ASSERT_EQ(links.size(), 2U);
    EXPECT_EQ(links[0].account, "SEAMQ");
    EXPECT_EQ(links[0].remote, "127.0.0.1:40522");
    EXPECT_EQ(links[0].rtt, "215µs");
    EXPECT_EQ(links[0].in_msgs, 12U);
    EXPECT_EQ(links[0].out_msgs, 960U);
    LinkProbe probe{"http://127.0.0.1:8222", true, "", links};
    EXPECT_TRUE(probe.up());
    EXPECT_FALSE(probe.problem());
    EXPECT_DOUBLE_EQ(probe.worst_rtt_seconds().value(), 3e-3);
}

TEST(Leafz, NoLinkIsDownWithTheRunbook) {
    for (const auto* body : {R"({"leafnodes":0,"leafs":null})", R"({"leafnodes":0,"leafs":[]})", "{}"}) {
        LinkProbe probe{"http://127.0.0.1:8222", true, "", parse_leafz(body)};
        EXPECT_FALSE(probe.up()) << body;
        EXPECT_FALSE(probe.worst_rtt_seconds()) << body;
        EXPECT_NE(probe.problem().value_or("").find("federation-link-down.md"), std::string::npos);
    }
    const LinkProbe unreachable{"http://127.0.0.1:8222", false, "Could not establish connection", {}};
    EXPECT_NE(unreachable.problem().value_or("").find("unreachable (Could not establish connection)"),
              std::string::npos);
}

TEST(Leafz, RefusesWhatIsNotALeafzBody) {
    for (const auto* body : {"<html>502</html>", "[1]", R"({"leafs":"none"})", R"({"leafs":[3]})"}) {
        try {
            parse_leafz(body);
            ADD_FAILURE() << body;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::http) << body;
        }
    }
    // Fields of the wrong type are left at their defaults rather than refused.
    const auto links = parse_leafz(R"({"leafs":[{"account":7,"port":"x","rtt":"soon","in_msgs":-3}]})");
    ASSERT_EQ(links.size(), 1U);
    EXPECT_EQ(links[0].account, "");
    EXPECT_EQ(links[0].rtt_seconds, -1);
}

constexpr const char* imports_reply =
    R"({"type":"io.nats.jetstream.api.v1.stream_info_response","config":{"name":"SEA_IMPORTS","sources":)"
    R"([{"name":"SEA_EXPORT","external":{"api":"$JS.cell-a.API","deliver":""}}]},"state":{"messages":960},)"
    R"("sources":[{"name":"SEA_EXPORT","external":{"api":"$JS.cell-a.API","deliver":""},"lag":0,)"
    R"("active":385000000},{"name":"SEA_EXPORT","external":{"api":"$JS.cell-c.API"},"lag":7,"active":)"
    R"(2000000000},{"name":"SEA_EXPORT","external":{"api":"$JS.cell-d.API"},"lag":42,"active":45000000000},)"
    R"({"name":"SEA_EXPORT","external":{"api":"$JS.cell-e.API"},"lag":0,"active":-1}]})";

TEST(StreamSources, JudgesEachSource) {
    const auto reply = nats::parse_stream_sources_reply(imports_reply, "reading");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->name, "SEA_IMPORTS");
    EXPECT_EQ(reply->messages, 960U);
    const auto sources = judge_sources(*reply, std::chrono::seconds(30));
    ASSERT_EQ(sources.size(), 4U);
    EXPECT_EQ(sources[0].domain, "cell-a");
    EXPECT_EQ(sources[0].state, SourceState::active);
    EXPECT_DOUBLE_EQ(sources[0].last_seen_seconds.value(), 0.385);
    EXPECT_FALSE(sources[0].problem());
    EXPECT_EQ(sources[1].state, SourceState::lagging);
    EXPECT_EQ(sources[1].lag, 7U);
    EXPECT_FALSE(sources[1].problem());
    EXPECT_EQ(sources[2].state, SourceState::stalled);
    EXPECT_NE(sources[2].problem().value_or("").find("last heard from 45.0s ago, lag 42"), std::string::npos);
    EXPECT_EQ(sources[3].state, SourceState::inactive);
    EXPECT_FALSE(sources[3].last_seen_seconds);
    EXPECT_NE(sources[3].problem().value_or("").find("no source consumer"), std::string::npos);
}

TEST(StreamSources, NotFoundIsNulloptOtherErrorsThrow) {
    EXPECT_FALSE(nats::parse_stream_sources_reply(
        R"({"error":{"code":404,"err_code":10059,"description":"stream not found"}})", "reading"));
    EXPECT_THROW(nats::parse_stream_sources_reply(
                     R"({"error":{"code":503,"err_code":10008,"description":"unavailable"}})", "reading"),
                 nats::NatsError);
    for (const auto* body : {"nope", R"({"sources":[]})", R"({"config":{"name":"X"},"sources":{}})",
                             R"({"config":{"name":"X"},"sources":[{"lag":1.5e300}]})"}) {
        try {
            nats::parse_stream_sources_reply(body, "reading");
            ADD_FAILURE() << body;
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::nats) << body;
        }
    }
    const auto plain = nats::parse_stream_sources_reply(R"({"config":{"name":"SEA_EVENTS"}})", "reading");
    ASSERT_TRUE(plain);
    EXPECT_TRUE(plain->sources.empty());
}

}  // namespace
}  // namespace seamq::federation
