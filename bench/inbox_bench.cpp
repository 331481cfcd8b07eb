// The inbox benchmark (issue 5), all figures from one run on servers started here:
//
//  * ceiling: raw nats.c pull-consume (natsSubscription_Fetch) and ack (natsMsg_Ack) of
//    the messages of one stream through a durable consumer of its own;
//  * inbox: seamq::inbox::InboxConsumer with an in-process C++ handler doing one INSERT
//    in the inbox transaction, consuming the same messages of the same stream through
//    another durable consumer (exactly once: inbox row + effect in one transaction, AckSync
//    after the commit), checked afterwards: one effect and one inbox row per message;
//  * latency: producer commit (seamq.enqueue in a transaction) → handler commit, at a
//    steady offered load, through the outbox relay (src/relay, in-process) and the inbox.
//
// Writes <out>/inbox.json and <out>/inbox.md and prints the table. Absolute numbers
// drift on a shared machine; the ratio is measured in the same run.
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include <CLI/CLI.hpp>
#include <nats/nats.h>

#include "seamq/inbox/consumer.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/relay/relay.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::bench {
namespace {

using namespace std::chrono_literals;

constexpr const char* stream_name = "SEA";
constexpr const char* ceiling_consumer = "bench-ceiling";
constexpr const char* drain_consumer = "bench-inbox";
constexpr const char* batch_consumer = "bench-inbox-batch";
constexpr const char* awaited_consumer = "bench-inbox-awaited";
constexpr const char* latency_consumer = "bench-inbox-latency";

struct Settings {
    int messages = 100000;  //!< messages in the stream for the throughput figures
    int keys = 1000;        //!< ordering keys (envelope subject), events spread round-robin
    int padding = 160;      //!< bytes of filler in each event's data
    //! Inbox consumer settings; 0 leaves ConsumerOptions' default (what a worker runs with).
    int batch_size = 0;
    int max_ack_pending = 0;
    SteadyLoad load{.rate = 1000, .producers = 16, .warmup_seconds = 3};
    int steady_seconds = 20;  //!< measured part of the latency phase
    bool latency = true;      //!< off: throughput phases only (profiling runs)
    fs::path output_dir = "build/bench";
};

// --- servers and streams ---------------------------------------------------------

void reset_stream(nats::JetStream& jetstream) {
    jetstream.delete_stream(stream_name);
    nats::StreamConfig config;
    config.name = stream_name;
    config.subjects = {"sea.>"};
    config.storage = nats::StorageType::file;
    config.replicas = 1;
    jetstream.add_stream(config);  // duplicate window: the default 2 minutes
}

void add_dead_letter_stream(nats::JetStream& jetstream) {
    nats::StreamConfig config;
    config.name = "SEA_DLQ";
    config.subjects = {"dlq.sea.>"};
    jetstream.add_stream(config);
}

//! The benchmark's effect table: what a projection handler writes, one row per event,
//! without a unique key so that a repeated effect would show as a second row.
constexpr const char* effects_table_sql = R"(
CREATE TABLE bench_effects (message_id text NOT NULL, order_id text NOT NULL, line integer NOT NULL,
                            amount_cents integer NOT NULL))";

void publish_events(nats::JetStream& jetstream, const std::vector<Event>& events) {
    for (const auto& event : events) {
        nats::OutgoingMessage message;
        message.subject = event_type;
        message.message_id = event.id;
        message.payload = event.envelope;
        jetstream.publish_async(message);
    }
    if (!jetstream.wait_async_complete(120s) || jetstream.async_counters().failed > 0)
        raise(Errc::internal, "filling the stream: {} of {} publishes failed",
              jetstream.async_counters().failed, events.size());
}

nats::ConsumerInfo consumer_state(nats::JetStream& jetstream, const std::string& consumer) {
    auto info = jetstream.consumer_info(stream_name, consumer);
    if (!info) raise(Errc::internal, "consumer {} is gone", consumer);
    return *info;
}

// --- ceiling: raw nats.c -------------------------------------------------------------

