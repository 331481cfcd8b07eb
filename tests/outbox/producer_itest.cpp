// The C++ producer against a real PostgreSQL: events commit or roll back with the caller's
// own writes, invalid envelopes are refused before any SQL, and concurrent producers on
// shared ordering keys leave each key's events in commit order for the relay.
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "seamq/envelope/envelope.hpp"
#include "seamq/outbox/producer.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::outbox {
namespace {

using namespace std::chrono_literals;

std::filesystem::path migrations_dir() {
    return std::filesystem::path(std::getenv("SEAMQ_SOURCE_DIR")) / "db/migrations";
}

envelope::Envelope order_placed(const std::string& order, const std::string& id = envelope::new_event_id(),
                                std::size_t padding = 0) {
    return envelope::EnvelopeBuilder("sea.event.order-placed.v1", "/sea/orders", order)
        .id(id)
        .data({{"order_id", order}, {"note", std::string(padding, 'x')}})
        .build();
}

TEST(Producer, AppendsInTheCallersTransactionAndRefusesInvalidEnvelopesFirst) {
    testing::PostgresServer server;
    postgres::Connection connection(server.connection_string());
    postgres::migrate(connection, migrations_dir());
    connection.exec("CREATE TABLE orders (id text PRIMARY KEY)");
    const auto outbox_ids = [&] {
        std::vector<std::string> ids;
        const auto rows = connection.exec("SELECT id FROM seamq.outbox_events ORDER BY position");
        for (int row = 0; row < rows.rows(); ++row) ids.push_back(rows.get<std::string>(row, 0));
        return ids;
    };

    const envelope::Validator validator(envelope::Limits{2000});
    const Producer producer(validator);

    {  // state + events commit together
        postgres::Transaction transaction(connection);
        transaction.exec("INSERT INTO orders VALUES ($1)", "order-1");
        EXPECT_EQ(producer.append(transaction, order_placed("order-1", "e1")), "e1");
        const std::vector<envelope::Envelope> batch = {order_placed("order-1", "e2"),
                                                       order_placed("order-2", "e3")};
        EXPECT_EQ(producer.append(transaction, batch), (std::vector<std::string>{"e2", "e3"}));
        EXPECT_EQ(producer.append(transaction, order_placed("order-3", "e4").to_json()), "e4");
        transaction.commit();
    }
    EXPECT_EQ(outbox_ids(), (std::vector<std::string>{"e1", "e2", "e3", "e4"}));

    {  // ... and roll back together
        postgres::Transaction transaction(connection);
        transaction.exec("INSERT INTO orders VALUES ($1)", "order-9");
        producer.append(transaction, order_placed("order-9", "e9"));
    }
    EXPECT_EQ(outbox_ids().size(), 4u);
    EXPECT_EQ(connection.exec("SELECT count(*) FROM orders").get<int>(0, 0), 1);

    {  // refused before SQL: the caller's transaction stays usable
        postgres::Transaction transaction(connection);
        try {
            producer.append(transaction,
                            order_placed("order-5", "too-big", 3000));  // over this validator's limit
            ADD_FAILURE() << "an oversized envelope was appended";
        } catch (const Error& error) {
            EXPECT_EQ(error.code(), Errc::invalid_envelope);
            EXPECT_NE(std::string(error.what()).find("too-big"), std::string::npos) << error.what();
        }
        const std::vector<envelope::Envelope> mixed = {order_placed("order-5", "fine"),
                                                       order_placed("order-5", "too-big-2", 3000)};
        EXPECT_THROW(producer.append(transaction, mixed), Error);
        EXPECT_THROW(producer.append(transaction, std::string_view("{not json")), Error);
        EXPECT_THROW(producer.append(transaction, std::string_view(R"({"specversion":"1.0"})")), Error);
        transaction.exec("INSERT INTO orders VALUES ($1)", "order-5");
        transaction.commit();
    }
    EXPECT_EQ(outbox_ids().size(), 4u);  // "fine" was not appended alone
    EXPECT_EQ(connection.exec("SELECT count(*) FROM orders").get<int>(0, 0), 2);

    {  // a duplicate id fails the statement, and with it the transaction
        postgres::Transaction transaction(connection);
        const std::vector<envelope::Envelope> batch = {order_placed("order-6", "e6"),
                                                       order_placed("order-6", "e1")};
        try {
            producer.append(transaction, batch);
            ADD_FAILURE() << "a duplicate id was appended";
        } catch (const postgres::SqlError& error) {
            EXPECT_TRUE(error.is_unique_violation()) << error.what();
        }
        EXPECT_THROW(transaction.commit(), postgres::SqlError);
    }
    EXPECT_EQ(outbox_ids().size(), 4u);

    // Prepared statements survive a reconnect.
    server.restart();
    connection.reconnect();
    postgres::Transaction transaction(connection);
    EXPECT_EQ(producer.append(transaction, order_placed("order-7", "e7")), "e7");
    transaction.commit();
    EXPECT_EQ(outbox_ids().size(), 5u);
}

struct Observed {
    std::int64_t position;
    std::string id;
    std::string subject;
    std::string committed_at;  // pg_xact_commit_timestamp of the producing transaction
};

TEST(Producer, ConcurrentProducersLeaveEachKeyInCommitOrderForTheRelay) {
    testing::PostgresServer server;
    {
        postgres::Connection setup(server.connection_string());
        postgres::migrate(setup, migrations_dir());
        // Commit timestamps are the independent witness of commit order.
        setup.exec("ALTER SYSTEM SET track_commit_timestamp = on");
    }
    server.restart();

    constexpr int producer_count = 6;
    constexpr int transactions_per_producer = 60;
    constexpr int key_count = 10;
    const envelope::Validator validator;
    const Producer producer(validator);

    std::mutex committed_mutex;
    std::set<std::string> committed;
    std::atomic<int> producers_running{producer_count};
    std::atomic<int> rolled_back{0};
    std::vector<std::string> failures(producer_count);
    std::vector<std::thread> producers;
    for (int p = 0; p < producer_count; ++p) {
        producers.emplace_back([&, p] {
            try {
                postgres::Connection connection(server.connection_string());
                std::mt19937 random(static_cast<unsigned>(p) * 7919u + 1u);
                for (int t = 0; t < transactions_per_producer; ++t) {
                    std::vector<envelope::Envelope> events;
                    const int count = 1 + static_cast<int>(random() % 3);
                    for (int e = 0; e < count; ++e) {
                        events.push_back(order_placed("key-" + std::to_string(random() % key_count)));
                    }
                    postgres::Transaction transaction(connection);
                    const auto ids = producer.append(transaction, events);
                    // Hold the transaction open a little: others on the same keys must wait.
                    std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
                    if (random() % 10 == 0) {
                        transaction.rollback();
                        ++rolled_back;
                        continue;
                    }
                    transaction.commit();
                    const std::lock_guard lock(committed_mutex);
                    committed.insert(ids.begin(), ids.end());
                }
            } catch (const std::exception& error) {
                failures[static_cast<std::size_t>(p)] = error.what();
            }
            --producers_running;
        });
    }

    // What a relay does: read committed pending rows in position order, publish, mark.
    std::vector<Observed> observed;
    int rounds = 0;
    {
        postgres::Connection relay(server.connection_string());
        const auto deadline = std::chrono::steady_clock::now() + 120s;
        bool last_round = false;
        while (std::chrono::steady_clock::now() < deadline) {
            last_round = producers_running.load() == 0;  // decided before reading
            postgres::Transaction transaction(relay);
            const auto rows = transaction.exec(
                "SELECT position, id, subject, pg_xact_commit_timestamp(xmin)::text FROM seamq.outbox_events "
                "WHERE context = 'sea' AND status = 'pending' ORDER BY position LIMIT 200");
            std::vector<std::string> positions;
            for (int row = 0; row < rows.rows(); ++row) {
                observed.push_back({rows.get<std::int64_t>(row, 0), rows.get<std::string>(row, 1),
                                    rows.get<std::string>(row, 2), rows.get<std::string>(row, 3)});
                positions.push_back(rows.get<std::string>(row, 0));
            }
            transaction.exec(
                "UPDATE seamq.outbox_events SET status = 'published', published_at = now(), stream_sequence "
                "= "
                "position WHERE position = ANY($1::bigint[])",
                postgres::array_literal(positions));
            transaction.commit();
            ++rounds;
            if (rows.empty()) {
                if (last_round) break;
                std::this_thread::sleep_for(2ms);
            }
        }
    }
    for (auto& thread : producers) thread.join();
    for (const auto& failure : failures) EXPECT_EQ(failure, "");

    // Exactly the committed events, each once.
    std::set<std::string> observed_ids;
    for (const auto& event : observed)
        EXPECT_TRUE(observed_ids.insert(event.id).second) << "twice: " << event.id;
    EXPECT_EQ(observed_ids, committed);
    EXPECT_GT(rolled_back.load(), 0);
    EXPECT_GT(rounds, 10);  // the relay really read while producers wrote

    // Per key: the relay saw positions in increasing order, and that is commit order.
    std::map<std::string, std::vector<const Observed*>> by_key;
    for (const auto& event : observed) by_key[event.subject].push_back(&event);
    EXPECT_EQ(by_key.size(), static_cast<std::size_t>(key_count));
    for (const auto& [key, events] : by_key) {
        for (std::size_t i = 1; i < events.size(); ++i) {
            EXPECT_LT(events[i - 1]->position, events[i]->position)
                << key << ": position " << events[i]->position << " became visible after "
                << events[i - 1]->position;
        }
    }
    for (const auto& [key, events] : by_key) {
        for (std::size_t i = 1; i < events.size(); ++i) {
            // Same text format, so the comparison of ISO timestamps is chronological.
            EXPECT_LE(events[i - 1]->committed_at, events[i]->committed_at)
                << key << ": position " << events[i]->position << " committed before "
                << events[i - 1]->position;
        }
    }
}

}  // namespace
}  // namespace seamq::outbox
