// One bad message never stops more than itself: odd payloads, handlers throwing anything,
// throwing hooks and failures that escape the loop, against a real nats-server and PostgreSQL.
#include "tests/inbox/inbox_fixture.hpp"
#include <gtest/gtest.h>

#include "seamq/core/supervision.hpp"
#include "seamq/dead_letters/dead_letter_queue.hpp"
#include "seamq/nats/pull_consumer.hpp"

namespace seamq::inbox::testing {
namespace {

//! The effect handler, throwing an int (no std::exception) for one message id.
class ThrowsAnythingHandler : public EffectHandler {
public:
    explicit ThrowsAnythingHandler(std::string victim) : victim_(std::move(victim)) {}
    void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                postgres::Transaction& transaction) override {
        EffectHandler::handle(envelope, delivery, transaction);
        if (envelope.id() == victim_) throw 42;  // NOLINT(hicpp-exception-baseclass): the point of the test
    }

private:
    std::string victim_;
};

std::vector<std::string> called_ids(EffectHandler& handler) {
    std::vector<std::string> ids;
    for (const auto& call : handler.calls_snapshot()) ids.push_back(call.id);
    return ids;
}

TEST_F(InboxTest, ANumberNoDoubleHoldsIsDeadLetteredAndItsBatchMatesProcessedAtOnce) {
    // Valid JSON and a valid envelope but for one number: the C++ side cannot represent
    // 1e999. The three are fetched in one batch.
    std::string poison = make_envelope("order-2", 2);
    const auto at = poison.find("\"n\":2");
    ASSERT_NE(at, std::string::npos) << poison;
    poison.replace(at, 5, "\"n\":1e999");
    publish(make_envelope("order-1", 1), "order-1");
    publish(poison, "order-2");
    publish(make_envelope("order-3", 3), "order-3");

    auto handler = std::make_shared<EffectHandler>();
    InboxConsumer consumer(consumer_options("projector"), *connection, handler);
    consumer.start();
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 2; }, 10s))
        << "the valid batch-mates must not wait for the poison message";
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().dead_lettered == 1; }, 10s));
    std::this_thread::sleep_for(1s);  // room for a redelivery loop to show itself
    consumer.stop();

    EXPECT_EQ(called_ids(*handler), (std::vector<std::string>{"order-1", "order-3"}));
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 2);
    const auto statistics = consumer.statistics();
    EXPECT_EQ(statistics.poison, 1U);
    EXPECT_EQ(statistics.restarts, 0U);
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    const auto letters = queue.list({});
    ASSERT_EQ(letters.size(), 1U);
    EXPECT_EQ(letters[0].original_message_id, "order-2");
    EXPECT_EQ(letters[0].error_class, dead_letters::ErrorClass::poison);
    EXPECT_EQ(letters[0].deliveries, 1U) << "dead-lettered at its first delivery";
    EXPECT_NE(letters[0].error_message.find("number"), std::string::npos) << letters[0].error_message;
    EXPECT_EQ(letters[0].payload, poison) << "the dead letter keeps the original bytes";
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    EXPECT_EQ(info->num_ack_pending, 0);
    EXPECT_EQ(info->num_redelivered, 0) << "nothing was delivered twice";
}

TEST_F(InboxTest, AHandlerThrowingANonStandardExceptionFailsOnlyItsOwnMessage) {
    auto handler = std::make_shared<ThrowsAnythingHandler>("order-2");
    auto options = consumer_options("projector");
    options.max_deliver = 2;
    InboxConsumer consumer(options, *connection, handler);
    for (int n = 1; n <= 3; ++n)
        publish(make_envelope("order-" + std::to_string(n), n), "order-" + std::to_string(n));
    consumer.start();
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().dead_lettered == 1; }, 15s));
    consumer.stop();

    const auto statistics = consumer.statistics();
    EXPECT_EQ(statistics.processed, 2U);
    EXPECT_EQ(statistics.retried, 1U) << "delivery 1 of 2 retried, delivery 2 dead-lettered";
    EXPECT_EQ(statistics.restarts, 0U) << "a handler's exception is its message's outcome, not the loop's";
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 2) << "the failed attempts' effects rolled back";
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects WHERE message_id <> 'order-2'"), 2);
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    const auto letters = queue.list({});
    ASSERT_EQ(letters.size(), 1U);
    EXPECT_EQ(letters[0].original_message_id, "order-2");
    EXPECT_EQ(letters[0].error_class, dead_letters::ErrorClass::exhausted);
    EXPECT_NE(letters[0].error_message.find("non-standard exception"), std::string::npos)
        << letters[0].error_message;
}