void check_nats(natsStatus status, const char* what) {
    if (status != NATS_OK) raise(Errc::internal, "ceiling: {} failed: {}", what, natsStatus_GetText(status));
}

//! Pull-consumes `expected` messages with natsSubscription_Fetch(batch) and acks each with
//! natsMsg_Ack; done when the server has every ack (nothing pending for the consumer).
json run_ceiling(const std::string& url, nats::JetStream& jetstream, const inbox::ConsumerOptions& like,
                 std::size_t expected) {
    nats::ConsumerConfig config;
    config.durable_name = ceiling_consumer;
    config.ack_policy = nats::AckPolicy::explicit_ack;
    config.ack_wait = like.ack_wait;
    config.max_ack_pending = like.max_ack_pending;
    jetstream.add_consumer(stream_name, config);

    natsOptions* options = nullptr;
    natsConnection* connection = nullptr;
    jsCtx* context = nullptr;
    natsSubscription* subscription = nullptr;
    check_nats(natsOptions_Create(&options), "natsOptions_Create");
    check_nats(natsOptions_SetURL(options, url.c_str()), "natsOptions_SetURL");
    check_nats(natsConnection_Connect(&connection, options), "connect");
    check_nats(natsConnection_JetStream(&context, connection, nullptr), "JetStream context");
    jsSubOptions subscribe_options;
    jsSubOptions_Init(&subscribe_options);
    subscribe_options.Stream = stream_name;
    subscribe_options.Consumer = ceiling_consumer;  // bind: never created or deleted by the subscription
    check_nats(js_PullSubscribe(&subscription, context, "sea.>", ceiling_consumer, nullptr,
                                &subscribe_options, nullptr),
               "js_PullSubscribe");

    std::size_t received = 0;
    std::uint64_t fetches = 0, fetch_errors = 0;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::seconds(60 + expected / 1000);
    while (received < expected && Clock::now() < deadline) {
        natsMsgList list{};
        const natsStatus status = natsSubscription_Fetch(&list, subscription, like.batch_size, 5000, nullptr);
        ++fetches;
        if (status != NATS_OK && status != NATS_TIMEOUT) ++fetch_errors;
        for (int i = 0; i < list.Count; ++i) {
            if (natsMsg_Ack(list.Msgs[i], nullptr) == NATS_OK) ++received;
        }
        natsMsgList_Destroy(&list);
    }
    const double consumed_seconds = seconds_since(start);
    natsConnection_Flush(connection);
    // Done when the server has processed every ack.
    seamq::testing::wait_until(
        [&] { return consumer_state(jetstream, ceiling_consumer).num_ack_pending == 0; }, 30s, 1ms);
    const double elapsed = seconds_since(start);
    const auto info = consumer_state(jetstream, ceiling_consumer);

    natsSubscription_Destroy(subscription);
    jsCtx_Destroy(context);
    natsConnection_Destroy(connection);
    natsOptions_Destroy(options);
    if (received < expected)
        log("ceiling: only " + std::to_string(received) + " of " + std::to_string(expected) + " consumed");
    return json{{"messages", expected},
                {"acked", received},
                {"fetches", fetches},
                {"fetch_errors", fetch_errors},
                {"num_ack_pending_end", info.num_ack_pending},
                {"num_pending_end", info.num_pending},
                {"consumed_seconds", round_to(consumed_seconds, 3)},
                {"seconds", round_to(elapsed, 3)},
                {"msgs_per_s", round_to(static_cast<double>(received) / elapsed, 0)}};
}

// --- the inbox -------------------------------------------------------------------------

constexpr const char* effect_sql =
    "INSERT INTO bench_effects (message_id, order_id, line, amount_cents) VALUES ($1, $2, $3, $4)";
constexpr const char* batch_effect_sql =
    "INSERT INTO bench_effects (message_id, order_id, line, amount_cents) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[])";

