// Pull fetching from durable consumers against a real nats-server: batches, metadata,
// ack / nak / redelivery, and late status messages of earlier requests (the nats.c
// 3.4.1 Fetch pitfall) that must not end a later fetch.
#include <gtest/gtest.h>

#include "seamq/nats/pull_consumer.hpp"
#include "seamq/testing/nats_server.hpp"

namespace seamq::nats {
namespace {

using namespace std::chrono_literals;
using seamq::testing::NatsServer;

class PullConsumerTest : public ::testing::Test {
protected:
    void SetUp() override {
        StreamConfig stream;
        stream.name = "WORK";
        stream.subjects = {"w.>"};
        jetstream.add_stream(stream);
        ConsumerConfig consumer;
        consumer.durable_name = "worker";
        consumer.ack_wait = 30s;
        jetstream.add_consumer("WORK", consumer);
    }
    void publish(int count, const std::string& prefix) {
        for (int i = 1; i <= count; ++i)
            jetstream.publish(
                {"w." + prefix, prefix + std::to_string(i), prefix + "-" + std::to_string(i), "", {}});
    }

    NatsServer server;
    Connection connection{ConnectionOptions::from_urls(server.url())};
    JetStream jetstream{connection};
};

TEST_F(PullConsumerTest, FetchesAcksAndRedeliversAfterNak) {
    publish(5, "a");
    {
        PullConsumer consumer(jetstream, "WORK", "worker");
        auto batch = consumer.fetch(10, 500ms);  // fewer available than asked: ends on 408
        ASSERT_EQ(batch.size(), 5u);
        EXPECT_EQ(consumer.last_status(), 408) << consumer.last_status_description();
        for (std::size_t i = 0; i < batch.size(); ++i) {
            const auto meta = batch[i].metadata();
            EXPECT_EQ(batch[i].payload(), "a" + std::to_string(i + 1));
            EXPECT_EQ(batch[i].message_id(), "a-" + std::to_string(i + 1));
            EXPECT_EQ(meta.stream, "WORK");
            EXPECT_EQ(meta.consumer, "worker");
            EXPECT_EQ(meta.stream_sequence, i + 1);
            EXPECT_EQ(meta.consumer_sequence, i + 1);
            EXPECT_EQ(meta.num_delivered, 1u);
            EXPECT_EQ(meta.num_pending, 4 - i);
        }
        batch[0].nak();
        batch[1].nak_with_delay(300ms);
        batch[2].ack_sync();
        batch[3].ack();
        batch[4].term();
        EXPECT_TRUE(batch[2].acknowledged());

        auto again = consumer.fetch(1, 2s);  // the plain nak comes back at once
        ASSERT_EQ(again.size(), 1u);
        EXPECT_EQ(again[0].metadata().stream_sequence, 1u);
        EXPECT_EQ(again[0].metadata().num_delivered, 2u);
        again[0].ack_sync();

        const auto start = std::chrono::steady_clock::now();
        auto delayed = consumer.fetch(1, 3s);
        ASSERT_EQ(delayed.size(), 1u);
        EXPECT_EQ(delayed[0].metadata().stream_sequence, 2u);
        EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);  // waited for the nak delay
        delayed[0].ack_sync();

        const auto none = consumer.fetch_no_wait(5);
        EXPECT_TRUE(none.empty());
        EXPECT_EQ(consumer.last_status(), 404);
    }
    // The PullConsumer is gone; the consumer it used is not (nothing deleted it).
    const auto info = jetstream.consumer_info("WORK", "worker");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->num_ack_pending, 0);
    EXPECT_EQ(info->num_pending, 0u);
    EXPECT_EQ(info->ack_floor.stream_sequence, 5u);
}

TEST_F(PullConsumerTest, LateStatusOfAnEarlierRequestDoesNotEndALaterFetch) {
    PullConsumer consumer(jetstream, "WORK", "worker");
    // Requests on an empty consumer whose client wait ends before the server's 404
    // arrives: each 404 lands later, on the shared inbox subscription. nats.c 3.4.1's
    // Fetch would let such a status end the next fetch with nothing.
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(consumer.fetch_no_wait(1, 1ms).empty());
    std::this_thread::sleep_for(200ms);  // let the late 404s arrive
    // And an expired long poll that ended on its own 408.
    EXPECT_TRUE(consumer.fetch(1, 50ms).empty());

    publish(3, "b");
    const auto batch = consumer.fetch(3, 5s);
    ASSERT_EQ(batch.size(), 3u);
    for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_EQ(batch[i].payload(), "b" + std::to_string(i + 1));
    EXPECT_GE(consumer.stale_statuses(), 1u) << "the scenario did not produce a late status";
    EXPECT_EQ(consumer.last_status(), 0);  // ended because the batch was full
}

TEST_F(PullConsumerTest, MessagesDeliveredAfterAFetchGaveUpAreReturnedByTheNext) {
    PullConsumer consumer(jetstream, "WORK", "worker");
    publish(2, "c");
    // A fetch whose client deadline (1 ms) passes before the deliveries arrive.
    auto first = consumer.fetch_no_wait(2, 1ms);
    std::this_thread::sleep_for(200ms);
    auto second = consumer.fetch(2, 1s);
    std::vector<std::string> payloads;
    for (auto* batch : {&first, &second})
        for (auto& message : *batch) {
            payloads.emplace_back(message.payload());
            message.ack_sync();
        }
    EXPECT_EQ(payloads, (std::vector<std::string>{"c1", "c2"}));  // none lost until ack wait, none twice
    EXPECT_EQ(jetstream.consumer_info("WORK", "worker")->num_ack_pending, 0);
}

}  // namespace
}  // namespace seamq::nats
