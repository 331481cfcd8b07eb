// The edges benchmark (issue 15), all figures from one run on servers started here:
//
//  * outbound latency: events published to SEA_EVENTS at a steady rate (synchronous
//    publish, PubAck time recorded) while a WebhookDispatcher delivers them to a local
//    sink (cpp-httplib on loopback, allow-listed): PubAck -> arrival at the sink, p50/p99;
//  * outbound throughput: a backlog of events drained by a new endpoint: deliveries/s;
//  * intake: InboundIntake::receive (verify, dedupe row, outbox append, COMMIT) from
//    several threads, then the outbox relay (in-process) to PubAck: requests/s accepted
//    and requests/s to the last PubAck. The HTTP listener in front of receive() is not
//    measured.
//
// Writes <out>/edges.json and <out>/edges.md and prints the table.
#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "bench/bench_support.hpp"
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "seamq/contracts/contracts.hpp"
#include "seamq/edges/inbound_intake.hpp"
#include "seamq/edges/webhook_dispatcher.hpp"
#include "seamq/envelope/envelope.hpp"
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

const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Settings {
    int rate = 200;              //!< events/s offered in the latency phase
    int latency_seconds = 5;     //!< length of the latency phase
    int backlog = 3000;          //!< events drained in the throughput phase (plus the latency phase's)
    int intake_requests = 3000;  //!< deliveries posted to the intake
    int intake_threads = 8;
    fs::path output_dir = "build/bench";
};