//! The in-process handler: one INSERT through the inbox transaction (a prepared
//! statement, as a projection would use). Remembers which messages it handled since the
//! last commit, so that the commit hook can time them.
class EffectHandler : public inbox::Handler {
public:
    //! `queue_writes`: the INSERT is queued (sent with the batch's COMMIT, as a handler that
    //! does not read its result would); otherwise each INSERT waits for its own round trip.
    explicit EffectHandler(bool queue_writes = true) : queue_writes_(queue_writes) {}

    void handle(const envelope::Envelope& envelope, const inbox::Delivery&,
                postgres::Transaction& transaction) override {
        transaction.connection().prepare("bench_effect", effect_sql);
        const auto* data = envelope.data();
        const auto order = data->at("order_id").get<std::string>();
        const auto line = data->at("line").get<int>();
        const auto amount = data->at("amount_cents").get<int>();
        if (queue_writes_) {
            transaction.queue_prepared("bench_effect", envelope.id(), order, line, amount);
        } else {
            transaction.exec_prepared("bench_effect", envelope.id(), order, line, amount);
        }
        if (record) handled_since_commit.push_back(envelope.id());
    }
    std::string describe() const override {
        return queue_writes_ ? "bench effect (one queued INSERT per message)"
                             : "bench effect (one INSERT per message, each awaited)";
    }
    bool effects_only_in_transaction() const override { return true; }

    bool record = false;                            //!< keep handled_since_commit (latency phase)
    std::vector<std::string> handled_since_commit;  //!< consumer thread only

private:
    bool queue_writes_;
};

//! The same effect written set-based: one multi-row INSERT for the batch.
class BatchEffectHandler : public inbox::BatchHandler {
public:
    void handle(const envelope::Envelope& envelope, const inbox::Delivery& delivery,
                postgres::Transaction& transaction) override {
        const inbox::BatchEntry entry{envelope, delivery};
        handle_batch(std::span(&entry, 1), transaction);
    }
    void handle_batch(std::span<const inbox::BatchEntry> entries,
                      postgres::Transaction& transaction) override {
        std::vector<std::string> ids, orders, lines, amounts;
        for (const auto& entry : entries) {
            const auto* data = entry.envelope.data();
            ids.push_back(entry.envelope.id());
            orders.push_back(data->at("order_id").get<std::string>());
            lines.push_back(std::to_string(data->at("line").get<int>()));
            amounts.push_back(std::to_string(data->at("amount_cents").get<int>()));
        }
        transaction.connection().prepare("bench_batch_effect", batch_effect_sql);
        transaction.exec_prepared("bench_batch_effect", postgres::array_literal(ids),
                                  postgres::array_literal(orders), postgres::array_literal(lines),
                                  postgres::array_literal(amounts));
    }
    std::string describe() const override { return "bench effect (one multi-row INSERT per batch)"; }
};

inbox::ConsumerOptions consumer_options(const std::string& name, const std::string& conninfo,
                                        const Settings& settings) {
    inbox::ConsumerOptions options;
    options.name = name;
    options.context = "sea";
    options.stream = stream_name;
    options.database = conninfo;
    options.instance_name = "bench-inbox";
    if (settings.batch_size > 0) options.batch_size = settings.batch_size;
    if (settings.max_ack_pending > 0) options.max_ack_pending = settings.max_ack_pending;
    return options;  // everything else: the defaults a worker runs with
}

json consumer_options_json(const inbox::ConsumerOptions& options) {
    return json{{"batch_size", options.batch_size},
                {"max_ack_pending", options.max_ack_pending},
                {"fetch_wait_ms", options.fetch_wait.count()},
                {"ack_wait_ms", options.ack_wait.count()},
                {"ack_timeout_ms", options.ack_timeout.count()}};
}

json statistics_json(const inbox::ConsumerStatistics& statistics) {
    return json{{"processed", statistics.processed},
                {"duplicates", statistics.duplicates},
                {"retried", statistics.retried},
                {"dead_lettered", statistics.dead_lettered},
                {"transactions", statistics.transactions},
                {"infrastructure_errors", statistics.infrastructure_errors}};
}

