// The relay against real PostgreSQL and nats-server: what is committed arrives exactly
// once, what is rolled back never does, and crashes of the relay, of NATS and of
// PostgreSQL lose and duplicate nothing.
#include <atomic>
#include <map>
#include <thread>

#include "tests/relay/relay_fixture.hpp"
#include <signal.h>

#include "seamq/relay/relay.hpp"

namespace seamq::relay::testing {
namespace {

TEST_F(RelayTest, CommittedEventsArriveOnceAndRolledBackOnesNever) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    Relay relay(fast_options(database), *connection);
    relay.start();

    enqueue_events(database, "committed-", 0, 100);
    enqueue_events(database, "rolled-back-", 0, 50, 10, "sea.event.order-placed.v1", /*commit=*/false);
    enqueue_events(database, "committed-", 100, 100);

    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 200; }, 20s));
    relay.stop();

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    ASSERT_EQ(events.size(), 200U);
    expect_exactly_once(events, "committed-", 0, 200);
    for (const auto& event : events) {
        EXPECT_EQ(event.message_id.rfind("committed-", 0), 0U) << "a rolled-back event reached the stream";
        EXPECT_EQ(event.subject, "sea.event.order-placed.v1");
        EXPECT_EQ(event.envelope.at("id"), event.message_id) << "Nats-Msg-Id is the envelope id";
    }
    // The outbox records where each event went.
    EXPECT_EQ(count_rows(database, "status = 'published' AND stream_sequence BETWEEN 1 AND 200"), 200);
    EXPECT_EQ(relay.statistics().published, 200U);
    EXPECT_EQ(relay.statistics().duplicates, 0U);
}

TEST_F(RelayTest, OnlyTooLargeEventsAreRejectedAndAnUnroutedOneWaitsForItsStreamHoldingOnlyItsKey) {
    // Events capture only `sea.event.>`: a command has no stream yet; messages over 2 KiB are
    // refused by the stream.
    add_stream(*jetstream, "SEA_EVENTS", {"sea.event.>"}, 2048);
    {
        postgres::Connection producer(database);
        producer.exec("BEGIN");
        for (int n = 0; n < 30; ++n) {
            producer.exec(
                "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'good-' || $1::int, "
                "'source', "
                "'/t', 'type', 'sea.event.order-placed.v1', 'subject', 'key-' || ($1::int % 3), 'data', "
                "'{}'::jsonb))",
                n);
            if (n == 10) {
                producer.exec(
                    "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'unrouted', "
                    "'source', "
                    "'/t', 'type', 'sea.command.cancel-order.v1', 'subject', 'key-1', 'data', '{}'::jsonb))");
                producer.exec(
                    "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'too-large', "
                    "'source', "
                    "'/t', 'type', 'sea.event.order-placed.v1', 'subject', 'key-2', "
                    "'data', jsonb_build_object('blob', repeat('x', 4096))))");
            }
        }
        producer.exec("COMMIT");
    }
    auto options = fast_options(database);
    options.published_rows = PublishedRows::keep;  // rows stay, with their subject
    Relay relay(options, *connection);
    relay.start();
    // key-1 after `unrouted`: good-13, 16, 19, 22, 25, 28 wait behind it.
    ASSERT_TRUE(wait_until(
        [&] {
            return count_rows(database, "status = 'published'") == 24 &&
                   count_rows(database, "status = 'rejected'") == 1;
        },
        20s))
        << count_rows(database, "status = 'pending'") << " rows still pending";
    std::this_thread::sleep_for(1500ms);  // several of the waiting key's retries
    EXPECT_EQ(count_rows(database, "status = 'pending'"), 7);
    EXPECT_EQ(count_rows(database, "status = 'pending' AND subject = 'key-1'"), 7)
        << "only the waiting event's key is held";
    EXPECT_EQ(count_rows(database,
                         "id = 'unrouted' AND status = 'pending' AND attempts >= 2 AND last_error LIKE "
                         "'%no JetStream stream captures subject ''sea.command.cancel-order.v1'': "
                         "waiting%'"),
              1);
    EXPECT_EQ(
        count_rows(database, "id = 'too-large' AND status = 'rejected' AND last_error LIKE '%maximum%'"), 1)
        << "last_error should say the message exceeds the stream's maximum size";
    // Later events of the rejected event's key went on (a rejection is final: see the README).
    EXPECT_EQ(count_rows(database, "status = 'published' AND subject = 'key-2'"), 10);

    // The operator fixes the streams: the waiting key goes on, in order.
    nats::StreamConfig wider;
    wider.name = "SEA_EVENTS";
    wider.subjects = {"sea.>"};
    wider.max_message_size = 2048;
    jetstream->update_stream(wider);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 31; }, 20s));
    relay.stop();

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    expect_exactly_once(events, "good-", 0, 30);
    EXPECT_EQ(events.size(), 31U);
    std::vector<std::string> key_1;
    for (const auto& event : events) {
        if (event.envelope.value("subject", "") == "key-1") key_1.push_back(event.message_id);
    }
    EXPECT_EQ(key_1, (std::vector<std::string>{"good-1", "good-4", "good-7", "good-10", "unrouted", "good-13",
                                               "good-16", "good-19", "good-22", "good-25", "good-28"}))
        << "key-1 in commit order";
    EXPECT_EQ(relay.statistics().rejected, 1U);
}

