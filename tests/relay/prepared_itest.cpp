// Producers whose transactions end in PREPARE TRANSACTION (two-phase commit): with
// `SET LOCAL seamq.notify = off` they work whether the relay sleeps or not, their events
// are published once after COMMIT PREPARED, and a prepared transaction left behind
// neither holds up other ordering keys nor keeps the relay polling.
#include <atomic>
#include <thread>

#include "tests/relay/relay_fixture.hpp"

namespace seamq::relay::testing {
namespace {

std::string envelope_sql() {
    return "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', $1::text, 'source', "
           "'/tests/relay', 'type', 'sea.event.order-placed.v1', 'subject', $2::text, 'data', "
           "jsonb_build_object('n', 1)))";
}

//! Enqueues `ids` (ordering key `key`) and prepares the transaction as `gid`.
void prepare_events(postgres::Connection& connection, const std::string& gid,
                    const std::vector<std::string>& ids, const std::string& key, bool notify_off = true) {
    connection.exec("BEGIN");
    try {
        if (notify_off) connection.exec("SET LOCAL seamq.notify = off");
        for (const auto& id : ids) connection.exec(envelope_sql(), id, key);
        connection.exec("PREPARE TRANSACTION '" + gid + "'");
    } catch (...) {
        if (connection.in_transaction()) connection.exec("ROLLBACK");
        throw;
    }
}

//! True while the relay of `sea` holds its "awake" lock (space 24227).
bool relay_awake(const std::string& database) {
    postgres::Connection connection(database);
    return connection
               .exec(
                   "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 24227 AND objid "
                   "= "
                   "hashtext('sea')::oid AND granted AND mode = 'ExclusiveLock'")
               .get<std::int64_t>(0, 0) > 0;
}

//! Transactions committed in `database` so far (every relay query is one: it autocommits).
std::int64_t committed_transactions(const std::string& database) {
    postgres::Connection connection(database);
    return connection.exec("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        .get<std::int64_t>(0, 0);
}

//! Keeps the relay awake by committing an event every few milliseconds on key "pump".
class Pump {
public:
    explicit Pump(std::string database)
        : thread_([this, database = std::move(database)] {
              postgres::Connection connection(database);
              for (int n = 0; n < 20000 && !stop_; ++n) {
                  connection.exec(envelope_sql(), "pump-" + std::to_string(n), std::string("pump"));
                  ++sent_;
                  std::this_thread::sleep_for(3ms);
              }
          }) {}
    ~Pump() { stop(); }
    int stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        return sent_;
    }

private:
    std::atomic<bool> stop_{false};
    std::atomic<int> sent_{0};
    std::thread thread_;
};

TEST_F(RelayTest, PreparedTransactionsWithNotifyOffPublishOnceWhetherTheRelaySleepsOrNot) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    Relay relay(fast_options(database), *connection);
    relay.start();
    postgres::Connection producer(database);
    postgres::Connection coordinator(database);

    // Asleep: without the setting PREPARE is refused (the trigger notified); with it, it works.
    ASSERT_TRUE(wait_until([&] { return relay.is_leader() && !relay_awake(database); }, 10s));
    // (The relay wakes for its fallback poll now and then: a prepare that raced with it and
    // succeeded is rolled back and tried again.)
    bool refused = false;
    for (int attempt = 0; attempt < 20 && !refused; ++attempt) {
        ASSERT_TRUE(wait_until([&] { return !relay_awake(database); }, 10s));
        try {
            prepare_events(producer, "refused", {"refused-0"}, "asleep", /*notify_off=*/false);
            coordinator.exec("ROLLBACK PREPARED 'refused'");
        } catch (const std::exception& error) {
            EXPECT_NE(std::string(error.what()).find("NOTIFY"), std::string::npos) << error.what();
            refused = true;
        }
    }
    EXPECT_TRUE(refused)
        << "PREPARE TRANSACTION after a NOTIFY was accepted: the test does not reach the case";
    for (int round = 0; round < 5; ++round) {
        ASSERT_TRUE(wait_until([&] { return !relay_awake(database); }, 10s));
        const auto gid = "asleep-" + std::to_string(round);
        prepare_events(producer, gid, {gid + "-a", gid + "-b"}, "asleep-key-" + std::to_string(round));
        coordinator.exec("COMMIT PREPARED '" + gid + "'");
    }

