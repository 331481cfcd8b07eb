// Real `sea-mq consume run` processes with a SQL-function handler: killed with SIGKILL
// half-way and restarted, or three of them sharing one durable consumer, every effect
// happens exactly once.
#include <thread>

#include "tests/inbox/inbox_fixture.hpp"
#include <signal.h>

namespace seamq::inbox::testing {
namespace {

class ConsumerProcessTest : public InboxTest {
protected:
    ChildProcess start_consumer(const std::string& name) {
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
                                         "--ack-wait-ms",
                                         "3000",
                                         "--fetch-wait-ms",
                                         "200",
                                         "--retry-delays-ms",
                                         "100,200",
                                         "--name",
                                         name};
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
