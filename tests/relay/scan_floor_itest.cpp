// The relay's scan floor (Relay::Leader::advance_floor): queries start at a position below
// which nothing is pending, instead of walking the dead index entries published rows
// leave behind. A floor one position too high loses events for good, so: a transaction
// that holds a low position open while thousands of later events are published keeps the
// floor below its row, and its event is published as soon as it commits (well within the
// fallback full scan's interval); an operator's re-queue below the floor is found by the
// full scan.
#include <chrono>
#include <thread>

#include "tests/relay/relay_fixture.hpp"

#include "seamq/postgres/connection.hpp"
#include "seamq/relay/relay.hpp"

namespace seamq::relay::testing {
namespace {

using namespace std::chrono_literals;
using seamq::testing::wait_until;

std::int64_t position_of(const std::string& database, const std::string& id) {
    postgres::Connection connection(database);
    return connection
        .exec(
            "SELECT position FROM seamq.outbox_events WHERE id = $1 "
            "UNION ALL SELECT position FROM seamq.outbox_published WHERE id = $1",
            id)
        .get<std::int64_t>(0, 0);
}

// The floor rises only while the relay works (an asleep relay runs no queries to save):
// one event every 50 ms keeps it waking until its floor is above `threshold`. The ticks
// are events `<prefix><n>`; returns how many were sent.
int raise_floor_above(const Relay& relay, const std::string& database, std::int64_t threshold,
                      const std::string& prefix = "tick-") {
    int ticks = 0;
    for (; ticks < 200 && relay.statistics().scan_floor <= threshold; ++ticks) {
        enqueue_events(database, prefix, ticks, 1);
        std::this_thread::sleep_for(50ms);
    }
    return ticks;
}

TEST_F(RelayTest, AnOpenTransactionHoldsTheScanFloorBelowItsRowWhichIsPublishedAsItCommits) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    auto options = fast_options(database);
    // The fallback full scan far away: what publishes the late row must be the floor's query.
    options.poll_interval = 20s;
    Relay relay(options, *connection);
    relay.start();
    ASSERT_TRUE(wait_until([&] { return relay.is_leader(); }, 10s));

    enqueue_events(database, "early-", 0, 200);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 200; }, 20s));
    // The floor rises past published rows.
    const int first_ticks = raise_floor_above(relay, database, 100, "tick-a-");
    ASSERT_GT(relay.statistics().scan_floor, 100);

    // A producer takes a position and stays in its transaction (its first write is the
    // enqueue: the transaction id comes from the trigger).
    postgres::Connection late(database);
    late.exec("BEGIN");
    late.exec(
        "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'late-0', 'source', "
        "'/tests/relay', "
        "'type', 'sea.event.order-placed.v1', 'subject', 'late-key', 'data', jsonb_build_object('n', 0)))");

    // Thousands of later events, committed and published meanwhile.
    enqueue_events(database, "later-", 0, 3000, 50);
    ASSERT_TRUE(wait_until(
        [&] { return count_rows(database, "id LIKE 'later-%' AND status = 'published'") == 3000; }, 60s));
    std::this_thread::sleep_for(200ms);  // rounds of advance_floor with the late row still open
    const auto floor_while_open = relay.statistics().scan_floor;

    const auto committed_at = std::chrono::steady_clock::now();
    late.exec("COMMIT");
    const auto position = position_of(database, "late-0");
    EXPECT_LE(floor_while_open, position) << "the floor passed a position an open transaction held";
    ASSERT_TRUE(wait_until(
        [&] { return count_rows(database, "id = 'late-0' AND status = 'published'") == 1; }, 10s, 1ms));
    const auto waited = std::chrono::steady_clock::now() - committed_at;
    EXPECT_LT(waited, 2s) << "published only by the fallback full scan?";

    // With it ended, the floor moves past it.
    const int ticks = first_ticks + raise_floor_above(relay, database, position, "tick-b-");
    EXPECT_GT(relay.statistics().scan_floor, position);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'pending'") == 0; }, 20s));
    relay.stop();

    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    ASSERT_EQ(events.size(), 3201U + static_cast<unsigned>(ticks));
    expect_exactly_once(events, "later-", 0, 3000);
    expect_exactly_once(events, "late-", 0, 1);
    EXPECT_EQ(relay.statistics().rows_below_scan_floor, 0U);
}

