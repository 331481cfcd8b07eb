// The outbox benchmark (issue 4), all figures from one run on servers started here:
//
//  * ceiling: raw nats.c JetStream async publish of the very messages the relay sends
//    (same subjects, payload bytes, Nats-Msg-Id and Nats-Expected-Stream headers), into
//    a stream with the same settings;
//  * relay: seamq::relay::Relay draining a pre-filled outbox;
//  * latency: commit → PubAck under a steady offered load from concurrent producer
//    transactions (an open-loop schedule, so a slow relay cannot slow the producers);
//  * peer: the npm package pg-transactional-outbox (polling mode, and logical replication
//    when the server allows it) relaying the same events with the npm nats client,
//    driven by tests/node/bench_peer.mjs on the same servers, same workload.
//
// Writes <out>/outbox.json and <out>/outbox.md and prints the table. Absolute numbers
// drift on a shared machine; the ratios are measured in the same run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/bench_support.hpp"
#include <CLI/CLI.hpp>
#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/postgres/param.hpp"
#include "seamq/relay/relay.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::bench {
namespace {

using namespace std::chrono_literals;

constexpr const char* stream_name = "SEA";

struct Settings {
    int events = 200000;  //!< pre-filled outbox for the throughput figures
    int keys = 1000;      //!< ordering keys (envelope subject), events spread round-robin
    int padding = 160;    //!< bytes of filler in each event's data
    double rate = 2000;   //!< offered load of the headline latency phase, events/s
    std::vector<double> more_rates = {1000, 4000};  //!< further latency phases, events/s
    int producers = 16;                             //!< concurrent producer sessions of the latency phases
    int steady_seconds = 20;                        //!< measured part of a latency phase
    int warmup_seconds = 3;                         //!< left out of the latency figures
    int ceiling_max_pending = 4096;
    int peer_seconds = 45;      //!< time limit of one peer drain
    int peer_batch_size = 100;  //!< pg-transactional-outbox nextMessagesBatchSize
    int peer_pool_size = 20;    //!< its message-handler pool (concurrent transactions)
    int peer_poll_ms = 10;      //!< its nextMessagesPollingIntervalInMs
    bool peer = true;
    bool replication = true;
    bool profile_sql = false;  //!< pg_stat_statements' top statements per phase
    int relay_vacuum_ms =
        static_cast<int>(relay::RelayOptions{}.vacuum_interval.count());  //!< 0: autovacuum only
    fs::path output_dir = "build/bench";
};

//! The statements that took the most server time since the last reset (--profile-sql).
json top_statements(const std::string& conninfo) {
    postgres::Connection connection(conninfo);
    const auto rows = connection.exec(
        "SELECT calls, round(total_exec_time::numeric, 1)::text, round(mean_exec_time::numeric, 3)::text, "
        "rows, "
        "left(regexp_replace(query, '\\s+', ' ', 'g'), 120) FROM pg_stat_statements "
        "ORDER BY total_exec_time DESC LIMIT 10");
    json top = json::array();
    for (int row = 0; row < rows.rows(); ++row) {
        top.push_back({{"calls", rows.get<std::int64_t>(row, 0)},
                       {"total_ms", std::stod(std::string(rows.text(row, 1)))},
                       {"mean_ms", std::stod(std::string(rows.text(row, 2)))},
                       {"rows", rows.get<std::int64_t>(row, 3)},
                       {"query", std::string(rows.text(row, 4))}});
    }
    return top;
}

// --- servers and streams ---------------------------------------------------------

nats::StreamConfig stream_config() {
    nats::StreamConfig config;
    config.name = stream_name;
    config.subjects = {"sea.>"};
    config.storage = nats::StorageType::file;
    config.replicas = 1;
    return config;  // duplicate window: the default 2 minutes
}

//! A fresh, empty stream for each phase, always with the same settings.
void reset_stream(nats::JetStream& jetstream) {
    jetstream.delete_stream(stream_name);
    jetstream.add_stream(stream_config());
}

std::uint64_t stream_messages(nats::JetStream& jetstream) {
    const auto info = jetstream.stream_info(stream_name);
    return info ? info->state.messages : 0;
}

// --- ceiling: raw nats.c ---------------------------------------------------------

struct Published {
    std::string subject;
    std::string id;
    std::string payload;
};

struct CeilingCounters {
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint64_t> failed{0};
};

void on_ceiling_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr*, void* closure) {
    auto& counters = *static_cast<CeilingCounters*>(closure);
    if (ack != nullptr) {
        ++counters.acked;
    } else {
        ++counters.failed;
    }
    natsMsg_Destroy(message);  // with an AckHandler the message is ours
}

void check_nats(natsStatus status, const char* what) {
    if (status != NATS_OK) raise(Errc::internal, "ceiling: {} failed: {}", what, natsStatus_GetText(status));
}

