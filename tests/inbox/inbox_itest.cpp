// The inbox consumer against real PostgreSQL and nats-server, in process: duplicates have
// their effect once, failing handlers are retried on the configured schedule and then
// dead-lettered with the documented headers, replay after a fix processes once, poison
// never reaches a handler, retention removes only what it should.
#include <thread>

#include "tests/inbox/inbox_fixture.hpp"

#include "seamq/dead_letters/dead_letter_queue.hpp"
#include "seamq/inbox/retention.hpp"
#include "seamq/inbox/sql_function_handler.hpp"
#include "seamq/postgres/param.hpp"

namespace seamq::inbox::testing {
namespace {

TEST_F(InboxTest, SameEnvelopePublishedTwiceAsTwoStreamMessagesHasItsEffectOnce) {
    // A short duplicate window, so the second copy is stored although it has the same
    // Nats-Msg-Id (what happens to a republish after the window).
    jetstream->delete_stream("SEA_EVENTS");
    jetstream->delete_stream("SEA_DLQ");
    add_streams(1s);
    const auto payload = make_envelope("order-1", 1);
    const auto first = publish(payload, "order-1");
    std::this_thread::sleep_for(1500ms);
    const auto second = publish(payload, "order-1");
    const auto third = publish(payload, "order-1/republished");  // another id, same envelope
    ASSERT_FALSE(second.duplicate) << "outside the duplicate window the stream stores the copy";
    ASSERT_FALSE(third.duplicate);
    ASSERT_EQ(third.sequence, first.sequence + 2);
    publish(make_envelope("order-2", 2), "order-2");

    auto handler = std::make_shared<EffectHandler>();
    InboxConsumer consumer(consumer_options("projector"), *connection, handler);
    consumer.start();
    ASSERT_TRUE(wait_until(
        [&] { return consumer.statistics().processed + consumer.statistics().duplicates == 4; }, 20s));
    consumer.stop();

    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE message_id = 'order-1'"), 1);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE message_id = 'order-2'"), 1);
    EXPECT_EQ(handler->call_count(), 2U) << "the handler must not even be called for a duplicate";
    EXPECT_EQ(consumer.statistics().processed, 2U);
    EXPECT_EQ(consumer.statistics().duplicates, 2U);
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'projector' AND status = "
                    "'processed' AND attempts = 1 AND processed_at IS NOT NULL AND last_error IS NULL"),
        2);
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->num_ack_pending, 0) << "every copy is acknowledged";
    EXPECT_EQ(info->num_pending, 0U);
}

TEST_F(InboxTest, ConsumerIsCreatedIdempotentlyUpdatedAndKeptWhenStopped) {
    auto handler = std::make_shared<EffectHandler>();
    auto options = consumer_options("billing");
    {
        InboxConsumer first(options, *connection, handler);
        InboxConsumer second(options, *connection, handler);
        first.ensure_consumer();
        second.ensure_consumer();  // same settings: no error, nothing changes
    }
    options.ack_wait = 7s;
    options.max_ack_pending = 77;
    InboxConsumer changed(options, *connection, handler);
    changed.start();
    changed.stop();
    const auto info = jetstream->consumer_info("SEA_EVENTS", "billing");
    ASSERT_TRUE(info) << "a stopped consumer must not delete its JetStream consumer";
    EXPECT_EQ(info->config.ack_wait, std::chrono::nanoseconds(7s));
    EXPECT_EQ(info->config.max_ack_pending, 77);
    EXPECT_EQ(info->config.filter_subject, "sea.event.>");
    EXPECT_TRUE(info->config.deliver_subject.empty()) << "a pull consumer";
}

