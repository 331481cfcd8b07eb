// `sea-mq outbox rejected|retry` against real servers: an event a stream refused for good is
// listed, and once the operator raised the limit, re-queued and published once, in order.
#include "tests/cli/run_sea_mq.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/pull_consumer.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::cli::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using seamq::testing::ChildProcess;
using seamq::testing::NatsServer;
using seamq::testing::PostgresServer;
using seamq::testing::TempDir;
using seamq::testing::wait_until;

std::string enqueue_sql(const std::string& id, const std::string& key, int blob_bytes) {
    return "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', '" + id +
           "', 'source', '/t', 'type', 'sea.event.order-placed.v1', 'subject', '" + key +
           "', 'data', jsonb_build_object('blob', repeat('x', " + std::to_string(blob_bytes) + "))))";
}

TEST(CliOutbox, ARejectedEventIsListedAndRequeuedInOrderAfterTheFix) {
    PostgresServer postgres;
    NatsServer nats;
    postgres.create_database("sea");
    const auto database = postgres.url("sea");
    ASSERT_EQ(sea_mq({"db", "migrate", "--database", database}).exit_code, 0);
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url()));
    nats::JetStream jetstream(connection);
    nats::StreamConfig stream;
    stream.name = "SEA_EVENTS";
    stream.subjects = {"sea.>"};
    stream.max_message_size = 2048;
    jetstream.add_stream(stream);

    postgres.query_value(enqueue_sql("small-1", "k", 10), "sea");
    postgres.query_value(enqueue_sql("big-1", "k", 4096), "sea");
    postgres.query_value(enqueue_sql("big-2", "other", 4096), "sea");
    TempDir scratch("cli-outbox");
    auto relay = ChildProcess(
        ChildProcess::Options{.argv = {sea_mq_binary().string(), "relay", "run", "--context", "sea",
                                       "--database", database, "--nats", nats.url(), "--name", "relay-a",
                                       "--expected-stream", "SEA_EVENTS", "--poll-ms", "100"},
                              .log_file = scratch.path() / "relay.log"});
    ASSERT_TRUE(wait_until(
        [&] {
            return postgres.query_value("SELECT count(*) FROM seamq.outbox_events WHERE status = 'rejected'",
                                        "sea") == "2";
        },
        20s));

    // Listed, with the reason; the flag wins over an unreachable $SEAMQ_DATABASE_URL.
    const std::string dead =
        "postgresql://postgres@127.0.0.1:" + std::to_string(seamq::testing::free_port()) +
        "/nowhere?connect_timeout=2";
    const auto listed = sea_mq_with_env({{"SEAMQ_DATABASE_URL", dead}},
                                        {"outbox", "rejected", "--database", database, "--output", "json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    const auto rejected = json::parse(listed.out);
    ASSERT_EQ(rejected.size(), 2U) << listed.out;
    EXPECT_EQ(rejected[0]["id"], "big-1");
    EXPECT_EQ(rejected[0]["key"], "k");
    EXPECT_NE(rejected[0]["last_error"].get<std::string>().find("maximum"), std::string::npos) << listed.out;

    // Nothing to choose: a usage error. A filter matching nothing: exit 1.
    EXPECT_EQ(sea_mq({"outbox", "retry", "--database", database}).exit_code, 2);
    EXPECT_EQ(sea_mq({"outbox", "retry", "--database", database, "--key", "nobody"}).exit_code, 1);

    // The operator raises the limit, then re-queues key k's rejected event; the environment
    // alone also works.
    stream.max_message_size = 8192;
    jetstream.update_stream(stream);
    const auto retried =
        sea_mq_with_env({{"SEAMQ_DATABASE_URL", database}}, {"outbox", "retry", "--key", "k"});
    ASSERT_EQ(retried.exit_code, 0) << retried.err;
    EXPECT_NE(retried.out.find("re-queued big-1 (context sea, key k)"), std::string::npos) << retried.out;
    EXPECT_NE(retried.out.find("1 rejected event(s) re-queued"), std::string::npos) << retried.out;
    ASSERT_TRUE(wait_until(
        [&] {
            return postgres.query_value("SELECT count(*) FROM seamq.outbox_published WHERE id = 'big-1'",
                                        "sea") == "1";
        },
        20s));
    EXPECT_EQ(postgres.query_value("SELECT status FROM seamq.outbox_events WHERE id = 'big-2'", "sea"),
              "rejected")
        << "only the chosen key was re-queued";

    const auto info = jetstream.stream_info("SEA_EVENTS");
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->state.messages, 2U) << "small-1 and big-1, once each";
}

}  // namespace
}  // namespace seamq::cli::test