json run_ceiling(const std::string& url, const std::vector<Published>& messages, const Settings& settings) {
    CeilingCounters counters;
    natsOptions* options = nullptr;
    natsConnection* connection = nullptr;
    jsCtx* context = nullptr;
    check_nats(natsOptions_Create(&options), "natsOptions_Create");
    check_nats(natsOptions_SetURL(options, url.c_str()), "natsOptions_SetURL");
    check_nats(natsConnection_Connect(&connection, options), "connect");
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.PublishAsync.MaxPending = settings.ceiling_max_pending;
    js_options.PublishAsync.AckHandler = on_ceiling_ack;
    js_options.PublishAsync.AckHandlerClosure = &counters;
    check_nats(natsConnection_JetStream(&context, connection, &js_options), "JetStream context");
    jsPubOptions publish_options;
    jsPubOptions_Init(&publish_options);
    publish_options.MaxWait = 5000;  // as the relay (publish_timeout)

    std::uint64_t refused = 0;
    const auto start = Clock::now();
    for (const auto& message : messages) {
        natsMsg* native = nullptr;
        check_nats(natsMsg_Create(&native, message.subject.c_str(), nullptr, message.payload.data(),
                                  static_cast<int>(message.payload.size())),
                   "natsMsg_Create");
        natsMsgHeader_Set(native, "Nats-Msg-Id", message.id.c_str());
        natsMsgHeader_Set(native, "Nats-Expected-Stream", stream_name);
        if (js_PublishMsgAsync(context, &native, &publish_options) != NATS_OK) {
            natsMsg_Destroy(native);
            ++refused;
        }
    }
    jsPubOptions complete_options;
    jsPubOptions_Init(&complete_options);
    complete_options.MaxWait = 120000;
    const natsStatus completed = js_PublishAsyncComplete(context, &complete_options);
    const double elapsed = seconds_since(start);

    jsCtx_Destroy(context);
    natsConnection_Destroy(connection);
    natsOptions_Destroy(options);
    if (completed != NATS_OK)
        raise(Errc::internal, "ceiling: acks incomplete: {}", natsStatus_GetText(completed));
    return json{{"messages", messages.size()},
                {"acked", counters.acked.load()},
                {"failed", counters.failed.load() + refused},
                {"seconds", round_to(elapsed, 3)},
                {"msgs_per_s", round_to(static_cast<double>(counters.acked.load()) / elapsed, 0)}};
}

//! The steady load of a latency phase at `rate` events/s.
SteadyLoad steady_load(const Settings& settings, double rate) {
    return SteadyLoad{
        .rate = rate, .producers = settings.producers, .warmup_seconds = settings.warmup_seconds};
}
SteadyLoad steady_load(const Settings& settings) {
    return steady_load(settings, settings.rate);
}

//! p50/p99 in ms of the measured values (µs).
json stage_summary(const std::vector<double>& values_us) {
    std::vector<double> ms;
    ms.reserve(values_us.size());
    for (const double v : values_us) ms.push_back(v / 1000.0);
    return json{{"p50_ms", round_to(percentile(ms, 0.50), 2)},
                {"p99_ms", round_to(percentile(ms, 0.99), 2)},
                {"max_ms", round_to(percentile(ms, 1.0), 2)}};
}

// --- sea-mq outbox ---------------------------------------------------------------

void prefill_outbox(const std::string& conninfo, const std::vector<Event>& events) {
    postgres::Connection connection(conninfo);
    constexpr std::size_t chunk = 5000;
    for (std::size_t first = 0; first < events.size(); first += chunk) {
        std::vector<std::string> envelopes;
        for (std::size_t n = first; n < std::min(events.size(), first + chunk); ++n) {
            envelopes.push_back(events[n].envelope);
        }
        connection.exec("BEGIN");
        connection.exec("SELECT cardinality(seamq.enqueue_many($1::jsonb[]))",
                        postgres::array_literal(envelopes));
        connection.exec("COMMIT");
    }
}

relay::RelayOptions relay_options(const std::string& conninfo, const Settings& settings,
                                  relay::PublishedRows published_rows = relay::PublishedRows::log) {
    relay::RelayOptions options;
    options.context = "sea";
    options.database = conninfo;
    options.expected_stream = stream_name;
    options.instance_name = "bench-relay";
    options.published_rows = published_rows;
    options.vacuum_interval = std::chrono::milliseconds(settings.relay_vacuum_ms);
    return options;  // everything else: the defaults a worker runs with
}

json relay_options_json(const relay::RelayOptions& options) {
    return json{{"batch_size", options.batch_size},
                {"max_in_flight", options.max_in_flight},
                {"poll_interval_ms", options.poll_interval.count()},
                {"publish_timeout_ms", options.publish_timeout.count()},
                {"published_rows", std::string(relay::to_string(options.published_rows))},
                {"vacuum_interval_ms", options.vacuum_interval.count()}};
}

json run_relay_drain(nats::Connection& nats, nats::JetStream& jetstream, const std::string& conninfo,
                     const Settings& settings, std::size_t expected, relay::PublishedRows published_rows) {
    reset_stream(jetstream);
    relay::Relay relay(relay_options(conninfo, settings, published_rows), nats);
    const auto start = Clock::now();
    relay.start();
    const auto deadline = start + std::chrono::seconds(60 + expected / 500);
    while (relay.statistics().published < expected && Clock::now() < deadline)
        std::this_thread::sleep_for(2ms);
    const double elapsed = seconds_since(start);
    relay.stop();
    const auto statistics = relay.statistics();
    const auto in_stream = stream_messages(jetstream);
    if (statistics.published < expected) {
        log("relay drain: only " + std::to_string(statistics.published) + " of " + std::to_string(expected) +
            " published before the time limit");
    }
    return json{{"events", expected},
                {"published", statistics.published},
                {"duplicates", statistics.duplicates},
                {"publish_errors", statistics.publish_errors},
                {"rounds", statistics.rounds},
                {"stream_messages", in_stream},
                {"seconds", round_to(elapsed, 3)},
                {"msgs_per_s", round_to(static_cast<double>(statistics.published) / elapsed, 0)}};
}

