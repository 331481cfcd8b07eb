// Inbox retention never removes a processed row whose message the stream can still
// redeliver: a consumer deleted and recreated (DeliverPolicy all, so it replays what the
// stream keeps) runs no handler twice, however short the configured horizon.
#include <thread>

#include "tests/inbox/inbox_fixture.hpp"

namespace seamq::inbox::testing {
namespace {

//! A consumer whose retention, as configured, would remove rows after a second.
ConsumerOptions short_retention(ConsumerOptions options) {
    options.retention.horizon = 1s;
    options.retention.duplicate_window = 1s;
    options.retention.clock_margin = 2s;
    options.retention_interval = 200ms;
    return options;
}

TEST_F(InboxTest,
       RetentionKeepsEveryRowWhileTheStreamKeepsMessagesForeverSoARecreatedConsumerRunsNoHandlerTwice) {
    publish_many("order-", 0, 20);
    auto first_handler = std::make_shared<EffectHandler>();
    {
        InboxConsumer consumer(short_retention(consumer_options("projector")), *connection, first_handler);
        consumer.start();
        ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 20; }, 20s));
        std::this_thread::sleep_for(3s);  // retention runs ~15 times, three horizons pass
        consumer.stop();
        EXPECT_EQ(consumer.statistics().retention_removed, 0U);
    }
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'projector' AND status = "
                    "'processed'"),
        20)
        << "SEA_EVENTS has no max_age: every message can be replayed, so every row must stay";

    // The durable is deleted (by an operator, or lost) and recreated: it replays everything.
    ASSERT_TRUE(jetstream->delete_consumer("SEA_EVENTS", "projector"));
    auto second_handler = std::make_shared<EffectHandler>();
    InboxConsumer recreated(short_retention(consumer_options("projector")), *connection, second_handler);
    recreated.start();
    ASSERT_TRUE(wait_until(
        [&] { return recreated.statistics().duplicates + recreated.statistics().processed == 20; }, 20s));
    recreated.stop();
    EXPECT_EQ(second_handler->call_count(), 0U) << "a replayed message ran its handler again";
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 20);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), 20);
}

TEST_F(InboxTest, RetentionRemovesRowsOnlyAfterTheStreamDroppedTheirMessages) {
    jetstream->delete_stream("SEA_EVENTS");
    nats::StreamConfig events;
    events.name = "SEA_EVENTS";
    events.subjects = {"sea.>"};
    events.duplicate_window = 1s;
    events.max_age = 3s;  // the stream can redeliver a message for 3 s
    jetstream->add_stream(events);

    publish_many("order-", 0, 20);
    auto first_handler = std::make_shared<EffectHandler>();
    InboxConsumer consumer(short_retention(consumer_options("projector")), *connection, first_handler);
    consumer.start();
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 20; }, 20s));
    // Until the rows go, every few milliseconds: whenever a row is gone, so is its message.
    bool removed = false;
    for (int round = 0; round < 400 && !removed; ++round) {
        const auto stored = jetstream->stream_info("SEA_EVENTS")->state.messages;
        const auto rows = query_count(
            "SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'projector' AND status = "
            "'processed'");
        if (rows < 20) {
            EXPECT_EQ(stored, 0U) << rows << " rows left while the stream still holds " << stored
                                  << " messages it can redeliver";
        }
        removed = rows == 0;
        std::this_thread::sleep_for(25ms);
    }
    ASSERT_TRUE(removed) << "retention never removed the rows of messages the stream dropped";
    consumer.stop();
    EXPECT_EQ(consumer.statistics().retention_removed, 20U);

    // Recreated, the consumer finds nothing old to replay and handles new messages once.
    ASSERT_TRUE(jetstream->delete_consumer("SEA_EVENTS", "projector"));
    publish_many("order-", 20, 5);
    auto second_handler = std::make_shared<EffectHandler>();
    InboxConsumer recreated(short_retention(consumer_options("projector")), *connection, second_handler);
    recreated.start();
    ASSERT_TRUE(wait_until([&] { return recreated.statistics().processed == 5; }, 20s));
    std::this_thread::sleep_for(500ms);
    recreated.stop();
    EXPECT_EQ(second_handler->call_count(), 5U);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 25);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), 25);
}

TEST(InboxRetention, HorizonNeverShorterThanWhatTheStreamCanRedeliver) {
    RetentionOptions options;
    options.horizon = std::chrono::hours(24);
    options.clock_margin = std::chrono::minutes(10);
    EXPECT_EQ(replay_safe_horizon(options, std::chrono::nanoseconds(0)), std::nullopt) << "unlimited max_age";
    EXPECT_EQ(replay_safe_horizon(options, std::chrono::hours(1)),
              std::chrono::seconds(std::chrono::hours(24)));
    EXPECT_EQ(replay_safe_horizon(options, std::chrono::hours(24 * 30)),
              std::chrono::seconds(std::chrono::hours(24 * 30) + std::chrono::minutes(10)));
}

}  // namespace
}  // namespace seamq::inbox::testing
