#pragma once

// Shared setup of the relay tests: a real PostgreSQL with sea-mq's migrations, a real
// nats-server with the `sea` context's stream, and ways to fill the outbox and read the
// stream back in order.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/pull_consumer.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/relay/relay.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::relay::testing {

using namespace std::chrono_literals;
using seamq::testing::ChildProcess;
using seamq::testing::NatsServer;
using seamq::testing::PostgresServer;
using seamq::testing::TempDir;
using seamq::testing::wait_until;

//! One message as the stream holds it.
struct StoredEvent {
    std::uint64_t sequence = 0;
    std::string message_id;
    std::string subject;
    nlohmann::json envelope;
};

//! A relay of context `sea` with short intervals, for tests.
inline RelayOptions fast_options(const std::string& database) {
    RelayOptions options;
    options.context = "sea";
    options.database = database;
    options.expected_stream = "SEA_EVENTS";
    options.poll_interval = 200ms;
    options.election_interval = 100ms;
    options.publish_timeout = 2000ms;
    options.retry_initial = 50ms;
    options.retry_max = 1000ms;
    return options;
}

inline void apply_migrations(const std::string& conninfo) {
    postgres::Connection connection(conninfo);
    postgres::migrate(connection, postgres::embedded_migrations());
}

inline void add_stream(nats::JetStream& jetstream, const std::string& name, std::vector<std::string> subjects,
                       std::int32_t max_message_size = -1) {
    nats::StreamConfig config;
    config.name = name;
    config.subjects = std::move(subjects);
    config.max_message_size = max_message_size;
    jetstream.add_stream(config);
}

//! Enqueues `count` events of type `type` with SQL only (as any language would), ids
//! `<prefix><n>`, ordering keys `key-<n % keys>`, data {"n": n}, in transactions of up to
//! 500 events (the per-key locks of seamq.enqueue make one huge transaction slow).
inline void enqueue_events(const std::string& conninfo, const std::string& prefix, int first, int count,
                           int keys = 10, const std::string& type = "sea.event.order-placed.v1",
                           bool commit = true) {
    postgres::Connection connection(conninfo);
    for (int start = first; start < first + count; start += 500) {
        const int chunk = std::min(500, first + count - start);
        connection.exec("BEGIN");
        connection.exec(
            "SELECT count(seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', $1 || g, 'source', "
            "'/tests/relay', 'type', $4::text, 'subject', 'key-' || (g % $3), 'data', "
            "jsonb_build_object('n', g)))) "
            "FROM generate_series($2::int, $2::int + $5::int - 1) AS g",
            prefix, start, keys, type, chunk);
        connection.exec(commit ? "COMMIT" : "ROLLBACK");
    }
}

//! 2,000 events `e-0`..`e-1999` over 10 keys with one that can never be published between
//! the two halves: `too-large` (key `key-big`), over a stream whose max_msg_size is 2,048.
inline void enqueue_events_around_a_too_large_one(const std::string& conninfo) {
    enqueue_events(conninfo, "e-", 0, 1000, 10);
    postgres::Connection(conninfo).exec(
        "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'too-large', 'source', '/t', "
        "'type', 'sea.event.order-placed.v1', 'subject', 'key-big', "
        "'data', jsonb_build_object('blob', repeat('x', 4096))))");
    enqueue_events(conninfo, "e-", 1000, 1000, 10);
}

//! Outbox rows matching `where`, counting each event of the publication log
//! (PublishedRows::log, the default) as a row with status 'published', its id, position,
//! context, stream_sequence and published_at (subject, type, attempts and last_error NULL).
inline std::int64_t count_rows(const std::string& conninfo, const std::string& where) {
    postgres::Connection connection(conninfo);
    const auto result = connection.exec(
        "SELECT count(*) FROM ("
        "  SELECT id, position, context, subject, type, status::text AS status, attempts, last_error,"
        "         stream_sequence, published_at FROM seamq.outbox_events"
        "  UNION ALL"
        "  SELECT e.id, e.position, p.context, NULL, NULL, 'published', NULL, NULL, e.sequence, "
        "p.published_at"
        "  FROM seamq.outbox_publications AS p, unnest(p.positions, p.ids, p.sequences) AS e(position, id, "
        "sequence)"
        ") AS rows WHERE " +
        where);
    return result.get<std::int64_t>(0, 0);
}