json run_relay_latency(nats::Connection& nats, nats::JetStream& jetstream, const std::string& conninfo,
                       const std::vector<Event>& events, const Settings& settings, double rate) {
    reset_stream(jetstream);
    const auto index = index_by_id(events);
    const auto load = steady_load(settings, rate);
    // Per event: when its PubAck arrived (wall clock) and the relay's two stages before it.
    std::vector<std::int64_t> acked_us(events.size(), 0), read_to_sent_ns(events.size(), 0),
        sent_to_ack_ns(events.size(), 0);
    std::atomic<std::size_t> acked{0};
    relay::RelayHooks hooks;
    hooks.on_published_stages = [&](const std::string& id, std::chrono::nanoseconds read_to_sent,
                                    std::chrono::nanoseconds sent_to_ack) {
        if (const auto found = index.find(id); found != index.end() && acked_us[found->second] == 0) {
            acked_us[found->second] = wall_us();
            read_to_sent_ns[found->second] = read_to_sent.count();
            sent_to_ack_ns[found->second] = sent_to_ack.count();
            ++acked;
        }
    };
    relay::Relay relay(relay_options(conninfo, settings), nats, hooks);
    relay.start();
    if (!seamq::testing::wait_until([&] { return relay.is_leader(); }, 10s))
        raise(Errc::internal, "relay never led");

    // The outbox table's size once a second while the load runs: bounded by the backlog
    // and the dead rows not reclaimed yet (RelayOptions::vacuum_interval, autovacuum).
    std::atomic<bool> loaded{true};
    std::vector<json> table_samples;
    std::thread sampler([&] {
        postgres::Connection sizes(conninfo);
        for (int n = 0; n < 3600 && loaded; ++n) {
            const auto row = sizes.exec(
                "SELECT pg_total_relation_size('seamq.outbox_events'), (SELECT n_dead_tup FROM "
                "pg_stat_user_tables WHERE relid = 'seamq.outbox_events'::regclass)");
            table_samples.push_back(
                {{"bytes", row.get<std::int64_t>(0, 0)}, {"dead_rows", row.get<std::int64_t>(0, 1)}});
            for (int tick = 0; tick < 20 && loaded; ++tick) std::this_thread::sleep_for(50ms);
        }
    });
    const auto run = run_producers(
        conninfo, events, "SELECT seamq.enqueue($1::jsonb)",
        [](const Event& event) { return std::vector<postgres::Param>{event.envelope}; }, load);
    seamq::testing::wait_until([&] { return acked.load() >= events.size() - run.failures; }, 30s, 5ms);
    loaded = false;
    sampler.join();
    relay.stop();
    auto summary = latency_summary(run, acked_us, load);
    std::int64_t max_bytes = 0;
    for (const auto& sample : table_samples)
        max_bytes = std::max(max_bytes, sample["bytes"].get<std::int64_t>());
    summary["outbox_table"] = {{"max_bytes", max_bytes}, {"samples_1s", table_samples}};
    summary["relay_vacuums"] = relay.statistics().vacuums;
    summary["stream_messages"] = stream_messages(jetstream);
    // Where the time went, for the events the latency figures count: commit → the end of
    // the relay query that read the row (waiting for a poll or a wake-up, plus the query),
    // → the send (behind its key or for room in flight), → the PubAck (NATS and the stream).
    std::vector<double> commit_to_read, read_to_sent, sent_to_ack;
    for (auto n = static_cast<std::size_t>(rate * settings.warmup_seconds); n < events.size(); ++n) {
        if (run.committed_us[n] == 0 || acked_us[n] == 0) continue;
        const auto read_us = acked_us[n] - (read_to_sent_ns[n] + sent_to_ack_ns[n]) / 1000;
        commit_to_read.push_back(
            static_cast<double>(std::max<std::int64_t>(0, read_us - run.committed_us[n])));
        read_to_sent.push_back(static_cast<double>(read_to_sent_ns[n]) / 1000.0);
        sent_to_ack.push_back(static_cast<double>(sent_to_ack_ns[n]) / 1000.0);
    }
    summary["stages"] = {{"commit_to_read", stage_summary(commit_to_read)},
                         {"read_to_sent", stage_summary(read_to_sent)},
                         {"sent_to_ack", stage_summary(sent_to_ack)}};
    return summary;
}

// --- the peer ------------------------------------------------------------------------

//! The same INSERT as the package's initializeMessageStorage (one message per call);
//! the segment is the ordering key, processed sequentially as sea-mq's.
constexpr const char* peer_insert_sql =
    "INSERT INTO public.outbox (id, aggregate_type, aggregate_id, message_type, segment, payload, metadata, "
    "concurrency) VALUES ($1::uuid, 'order', $2, $3, $2, $4::jsonb, NULL, 'sequential') ON CONFLICT (id) DO "
    "NOTHING";

std::vector<postgres::Param> peer_parameters(const Event& event) {
    return {event.id, event.subject, event_type, event.envelope};
}

void prefill_peer(const std::string& conninfo, const std::vector<Event>& events) {
    postgres::Connection connection(conninfo);
    constexpr std::size_t chunk = 10000;
    for (std::size_t first = 0; first < events.size(); first += chunk) {
        std::vector<std::string> ids, subjects, envelopes;
        for (std::size_t n = first; n < std::min(events.size(), first + chunk); ++n) {
            ids.push_back(events[n].id);
            subjects.push_back(events[n].subject);
            envelopes.push_back(events[n].envelope);
        }
        connection.exec(
            "INSERT INTO public.outbox (id, aggregate_type, aggregate_id, message_type, segment, payload, "
            "concurrency) "
            "SELECT i::uuid, 'order', s, $4, s, e::jsonb, 'sequential' "
            "FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(i, s, e, n) ORDER BY n",
            postgres::array_literal(ids), postgres::array_literal(subjects),
            postgres::array_literal(envelopes), event_type);
    }
}