TEST_F(RelayTest, DiscardingPublishedRowsDeletesAcknowledgedRowsAndKeepsRejectedOnes) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.event.>"}, 2048);
    auto options = fast_options(database);
    options.published_rows = PublishedRows::discard;
    options.batch_size = 100;  // many queries while producers commit
    Relay relay(options, *connection);
    relay.start();
    enqueue_events_around_a_too_large_one(database);

    ASSERT_TRUE(wait_until([&] { return count_rows(database, "true") == 1; }, 30s))
        << count_rows(database, "status = 'pending'") << " pending, "
        << count_rows(database, "status = 'published'") << " published rows left";
    relay.stop();
    EXPECT_EQ(count_rows(database, "id = 'too-large' AND status = 'rejected'"), 1);

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), 2000U);
    expect_exactly_once(events, "e-", 0, 2000);
    // Per key, the stream order is the commit order (n grows along each key).
    std::map<std::string, int> last_by_key;
    for (const auto& event : events) {
        const int n = event.envelope.at("data").at("n").get<int>();
        const std::string key = event.envelope.at("subject").get<std::string>();
        if (const auto last = last_by_key.find(key); last != last_by_key.end()) {
            EXPECT_LT(last->second, n) << "key " << key << " out of order";
        }
        last_by_key[key] = n;
    }
    EXPECT_EQ(relay.statistics().published, 2000U);
    EXPECT_EQ(relay.statistics().rejected, 1U);
    EXPECT_EQ(
        postgres::Connection(database).exec("SELECT count(*) FROM seamq.outbox_publications").get<int>(0, 0),
        0)
        << "discard keeps no record";
}

