// Ordinary outages never turn committed events into rejected rows: NATS down while large
// events commit (whatever the client's reconnect buffer), and the streams applied only after
// the relay started, against a real nats-server and PostgreSQL.
#include <map>
#include <thread>

#include "tests/relay/relay_fixture.hpp"

#include "seamq/relay/relay.hpp"

namespace seamq::relay::testing {
namespace {

//! `keys` x `per_key` events of about `bytes` each, ids `<prefix><n>`, data {"n": n, "blob"}.
void enqueue_large_events(const std::string& database, const std::string& prefix, int keys, int per_key,
                          int bytes) {
    postgres::Connection producer(database);
    for (int round = 0; round < per_key; ++round) {
        producer.exec(
            "SELECT count(seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', $1 || g, 'source', "
            "'/tests/outage', 'type', 'sea.event.order-placed.v1', 'subject', 'key-' || (g % $3), "
            "'data', jsonb_build_object('n', g, 'blob', repeat('x', $4)))))"
            " FROM generate_series($2::int, $2::int + $3::int - 1) AS g",
            prefix, round * keys, keys, bytes);
    }
}

//! Every event in the stream once and, per ordering key, in commit order (n grows).
void expect_complete_and_ordered(nats::JetStream& jetstream, const std::string& prefix, int total) {
    auto events = read_stream(jetstream, "SEA_EVENTS");
    std::erase_if(events, [&](const StoredEvent& event) { return !event.message_id.starts_with(prefix); });
    EXPECT_EQ(events.size(), static_cast<std::size_t>(total));
    expect_exactly_once(events, prefix, 0, total);
    std::map<std::string, int> last_by_key;
    int out_of_order = 0;
    for (const auto& event : events) {
        const int n = event.envelope.at("data").at("n").get<int>();
        const auto key = event.envelope.at("subject").get<std::string>();
        if (const auto last = last_by_key.find(key); last != last_by_key.end() && last->second > n)
            ++out_of_order;
        last_by_key[key] = n;
    }
    EXPECT_EQ(out_of_order, 0) << "events out of their key's commit order";
}

class RelayOutageTest : public RelayTest {
protected:
    //! NATS stopped, 4,000 events of ~8 KiB (200 keys x 20) committed, NATS back after
    //! `down_for`: nothing may be rejected, whatever the reconnect buffer holds.
    void outage_with_buffer(int reconnect_buffer_bytes, std::chrono::milliseconds down_for) {
        add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
        auto options = nats::ConnectionOptions::from_urls(nats_server.url(), "outage-relay");
        options.reconnect_buffer_bytes = reconnect_buffer_bytes;
        options.reconnect_wait = 100ms;
        nats::Connection relay_connection(std::move(options));
        Relay relay(fast_options(database), relay_connection);
        relay.start();
        enqueue_large_events(database, "warm-", 10, 1, 100);
        ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 10; }, 20s));

        nats_server.kill();
        const auto down_since = std::chrono::steady_clock::now();
        enqueue_large_events(database, "e-", 200, 20, 8000);
        std::this_thread::sleep_until(down_since + down_for);
        EXPECT_EQ(count_rows(database, "status = 'rejected'"), 0) << "rejected while NATS was down";
        nats_server.start();

        ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 4010; }, 90s))
            << count_rows(database, "status = 'pending'") << " pending, "
            << count_rows(database, "status = 'rejected'") << " rejected";
        relay.stop();
        EXPECT_EQ(count_rows(database, "status = 'rejected'"), 0);
        expect_complete_and_ordered(*jetstream, "e-", 4000);
    }
};

TEST_F(RelayOutageTest, NatsDownWhileLargeEventsCommitWithASmallReconnectBufferRejectsNothing) {
    outage_with_buffer(64 * 1024, 8s);
}

TEST_F(RelayOutageTest, NatsDownWhileLargeEventsCommitWithTheDefaultReconnectBufferRejectsNothing) {
    outage_with_buffer(8 * 1024 * 1024, 8s);
}

TEST_F(RelayTest, EventsCommittedBeforeTheStreamsExistWaitAndArriveOnceWhenTheyAreApplied) {
    // A deployment race: the relay runs before `sea-mq streams apply`.
    Relay relay(fast_options(database), *connection);
    relay.start();
    enqueue_events(database, "early-", 0, 300, 10);
    std::this_thread::sleep_for(5s);
    EXPECT_EQ(count_rows(database, "status = 'rejected'"), 0);
    EXPECT_EQ(count_rows(database, "status = 'pending'"), 300);
    EXPECT_GE(
        count_rows(database, "attempts > 0 AND last_error LIKE '%no JetStream stream captures subject%'"), 1);

    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 300; }, 30s));
    relay.stop();
    EXPECT_EQ(count_rows(database, "status = 'rejected'"), 0);
    expect_exactly_once(read_stream(*jetstream, "SEA_EVENTS"), "early-", 0, 300);
    EXPECT_EQ(relay.statistics().rejected, 0U);
}

}  // namespace
}  // namespace seamq::relay::testing