struct PeerEndpoints {
    std::string nats_url;
    unsigned short pg_port = 0;
    std::string database;
};

//! Runs tests/node/bench_peer.mjs for one phase and returns its result document.
//! `while_running` is called once the peer's listener is up (for the latency phases).
template <typename WhileRunning>
json run_peer(const PeerEndpoints& endpoints, const std::string& mode, const std::string& phase,
              std::size_t expect, int time_limit_seconds, const Settings& settings, const fs::path& work_dir,
              WhileRunning while_running) {
    const fs::path config_file = work_dir / (mode + "-" + phase + ".config.json");
    const fs::path result_file = work_dir / (mode + "-" + phase + ".result.json");
    const fs::path ready_file = work_dir / (mode + "-" + phase + ".ready");
    const json config = {
        {"mode", mode},
        {"phase", phase},
        {"nats_url", endpoints.nats_url},
        {"stream", stream_name},
        {"postgres",
         {{"host", "127.0.0.1"},
          {"port", endpoints.pg_port},
          {"user", "postgres"},
          {"database", endpoints.database}}},
        {"expect", expect},
        {"time_limit_ms", time_limit_seconds * 1000},
        {"batch_size", settings.peer_batch_size},
        {"pool_size", settings.peer_pool_size},
        {"poll_interval_ms", settings.peer_poll_ms},
        {"publication", "bench_outbox_pub"},
        {"replication_slot", "bench_outbox_slot"},
        {"result_file", result_file.string()},
        {"ready_file", ready_file.string()},
        {"record_acks", phase == "steady"},
    };
    std::ofstream(config_file) << config.dump(2);
    fs::remove(result_file);
    fs::remove(ready_file);
    seamq::testing::ChildProcess node(seamq::testing::ChildProcess::Options{
        .argv = {"node", (seamq::testing::node_dir() / "bench_peer.mjs").string(), config_file.string()},
        .log_file = work_dir / (mode + "-" + phase + ".log")});
    if (!seamq::testing::wait_until([&] { return fs::exists(ready_file) || !node.running(); }, 30s)) {
        raise(Errc::internal, "peer {} {}: not ready within 30 s; see {}", mode, phase,
              (work_dir / (mode + "-" + phase + ".log")).string());
    }
    while_running();
    const auto status = node.wait_for_exit(std::chrono::seconds(time_limit_seconds + 60));
    if (!status) {
        node.kill();
        raise(Errc::internal, "peer {} {}: did not finish; see its log in {}", mode, phase,
              work_dir.string());
    }
    if (!fs::exists(result_file)) {
        raise(Errc::internal, "peer {} {}: exited ({}) without a result: {}", mode, phase,
              seamq::testing::ChildProcess::exit_code(*status),
              read_text(work_dir / (mode + "-" + phase + ".log")).substr(0, 2000));
    }
    return json::parse(read_text(result_file));
}

json peer_drain(const PeerEndpoints& endpoints, const std::string& mode, nats::JetStream& jetstream,
                std::size_t expected, const Settings& settings, const fs::path& work_dir) {
    reset_stream(jetstream);
    auto result =
        run_peer(endpoints, mode, "drain", expected, settings.peer_seconds, settings, work_dir, [] {});
    const double seconds = result.at("seconds").get<double>();
    const auto acked = result.at("acked").get<std::uint64_t>();
    json summary = {{"events", expected},
                    {"acked", acked},
                    {"errors", result.value("errors", 0)},
                    {"seconds", round_to(seconds, 3)},
                    {"finished", acked >= expected},
                    {"time_limit_s", settings.peer_seconds},
                    {"stream_messages", stream_messages(jetstream)},
                    {"msgs_per_s", round_to(static_cast<double>(acked) / seconds, 1)}};
    return summary;
}

json peer_latency(const PeerEndpoints& endpoints, const std::string& mode, nats::JetStream& jetstream,
                  const std::string& conninfo, const std::vector<Event>& events, const Settings& settings,
                  const fs::path& work_dir) {
    reset_stream(jetstream);
    ProducerRun run;
    const int time_limit = settings.warmup_seconds + settings.steady_seconds + 40;
    auto result = run_peer(endpoints, mode, "steady", events.size(), time_limit, settings, work_dir, [&] {
        run = run_producers(conninfo, events, peer_insert_sql, peer_parameters, steady_load(settings));
    });
    const auto index = index_by_id(events);
    std::vector<std::int64_t> acked_us(events.size(), 0);
    for (const auto& ack : result.at("acks")) {
        if (const auto found = index.find(ack.at(0).get<std::string>()); found != index.end()) {
            acked_us[found->second] = ack.at(1).get<std::int64_t>();
        }
    }
    auto summary = latency_summary(run, acked_us, steady_load(settings));
    summary["stream_messages"] = stream_messages(jetstream);
    return summary;
}

// --- report ----------------------------------------------------------------------