//! Effects and inbox rows for `consumer`: exactly one each per message, or the run is void.
json check_exactly_once(const std::string& conninfo, const std::string& consumer, std::size_t expected) {
    postgres::Connection connection(conninfo);
    const auto effects = connection.exec("SELECT count(*), count(DISTINCT message_id) FROM bench_effects");
    const auto inbox_rows = connection.exec(
        "SELECT count(*) FROM seamq.inbox_messages WHERE consumer = $1 AND status = 'processed'", consumer);
    const auto rows = effects.get<std::int64_t>(0, 0), distinct = effects.get<std::int64_t>(0, 1),
               processed = inbox_rows.get<std::int64_t>(0, 0);
    const auto want = static_cast<std::int64_t>(expected);
    if (rows != want || distinct != want || processed != want)
        raise(Errc::internal, "inbox: {} effects ({} distinct) and {} processed inbox rows for {} messages",
              rows, distinct, processed, expected);
    return json{{"effects", rows}, {"distinct_effects", distinct}, {"inbox_rows_processed", processed}};
}

//! Drains `expected` messages through a fresh durable consumer `name` with `handler`.
json run_inbox_drain(nats::Connection& nats, const std::string& conninfo, const std::string& name,
                     std::shared_ptr<inbox::Handler> handler, const Settings& settings,
                     std::size_t expected) {
    postgres::Connection(conninfo).exec("TRUNCATE bench_effects");
    inbox::ConsumerHooks hooks;
    std::uint64_t commits = 0;
    std::chrono::nanoseconds transaction_time{0};
    hooks.on_commit = [&](std::chrono::nanoseconds took, std::size_t) {
        ++commits;
        transaction_time += took;
    };
    inbox::InboxConsumer consumer(consumer_options(name, conninfo, settings), nats, std::move(handler),
                                  nullptr, hooks);
    consumer.ensure_consumer();  // not timed: done once when a worker starts
    const auto start = Clock::now();
    consumer.start();
    const auto deadline = start + std::chrono::seconds(60 + expected / 500);
    while (consumer.statistics().processed < expected && Clock::now() < deadline)
        std::this_thread::sleep_for(1ms);
    const double elapsed = seconds_since(start);
    consumer.stop();
    const auto statistics = consumer.statistics();
    if (statistics.processed < expected) {
        log("inbox drain: only " + std::to_string(statistics.processed) + " of " + std::to_string(expected) +
            " processed before the time limit");
    }
    const double transactions = static_cast<double>(std::max<std::uint64_t>(commits, 1));
    json result = {
        {"messages", expected},
        {"seconds", round_to(elapsed, 3)},
        {"msgs_per_s", round_to(static_cast<double>(statistics.processed) / elapsed, 0)},
        {"statistics", statistics_json(statistics)},
        {"mean_transaction_ms",
         round_to(std::chrono::duration<double, std::milli>(transaction_time).count() / transactions, 3)},
        {"mean_messages_per_transaction",
         round_to(static_cast<double>(statistics.processed) / transactions, 1)}};
    result["exactly_once"] = check_exactly_once(conninfo, name, expected);
    return result;
}

//! What the per-message handler path cannot beat here: one prepared INSERT per round
//! trip, `per_transaction` of them in a transaction, nothing else (no NATS, no inbox row).
json run_insert_floor(const std::string& conninfo, std::size_t rows, std::size_t per_transaction) {
    postgres::Connection connection(
        postgres::ConnectOptions{.conninfo = conninfo, .application_name = "bench-floor"});
    connection.exec("TRUNCATE bench_effects");
    connection.prepare("bench_effect", effect_sql);
    const auto start = Clock::now();
    for (std::size_t n = 0; n < rows;) {
        connection.exec("BEGIN");
        for (std::size_t i = 0; i < per_transaction && n < rows; ++i, ++n) {
            connection.exec_prepared("bench_effect", "floor-" + std::to_string(n), "order-1",
                                     static_cast<int>(n), 1000);
        }
        connection.exec("COMMIT");
    }
    const double elapsed = seconds_since(start);
    connection.exec("TRUNCATE bench_effects");
    return json{{"rows", rows},
                {"rows_per_transaction", per_transaction},
                {"seconds", round_to(elapsed, 3)},
                {"round_trip_us", round_to(elapsed * 1e6 / static_cast<double>(rows), 1)},
                {"msgs_per_s", round_to(static_cast<double>(rows) / elapsed, 0)}};
}