TEST_F(RelayTest, ByDefaultPublishedRowsLeaveTheTableAndTheLogRecordsEachEventOnceWithItsStreamSequence) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.event.>"}, 2048);
    auto options = fast_options(database);
    ASSERT_EQ(options.published_rows, PublishedRows::log);
    options.batch_size = 100;
    Relay relay(options, *connection);
    relay.start();
    enqueue_events_around_a_too_large_one(database);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 2000; }, 30s))
        << count_rows(database, "status = 'pending'") << " pending";
    relay.stop();

    postgres::Connection check(database);
    EXPECT_EQ(check.exec("SELECT string_agg(id || ':' || status, ',') FROM seamq.outbox_events")
                  .get<std::string>(0, 0),
              "too-large:rejected")
        << "the table keeps only what is not published";
    // Every event once in the log, with the sequence the stream stored it under.
    const auto logged =
        check.exec("SELECT id, stream_sequence FROM seamq.outbox_published WHERE context = 'sea'");
    std::map<std::string, std::uint64_t> sequence_of;
    for (int row = 0; row < logged.rows(); ++row) {
        EXPECT_TRUE(
            sequence_of.emplace(logged.get<std::string>(row, 0), logged.get<std::uint64_t>(row, 1)).second)
            << logged.get<std::string>(row, 0) << " logged twice";
    }
    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    ASSERT_EQ(events.size(), 2000U);
    expect_exactly_once(events, "e-", 0, 2000);
    ASSERT_EQ(sequence_of.size(), 2000U);
    for (const auto& event : events)
        EXPECT_EQ(sequence_of[event.message_id], event.sequence) << event.message_id;
    // One entry per recording transaction, not one per event.
    EXPECT_LT(check.exec("SELECT count(*) FROM seamq.outbox_publications").get<int>(0, 0), 2000);
    // The log's arrays compress with lz4 (0005; pglz cost 10x the CPU), and no entry is pglz's.
    EXPECT_EQ(check
                  .exec("SELECT string_agg(attname || ':' || attcompression::text, ',' ORDER BY attnum) FROM "
                        "pg_attribute WHERE attrelid = 'seamq.outbox_publications'::regclass AND "
                        "attname IN ('positions', 'ids', 'sequences')")
                  .get<std::string>(0, 0),
              "positions:l,ids:l,sequences:l");
    EXPECT_EQ(check
                  .exec("SELECT count(*) FROM seamq.outbox_publications WHERE pg_column_compression(ids) = "
                        "'pglz' OR pg_column_compression(positions) = 'pglz'")
                  .get<int>(0, 0),
              0);
    const auto backlog =
        check.exec("SELECT pending, rejected, published FROM seamq.outbox_backlog WHERE context = 'sea'");
    EXPECT_EQ(backlog.get<int>(0, 0), 0);
    EXPECT_EQ(backlog.get<int>(0, 1), 1);
    EXPECT_EQ(backlog.get<int>(0, 2), 2000);
}

TEST_F(RelayTest, NatsKilledAndRestartedWhilePublishingLosesAndDuplicatesNothing) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    auto options = fast_options(database);
    options.batch_size = 200;  // many rounds, so the kill lands mid-stream
    Relay relay(options, *connection);
    relay.start();
    enqueue_events(database, "e-", 0, 5000, 50);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 5000; }, 30s));

    // Producers keep committing while the relay publishes; NATS dies in the middle and
    // stays down while more events commit.
    std::thread producer([&] { enqueue_events(database, "e-", 5000, 15000, 50); });
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") >= 5500; }, 30s));
    nats_server.kill();
    // Down for longer than the PubAck timeout (2 s): publishes buffered by the client
    // while reconnecting time out, and the relay must retry them with the same ids.
    std::this_thread::sleep_for(3500ms);
    const auto published_while_down = count_rows(database, "status = 'published'");
    producer.join();
    nats_server.start();

    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 20000; }, 60s))
        << count_rows(database, "status = 'pending'") << " still pending";
    relay.stop();
    EXPECT_LT(published_while_down, 20000);
    // Nothing is sent while NATS is away (publishes in flight at the kill time out and are
    // sent again): no publish error needs to be counted for the outage.

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), 20000U);
    expect_exactly_once(events, "e-", 0, 20000);
}

TEST_F(RelayTest, PostgresRestartIsSurvived) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    Relay relay(fast_options(database), *connection);
    relay.start();
    enqueue_events(database, "before-", 0, 500);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 500; }, 20s));

    postgres_server.restart();
    enqueue_events(database, "after-", 0, 500);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 1000; }, 30s))
        << "the relay did not reconnect after the PostgreSQL restart";
    relay.stop();

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), 1000U);
    expect_exactly_once(events, "before-", 0, 500);
    expect_exactly_once(events, "after-", 0, 500);
}

TEST_F(RelayTest, RelayProcessKilledMidDrainThenRestartedPublishesEachEventOnce) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    for (int chunk = 0; chunk < 5; ++chunk) enqueue_events(database, "e-", chunk * 10000, 10000, 100);

    auto relay = start_relay_process("relay-a", nats_server.url(), {"--batch-size", "500"});
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") >= 10000; }, 60s));
    relay.kill();  // kill -9 mid-drain
    const auto published_at_kill = count_rows(database, "status = 'published'");
    ASSERT_LT(published_at_kill, 50000) << "the relay finished before it could be killed";

    auto restarted = start_relay_process("relay-b", nats_server.url(), {"--batch-size", "500"});
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 50000; }, 120s))
        << count_rows(database, "status = 'pending'") << " still pending";
    restarted.stop();

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), 50000U);
    expect_exactly_once(events, "e-", 0, 50000);
    std::cout << "killed after " << published_at_kill << " of 50000 events; stream holds " << events.size()
              << "\n";
}