TEST_F(InboxTest, FailingHandlerIsRetriedOnTheScheduleThenDeadLetteredAndReplayedOnceAfterTheFix) {
    auto options = consumer_options("shipping");
    options.max_deliver = 4;
    options.retry_delays = {400ms, 800ms, 1600ms};
    options.retry_jitter = 0.1;
    auto handler = std::make_shared<EffectHandler>();
    handler->fail_always = true;
    // A second consumer of the same subject that succeeds: it must not see the replay.
    auto other_handler = std::make_shared<EffectHandler>();
    InboxConsumer consumer(options, *connection, handler);
    InboxConsumer other(consumer_options("audit"), *connection, other_handler);
    consumer.start();
    other.start();

    const auto original = publish(make_envelope("order-7", 7), "order-7");
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().dead_lettered == 1; }, 20s));
    ASSERT_TRUE(wait_until([&] { return other.statistics().processed == 1; }, 10s));

    // Four attempts, the gaps growing as configured (±10 % jitter, plus fetch latency).
    const auto calls = handler->calls_snapshot();
    ASSERT_EQ(calls.size(), 4U);
    for (std::size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i].delivery, i + 1);
    for (std::size_t i = 1; i < calls.size(); ++i) {
        const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(calls[i].at - calls[i - 1].at);
        const auto expected = options.retry_delays[i - 1];
        EXPECT_GE(gap.count(), expected.count() * 0.9 - 20) << "gap before attempt " << i + 1;
        EXPECT_LE(gap.count(), expected.count() * 1.1 + 400) << "gap before attempt " << i + 1;
        std::cout << "gap before attempt " << i + 1 << ": " << gap.count() << " ms (configured "
                  << expected.count() << " ms)\n";
    }
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE worker = 'shipping'"), 0)
        << "failed attempts leave no effect";
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'shipping' AND message_id = "
                    "'order-7' AND status = 'failed' AND attempts = 4 AND last_error LIKE "
                    "'%downstream rejected order order-7%'"),
        1);

    // The dead letter and its headers.
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    auto letters = queue.list({});
    ASSERT_EQ(letters.size(), 1U);
    const auto& letter = letters[0];
    EXPECT_EQ(letter.dead_letter_subject, "dlq.sea.shipping");
    EXPECT_EQ(letter.consumer, "shipping");
    EXPECT_EQ(letter.context, "sea");
    EXPECT_EQ(letter.original_subject, event_type);
    EXPECT_EQ(letter.original_stream, "SEA_EVENTS");
    EXPECT_EQ(letter.original_sequence, original.sequence);
    EXPECT_EQ(letter.original_message_id, "order-7");
    EXPECT_EQ(letter.deliveries, 4U);
    EXPECT_EQ(letter.error_class, dead_letters::ErrorClass::exhausted);
    EXPECT_NE(letter.error_message.find("downstream rejected order order-7"), std::string::npos);
    EXPECT_LE(letter.first_failure, letter.last_failure);
    EXPECT_GE(letter.last_failure - letter.first_failure, 2s) << "first failure is the first attempt's";
    EXPECT_EQ(nlohmann::json::parse(letter.payload).at("id"), "order-7");

    // The original is terminated: nothing pending, no further attempt.
    std::this_thread::sleep_for(2s);
    EXPECT_EQ(handler->call_count(), 4U);
    auto info = jetstream->consumer_info("SEA_EVENTS", "shipping");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->num_ack_pending, 0);
    EXPECT_EQ(info->num_pending, 0U);

    // After the fix, `sea-mq dlq replay` processes it once.
    handler->fail_always = false;
    auto replay = ChildProcess(ChildProcess::Options{
        .argv = {(seamq::testing::bin_dir() / "sea-mq").string(), "dlq", "replay", "--context", "sea",
                 "--consumer", "shipping", "--nats", nats_server.url(), "--output", "json"},
        .log_file = logs.path() / "replay.log"});
    const auto status = replay.wait_for_exit(30s);
    ASSERT_TRUE(status);
    EXPECT_EQ(ChildProcess::exit_code(*status), 0);
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 1; }, 10s));
    ASSERT_TRUE(wait_until([&] { return other.statistics().skipped_replays == 1; }, 10s));
    std::this_thread::sleep_for(500ms);
    consumer.stop();
    other.stop();
    EXPECT_EQ(
        query_count("SELECT count(*) FROM effects WHERE worker = 'shipping' AND message_id = 'order-7'"), 1);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE worker = 'audit' AND message_id = 'order-7'"),
              1)
        << "the other consumer applied the original once and skipped the replay";
    EXPECT_EQ(other_handler->call_count(), 1U);
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'shipping' AND status = "
                    "'processed' AND attempts = 5"),
        1);
    EXPECT_TRUE(queue.list({}).empty()) << "a replayed dead letter is removed";
}

