// Real `sea-mq consume run` processes with a SQL-function handler: killed with SIGKILL
// half-way and restarted, or three of them sharing one durable consumer, every effect
// happens exactly once.
#include <cstdio>
#include <optional>
#include <thread>

#include "tests/inbox/inbox_fixture.hpp"
#include <signal.h>

namespace seamq::inbox::testing {
namespace {

class ConsumerProcessTest : public InboxTest {
protected:
    //! `ack_wait_ms` nullopt: the CLI's default.
    ChildProcess start_consumer(const std::string& name, std::optional<int> ack_wait_ms = 3000) {
        std::vector<std::string> argv = {(seamq::testing::bin_dir() / "sea-mq").string(),
                                         "consume",
                                         "run",
                                         "--consumer",
                                         "projector",
                                         "--context",
                                         "sea",
                                         "--stream",
                                         "SEA_EVENTS",
                                         "--filter-subject",
                                         "sea.event.>",
                                         "--handler-sql",
                                         "public.apply_effect",
                                         "--database",
                                         postgres_server.url("orders"),
                                         "--nats",
                                         nats_server.url(),
                                         "--batch-size",
                                         "50",
                                         "--fetch-wait-ms",
                                         "200",
                                         "--retry-delays-ms",
                                         "100,200",
                                         "--name",
                                         name};
        if (ack_wait_ms) {
            argv.push_back("--ack-wait-ms");
            argv.push_back(std::to_string(*ack_wait_ms));
        }
        return ChildProcess(ChildProcess::Options{.argv = argv, .log_file = logs.path() / (name + ".log")});
    }

    std::int64_t processed() const {
        return query_count(
            "SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'projector' AND status = "
            "'processed'");
    }

    //! Every message delivered and acknowledged: redeliveries of what a killed worker had in
    //! flight (after the ack wait) have come back and been settled.
    bool consumer_settled() const {
        const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
        return info && info->num_pending == 0 && info->num_ack_pending == 0;
    }

    void expect_every_effect_once(int count) {
        EXPECT_EQ(query_count("SELECT count(*) FROM effects"), count)
            << "an effect happened twice or not at all";
        EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), count);
        EXPECT_EQ(query_count("SELECT count(*) FROM (SELECT message_id FROM effects GROUP BY message_id "
                              "HAVING count(*) > 1) AS repeated"),
                  0);
        EXPECT_EQ(processed(), count);
        EXPECT_EQ(
            query_count("SELECT count(*) FROM effects e LEFT JOIN seamq.inbox_messages i ON i.consumer = "
                        "'projector' AND i.message_id = e.message_id WHERE i.message_id IS NULL"),
            0)
            << "every effect has its inbox row";
    }
};

TEST_F(ConsumerProcessTest, KilledWorkerRestartedAppliesEveryEffectExactlyOnce) {
    constexpr int total = 20000;
    publish_many("order-", 0, total);
    auto worker = start_consumer("worker-a");
    ASSERT_TRUE(wait_until([&] { return processed() >= total / 4; }, 60s)) << processed() << " processed";
    worker.kill();  // SIGKILL: batches in flight are neither committed nor acknowledged
    const auto at_kill = processed();
    ASSERT_LT(at_kill, total) << "the kill should land mid-way";

    auto restarted = start_consumer("worker-b");
    ASSERT_TRUE(wait_until([&] { return processed() == total; }, 90s)) << processed() << " processed";
    // Redeliveries of what the killed worker had in flight (ack wait 3 s) must come back and
    // be settled as duplicates, without a second effect.
    ASSERT_TRUE(wait_until([&] { return consumer_settled(); }, 30s)) << "messages left unacknowledged";
    EXPECT_EQ(restarted.stop(), 0);
    expect_every_effect_once(total);
    EXPECT_GT(query_count("SELECT count(*) FROM effects WHERE worker LIKE 'worker-a%'"), 0);
    EXPECT_GT(query_count("SELECT count(*) FROM effects WHERE worker LIKE 'worker-b%'"), 0);
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->num_pending, 0U);
    EXPECT_EQ(info->num_ack_pending, 0);
}