// The partner: records when each webhook-id arrived.
class Sink {
public:
    Sink() {
        server_.Post("/hook", [this](const httplib::Request& request, httplib::Response&) {
            const auto now = wall_us();
            std::lock_guard lock(mutex_);
            arrivals_.emplace(request.get_header_value("webhook-id"), now);
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
    }
    ~Sink() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
    std::map<std::string, std::int64_t> arrivals() {
        std::lock_guard lock(mutex_);
        return arrivals_;
    }
    std::size_t count() {
        std::lock_guard lock(mutex_);
        return arrivals_.size();
    }
    void clear() {
        std::lock_guard lock(mutex_);
        arrivals_.clear();
    }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::map<std::string, std::int64_t> arrivals_;
};

std::string order_event(int n) {
    return envelope::EnvelopeBuilder("sea.event.order-placed.v1", "/sea/orders",
                                     "O-" + std::to_string(n % 100))
        .visibility(envelope::Visibility::external)
        .data({{"order_id", "O-" + std::to_string(n)},
               {"customer", {{"id", "C-1"}, {"email", "ada@example.com"}}},
               {"lines", {{{"sku", "SKU-1"}, {"quantity", 1}, {"unit_price_cents", 500}}}},
               {"total_cents", 500},
               {"currency", "EUR"}})
        .build()
        .to_json();
}

json run_outbound(nats::Connection& nats, nats::JetStream& jetstream, const std::string& conninfo,
                  const contracts::Registry& registry, const Settings& settings) {
    Sink sink;
    postgres::Connection database(conninfo);
    database.exec(
        "INSERT INTO seamq.webhook_endpoints (name, subject_filter, url, secret) VALUES "
        "('latency', 'sea.event.>', $1, $2)",
        sink.url(), secret);
    edges::DispatcherOptions options;
    options.database = conninfo;
    options.stream = "SEA_EVENTS";
    options.allow_networks = {"127.0.0.0/8"};
    options.refresh_interval = 200ms;
    edges::WebhookDispatcher dispatcher(options, jetstream, registry,
                                        observability::Logger(spdlog::default_logger()));
    dispatcher.start();
    (void)nats;

    // Latency: steady rate, PubAck -> arrival.
    std::map<std::string, std::int64_t> acked_us;
    const auto interval = std::chrono::microseconds(1000000 / settings.rate);
    const int total = settings.rate * settings.latency_seconds;
    auto next = Clock::now();
    for (int n = 0; n < total; ++n) {
        std::this_thread::sleep_until(next);
        next += interval;
        const auto body = order_event(n);
        const auto id = nlohmann::json::parse(body)["id"].get<std::string>();
        jetstream.publish({"sea.event.order-placed.v1", body, id, "SEA_EVENTS", {}});
        acked_us[id] = wall_us();
    }
    seamq::testing::wait_until([&] { return sink.count() >= acked_us.size(); }, 60s);
    std::vector<double> latencies_ms;
    const auto arrivals = sink.arrivals();
    for (const auto& [id, acked] : acked_us) {
        if (const auto found = arrivals.find(id); found != arrivals.end())
            latencies_ms.push_back(static_cast<double>(found->second - acked) / 1000.0);
    }
    log("outbound latency: " + std::to_string(latencies_ms.size()) + " of " + std::to_string(total) +
        " delivered");

    // Throughput: the latency endpoint off, a backlog, then a new endpoint drains all.
    database.exec(
        "UPDATE seamq.webhook_endpoints SET enabled = false, disabled_reason = 'bench' WHERE name = "
        "'latency'");
    for (int n = 0; n < settings.backlog; ++n) {
        const auto body = order_event(total + n);
        jetstream.publish({"sea.event.order-placed.v1",
                           body,
                           nlohmann::json::parse(body)["id"].get<std::string>(),
                           "SEA_EVENTS",
                           {}});
    }
    sink.clear();
    const auto expected = static_cast<std::size_t>(total + settings.backlog);
    const auto started = Clock::now();
    database.exec(
        "INSERT INTO seamq.webhook_endpoints (name, subject_filter, url, secret) VALUES "
        "('throughput', 'sea.event.>', $1, $2)",
        sink.url(), secret);
    seamq::testing::wait_until([&] { return sink.count() >= expected; }, 300s, 20ms);
    const double drain_seconds = seconds_since(started);
    const auto drained = sink.count();
    dispatcher.stop(Clock::now() + 5s);
    log("outbound throughput: " + std::to_string(drained) + " of " + std::to_string(expected) + " in " +
        std::to_string(drain_seconds) + " s");
    return {{"latency_events", total},
            {"latency_delivered", latencies_ms.size()},
            {"puback_to_delivery_p50_ms", round_to(percentile(latencies_ms, 0.50), 2)},
            {"puback_to_delivery_p99_ms", round_to(percentile(latencies_ms, 0.99), 2)},
            {"backlog_events", expected},
            {"backlog_delivered", drained},
            {"deliveries_per_second", round_to(static_cast<double>(drained) / drain_seconds, 0)}};
}

json run_intake(nats::Connection& nats, const std::string& conninfo, const contracts::Registry& registry,
                const Settings& settings) {
    envelope::Validator validator(envelope::Limits{}, &registry);
    edges::InboundPartner partner;
    partner.name = "acme";
    partner.secrets = {edges::WebhookSecret::parse(secret)};
    partner.command = "integration.command.partner-signal.v1";
    partner.subject_pointer = "/shipment/id";
    partner.database = conninfo;
    edges::InboundIntake intake({partner}, validator);

    std::atomic<int> next{0};
    std::atomic<int> accepted{0};
    std::mutex mutex;
    std::vector<double> receive_ms;
    const auto started = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < settings.intake_threads; ++t) {
        threads.emplace_back([&] {
            std::vector<double> mine;
            const auto key = edges::WebhookSecret::parse(secret);
            for (int n = next++; n < settings.intake_requests; n = next++) {
                const std::string id = "msg_" + std::to_string(n);
                const std::string body =
                    R"({"shipment": {"id": "SH-)" + std::to_string(n % 50) + R"(", "status": "delivered"}})";
                const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
                const auto begin = Clock::now();
                const auto answer =
                    intake.receive("acme", {id, std::to_string(now), edges::sign(key, id, now, body)}, body);
                mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - begin).count());
                if (answer.status == 202) ++accepted;
            }
            std::lock_guard lock(mutex);
            receive_ms.insert(receive_ms.end(), mine.begin(), mine.end());
        });
    }
    for (auto& thread : threads) thread.join();
    const double accept_seconds = seconds_since(started);

    // The relay of context `integration` publishes what the intake committed.
    std::atomic<int> published{0};
    relay::RelayOptions options;
    options.context = "integration";
    options.database = conninfo;
    options.expected_stream = "INTEGRATION_EVENTS";
    options.instance_name = "bench-relay";
    relay::Relay relay(options, nats,
                       {.on_puback_latency = {}, .on_published = [&](const std::string&) { ++published; }});
    relay.start();
    seamq::testing::wait_until([&] { return published.load() >= accepted.load(); }, 120s, 20ms);
    const double to_puback_seconds = seconds_since(started);
    relay.stop();
    log("intake: " + std::to_string(accepted.load()) + " accepted, " + std::to_string(published.load()) +
        " published");
    return {{"intake_requests", settings.intake_requests},
            {"intake_accepted", accepted.load()},
            {"intake_published", published.load()},
            {"intake_accepted_per_second", round_to(accepted.load() / accept_seconds, 0)},
            {"intake_to_puback_per_second", round_to(published.load() / to_puback_seconds, 0)},
            {"intake_receive_p99_ms", round_to(percentile(receive_ms, 0.99), 2)}};
}