TEST_F(InboxTest, PermanentFailureIsDeadLetteredAtOnce) {
    auto handler = std::make_shared<EffectHandler>();
    handler->fail_permanently = true;
    InboxConsumer consumer(consumer_options("ledger"), *connection, handler);
    consumer.start();
    publish(make_envelope("order-9", 9), "order-9");
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().dead_lettered == 1; }, 10s));
    consumer.stop();
    EXPECT_EQ(handler->call_count(), 1U);
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    dead_letters::Filter ledger_only;
    ledger_only.consumer = "ledger";
    const auto letters = queue.list(ledger_only);
    ASSERT_EQ(letters.size(), 1U);
    EXPECT_EQ(letters[0].error_class, dead_letters::ErrorClass::permanent);
    EXPECT_EQ(letters[0].deliveries, 1U);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 0);
}

TEST_F(InboxTest, PoisonMessageGoesToTheDeadLetterQueueAtOnceAndNeverReachesTheHandler) {
    auto handler = std::make_shared<EffectHandler>();
    InboxConsumer consumer(consumer_options("projector"), *connection, handler);
    consumer.start();
    publish("this is not JSON", "poison-1");
    publish(R"({"id":"x","type":"sea.event.order-placed.v1"})", "poison-2");  // JSON, not an envelope
    publish(make_envelope("order-3", 3), "order-3");
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().dead_lettered == 2; }, 10s));
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 1; }, 10s));
    consumer.stop();

    const auto calls = handler->calls_snapshot();
    ASSERT_EQ(calls.size(), 1U);
    EXPECT_EQ(calls[0].id, "order-3");
    EXPECT_EQ(consumer.statistics().poison, 2U);
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    const auto letters = queue.list({});
    ASSERT_EQ(letters.size(), 2U);
    EXPECT_EQ(letters[0].payload, "this is not JSON");
    for (const auto& letter : letters) {
        EXPECT_EQ(letter.error_class, dead_letters::ErrorClass::poison);
        EXPECT_EQ(letter.deliveries, 1U) << "dead-lettered on the first delivery, without retries";
        EXPECT_FALSE(letter.error_message.empty());
    }
    EXPECT_EQ(letters[1].original_message_id, "poison-2");
    const auto info = jetstream->consumer_info("SEA_EVENTS", "projector");
    EXPECT_EQ(info->num_ack_pending, 0);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages"), 1) << "poison leaves no inbox row";
}

TEST_F(InboxTest, SavepointsKeepOneFailureInABatchFromUndoingTheOthers) {
    // The handler function fails for odd n only; a batch holds both kinds.
    {
        postgres::Connection setup(database);
        setup.exec_script(R"(
            CREATE FUNCTION apply_even(envelope jsonb) RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO effects (message_id, n) VALUES (envelope ->> 'id', (envelope -> 'data' ->> 'n')::int);
                IF (envelope -> 'data' ->> 'n')::int % 2 = 1 THEN
                    RAISE EXCEPTION 'odd order % refused', envelope -> 'data' ->> 'n' USING ERRCODE = 'SQ100';
                END IF;
            END $$;)");
    }
    publish_many("mixed-", 0, 40);
    auto options = consumer_options("mixed");
    options.batch_size = 40;
    InboxConsumer consumer(options, *connection, std::make_shared<SqlFunctionHandler>("public.apply_even"));
    consumer.start();
    ASSERT_TRUE(wait_until(
        [&] { return consumer.statistics().processed + consumer.statistics().dead_lettered == 40; }, 20s));
    consumer.stop();
    EXPECT_EQ(consumer.statistics().processed, 20U);
    EXPECT_EQ(consumer.statistics().dead_lettered, 20U) << "SQLSTATE SQ100 is a permanent failure";
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE n % 2 = 0"), 20);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE n % 2 = 1"), 0);
    EXPECT_LE(consumer.statistics().transactions, 5U) << "messages share transactions";
}