//! The holder of the `sea` relay leadership lock, by its application_name.
std::string current_leader(const std::string& database) {
    postgres::Connection connection(database);
    const auto result = connection.exec(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.classid = 24226 AND l.granted");
    return result.rows() == 0 ? std::string() : std::string(result.text(0, 0));
}

TEST_F(RelayTest, TwoRelaysOneLeadsAndTheOtherTakesOverKeepingPerKeyOrder) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    auto relay_a = start_relay_process("relay-a", nats_server.url(), {"--batch-size", "100"});
    auto relay_b = start_relay_process("relay-b", nats_server.url(), {"--batch-size", "100"});
    std::string leader;
    ASSERT_TRUE(wait_until([&] { return !(leader = current_leader(database)).empty(); }, 10s));

    // Concurrent producers: 5 threads, 10 keys x 1,000 events; each thread writes its
    // share of every key in its own order (data.producer, data.n).
    constexpr int producers = 5, keys = 10, per_key = 1000;
    std::atomic<bool> producer_failed{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            try {
                postgres::Connection producer(database);
                for (int n = 0; n < keys * per_key / producers; n += 10) {
                    producer.exec("BEGIN");
                    for (int i = n; i < n + 10; ++i) {
                        producer.exec(
                            "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', $1::text, "
                            "'source', '/t', 'type', 'sea.event.order-placed.v1', 'subject', $2::text, "
                            "'data', jsonb_build_object('producer', $3::int, 'n', $4::int)))",
                            "p" + std::to_string(p) + "-" + std::to_string(i),
                            "key-" + std::to_string(i % keys), p, i);
                    }
                    producer.exec("COMMIT");
                }
            } catch (const std::exception& error) {
                producer_failed = true;
                ADD_FAILURE() << "producer " << p << ": " << error.what();
            }
        });
    }

    // Kill the leader mid-stream and time the hand-over.
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") >= 2000; }, 60s));
    auto& killed = leader == "relay-a/leadership" ? relay_a : relay_b;
    const std::string survivor = leader == "relay-a/leadership" ? "relay-b/leadership" : "relay-a/leadership";
    killed.kill();
    const auto killed_at = std::chrono::steady_clock::now();
    const auto published_at_kill = count_rows(database, "status = 'published'");
    ASSERT_TRUE(wait_until([&] { return current_leader(database) == survivor; }, 10s));
    ASSERT_TRUE(
        wait_until([&] { return count_rows(database, "status = 'published'") > published_at_kill; }, 10s));
    const auto handover =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
    std::cout << "hand-over after kill -9 of the leader: " << handover.count() << " ms\n";
    EXPECT_LT(handover, 5s);

    for (auto& thread : threads) thread.join();
    ASSERT_FALSE(producer_failed);
    ASSERT_TRUE(
        wait_until([&] { return count_rows(database, "status = 'published'") == keys * per_key; }, 60s));

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), static_cast<std::size_t>(keys * per_key));
    std::set<std::string> ids;
    for (const auto& event : events) EXPECT_TRUE(ids.insert(event.message_id).second) << event.message_id;

    // Per key, the stream order is the commit order: the outbox positions (drawn under
    // the key's lock) and each producer's own sequence both increase along the stream.
    postgres::Connection reader(database);
    std::map<std::string, std::int64_t> position_of;
    const auto positions = reader.exec("SELECT id, position FROM seamq.outbox_published");
    for (int i = 0; i < positions.rows(); ++i) {
        position_of[std::string(positions.text(i, 0))] = positions.get<std::int64_t>(i, 1);
    }
    std::map<std::string, std::int64_t> last_position;
    std::map<std::pair<std::string, int>, int> last_n;
    int out_of_order = 0;
    for (const auto& event : events) {
        const std::string key = event.envelope.at("subject");
        const auto position = position_of.at(event.message_id);
        if (last_position.contains(key) && position < last_position[key]) ++out_of_order;
        last_position[key] = position;
        const auto producer_key = std::make_pair(key, event.envelope.at("data").at("producer").get<int>());
        const int n = event.envelope.at("data").at("n");
        if (last_n.contains(producer_key) && n < last_n[producer_key]) ++out_of_order;
        last_n[producer_key] = n;
    }
    EXPECT_EQ(out_of_order, 0) << "events of one key reached the stream out of commit order";
}