TEST_F(InboxTest, AHookThatThrowsIsCountedAndChangesNothing) {
    auto handler = std::make_shared<EffectHandler>();
    ConsumerHooks hooks;
    hooks.on_commit = [](std::chrono::nanoseconds, std::size_t) {
        throw std::runtime_error("metrics are down");
    };
    InboxConsumer consumer(consumer_options("projector"), *connection, handler, nullptr, hooks);
    consumer.start();
    publish_many("order-", 0, 50);
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 50; }, 20s));
    std::this_thread::sleep_for(500ms);
    consumer.stop();

    const auto statistics = consumer.statistics();
    EXPECT_GE(statistics.hook_errors, 1U);
    EXPECT_EQ(statistics.duplicates, 0U) << "a committed batch must not be redelivered because a hook threw";
    EXPECT_EQ(statistics.restarts, 0U);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 50);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), 50);
}

TEST_F(InboxTest, AFailureEscapingTheLoopRestartsItWithBackoffAndHealthSaysSoMeanwhile) {
    auto handler = std::make_shared<EffectHandler>();
    InboxConsumer consumer(consumer_options("projector"), *connection, handler);
    arm_fail_point("inbox.consumer.round", 3);  // restarts after 1 s, 2 s, 4 s
    const auto started = std::chrono::steady_clock::now();
    consumer.start();
    publish_many("order-", 0, 20);
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().restarts >= 1; }, 5s));
    const auto unhealthy = consumer.health();
    EXPECT_FALSE(unhealthy.healthy);
    EXPECT_NE(unhealthy.last_failure.find("injected fault at fail point inbox.consumer.round"),
              std::string::npos)
        << unhealthy.last_failure;

    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 20; }, 20s));
    const auto recovered_after = std::chrono::steady_clock::now() - started;
    EXPECT_GE(recovered_after, 6s) << "the restarts back off (1 s + 2 s + 4 s)";
    const auto healthy = consumer.health();
    EXPECT_TRUE(healthy.healthy);
    EXPECT_EQ(healthy.failures, 3U);
    consumer.stop();
    EXPECT_EQ(consumer.statistics().restarts, 3U);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), 20);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 20);
}

TEST_F(InboxTest, AMessageDeliveredMoreThanMaxDeliverIsDeadLetteredWithoutRunningItsHandler) {
    // Deliveries that never reached settle: a worker that died while handling the message
    // (here: a reader of the same durable that fetches and never acknowledges).
    auto handler = std::make_shared<EffectHandler>();
    auto options = consumer_options("projector");
    options.max_deliver = 2;
    options.ack_wait = 1s;
    InboxConsumer consumer(options, *connection, handler);
    consumer.ensure_consumer();
    publish(make_envelope("order-1", 1), "order-1");
    {
        nats::PullConsumer crashing(*jetstream, "SEA_EVENTS", "projector");
        for (int delivery = 1; delivery <= 3; ++delivery) {
            std::vector<nats::Message> fetched;
            ASSERT_TRUE(wait_until([&] { return !(fetched = crashing.fetch(1, 500ms)).empty(); }, 5s))
                << "delivery " << delivery;
            ASSERT_EQ(fetched[0].metadata().num_delivered, static_cast<std::uint64_t>(delivery));
        }
    }
    consumer.start();
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().dead_lettered == 1; }, 10s));
    consumer.stop();

    EXPECT_EQ(handler->call_count(), 0U) << "a message that may crash the worker is not handled again";
    EXPECT_EQ(consumer.statistics().over_delivered, 1U);
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    const auto letters = queue.list({});
    ASSERT_EQ(letters.size(), 1U);
    EXPECT_EQ(letters[0].error_class, dead_letters::ErrorClass::exhausted);
    EXPECT_EQ(letters[0].deliveries, 4U);
    EXPECT_NE(letters[0].error_message.find("more than max_deliver (2)"), std::string::npos)
        << letters[0].error_message;
}

}  // namespace
}  // namespace seamq::inbox::testing