//! A set-based handler: one multi-row INSERT per batch. Refuses (a retryable failure) any
//! batch or message holding order 213, after writing, so a rollback must undo the rest.
class BatchEffectHandler : public BatchHandler {
public:
    void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                postgres::Transaction& transaction) override {
        ++single_calls;
        const BatchEntry entry{envelope, delivery};
        apply(std::span(&entry, 1), transaction);
    }
    void handle_batch(std::span<const BatchEntry> entries, postgres::Transaction& transaction) override {
        ++batch_calls;
        if (entries.size() > largest_batch) largest_batch = entries.size();
        apply(entries, transaction);
    }
    std::string describe() const override { return "test batch effect handler"; }

    std::atomic<int> single_calls{0};
    std::atomic<int> batch_calls{0};
    std::atomic<std::size_t> largest_batch{0};

private:
    static void apply(std::span<const BatchEntry> entries, postgres::Transaction& transaction) {
        std::vector<std::string> ids, numbers;
        bool refused = false;
        for (const auto& entry : entries) {
            const int n = entry.envelope.data()->value("n", 0);
            ids.push_back(entry.envelope.id());
            numbers.push_back(std::to_string(n));
            refused = refused || n == 213;
        }
        transaction.exec(
            "INSERT INTO effects (message_id, n, worker) SELECT id, n, 'batch' FROM unnest($1::text[], "
            "$2::integer[]) AS u(id, n)",
            postgres::array_literal(ids), postgres::array_literal(numbers));
        if (refused) throw std::runtime_error("order 213 refused");
    }
};

// At max_ack_pending with a backlog, nats-server 2.9 holds a no-wait pull request instead of
// answering it (the ordered webhook endpoint waited out the client's 5 s timeout for it).
// The inbox prefetches the next batch while the current one is unacked, so with
// max_ack_pending = batch_size every prefetch meets a full consumer: it must be answered
// when the batch in hand is acked, not after 5 s.
TEST_F(InboxTest, AConsumerAtItsMaxAckPendingGetsTheNextBatchOnceTheLastIsAcked) {
    constexpr int events = 200;
    publish_many("full-", 0, events);
    auto handler = std::make_shared<EffectHandler>();
    auto options = consumer_options("at-limit");
    options.batch_size = 10;
    options.max_ack_pending = 10;
    InboxConsumer consumer(options, *connection, handler);
    const auto started = std::chrono::steady_clock::now();
    consumer.start();
    // 20 batches: held 5 s each they would take 100 s.
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == events; }, 30s))
        << consumer.statistics().processed << " of " << events << " processed";
    const auto took = std::chrono::steady_clock::now() - started;
    consumer.stop();

    EXPECT_LT(took, 15s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), events);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), events);
    EXPECT_EQ(jetstream->consumer_info("SEA_EVENTS", "at-limit")->num_redelivered, 0);
}