relay::RelayOptions relay_options(const std::string& conninfo) {
    relay::RelayOptions options;
    options.context = "sea";
    options.database = conninfo;
    options.expected_stream = stream_name;
    options.instance_name = "bench-relay";
    return options;  // everything else: the defaults a worker runs with
}

//! Producer commit → handler commit at the steady load, through the relay and the inbox.
json run_latency(nats::Connection& nats, nats::JetStream& jetstream, const std::string& conninfo,
                 const std::vector<Event>& events, const Settings& settings) {
    reset_stream(jetstream);
    postgres::Connection(conninfo).exec("TRUNCATE bench_effects");
    const auto index = index_by_id(events);
    std::vector<std::int64_t> committed_us(events.size(), 0);  // handler's transaction committed
    std::vector<std::int64_t> published_us(events.size(), 0);  // the relay had its PubAck
    std::size_t handled = 0;

    relay::RelayHooks relay_hooks;
    relay_hooks.on_published = [&](const std::string& id) {
        if (const auto found = index.find(id); found != index.end() && published_us[found->second] == 0)
            published_us[found->second] = wall_us();
    };
    relay::Relay relay(relay_options(conninfo), nats, relay_hooks);

    auto handler = std::make_shared<EffectHandler>();
    handler->record = true;
    std::atomic<std::size_t> committed{0};
    inbox::ConsumerHooks hooks;
    hooks.on_commit = [&](std::chrono::nanoseconds, std::size_t) {
        const auto now = wall_us();
        for (const auto& id : handler->handled_since_commit) {
            if (const auto found = index.find(id); found != index.end() && committed_us[found->second] == 0) {
                committed_us[found->second] = now;
                ++handled;
            }
        }
        handler->handled_since_commit.clear();
        committed = handled;
    };
    inbox::InboxConsumer consumer(consumer_options(latency_consumer, conninfo, settings), nats, handler,
                                  nullptr, hooks);
    relay.start();
    consumer.start();
    if (!seamq::testing::wait_until([&] { return relay.is_leader(); }, 10s))
        raise(Errc::internal, "relay never led");

    const auto run = run_producers(
        conninfo, events, "SELECT seamq.enqueue($1::jsonb)",
        [](const Event& event) { return std::vector<postgres::Param>{event.envelope}; }, settings.load);
    seamq::testing::wait_until([&] { return committed.load() >= events.size() - run.failures; }, 30s, 5ms);
    consumer.stop();
    relay.stop();

    auto summary = latency_summary(run, committed_us, settings.load);
    summary.erase("acked_before_commit_returned");
    summary["missing_handler_commits"] = summary["missing_acks"];
    summary.erase("missing_acks");
    // The relay's share: commit → PubAck of the same events.
    const auto relay_summary = latency_summary(run, published_us, settings.load);
    summary["relay_commit_to_puback_p50_ms"] = relay_summary["p50_ms"];
    summary["relay_commit_to_puback_p99_ms"] = relay_summary["p99_ms"];
    summary["statistics"] = statistics_json(consumer.statistics());
    return summary;
}

// --- report ----------------------------------------------------------------------