// Under load, two workers share the durable and one is killed holding fetched messages:
// the survivor applies them once the default ack_wait (4 s) has run out since the killed
// worker's last in-progress ack, each exactly once.
TEST_F(ConsumerProcessTest, KilledWorkersMessagesAreAppliedBySurvivorWithinFiveSeconds) {
    constexpr int total = 20000;
    publish_many("order-", 0, total);
    auto survivor = start_consumer("worker-s", std::nullopt);
    auto victim = start_consumer("worker-v", std::nullopt);
    ASSERT_TRUE(wait_until([&] { return processed() >= total / 4; }, 60s)) << processed() << " processed";
    victim.kill();  // SIGKILL: its batch in hand and its prefetched batch are left unacknowledged
    const auto killed_at = std::chrono::system_clock::now();

    // Delivered before the kill and not applied yet: the victim's messages and the
    // survivor's batches in hand. The victim's are applied only after their redelivery.
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->config.ack_wait, std::chrono::nanoseconds(4s)) << "not the shipped default";
    const auto delivered = info->delivered.stream_sequence;
    postgres::Connection reader(database);
    reader.exec(fmt::format(
        "CREATE TABLE held_at_kill AS SELECT s AS stream_sequence FROM generate_series(1, {}) AS s "
        "WHERE s NOT IN (SELECT stream_sequence FROM seamq.inbox_messages WHERE consumer = 'projector')",
        delivered));
    ASSERT_TRUE(wait_until([&] { return processed() == total; }, 90s)) << processed() << " processed";
    ASSERT_TRUE(wait_until([&] { return consumer_settled(); }, 30s)) << "messages left unacknowledged";
    EXPECT_EQ(survivor.stop(), 0);
    expect_every_effect_once(total);

    // Seconds from the kill until each of those was applied, latest first.
    const auto kill_time = fmt::format("to_timestamp({:.6f})",
                                       std::chrono::duration<double>(killed_at.time_since_epoch()).count());
    const auto delays = reader.exec(fmt::format(
        "SELECT extract(epoch FROM e.applied_at - {})::float8 AS seconds, e.worker FROM held_at_kill h "
        "JOIN seamq.inbox_messages i ON i.consumer = 'projector' AND i.stream_sequence = h.stream_sequence "
        "JOIN effects e ON e.message_id = i.message_id ORDER BY seconds DESC",
        kill_time));
    ASSERT_GT(delays.rows(), 0) << "nothing was in flight at the kill";
    const double latest = delays.get<double>(0, 0);
    int late = 0;  // applied more than a second after the kill: the redelivered ones
    double first_late = latest;
    for (int row = 0; row < delays.rows(); ++row) {
        const double delay = delays.get<double>(row, 0);
        if (delay > 1.0) {
            ++late;
            first_late = std::min(first_late, delay);
        }
        EXPECT_NE(delays.text(row, 1).find("worker-s"), std::string_view::npos)
            << "applied by the killed worker after its kill?";
    }
    std::printf(
        "in flight at the kill: %d messages, %d applied more than 1 s after it, from %.2f s to "
        "%.2f s after the kill\n",
        delays.rows(), late, first_late, latest);
    EXPECT_GT(late, 0) << "the killed worker held no fetched messages: the kill missed the point";
    // 4 s of ack_wait at most since its last in-progress ack, plus the survivor's pull and
    // transaction: within 5 s (30 s before in-progress acks made a short ack_wait safe).
    EXPECT_LT(latest, 5.0);
}

TEST_F(ConsumerProcessTest, ThreeWorkersOnOneConsumerApplyEveryEffectExactlyOnce) {
    constexpr int total = 30000;
    publish_many("order-", 0, total);
    std::vector<ChildProcess> workers;
    for (const char* name : {"worker-1", "worker-2", "worker-3"}) workers.push_back(start_consumer(name));
    ASSERT_TRUE(wait_until([&] { return processed() == total; }, 120s)) << processed() << " processed";
    ASSERT_TRUE(wait_until([&] { return consumer_settled(); }, 30s)) << "messages left unacknowledged";
    for (auto& worker : workers) EXPECT_EQ(worker.stop(), 0);
    expect_every_effect_once(total);
    for (const char* name : {"worker-1", "worker-2", "worker-3"}) {
        EXPECT_GT(query_count(std::string("SELECT count(*) FROM effects WHERE worker LIKE '") + name + "%'"),
                  0)
            << name << " did no work: the consumer was not shared";
    }
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->num_pending, 0U);
    EXPECT_EQ(info->num_ack_pending, 0);
}

}  // namespace
}  // namespace seamq::inbox::testing