// The case a snapshot's xmax gets wrong: the producer's transaction id is the newest, and
// nothing commits after it, so it is above every snapshot's xmax (latest completed + 1)
// and in no snapshot's list of running transactions. The floor must still wait for it.
TEST_F(RelayTest, TheNewestOpenTransactionWithNothingCommittedAfterItHoldsTheScanFloor) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    auto options = fast_options(database);
    options.poll_interval = 20s;  // no fallback full scan within the test
    Relay relay(options, *connection);
    relay.start();
    enqueue_events(database, "early-", 0, 100);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 100; }, 20s));
    raise_floor_above(relay, database, 50);
    ASSERT_GT(relay.statistics().scan_floor, 50);

    // Begun while the relay is awake (it lingers 50 ms after its last rows; the round that
    // sent them has been recorded), so the producer skips the NOTIFY and holds the relay
    // awake: the relay keeps polling and raising its floor while the transaction is open.
    postgres::Connection late(database);
    enqueue_events(database, "wake-", 0, 1);
    ASSERT_TRUE(wait_until(
        [&] { return count_rows(database, "id = 'wake-0' AND status = 'published'") == 1; }, 10s, 1ms));
    late.exec("BEGIN");
    late.exec(
        "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'late-0', 'source', "
        "'/tests/relay', "
        "'type', 'sea.event.order-placed.v1', 'subject', 'late-key', 'data', jsonb_build_object('n', 0)))");
    // Rounds of advance_floor with nothing else committing (the relay keeps polling while
    // awake; it lingers 50 ms and then sleeps, waking for its poll_interval fallback).
    for (int round = 0; round < 30; ++round) {
        std::this_thread::sleep_for(20ms);
    }
    const auto committed_at = std::chrono::steady_clock::now();
    late.exec("COMMIT");
    ASSERT_TRUE(wait_until(
        [&] { return count_rows(database, "id = 'late-0' AND status = 'published'") == 1; }, 10s, 1ms));
    EXPECT_LT(std::chrono::steady_clock::now() - committed_at, 2s)
        << "published only by the fallback full scan?";
    relay.stop();
    EXPECT_EQ(relay.statistics().rows_below_scan_floor, 0U);
    const auto events = read_stream(*jetstream, "SEA_EVENTS");
    expect_exactly_once(events, "late-", 0, 1);
    expect_exactly_once(events, "wake-", 0, 1);
}

TEST_F(RelayTest, ARowRequeuedBelowTheScanFloorIsFoundByTheFullScan) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    auto options = fast_options(database);
    options.poll_interval = 1s;
    options.published_rows = PublishedRows::keep;  // a row to re-queue
    Relay relay(options, *connection);
    relay.start();
    enqueue_events(database, "e-", 0, 300);
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 300; }, 20s));
    const auto first = position_of(database, "e-0");
    raise_floor_above(relay, database, first);
    ASSERT_GT(relay.statistics().scan_floor, first);

    // What `sea-mq outbox requeue` does to a row.
    postgres::Connection(database).exec(
        "UPDATE seamq.outbox_events SET status = 'pending', published_at = NULL, stream_sequence = NULL "
        "WHERE id = 'e-0'");
    ASSERT_TRUE(
        wait_until([&] { return count_rows(database, "id = 'e-0' AND status = 'published'") == 1; }, 5s));
    relay.stop();
    EXPECT_EQ(relay.statistics().rows_below_scan_floor, 1U);
    // Sent again with the same id: the stream's duplicate window keeps it once.
    EXPECT_EQ(relay.statistics().duplicates, 1U);
    expect_exactly_once(read_stream(*jetstream, "SEA_EVENTS"), "e-", 0, 300);
}

}  // namespace
}  // namespace seamq::relay::testing