std::string markdown(const json& report) {
    std::ostringstream out;
    const auto& figures = report.at("figures");
    const auto& targets = report.at("targets");
    out << "## sea-mq outbox benchmark\n\n";
    const std::vector<std::pair<std::string, std::string>> rows = {
        {"ceiling_msgs_per_s", "raw nats.c JetStream async publish, msg/s"},
        {"relay_msgs_per_s", "relay draining the pre-filled outbox (default: published_rows log), msg/s"},
        {"relay_vs_ceiling", "relay / ceiling"},
        {"relay_keep_msgs_per_s", "relay draining, published rows kept (published_rows: keep), msg/s"},
        {"relay_keep_vs_ceiling", "relay (rows kept) / ceiling"},
        {"relay_delete_msgs_per_s",
         "relay draining, published rows discarded (published_rows: discard), msg/s"},
        {"relay_delete_vs_ceiling", "relay (rows discarded) / ceiling"},
        {"outbox_table_bytes_after_latency",
         "outbox table (with indexes and TOAST) after the latency phases, bytes"},
        {"outbox_table_max_bytes_at_steady_load",
         "outbox table (with indexes and TOAST), largest of the 1 s samples during the steady load, bytes"},
        {"latency_p50_ms", "commit → PubAck p50 at the steady load, ms"},
        {"latency_p99_ms", "commit → PubAck p99 at the steady load, ms"},
        {"peer_msgs_per_s", "pg-transactional-outbox (polling), msg/s"},
        {"peer_latency_p99_ms", "pg-transactional-outbox (polling) p99, ms"},
        {"relay_vs_peer", "relay / peer (polling)"},
        {"peer_replication_msgs_per_s", "pg-transactional-outbox (logical replication), msg/s"},
        {"peer_replication_latency_p99_ms", "pg-transactional-outbox (logical replication) p99, ms"},
        {"relay_vs_peer_replication", "relay / peer (logical replication)"},
    };
    out << figure_rows_markdown(figures, targets, rows);
    // Latency by offered load, and where it goes (each stage's own percentiles).
    out << "\n| offered events/s | commit → PubAck p50 / p99 ms | commit → read | read → sent | sent → "
           "PubAck |\n"
           "|---:|---:|---:|---:|---:|\n";
    const auto& phases = report.at("phases");
    for (const auto& [name, phase] : phases.items()) {
        if (name.rfind("relay_latency", 0) != 0 || !phase.contains("stages")) continue;
        const auto stage = [&](const char* key) {
            return format_number(phase.at("stages").at(key).at("p50_ms")) + " / " +
                   format_number(phase.at("stages").at(key).at("p99_ms"));
        };
        out << "| " << format_number(phase.at("offered_events_per_s")) << " | "
            << format_number(phase.at("p50_ms")) << " / " << format_number(phase.at("p99_ms")) << " | "
            << stage("commit_to_read") << " | " << stage("read_to_sent") << " | " << stage("sent_to_ack")
            << " |\n";
    }
    const auto& environment = report.at("environment");
    out << "\n**Workload**: " << report.at("workload").at("description").get<std::string>() << "\n\n";
    out << machine_markdown(environment);
    out << "**Versions**: nats-server " << environment.at("nats_server").get<std::string>() << ", nats.c "
        << environment.at("nats_c").get<std::string>() << ", "
        << environment.at("postgresql").get<std::string>() << ", node "
        << environment.at("node").get<std::string>() << ", pg-transactional-outbox "
        << environment.at("pg_transactional_outbox").get<std::string>() << ", npm nats "
        << environment.at("npm_nats").get<std::string>() << ", npm pg "
        << environment.at("npm_pg").get<std::string>() << ".\n\n";
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
    environment["node"] = command_output("node --version 2>&1");
    environment["pg_transactional_outbox"] =
        npm_version(seamq::testing::node_dir(), "pg-transactional-outbox");
    environment["npm_nats"] = npm_version(seamq::testing::node_dir(), "nats");
    environment["npm_pg"] = npm_version(seamq::testing::node_dir(), "pg");

    log("starting nats-server and PostgreSQL");
    seamq::testing::NatsServer nats_server;
    seamq::testing::PostgresServer postgres_server;
    {
        // Logical decoding for the peer's replication mode; the same server for all phases.
        postgres::Connection admin(postgres_server.connection_string());
        admin.exec("ALTER SYSTEM SET wal_level = 'logical'");
        admin.exec("ALTER SYSTEM SET max_replication_slots = 4");
        admin.exec("ALTER SYSTEM SET max_wal_senders = 4");
        if (settings.profile_sql)
            admin.exec("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    }
    postgres_server.restart();
    const std::string seamq_db = postgres_server.create_database("seamq");
    const std::string peer_db = postgres_server.create_database("peer");
    {
        postgres::Connection connection(seamq_db);
        postgres::migrate(connection, postgres::embedded_migrations());
        if (settings.profile_sql) connection.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    }
    add_postgres_environment(environment, seamq_db);

    nats::Connection nats(nats::ConnectionOptions::from_urls(nats_server.url(), "bench"));
    nats::JetStream jetstream(nats);

    // Runs a phase and adds its CPU per 1,000 events, per component.
    // (0 events: as many as the phase reports "acked", for the time-limited peer drains.)
    const auto postmaster = postmaster_pid(postgres_server.data_dir());
    const auto measured = [&](std::size_t events, auto phase) {
        if (settings.profile_sql) postgres::Connection(seamq_db).exec("SELECT pg_stat_statements_reset()");
        const auto before = cpu_sample(postmaster, nats_server.pid());
        json result = phase();
        if (events == 0) events = result.at("acked").get<std::size_t>();
        result["cpu_ms_per_1000_events"] =
            cpu_per_1000(before, cpu_sample(postmaster, nats_server.pid()), events);
        if (settings.profile_sql) result["sql_top"] = top_statements(seamq_db);
        return result;
    };
    std::mt19937_64 random(std::random_device{}());
    log("generating " + std::to_string(settings.events) + " events");
    const auto drain_events = make_events(settings.events, settings.keys, settings.padding, random);
    double payload_bytes = 0;

    // 1. Pre-fill the outbox, then publish the very same messages raw (the ceiling).
    log("pre-filling the sea-mq outbox");
    auto start = Clock::now();
    prefill_outbox(seamq_db, drain_events);
    phases["prefill_outbox"] = {{"events", drain_events.size()},
                                {"seconds", round_to(seconds_since(start), 2)}};
    std::vector<Published> published;
    {
        postgres::Connection connection(seamq_db);
        const auto rows = connection.exec(
            "SELECT type, id, envelope::text FROM seamq.outbox_events WHERE status = 'pending' ORDER BY "
            "position");
        published.reserve(static_cast<std::size_t>(rows.rows()));
        for (int row = 0; row < rows.rows(); ++row) {
            published.push_back(Published{std::string(rows.text(row, 0)), std::string(rows.text(row, 1)),
                                          std::string(rows.text(row, 2))});
            payload_bytes += static_cast<double>(rows.text(row, 2).size());
        }
        payload_bytes /= std::max<double>(1.0, static_cast<double>(rows.rows()));
    }
    log("ceiling: raw nats.c async publish of " + std::to_string(published.size()) + " messages");
    reset_stream(jetstream);
    phases["ceiling"] =
        measured(published.size(), [&] { return run_ceiling(nats_server.url(), published, settings); });
    phases["ceiling"]["stream_messages"] = stream_messages(jetstream);
    published.clear();
    published.shrink_to_fit();

    // 2. The relay drains the same rows.
    log("relay: draining " + std::to_string(drain_events.size()) + " events");
    phases["relay"] = measured(drain_events.size(), [&] {
        return run_relay_drain(nats, jetstream, seamq_db, settings, drain_events.size(),
                               relay::PublishedRows::log);
    });
    // The same drain with the other ways of settling a published row, each on a fresh
    // outbox of as many events.
    for (const auto& [phase, mode] : {std::pair{"relay_keep", relay::PublishedRows::keep},
                                      std::pair{"relay_delete", relay::PublishedRows::discard}}) {
        postgres::Connection(seamq_db).exec("TRUNCATE seamq.outbox_events, seamq.outbox_publications");
        const auto events = make_events(settings.events, settings.keys, settings.padding, random);
        prefill_outbox(seamq_db, events);
        log("relay: draining " + std::to_string(events.size()) + " events, published_rows " +
            std::string(relay::to_string(mode)));
        phases[phase] = measured(events.size(), [&] {
            return run_relay_drain(nats, jetstream, seamq_db, settings, events.size(), mode);
        });
    }
    postgres::Connection(seamq_db).exec("TRUNCATE seamq.outbox_events, seamq.outbox_publications");

    // 3. Commit → PubAck at the steady load.
    const auto steady_count =
        static_cast<int>(settings.rate * (settings.warmup_seconds + settings.steady_seconds));
    log("relay latency: " + std::to_string(steady_count) + " events at " + std::to_string(settings.rate) +
        "/s from " + std::to_string(settings.producers) + " producers");
    const auto relay_steady_events = make_events(steady_count, settings.keys, settings.padding, random);
    phases["relay_latency"] = measured(relay_steady_events.size(), [&] {
        return run_relay_latency(nats, jetstream, seamq_db, relay_steady_events, settings, settings.rate);
    });
    // The same at the other rates, each on its own fresh events.
    for (const double rate : settings.more_rates) {
        const auto count = static_cast<int>(rate * (settings.warmup_seconds + settings.steady_seconds));
        log("relay latency: " + std::to_string(count) + " events at " + std::to_string(rate) + "/s");
        const auto events = make_events(count, settings.keys, settings.padding, random);
        phases["relay_latency_" + std::to_string(static_cast<int>(rate))] = measured(events.size(), [&] {
            return run_relay_latency(nats, jetstream, seamq_db, events, settings, rate);
        });
    }

    // What the sustained load left behind: the outbox table holds only unpublished rows
    // (and dead ones until autovacuum reclaims them); the log one entry per recording.
    {
        postgres::Connection sizes(seamq_db);
        const auto row = sizes.exec(
            "SELECT pg_total_relation_size('seamq.outbox_events'), "
            "pg_total_relation_size('seamq.outbox_publications'), "
            "(SELECT count(*) FROM seamq.outbox_events), (SELECT count(*) FROM seamq.outbox_publications), "
            "(SELECT coalesce(sum(cardinality(ids)), 0) FROM seamq.outbox_publications), "
            "(SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = 'seamq.outbox_events'::regclass), "
            "(SELECT autovacuum_count FROM pg_stat_user_tables WHERE relid = "
            "'seamq.outbox_events'::regclass)");
        phases["outbox_table_after_latency"] = {{"outbox_events_bytes", row.get<std::int64_t>(0, 0)},
                                                {"outbox_publications_bytes", row.get<std::int64_t>(0, 1)},
                                                {"outbox_events_rows", row.get<std::int64_t>(0, 2)},
                                                {"outbox_publications_entries", row.get<std::int64_t>(0, 3)},
                                                {"outbox_publications_events", row.get<std::int64_t>(0, 4)},
                                                {"outbox_events_dead_rows", row.get<std::int64_t>(0, 5)},
                                                {"outbox_events_autovacuums", row.get<std::int64_t>(0, 6)}};
    }

    // 4. The peer, same events, same stream settings.
    if (settings.peer) {
        const PeerEndpoints endpoints{nats_server.url(), postgres_server.port(), "peer"};
        const fs::path work_dir = seamq::testing::test_root() / "peer";
        fs::create_directories(work_dir);
        postgres::Connection peer(peer_db);
        // The table and polling function from the package's own DatabaseSetup.
        run_peer(endpoints, "polling", "setup", 0, 60, settings, work_dir, [] {});

        log("peer (polling): draining the same " + std::to_string(drain_events.size()) + " events, at most " +
            std::to_string(settings.peer_seconds) + " s");
        prefill_peer(peer_db, drain_events);
        phases["peer_polling"] = measured(0, [&] {
            return peer_drain(endpoints, "polling", jetstream, drain_events.size(), settings, work_dir);
        });
        peer.exec("TRUNCATE public.outbox");
        log("peer (polling) latency at the steady load");
        const auto peer_steady_events = make_events(steady_count, settings.keys, settings.padding, random);
        phases["peer_polling_latency"] =
            peer_latency(endpoints, "polling", jetstream, peer_db, peer_steady_events, settings, work_dir);

        if (settings.replication) {
            try {
                peer.exec("TRUNCATE public.outbox");
                peer.exec(
                    "CREATE PUBLICATION bench_outbox_pub FOR TABLE public.outbox WITH (publish = 'insert')");
                peer.exec("SELECT pg_create_logical_replication_slot('bench_outbox_slot', 'pgoutput')");
                log("peer (logical replication): draining the same events, at most " +
                    std::to_string(settings.peer_seconds) + " s");
                prefill_peer(peer_db, drain_events);
                phases["peer_replication"] = measured(0, [&] {
                    return peer_drain(endpoints, "replication", jetstream, drain_events.size(), settings,
                                      work_dir);
                });
                peer.exec("TRUNCATE public.outbox");
                peer.exec("SELECT pg_drop_replication_slot('bench_outbox_slot')");
                peer.exec("SELECT pg_create_logical_replication_slot('bench_outbox_slot', 'pgoutput')");
                log("peer (logical replication) latency at the steady load");
                const auto replication_steady_events =
                    make_events(steady_count, settings.keys, settings.padding, random);
                phases["peer_replication_latency"] =
                    peer_latency(endpoints, "replication", jetstream, peer_db, replication_steady_events,
                                 settings, work_dir);
                peer.exec("SELECT pg_drop_replication_slot('bench_outbox_slot')");
            } catch (const std::exception& error) {
                phases["peer_replication_error"] = error.what();
                notes.push_back(std::string("pg-transactional-outbox logical replication mode failed: ") +
                                error.what());
            }
        }
    }

    // Figures, ratios, targets.
    json figures;
    const auto ratio = [](double numerator, double denominator) {
        return denominator > 0 ? json(round_to(numerator / denominator, 3)) : json(nullptr);
    };
    const double ceiling = phases["ceiling"]["msgs_per_s"].get<double>();
    const double relay_rate = phases["relay"]["msgs_per_s"].get<double>();
    figures["ceiling_msgs_per_s"] = ceiling;
    figures["relay_msgs_per_s"] = relay_rate;
    figures["relay_vs_ceiling"] = ratio(relay_rate, ceiling);
    const double relay_delete_rate = phases["relay_delete"]["msgs_per_s"].get<double>();
    figures["relay_delete_msgs_per_s"] = relay_delete_rate;
    figures["relay_delete_vs_ceiling"] = ratio(relay_delete_rate, ceiling);
    const double relay_keep_rate = phases["relay_keep"]["msgs_per_s"].get<double>();
    figures["relay_keep_msgs_per_s"] = relay_keep_rate;
    figures["relay_keep_vs_ceiling"] = ratio(relay_keep_rate, ceiling);
    figures["outbox_table_bytes_after_latency"] = phases["outbox_table_after_latency"]["outbox_events_bytes"];
    figures["latency_p50_ms"] = phases["relay_latency"]["p50_ms"];
    figures["latency_p99_ms"] = phases["relay_latency"]["p99_ms"];
    figures["outbox_table_max_bytes_at_steady_load"] = phases["relay_latency"]["outbox_table"]["max_bytes"];
    for (const double rate : settings.more_rates) {
        const auto suffix = std::to_string(static_cast<int>(rate));
        figures["latency_p50_ms_at_" + suffix] = phases["relay_latency_" + suffix]["p50_ms"];
        figures["latency_p99_ms_at_" + suffix] = phases["relay_latency_" + suffix]["p99_ms"];
    }
    if (phases.contains("peer_polling")) {
        const double peer_rate = phases["peer_polling"]["msgs_per_s"].get<double>();
        figures["peer_msgs_per_s"] = peer_rate;
        figures["peer_latency_p99_ms"] = phases["peer_polling_latency"]["p99_ms"];
        figures["relay_vs_peer"] = ratio(relay_rate, peer_rate);
        if (!phases["peer_polling"]["finished"].get<bool>()) {
            notes.push_back("The polling peer did not finish the " + std::to_string(settings.events) +
                            "-event drain within its " + std::to_string(settings.peer_seconds) +
                            " s limit; its rate is events acknowledged / time spent.");
        }
    }
    if (phases.contains("peer_replication")) {
        const double peer_rate = phases["peer_replication"]["msgs_per_s"].get<double>();
        figures["peer_replication_msgs_per_s"] = peer_rate;
        figures["peer_replication_latency_p99_ms"] = phases["peer_replication_latency"]["p99_ms"];
        figures["relay_vs_peer_replication"] = ratio(relay_rate, peer_rate);
    }
    json targets = {
        {"relay_vs_ceiling", {{"op", ">="}, {"value", 0.5}}},  // the producer and relay cost issue
        {"latency_p99_ms", {{"op", "<="}, {"value", 10.0}}},
        {"latency_p50_ms", {{"op", "<="}, {"value", 2.0}}},
        {"relay_vs_peer", {{"op", ">="}, {"value", 50.0}}},
    };
    check_targets(targets, figures);

    environment["load_average_end"] = load_average();
    environment["nats_server_config"] = "single node, JetStream file store, loopback";
    const auto relay_settings = relay_options(seamq_db, settings);
    report["figures"] = figures;
    report["targets"] = targets;
    report["phases"] = phases;
    report["environment"] = environment;
    report["workload"] = {
        {"events", settings.events},
        {"ordering_keys", settings.keys},
        {"message_bytes_avg", round_to(payload_bytes, 0)},
        {"steady_rate_events_per_s", settings.rate},
        {"steady_producers", settings.producers},
        {"steady_seconds", settings.steady_seconds},
        {"warmup_seconds", settings.warmup_seconds},
        {"description",
         std::to_string(settings.events) + " events of ~" + std::to_string(static_cast<int>(payload_bytes)) +
             " bytes (JSON envelope, Nats-Msg-Id = event id) over " + std::to_string(settings.keys) +
             " ordering keys, one type `" + event_type + "`, stream `" + stream_name +
             "` (sea.>, file storage, R1, 2 min duplicate window) re-created for each phase; latency: one "
             "event per "
             "transaction, " +
             std::to_string(static_cast<int>(settings.rate)) + " events/s offered by " +
             std::to_string(settings.producers) + " sessions for " + std::to_string(settings.steady_seconds) +
             " s after " + std::to_string(settings.warmup_seconds) +
             " s warm-up; commit = COMMIT returned to the "
             "producer, PubAck = the relay got it."},
    };
    report["settings"] = {
        {"relay", relay_options_json(relay_settings)},
        {"ceiling_max_pending", settings.ceiling_max_pending},
        {"ceiling_publish_max_wait_ms", 5000},
        {"peer",
         {{"batch_size", settings.peer_batch_size},
          {"handler_pool_size", settings.peer_pool_size},
          {"poll_interval_ms", settings.peer_poll_ms},
          {"segment", "ordering key, concurrency sequential"},
          {"replication_concurrency", "segment mutex"},
          {"drain_time_limit_s", settings.peer_seconds}}},
    };
    report["notes"] = notes;
    report["bench_seconds"] = round_to(seconds_since(bench_start), 1);

    write_report(report, markdown(report), settings.output_dir, "outbox", bench_start);
    return 0;
}

}  // namespace
}  // namespace seamq::bench