std::string markdown(const json& report) {
    std::ostringstream out;
    const auto& figures = report.at("figures");
    const auto& targets = report.at("targets");
    out << "## sea-mq inbox benchmark\n\n";
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"consume_ceiling_msgs_per_s", "raw nats.c pull-consume (Fetch) and ack, msg/s"},
        {"inbox_msgs_per_s",
         "InboxConsumer, in-process handler doing one INSERT (queued: sent with the COMMIT), exactly once, "
         "msg/s"},
        {"inbox_vs_ceiling", "inbox / ceiling"},
        {"inbox_awaited_writes_msgs_per_s",
         "InboxConsumer, the same handler awaiting each INSERT's round trip, msg/s"},
        {"inbox_awaited_writes_vs_ceiling", "inbox (awaited INSERTs) / ceiling"},
        {"inbox_batch_handler_msgs_per_s",
         "InboxConsumer, BatchHandler doing one multi-row INSERT per batch, msg/s"},
        {"inbox_batch_handler_vs_ceiling", "inbox (BatchHandler) / ceiling"},
        {"insert_round_trip_floor_msgs_per_s",
         "bare single-row prepared INSERTs, one round trip each, no NATS, no inbox row, rows/s"},
        {"latency_p50_ms", "producer commit → handler commit p50 at the steady load, ms"},
        {"latency_p99_ms", "producer commit → handler commit p99 at the steady load, ms"},
        {"relay_latency_p99_ms", "of which producer commit → relay PubAck p99, ms"},
    };
    out << figure_rows_markdown(figures, targets, rows);
    const auto& environment = report.at("environment");
    out << "\n**Workload**: " << report.at("workload").at("description").get<std::string>() << "\n\n";
    out << machine_markdown(environment);
    out << "**Versions**: nats-server " << environment.at("nats_server").get<std::string>() << ", nats.c "
        << environment.at("nats_c").get<std::string>() << ", "
        << environment.at("postgresql").get<std::string>() << ".\n\n";
    out << "**Settings**: `" << report.at("settings").dump() << "`\n";
    for (const auto& note : report.at("notes")) out << "\n* " << note.get<std::string>();
    out << "\n";
    return out.str();
}

// --- main --------------------------------------------------------------------------