std::string markdown(const json& report) {
    std::ostringstream out;
    out << "## Edges benchmark\n\n" << machine_markdown(report["environment"]) << "\n\n";
    out << figure_rows_markdown(
        report["figures"], report["targets"],
        {{"deliveries_per_second", "webhook deliveries/s, backlog drained by one endpoint to a local sink"},
         {"puback_to_delivery_p50_ms", "PubAck -> arrival at the sink, p50 (ms), steady rate"},
         {"puback_to_delivery_p99_ms", "PubAck -> arrival at the sink, p99 (ms), steady rate"},
         {"intake_accepted_per_second", "intake deliveries accepted/s (verify + dedupe + outbox commit)"},
         {"intake_to_puback_per_second", "intake deliveries/s until the relay's last PubAck"},
         {"intake_receive_p99_ms", "intake receive() p99 (ms)"}});
    out << "\nOne endpoint delivers one event at a time (a consumer per endpoint, a thread each): "
           "deliveries/s "
           "is per endpoint. Latency includes the pull request's wait (up to 500 ms when idle).\n";
    return out.str();
}

}  // namespace
}  // namespace seamq::bench

int main(int argc, char** argv) {
    using namespace seamq::bench;
    Settings settings;
    CLI::App app("sea-mq edges benchmark: outbound webhooks and inbound intake");
    app.add_option("--rate", settings.rate, "events/s in the latency phase");
    app.add_option("--latency-seconds", settings.latency_seconds, "length of the latency phase");
    app.add_option("--backlog", settings.backlog, "events in the throughput phase");
    app.add_option("--intake-requests", settings.intake_requests, "deliveries posted to the intake");
    app.add_option("--intake-threads", settings.intake_threads, "threads posting");
    app.add_option("--out", settings.output_dir, "output directory");
    CLI11_PARSE(app, argc, argv);
    const auto bench_start = Clock::now();
    try {
        seamq::testing::NatsServer nats_server;
        seamq::testing::PostgresServer postgres_server;
        const auto conninfo = postgres_server.create_database("bench");
        {
            seamq::postgres::Connection connection(conninfo);
            seamq::postgres::migrate(connection, seamq::postgres::embedded_migrations());
        }
        seamq::nats::Connection nats(
            seamq::nats::ConnectionOptions::from_urls(nats_server.url(), "edges-bench"));
        seamq::nats::JetStream jetstream(nats);
        for (const auto& [name, subject] :
             {std::pair{"SEA_EVENTS", "sea.>"}, {"INTEGRATION_EVENTS", "integration.>"}}) {
            seamq::nats::StreamConfig stream;
            stream.name = name;
            stream.subjects = {subject};
            jetstream.add_stream(stream);
        }
        const auto registry =
            seamq::contracts::Registry::load(seamq::testing::source_dir() / "schemas" / "events");
        json report;
        report["environment"] = machine_environment();
        add_postgres_environment(report["environment"], conninfo);
        json figures = run_outbound(nats, jetstream, conninfo, registry, settings);
        figures.update(run_intake(nats, conninfo, registry, settings));
        report["figures"] = figures;
        report["settings"] = {{"rate", settings.rate},
                              {"latency_seconds", settings.latency_seconds},
                              {"backlog", settings.backlog},
                              {"intake_requests", settings.intake_requests},
                              {"intake_threads", settings.intake_threads}};
        json targets = json::object();
        check_targets(targets, figures);
        report["targets"] = targets;
        report["environment"]["load_average_end"] = load_average();
        write_report(report, markdown(report), settings.output_dir, "edges", bench_start);
        const bool complete = figures["backlog_delivered"] == figures["backlog_events"] &&
                              figures["intake_published"] == figures["intake_accepted"] &&
                              figures["latency_delivered"] == figures["latency_events"];
        return complete ? 0 : 1;
    } catch (const std::exception& e) {
        std::cerr << "edges bench failed: " << e.what() << "\n";
        return 1;
    }
}