    // Awake: a producer on another key keeps it polling.
    int pumped = 0;
    {
        Pump pump(database);
        for (int round = 0; round < 5; ++round) {
            ASSERT_TRUE(wait_until([&] { return relay_awake(database); }, 10s));
            const auto gid = "awake-" + std::to_string(round);
            prepare_events(producer, gid, {gid + "-a", gid + "-b"}, "awake-key-" + std::to_string(round));
            coordinator.exec("COMMIT PREPARED '" + gid + "'");
        }
        pumped = pump.stop();
    }

    const int expected = 20 + pumped;
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == expected; }, 20s))
        << count_rows(database, "status = 'published'") << " of " << expected << " published";
    relay.stop();
    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), static_cast<std::size_t>(expected));
    for (const std::string phase : {"asleep-", "awake-"}) {
        for (int round = 0; round < 5; ++round) {
            const auto gid = phase + std::to_string(round);
            EXPECT_EQ(std::count_if(events.begin(), events.end(),
                                    [&](const StoredEvent& e) { return e.message_id == gid + "-a"; }),
                      1)
                << gid;
            EXPECT_EQ(std::count_if(events.begin(), events.end(),
                                    [&](const StoredEvent& e) { return e.message_id == gid + "-b"; }),
                      1)
                << gid;
        }
    }
    expect_exactly_once(events, "pump-", 0, pumped);
    EXPECT_EQ(count_rows(database, "id = 'refused-0'"), 0);
}

TEST_F(RelayTest, OrphanedPreparedTransactionsNeitherHoldUpOtherKeysNorKeepTheRelayPolling) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    auto options = fast_options(database);
    options.poll_interval = 1000ms;
    Relay relay(options, *connection);
    relay.start();
    ASSERT_TRUE(wait_until([&] { return relay.is_leader() && !relay_awake(database); }, 10s));

    // Idle baseline: the relay wakes every poll_interval and polls for its linger.
    std::this_thread::sleep_for(1500ms);
    const auto baseline_start = committed_transactions(database);
    std::this_thread::sleep_for(4s);
    const auto baseline = committed_transactions(database) - baseline_start;

    // Left behind: one prepared with the setting, one without it, prepared while the relay
    // was awake (so the trigger skipped the NOTIFY and took the gate lock, which the
    // prepared transaction now holds).
    postgres::Connection producer(database);
    prepare_events(producer, "orphan-a", {"orphan-a"}, "orphan-key-a");
    int pumped = 0;
    {
        Pump pump(database);
        bool prepared = false;
        for (int attempt = 0; attempt < 50 && !prepared; ++attempt) {
            ASSERT_TRUE(wait_until([&] { return relay_awake(database); }, 10s));
            try {
                prepare_events(producer, "orphan-b", {"orphan-b"}, "orphan-key-b", /*notify_off=*/false);
                prepared = true;
            } catch (const std::exception&) {  // the relay fell asleep in between: it notified
            }
        }
        ASSERT_TRUE(prepared);
        pumped = pump.stop();
    }

    // Other keys go on.
    enqueue_events(database, "other-", 0, 100);
    ASSERT_TRUE(
        wait_until([&] { return count_rows(database, "status = 'published'") == 100 + pumped; }, 20s));

    // And the relay does not spin: about the idle baseline, not a query per millisecond.
    std::this_thread::sleep_for(2500ms);
    const auto orphaned_start = committed_transactions(database);
    std::this_thread::sleep_for(4s);
    const auto orphaned = committed_transactions(database) - orphaned_start;
    EXPECT_LE(orphaned, 2 * baseline + 100)
        << "transactions in 4 s: " << orphaned << " with orphaned prepared transactions, " << baseline
        << " idle";
    RecordProperty("idle_transactions_4s", static_cast<int>(baseline));
    RecordProperty("orphaned_transactions_4s", static_cast<int>(orphaned));
    std::printf("transactions in 4 s: idle %lld, with orphans %lld\n", static_cast<long long>(baseline),
                static_cast<long long>(orphaned));

    // Committed at last, both are published once (found by the fallback poll).
    postgres::Connection coordinator(database);
    coordinator.exec("COMMIT PREPARED 'orphan-a'");
    coordinator.exec("COMMIT PREPARED 'orphan-b'");
    ASSERT_TRUE(
        wait_until([&] { return count_rows(database, "status = 'published'") == 102 + pumped; }, 10s));
    relay.stop();
    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    expect_exactly_once(events, "other-", 0, 100);
    EXPECT_EQ(std::count_if(events.begin(), events.end(),
                            [](const StoredEvent& e) {
                                return e.message_id == "orphan-a" || e.message_id == "orphan-b";
                            }),
              2);
}

}  // namespace
}  // namespace seamq::relay::testing