TEST_F(InboxTest, BatchHandlerAppliesBatchesAtOnceAndRetriesAFailingMessageAlone) {
    auto handler = std::make_shared<BatchEffectHandler>();
    auto options = consumer_options("bulk");
    options.batch_size = 100;
    options.max_deliver = 2;
    options.retry_delays = {100ms};
    options.retry_jitter = 0;
    const auto effects_of = [&](int first, int last) {
        return query_count("SELECT count(*) FROM effects WHERE n BETWEEN " + std::to_string(first) + " AND " +
                           std::to_string(last));
    };

    // 1. A backlog is applied in one handle_batch call, without calls per message.
    publish_many("bulk-", 100, 40);
    {
        InboxConsumer consumer(options, *connection, handler);
        consumer.start();
        ASSERT_TRUE(wait_until([&] { return consumer.statistics().processed == 40; }, 20s));
        EXPECT_EQ(handler->largest_batch.load(), 40U);
        EXPECT_EQ(handler->single_calls.load(), 0);

        // 2. A batch holding a failing message: rolled back, then message by message; only
        // the failing one is retried (and dead-lettered after max_deliver).
        publish_many("bulk-", 200, 20);
        ASSERT_TRUE(wait_until(
            [&] {
                const auto statistics = consumer.statistics();
                return statistics.processed == 59 && statistics.dead_lettered == 1;
            },
            20s));
        consumer.stop();
        EXPECT_EQ(consumer.statistics().retried, 1U);
    }
    EXPECT_GE(handler->single_calls.load(), 2) << "the failing batch was handled message by message";
    EXPECT_EQ(effects_of(100, 139), 40);
    EXPECT_EQ(effects_of(200, 219), 19);
    EXPECT_EQ(effects_of(213, 213), 0) << "the refused batch's writes were rolled back";

    // 3. One envelope twice in a batch (a republished copy): applied once, the copy is a duplicate.
    publish(make_envelope("bulk-300", 300), "bulk-300");
    publish(make_envelope("bulk-301", 301), "bulk-301");
    publish(make_envelope("bulk-300", 300), "bulk-300/again");
    {
        InboxConsumer consumer(options, *connection, handler);
        consumer.start();
        ASSERT_TRUE(wait_until(
            [&] { return consumer.statistics().processed + consumer.statistics().duplicates == 3; }, 20s));
        consumer.stop();
        EXPECT_EQ(consumer.statistics().processed, 2U);
        EXPECT_EQ(consumer.statistics().duplicates, 1U);
    }
    EXPECT_EQ(effects_of(300, 301), 2);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects"), 61);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects"), 61);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'bulk' AND status = "
                          "'processed'"),
              61);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'bulk' AND status = "
                          "'failed' AND message_id = 'bulk-213' AND attempts = 2"),
              1);
    const auto info = jetstream->consumer_info("SEA_EVENTS", "bulk");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->num_ack_pending, 0);
    EXPECT_EQ(info->num_pending, 0U);
}

//! Queues its writes (sent with the batch's COMMIT): an effect row per message and a row in
//! `guarded`, whose CHECK refuses n = 407. For n = 408 it also reads, which flushes the
//! earlier messages' queued writes, 407's failing one among them, inside 408's call.
class QueuedEffectHandler : public Handler {
public:
    void handle(const envelope::Envelope& envelope, const Delivery&,
                postgres::Transaction& transaction) override {
        auto& connection = transaction.connection();
        connection.prepare("queued_effect",
                           "INSERT INTO effects (message_id, n, worker) VALUES ($1, $2, 'queued')");
        connection.prepare("queued_guard", "INSERT INTO guarded (n) VALUES ($1)");
        const int n = envelope.data()->value("n", 0);
        transaction.queue_prepared("queued_effect", envelope.id(), n);
        transaction.queue_prepared("queued_guard", n);
        if (n == 408) transaction.exec("SELECT count(*) FROM effects");
    }
    std::string describe() const override { return "test queued effect handler"; }
    bool effects_only_in_transaction() const override { return true; }
};

