#pragma once

// Shared setup of the inbox tests: a real PostgreSQL with sea-mq's migrations and an
// `effects` table, a real nats-server with the `sea` context's event and DLQ streams,
// and helpers to publish envelopes and count effects.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/envelope/envelope.hpp"
#include "seamq/inbox/consumer.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::inbox::testing {

using namespace std::chrono_literals;
using seamq::testing::ChildProcess;
using seamq::testing::NatsServer;
using seamq::testing::PostgresServer;
using seamq::testing::TempDir;
using seamq::testing::wait_until;

inline constexpr const char* event_type = "sea.event.order-placed.v1";

//! A valid envelope of `event_type` with id `id` and data {"n": n}.
inline std::string make_envelope(const std::string& id, int n) {
    return envelope::EnvelopeBuilder(event_type, "/tests/inbox", "order-" + std::to_string(n % 17))
        .id(id)
        .data({{"n", n}})
        .build()
        .to_json();
}

class InboxTest : public ::testing::Test {
protected:
    void SetUp() override {
        database = postgres_server.create_database("orders");
        {
            postgres::Connection setup(database);
            postgres::migrate(setup, postgres::embedded_migrations());
            // The test handlers' effect: deliberately without a unique key, so a repeated
            // effect shows up as a second row.
            setup.exec_script(R"(
                CREATE TABLE effects (message_id text NOT NULL, n integer, worker text,
                                      applied_at timestamptz NOT NULL DEFAULT clock_timestamp());
                CREATE FUNCTION apply_effect(envelope jsonb) RETURNS void LANGUAGE sql AS $$
                    INSERT INTO effects (message_id, n, worker)
                    VALUES (envelope ->> 'id', (envelope -> 'data' ->> 'n')::integer,
                            current_setting('application_name'))
                $$;)");
        }
        connection =
            std::make_unique<nats::Connection>(nats::ConnectionOptions::from_urls(nats_server.url()));
        jetstream = std::make_unique<nats::JetStream>(*connection);
        add_streams();
    }

    void add_streams(std::chrono::nanoseconds duplicate_window = 2min) {
        nats::StreamConfig events;
        events.name = "SEA_EVENTS";
        events.subjects = {"sea.>"};
        events.duplicate_window = duplicate_window;
        jetstream->add_stream(events);
        nats::StreamConfig dead_letters;
        dead_letters.name = "SEA_DLQ";
        dead_letters.subjects = {"dlq.sea.>"};
        jetstream->add_stream(dead_letters);
    }

    ConsumerOptions consumer_options(const std::string& name) const {
        ConsumerOptions options;
        options.name = name;
        options.context = "sea";
        options.stream = "SEA_EVENTS";
        options.filter_subject = "sea.event.>";
        options.database = database;
        options.retry_delays = {200ms, 400ms};
        options.fetch_wait = 200ms;
        options.ack_wait = 5s;
        options.batch_size = 20;
        options.instance_name = "inbox-test";
        return options;
    }

    nats::PubAck publish(const std::string& payload, const std::string& message_id,
                         const std::string& subject = event_type) {
        nats::OutgoingMessage message;
        message.subject = subject;
        message.payload = payload;
        message.message_id = message_id;
        return jetstream->publish(message);
    }

    //! Publishes envelopes `<prefix><n>` for n in [first, first + count) asynchronously.
    void publish_many(const std::string& prefix, int first, int count) {
        for (int n = first; n < first + count; ++n) {
            nats::OutgoingMessage message;
            message.subject = event_type;
            message.message_id = prefix + std::to_string(n);
            message.payload = make_envelope(message.message_id, n);
            jetstream->publish_async(message);
        }
        ASSERT_TRUE(jetstream->wait_async_complete(60s));
        ASSERT_EQ(jetstream->async_counters().failed, 0U);
    }

    std::int64_t query_count(const std::string& sql) const {
        postgres::Connection reader(database);
        return reader.exec(sql).get<std::int64_t>(0, 0);
    }

    PostgresServer postgres_server;
    NatsServer nats_server;
    TempDir logs{"inbox-logs"};
    std::string database;
    std::unique_ptr<nats::Connection> connection;
    std::unique_ptr<nats::JetStream> jetstream;
};

//! An in-process handler writing one row to `effects`, optionally failing first.
class EffectHandler : public Handler {
public:
    void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                postgres::Transaction& transaction) override {
        {
            std::lock_guard lock(mutex);
            calls.push_back({envelope.id(), delivery.delivery_count, std::chrono::steady_clock::now()});
        }
        transaction.exec("INSERT INTO effects (message_id, n, worker) VALUES ($1, $2, $3)", envelope.id(),
                         envelope.data() ? envelope.data()->value("n", 0) : 0, delivery.consumer);
        if (fail_always.load()) throw std::runtime_error("downstream rejected order " + envelope.id());
        if (fail_permanently.load())
            throw PermanentFailure("order " + envelope.id() + " is not for this consumer");
    }
    std::string describe() const override { return "test effect handler"; }

    struct Call {
        std::string id;
        std::uint64_t delivery = 0;
        std::chrono::steady_clock::time_point at;
    };
    std::vector<Call> calls_snapshot() {
        std::lock_guard lock(mutex);
        return calls;
    }
    std::size_t call_count() {
        std::lock_guard lock(mutex);
        return calls.size();
    }

    std::atomic<bool> fail_always{false};
    std::atomic<bool> fail_permanently{false};
    std::mutex mutex;
    std::vector<Call> calls;
};

}  // namespace seamq::inbox::testing