int main(int argc, char** argv) {
    seamq::bench::Settings settings;
    CLI::App app{"sea-mq outbox benchmark: relay vs raw JetStream publish vs pg-transactional-outbox"};
    app.add_option("--events", settings.events, "pre-filled outbox size for the throughput figures")
        ->check(CLI::Range(1000, 5000000));
    app.add_option("--keys", settings.keys, "ordering keys")->check(CLI::Range(1, 1000000));
    app.add_option("--rate", settings.rate, "offered load of the headline latency phase, events/s")
        ->check(CLI::Range(10.0, 100000.0));
    app.add_option("--more-rates", settings.more_rates, "offered loads of further latency phases, events/s")
        ->expected(0, 8)
        ->check(CLI::Range(10.0, 100000.0));
    app.add_option("--producers", settings.producers, "producer sessions")->check(CLI::Range(1, 64));
    app.add_option("--steady-seconds", settings.steady_seconds, "measured seconds of a latency phase")
        ->check(CLI::Range(1, 600));
    app.add_option("--warmup-seconds", settings.warmup_seconds)->check(CLI::Range(0, 60));
    app.add_option("--relay-vacuum-ms", settings.relay_vacuum_ms,
                   "the relay's RelayOptions::vacuum_interval, ms (0: leave the outbox table to autovacuum)")
        ->check(CLI::Range(0, 3600000));
    app.add_option("--peer-seconds", settings.peer_seconds, "time limit of one peer drain")
        ->check(CLI::Range(5, 3600));
    app.add_option("--peer-batch-size", settings.peer_batch_size)->check(CLI::Range(1, 10000));
    app.add_option("--peer-pool-size", settings.peer_pool_size)->check(CLI::Range(1, 100));
    app.add_option("--peer-poll-ms", settings.peer_poll_ms)->check(CLI::Range(1, 10000));
    app.add_flag("!--no-peer", settings.peer, "skip the pg-transactional-outbox phases");
    app.add_flag("!--no-replication", settings.replication, "skip its logical replication mode");
    app.add_flag("--profile-sql", settings.profile_sql,
                 "add each phase's top statements (pg_stat_statements) to outbox.json");
    app.add_option("--out", settings.output_dir, "directory for outbox.json and outbox.md");
    CLI11_PARSE(app, argc, argv);
    try {
        return seamq::bench::run(settings);
    } catch (const std::exception& error) {
        std::cerr << "seamq-bench-outbox: " << error.what() << std::endl;
        return 1;
    }
}