TEST_F(InboxTest, AQueuedWriteThatFailsFailsOnlyTheMessageThatQueuedIt) {
    postgres::Connection(database).exec(
        "CREATE TABLE guarded (n integer CONSTRAINT guarded_n CHECK (n <> 407))");
    publish_many("queued-", 400, 20);
    auto options = consumer_options("queued");
    options.batch_size = 20;
    options.max_deliver = 2;
    options.retry_delays = {100ms};
    options.retry_jitter = 0;
    InboxConsumer consumer(options, *connection, std::make_shared<QueuedEffectHandler>());
    consumer.start();
    ASSERT_TRUE(wait_until(
        [&] {
            const auto statistics = consumer.statistics();
            return statistics.processed == 19 && statistics.dead_lettered == 1;
        },
        20s));
    consumer.stop();
    EXPECT_EQ(consumer.statistics().retried, 1U) << "only 407 was retried";
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE worker = 'queued'"), 19);
    EXPECT_EQ(query_count("SELECT count(DISTINCT message_id) FROM effects WHERE worker = 'queued'"), 19);
    EXPECT_EQ(query_count("SELECT count(*) FROM effects WHERE n = 407"), 0);
    EXPECT_EQ(query_count("SELECT count(*) FROM guarded"), 19);
    // 407 failed twice with the constraint's error; 408, whose read surfaced 407's failure
    // in the first batch, was not blamed: processed at its first attempt.
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'queued' AND message_id = "
                    "'queued-407' AND status = 'failed' AND attempts = 2 AND last_error LIKE '%guarded_n%'"),
        1);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'queued' AND status = "
                          "'processed' AND attempts = 1"),
              19);
}

TEST_F(InboxTest, RetentionRemovesOnlyProcessedRowsOlderThanTheHorizon) {
    {
        postgres::Connection setup(database);
        setup.exec_script(R"(
            INSERT INTO seamq.inbox_messages (consumer, message_id, status, attempts, first_seen_at, processed_at)
            SELECT 'projector', 'old-' || g, 'processed', 1, now() - interval '9 days', now() - interval '8 days'
              FROM generate_series(1, 25) AS g;
            INSERT INTO seamq.inbox_messages (consumer, message_id, status, attempts, first_seen_at, processed_at)
            SELECT 'projector', 'recent-' || g, 'processed', 1, now() - interval '6 days', now() - interval '6 days'
              FROM generate_series(1, 10) AS g;
            INSERT INTO seamq.inbox_messages (consumer, message_id, status, attempts, first_seen_at, last_error)
            VALUES ('projector', 'old-failed', 'failed', 5, now() - interval '30 days', 'gave up'),
                   ('projector', 'old-processing', 'processing', 2, now() - interval '30 days', 'retrying');
            INSERT INTO seamq.inbox_messages (consumer, message_id, status, attempts, first_seen_at, processed_at)
            SELECT 'billing', 'old-' || g, 'processed', 1, now() - interval '9 days', now() - interval '8 days'
              FROM generate_series(1, 5) AS g;)");
    }
    postgres::Connection connection_for_retention(database);
    RetentionOptions options;
    options.consumer = "projector";
    options.batch_size = 10;
    const auto report = remove_expired(connection_for_retention, options);
    EXPECT_EQ(report.removed, 25U);
    EXPECT_EQ(report.batches, 3);
    EXPECT_TRUE(report.complete);
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'projector' AND message_id "
                    "LIKE 'old-%' AND status = 'processed'"),
        0);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages WHERE message_id LIKE 'recent-%'"), 10);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages WHERE message_id IN ('old-failed', "
                          "'old-processing')"),
              2)
        << "rows of messages not handled are kept";
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'billing'"), 5)
        << "another consumer's rows are not touched";

    options.consumer.clear();  // every consumer
    EXPECT_EQ(remove_expired(connection_for_retention, options).removed, 5U);
    EXPECT_EQ(remove_expired(connection_for_retention, options).removed, 0U);

    RetentionOptions too_short;
    too_short.horizon = 60s;  // shorter than the 2 min duplicate window
    EXPECT_THROW(remove_expired(connection_for_retention, too_short), seamq::Error);
    EXPECT_EQ(query_count("SELECT count(*) FROM seamq.inbox_messages"), 12);
}

}  // namespace
}  // namespace seamq::inbox::testing