int run(const Settings& settings) {
    const auto bench_start = Clock::now();
    json report;
    json notes = json::array();
    json phases;
    json environment = machine_environment();

    log("starting nats-server and PostgreSQL");
    seamq::testing::NatsServer nats_server;
    seamq::testing::PostgresServer postgres_server;
    const std::string database = postgres_server.create_database("seamq");
    {
        postgres::Connection connection(database);
        postgres::migrate(connection, postgres::embedded_migrations());
        connection.exec_script(effects_table_sql);
    }
    add_postgres_environment(environment, database);

    nats::Connection nats(nats::ConnectionOptions::from_urls(nats_server.url(), "bench"));
    nats::JetStream jetstream(nats);
    reset_stream(jetstream);
    add_dead_letter_stream(jetstream);

    const auto postmaster = postmaster_pid(postgres_server.data_dir());
    const auto measured = [&](std::size_t events, auto phase) {
        const auto before = cpu_sample(postmaster, nats_server.pid());
        json result = phase();
        result["cpu_ms_per_1000_messages"] =
            cpu_per_1000(before, cpu_sample(postmaster, nats_server.pid()), events);
        return result;
    };
    std::mt19937_64 random(std::random_device{}());
    const auto options = consumer_options(drain_consumer, database, settings);

    // 1. The stream: the messages both consumers read.
    log("filling stream " + std::string(stream_name) + " with " + std::to_string(settings.messages) +
        " messages");
    const auto events = make_events(settings.messages, settings.keys, settings.padding, random);
    double payload_bytes = 0;
    for (const auto& event : events) payload_bytes += static_cast<double>(event.envelope.size());
    payload_bytes /= static_cast<double>(events.size());
    auto start = Clock::now();
    publish_events(jetstream, events);
    phases["fill_stream"] = {{"messages", events.size()}, {"seconds", round_to(seconds_since(start), 2)}};

    // 2. Raw pull-consume and ack: the ceiling.
    log("ceiling: raw nats.c Fetch + Ack of " + std::to_string(events.size()) + " messages");
    phases["ceiling"] = measured(
        events.size(), [&] { return run_ceiling(nats_server.url(), jetstream, options, events.size()); });

    // 3. The same messages through the inbox.
    log("inbox: InboxConsumer with a one-INSERT handler over the same " + std::to_string(events.size()) +
        " messages");
    phases["inbox"] = measured(events.size(), [&] {
        return run_inbox_drain(nats, database, drain_consumer, std::make_shared<EffectHandler>(), settings,
                               events.size());
    });
    log("inbox: the same with each INSERT awaited (no queued writes)");
    phases["inbox_awaited_writes"] = measured(events.size(), [&] {
        return run_inbox_drain(nats, database, awaited_consumer, std::make_shared<EffectHandler>(false),
                               settings, events.size());
    });
    log("inbox: the same with a BatchHandler (one multi-row INSERT per batch)");
    phases["inbox_batch_handler"] = measured(events.size(), [&] {
        return run_inbox_drain(nats, database, batch_consumer, std::make_shared<BatchEffectHandler>(),
                               settings, events.size());
    });
    const auto floor_rows = std::min<std::size_t>(events.size(), 20000);
    log("floor: " + std::to_string(floor_rows) + " single-row INSERTs, one round trip each");
    phases["insert_floor"] = measured(floor_rows, [&] {
        return run_insert_floor(database, floor_rows, static_cast<std::size_t>(options.batch_size));
    });

    // 4. Producer commit → handler commit at the steady load.
    const auto steady_count =
        static_cast<int>(settings.load.rate * (settings.load.warmup_seconds + settings.steady_seconds));
    if (settings.latency) {
        log("latency: " + std::to_string(steady_count) + " events at " +
            std::to_string(static_cast<int>(settings.load.rate)) + "/s from " +
            std::to_string(settings.load.producers) + " producers, through the relay and the inbox");
        const auto steady_events = make_events(steady_count, settings.keys, settings.padding, random);
        phases["latency"] = measured(steady_events.size(), [&] {
            return run_latency(nats, jetstream, database, steady_events, settings);
        });
    }

    json figures;
    const double ceiling = phases["ceiling"]["msgs_per_s"].get<double>();
    const double inbox_rate = phases["inbox"]["msgs_per_s"].get<double>();
    figures["consume_ceiling_msgs_per_s"] = ceiling;
    figures["inbox_msgs_per_s"] = inbox_rate;
    figures["inbox_vs_ceiling"] = ceiling > 0 ? json(round_to(inbox_rate / ceiling, 3)) : json(nullptr);
    const double awaited_rate = phases["inbox_awaited_writes"]["msgs_per_s"].get<double>();
    figures["inbox_awaited_writes_msgs_per_s"] = awaited_rate;
    figures["inbox_awaited_writes_vs_ceiling"] =
        ceiling > 0 ? json(round_to(awaited_rate / ceiling, 3)) : json(nullptr);
    const double batch_rate = phases["inbox_batch_handler"]["msgs_per_s"].get<double>();
    figures["inbox_batch_handler_msgs_per_s"] = batch_rate;
    figures["inbox_batch_handler_vs_ceiling"] =
        ceiling > 0 ? json(round_to(batch_rate / ceiling, 3)) : json(nullptr);
    figures["insert_round_trip_floor_msgs_per_s"] = phases["insert_floor"]["msgs_per_s"];
    if (phases.contains("latency")) {
        figures["latency_p50_ms"] = phases["latency"]["p50_ms"];
        figures["latency_p99_ms"] = phases["latency"]["p99_ms"];
        figures["relay_latency_p99_ms"] = phases["latency"]["relay_commit_to_puback_p99_ms"];
    }
    json targets = {
        {"inbox_msgs_per_s", {{"op", ">="}, {"value", 20000.0}}},
        {"inbox_vs_ceiling", {{"op", ">="}, {"value", 0.3}}},
    };
    check_targets(targets, figures);

    environment["load_average_end"] = load_average();
    environment["nats_server_config"] = "single node, JetStream file store, loopback";
    report["figures"] = figures;
    report["targets"] = targets;
    report["phases"] = phases;
    report["environment"] = environment;
    report["workload"] = {
        {"messages", settings.messages},
        {"ordering_keys", settings.keys},
        {"message_bytes_avg", round_to(payload_bytes, 0)},
        {"steady_rate_events_per_s", settings.load.rate},
        {"steady_producers", settings.load.producers},
        {"steady_seconds", settings.steady_seconds},
        {"warmup_seconds", settings.load.warmup_seconds},
        {"description",
         std::to_string(settings.messages) + " messages of ~" +
             std::to_string(static_cast<int>(payload_bytes)) +
             " bytes (JSON envelope, Nats-Msg-Id = event id) in stream `" + stream_name +
             "` (sea.>, file storage, R1), read by one durable pull consumer per phase: raw nats.c Fetch + "
             "Ack (ceiling), then InboxConsumer whose handler INSERTs one row into an unindexed table in "
             "the inbox transaction (queued, then awaited, then as a BatchHandler; inbox row + effect "
             "committed together, AckSync after commit; effects and inbox rows checked afterwards). "
             "Latency: one seamq.enqueue per producer transaction, " +
             std::to_string(static_cast<int>(settings.load.rate)) + " events/s offered by " +
             std::to_string(settings.load.producers) + " sessions for " +
             std::to_string(settings.steady_seconds) + " s after " +
             std::to_string(settings.load.warmup_seconds) +
             " s warm-up, the relay (src/relay) and an InboxConsumer in the same process; from COMMIT "
             "returned "
             "to the producer to COMMIT returned to the inbox consumer."},
    };
    report["settings"] = {
        {"inbox", consumer_options_json(options)},
        {"ceiling",
         {{"fetch_batch", options.batch_size},
          {"max_ack_pending", options.max_ack_pending},
          {"ack", "natsMsg_Ack (no confirmation)"}}},
        {"relay",
         {{"batch_size", relay_options(database).batch_size},
          {"max_in_flight", relay_options(database).max_in_flight}}},
    };
    report["notes"] = notes;
    report["bench_seconds"] = round_to(seconds_since(bench_start), 1);

    write_report(report, markdown(report), settings.output_dir, "inbox", bench_start);
    return 0;
}

}  // namespace
}  // namespace seamq::bench

