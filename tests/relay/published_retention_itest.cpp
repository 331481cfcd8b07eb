// Retention of published outbox rows: old published rows go in bounded batches; pending
// and rejected rows, recent published rows and other contexts' rows stay; a row someone
// holds is skipped rather than waited for, and producers go on meanwhile.
#include "tests/relay/relay_fixture.hpp"

#include "seamq/relay/published_retention.hpp"

namespace seamq::relay::testing {
namespace {

TEST_F(RelayTest, PublishedRetentionRemovesOldPublishedRowsInBatchesAndNeverPendingOrRejectedOnes) {
    enqueue_events(database, "event-", 0, 3000);
    enqueue_events(database, "elsewhere-", 0, 50, 10, "billing.event.invoice-sent.v1");
    {
        postgres::Connection setup(database);
        // By position: 2500 published 8 days ago, 200 published yesterday, 100 rejected (old),
        // 200 pending (old); the other context's rows published 8 days ago.
        setup.exec_script(R"(
            WITH ranked AS (SELECT id, row_number() OVER (ORDER BY position) AS n
                              FROM seamq.outbox_events WHERE context = 'sea')
            UPDATE seamq.outbox_events AS o
               SET status = CASE WHEN r.n <= 2700 THEN 'published' WHEN r.n <= 2800 THEN 'rejected' ELSE 'pending' END::seamq.outbox_status,
                   published_at = CASE WHEN r.n <= 2500 THEN now() - interval '8 days'
                                       WHEN r.n <= 2700 THEN now() - interval '1 day' END,
                   stream_sequence = CASE WHEN r.n <= 2700 THEN r.n END,
                   last_error = CASE WHEN r.n > 2700 AND r.n <= 2800 THEN 'too large' END,
                   created_at = now() - interval '30 days'
              FROM ranked AS r WHERE o.id = r.id;
            UPDATE seamq.outbox_events SET status = 'published', published_at = now() - interval '8 days',
                   stream_sequence = 1 WHERE context = 'billing';)");
    }
    const auto count = [&](const std::string& where) { return count_rows(database, where); };
    ASSERT_EQ(count("context = 'sea' AND status = 'published' AND published_at < now() - interval '7 days'"),
              2500);

    // A transaction holding one old published row (an operator's, say) and a producer in
    // the middle of its transaction: retention neither waits for them nor blocks them.
    postgres::Connection holder(database);
    holder.exec("BEGIN");
    const auto held = holder
                          .exec(
                              "SELECT id FROM seamq.outbox_events WHERE context = 'sea' AND status = "
                              "'published' AND published_at < now() - interval '7 days' ORDER BY position "
                              "LIMIT 1 FOR UPDATE")
                          .get<std::string>(0, 0);
    postgres::Connection producer(database);
    producer.exec("BEGIN");
    producer.exec(
        "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'during-retention', 'source', "
        "'/tests/relay', 'type', 'sea.event.order-placed.v1', 'subject', 'key-1', 'data', '{}'::jsonb))");

    postgres::Connection retention(database);
    PublishedRetentionOptions options;
    options.context = "sea";
    options.horizon = std::chrono::hours(24 * 7);
    options.batch_size = 1000;
    options.max_batches = 2;
    const auto started = std::chrono::steady_clock::now();
    const auto first = remove_published(retention, options);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_EQ(first.removed, 2000U);
    EXPECT_EQ(first.batches, 2);
    EXPECT_FALSE(first.complete) << "two batches of 1000 cannot have removed 2500 rows";
    const auto second = remove_published(retention, options);
    EXPECT_EQ(second.removed, 499U) << "the held row is skipped, not waited for";
    EXPECT_TRUE(second.complete);

    // The producer was never blocked: its statement returned above; it commits now.
    producer.exec("COMMIT");
    holder.exec("COMMIT");
    EXPECT_EQ(count("id = '" + held + "'"), 1);
    EXPECT_EQ(remove_published(retention, options).removed, 1U) << "the held row goes on the next call";

    EXPECT_EQ(count("context = 'sea' AND status = 'published' AND published_at < now() - interval '7 days'"),
              0);
    EXPECT_EQ(count("context = 'sea' AND status = 'published'"), 200) << "recent published rows stay";
    EXPECT_EQ(count("context = 'sea' AND status = 'rejected'"), 100) << "rejected rows are never removed";
    EXPECT_EQ(count("context = 'sea' AND status = 'pending'"), 201) << "pending rows are never removed";
    EXPECT_EQ(count("context = 'billing'"), 50) << "another context's rows are not touched";

    PublishedRetentionOptions none = options;
    none.horizon = std::chrono::seconds(0);
    EXPECT_THROW(remove_published(retention, none), seamq::Error);
}

TEST_F(RelayTest, PublishedRetentionTrimsThePublicationLogByAgeAndCountsItsEvents) {
    {
        postgres::Connection setup(database);
        // 30 entries of 100 events each 8 days old, 5 of 100 from yesterday, 10 old ones of
        // another context.
        setup.exec_script(R"(
            INSERT INTO seamq.outbox_publications (context, published_at, positions, ids, sequences)
            SELECT c, now() - age,
                   ARRAY(SELECT e * 1000 + k FROM generate_series(1, 100) AS k),
                   ARRAY(SELECT c || '-' || e || '-' || k FROM generate_series(1, 100) AS k),
                   ARRAY(SELECT e * 1000 + k FROM generate_series(1, 100) AS k)
            FROM (SELECT 'sea' AS c, e, interval '8 days' AS age FROM generate_series(1, 30) AS e
                  UNION ALL SELECT 'sea', e, interval '1 day' FROM generate_series(31, 35) AS e
                  UNION ALL SELECT 'billing', e, interval '8 days' FROM generate_series(1, 10) AS e) AS entries;)");
    }
    ASSERT_EQ(count_rows(database, "context = 'sea' AND status = 'published'"), 3500);

    postgres::Connection retention(database);
    PublishedRetentionOptions options;
    options.context = "sea";
    options.horizon = std::chrono::hours(24 * 7);
    options.batch_size = 1000;  // 10 log entries per DELETE
    options.max_batches = 2;
    const auto first = remove_published(retention, options);
    // One batch finds no old kept row; one batch of the log remains: 10 entries.
    EXPECT_EQ(first.removed, 1000U);
    EXPECT_FALSE(first.complete);
    const auto second = remove_published(retention, options);
    EXPECT_EQ(second.removed, 1000U);
    EXPECT_FALSE(second.complete);
    options.max_batches = 10;
    const auto third = remove_published(retention, options);
    EXPECT_EQ(third.removed, 1000U);
    EXPECT_TRUE(third.complete);
    EXPECT_EQ(count_rows(database, "context = 'sea' AND status = 'published'"), 500)
        << "yesterday's entries stay";
    EXPECT_EQ(count_rows(database, "context = 'billing'"), 1000)
        << "another context's entries are not touched";
}

}  // namespace
}  // namespace seamq::relay::testing