std::int64_t outbox_heap_bytes(const std::string& conninfo) {
    return postgres::Connection(conninfo)
        .exec("SELECT pg_relation_size('seamq.outbox_events')")
        .get<std::int64_t>(0, 0);
}

// Without a VACUUM, PostgreSQL cannot reuse a deleted row's space: the table would grow
// by every round's rows. Autovacuum is off for the table here, so only the relay's VACUUM
// can make room.
TEST_F(RelayTest, TheLeaderVacuumsTheOutboxSoRoundsOfLoadReuseTheSameSpace) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    postgres::Connection(database).exec("ALTER TABLE seamq.outbox_events SET (autovacuum_enabled = false)");
    auto options = fast_options(database);
    options.vacuum_interval = 200ms;
    options.vacuum_min_rows = 500;
    Relay relay(options, *connection);
    relay.start();

    constexpr int rounds = 6, per_round = 2000;
    std::int64_t first_round_bytes = 0;
    for (int round = 0; round < rounds; ++round) {
        const auto vacuums_before = relay.statistics().vacuums;
        enqueue_events(database, "e-", round * per_round, per_round);
        ASSERT_TRUE(wait_until(
            [&] { return count_rows(database, "status = 'published'") == (round + 1) * per_round; }, 30s))
            << "round " << round;
        // The next VACUUM waits 50x as long as the last took: seconds on a loaded machine.
        ASSERT_TRUE(wait_until([&] { return relay.statistics().vacuums > vacuums_before; }, 60s))
            << "no VACUUM after round " << round;
        if (round == 0) first_round_bytes = outbox_heap_bytes(database);
    }
    const auto last_round_bytes = outbox_heap_bytes(database);
    relay.stop();

    // ~0.7 MB of rows a round: without reuse the heap holds six rounds (4.3 MB, measured).
    EXPECT_GT(first_round_bytes, 0);
    EXPECT_LE(last_round_bytes, 2 * first_round_bytes)
        << "the heap grew from " << first_round_bytes << " to " << last_round_bytes << " bytes";
    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), static_cast<std::size_t>(rounds * per_round));
    expect_exactly_once(events, "e-", 0, rounds * per_round);
}

// A role that may write the outbox but does not own it: its VACUUM would only warn, so the
// relay does not try, and publishes as ever.
TEST_F(RelayTest, ARelayWhoseRoleMayNotVacuumLeavesTheTableToAutovacuumAndPublishesAsEver) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    {
        postgres::Connection admin(database);
        admin.exec("CREATE ROLE seamq_relay_only LOGIN");
        admin.exec("GRANT USAGE ON SCHEMA seamq TO seamq_relay_only");
        admin.exec("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA seamq TO seamq_relay_only");
        admin.exec("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA seamq TO seamq_relay_only");
    }
    const auto user_at = database.find("user=postgres");
    ASSERT_NE(user_at, std::string::npos) << database;
    auto relay_database = database;
    relay_database.replace(user_at, std::string("user=postgres").size(), "user=seamq_relay_only");
    auto options = fast_options(relay_database);
    options.vacuum_interval = 100ms;
    options.vacuum_min_rows = 1;
    Relay relay(options, *connection);
    relay.start();
    enqueue_events(database, "e-", 0, 3000);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 3000; }, 30s));
    std::this_thread::sleep_for(300ms);  // a VACUUM would be due by now
    relay.stop();

    EXPECT_EQ(relay.statistics().vacuums, 0U);
    expect_exactly_once(read_stream(*jetstream, "SEA_EVENTS"), "e-", 0, 3000);
}

}  // namespace
}  // namespace seamq::relay::testing