//! Every message of `stream`, in stream order, read through a throwaway pull consumer.
inline std::vector<StoredEvent> read_stream(nats::JetStream& jetstream, const std::string& stream) {
    const auto info = jetstream.stream_info(stream);
    if (!info) return {};
    const std::string consumer = "reader-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
    nats::ConsumerConfig config;
    config.durable_name = consumer;
    // Acknowledged reads: a message still on its way when a fetch gives up (a busy machine)
    // is redelivered after ack_wait instead of skipped; kept by sequence, so it counts once.
    config.ack_policy = nats::AckPolicy::explicit_ack;
    config.ack_wait = 2s;
    jetstream.add_consumer(stream, config);
    std::map<std::uint64_t, StoredEvent> by_sequence;
    nats::PullConsumer reader(jetstream, stream, consumer);
    const auto expected = info->state.messages;
    for (int round = 0; round < 10000 && by_sequence.size() < expected; ++round) {
        auto batch = reader.fetch(1000, 500ms);
        for (auto& message : batch) {
            if (message.status_code()) continue;
            message.ack();
            StoredEvent event;
            event.sequence = message.metadata().stream_sequence;
            event.message_id = message.message_id();
            event.subject = std::string(message.subject());
            event.envelope = nlohmann::json::parse(message.payload());
            by_sequence.insert_or_assign(event.sequence, std::move(event));
        }
    }
    jetstream.delete_consumer(stream, consumer);
    std::vector<StoredEvent> events;
    for (auto& [sequence, event] : by_sequence) events.push_back(std::move(event));
    return events;
}

//! Checks the stream holds exactly the ids `<prefix>first .. <prefix>first+count-1`, each once.
inline void expect_exactly_once(const std::vector<StoredEvent>& events, const std::string& prefix, int first,
                                int count) {
    std::map<std::string, int> seen;
    for (const auto& event : events) ++seen[event.message_id];
    int missing = 0;
    for (int n = first; n < first + count; ++n) {
        const auto found = seen.find(prefix + std::to_string(n));
        if (found == seen.end()) {
            ++missing;
        } else {
            EXPECT_EQ(found->second, 1)
                << "event " << found->first << " is in the stream " << found->second << " times";
        }
    }
    EXPECT_EQ(missing, 0) << missing << " committed events never reached the stream";
}

class RelayTest : public ::testing::Test {
protected:
    void SetUp() override {
        database = postgres_server.create_database("orders");
        apply_migrations(database);
        connection =
            std::make_unique<nats::Connection>(nats::ConnectionOptions::from_urls(nats_server.url()));
        jetstream = std::make_unique<nats::JetStream>(*connection);
    }

    //! A `sea-mq relay run` process for context `sea`, logging to the test's directory.
    ChildProcess start_relay_process(const std::string& name, const std::string& nats_urls,
                                     std::vector<std::string> extra = {}) {
        std::vector<std::string> argv = {(seamq::testing::bin_dir() / "sea-mq").string(),
                                         "relay",
                                         "run",
                                         "--context",
                                         "sea",
                                         "--database",
                                         postgres_server.url("orders"),
                                         "--nats",
                                         nats_urls,
                                         "--name",
                                         name,
                                         "--election-ms",
                                         "200",
                                         "--publish-timeout-ms",
                                         "2000"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return ChildProcess(ChildProcess::Options{.argv = argv, .log_file = logs.path() / (name + ".log")});
    }

    PostgresServer postgres_server;
    NatsServer nats_server;
    TempDir logs{"relay-logs"};
    std::string database;
    std::unique_ptr<nats::Connection> connection;
    std::unique_ptr<nats::JetStream> jetstream;
};

}  // namespace seamq::relay::testing