int main(int argc, char** argv) {
    seamq::bench::Settings settings;
    CLI::App app{"sea-mq inbox benchmark: exactly-once InboxConsumer vs raw JetStream pull-consume"};
    app.add_option("--messages", settings.messages, "messages for the throughput figures")
        ->check(CLI::Range(1000, 5000000));
    app.add_option("--keys", settings.keys, "ordering keys")->check(CLI::Range(1, 1000000));
    app.add_option("--batch-size", settings.batch_size, "inbox batch size (0: the consumer's default)")
        ->check(CLI::Range(0, 1000));
    app.add_option("--max-ack-pending", settings.max_ack_pending, "0: the consumer's default")
        ->check(CLI::Range(0, 100000));
    app.add_option("--rate", settings.load.rate, "offered load of the latency phase, events/s")
        ->check(CLI::Range(10.0, 100000.0));
    app.add_option("--producers", settings.load.producers, "producer sessions")->check(CLI::Range(1, 64));
    app.add_option("--steady-seconds", settings.steady_seconds, "measured seconds of the latency phase")
        ->check(CLI::Range(1, 600));
    app.add_option("--warmup-seconds", settings.load.warmup_seconds)->check(CLI::Range(0, 60));
    app.add_flag("!--no-latency", settings.latency,
                 "skip the latency phase (relay + inbox at a steady load)");
    app.add_option("--out", settings.output_dir, "directory for inbox.json and inbox.md");
    CLI11_PARSE(app, argc, argv);
    try {
        return seamq::bench::run(settings);
    } catch (const std::exception& error) {
        std::cerr << "seamq-bench-inbox: " << error.what() << std::endl;
        return 1;
    }
}
