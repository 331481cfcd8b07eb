// A real Prometheus (Debian's package) scrapes a real sea-mq-worker with the rules of
// deploy/observability/alerts.yaml: every family of the metric catalog reaches it, the
// dashboard's queries answer, and the outbox alert fires while the outbox lag grows and
// resolves once the relay catches up.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/relay/relay_fixture.hpp"
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <unistd.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::deploy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The rules as shipped, with every `for:` cut to 2 s so that a test need not wait minutes.
std::string rules_for_test() {
    const auto rules = read_file(testing::source_dir() / "deploy/observability/alerts.yaml");
    return std::regex_replace(rules, std::regex(R"(\bfor: \w+)"), "for: 2s");
}

//! Prometheus on a free loopback port, in its own directory, scraping `target` every
//! second with the test copy of the rules, evaluated every second.
class Prometheus {
public:
    explicit Prometheus(const std::string& target) {
        std::ofstream(dir_.path() / "alerts.yaml") << rules_for_test();
        std::ofstream(dir_.path() / "prometheus.yml") << "global:\n"
                                                      << "  scrape_interval: 1s\n"
                                                      << "  scrape_timeout: 1s\n"
                                                      << "  evaluation_interval: 1s\n"
                                                      << "rule_files: [alerts.yaml]\n"
                                                      << "scrape_configs:\n"
                                                      << "  - job_name: sea-mq-worker\n"
                                                      << "    static_configs:\n"
                                                      << "      - targets: ['" << target << "']\n";
        process_ = testing::ChildProcess(
            {.argv = {"prometheus", "--config.file=" + (dir_.path() / "prometheus.yml").string(),
                      "--storage.tsdb.path=" + (dir_.path() / "data").string(),
                      "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
             .log_file = dir_.path() / "prometheus.log",
             .run_as_user = std::nullopt,
             .env = {},
             .working_directory = dir_.path()});
    }
    ~Prometheus() { process_.stop(10s); }
    Prometheus(const Prometheus&) = delete;
    Prometheus& operator=(const Prometheus&) = delete;

    bool ready() {
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(1s);
        auto response = client.Get("/-/ready");
        return response && response->status == 200;
    }

    //! GET of the HTTP API; the JSON answer, or null when there is none.
    nlohmann::json api(const std::string& path, const httplib::Params& params = {}) {
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(1s);
        client.set_read_timeout(10s);
        auto response = client.Get(path, params, httplib::Headers{});
        if (!response) return nullptr;
        return nlohmann::json::parse(response->body, nullptr, false);
    }

    nlohmann::json query(const std::string& promql) { return api("/api/v1/query", {{"query", promql}}); }

    //! The value of a query whose answer is one sample, else nullopt.
    std::optional<double> scalar(const std::string& promql) {
        const auto answer = query(promql);
        if (answer.is_null() || answer.value("status", "") != "success") return std::nullopt;
        const auto& result = answer["data"]["result"];
        if (result.size() != 1) return std::nullopt;
        return std::stod(result[0]["value"][1].get<std::string>());
    }

    //! The state ("pending", "firing") of alert `name` with label context=`context`, or "".
    std::string alert_state(const std::string& name, const std::string& context) {
        const auto answer = api("/api/v1/alerts");
        if (answer.is_null()) return "";
        for (const auto& alert : answer["data"]["alerts"]) {
            if (alert["labels"].value("alertname", "") == name &&
                alert["labels"].value("context", "") == context)
                return alert.value("state", "");
        }
        return "";
    }

    std::string log() const { return read_file(dir_.path() / "prometheus.log"); }

private:
    testing::TempDir dir_{"prometheus"};
    unsigned short port_ = testing::free_port();
    testing::ChildProcess process_;
};

struct Worker {
    testing::TempDir dir{"worker"};
    unsigned short admin_port = testing::free_port();
    fs::path log_file = dir.path() / "worker.log";
    testing::ChildProcess process;

    Worker(const std::string& nats_url, const std::string& database_url) {
        std::ofstream(dir.path() / "streams.yaml") << "contexts:\n  - name: sea\n";
        std::ofstream(dir.path() / "worker.yaml") << "nats:\n"
                                                  << "  servers: [" << nats_url << "]\n"
                                                  << "admin:\n"
                                                  << "  listen: 127.0.0.1:" << admin_port << "\n"
                                                  << "streams_file: streams.yaml\n"
                                                  << "shutdown_deadline: 10s\n"
                                                  << "contexts:\n"
                                                  << "  - name: sea\n"
                                                  << "    database:\n"
                                                  << "      url: ${SEA_DATABASE_URL}\n"
                                                  << "    relay:\n"
                                                  << "      enabled: true\n"
                                                  << "      poll_interval: 200ms\n"
                                                  << "      publish_timeout: 1s\n"
                                                  << "consumers:\n"
                                                  << "  - name: sea-projector\n"
                                                  << "    context: sea\n"
                                                  << "    stream: SEA_EVENTS\n"
                                                  << "    handler:\n"
                                                  << "      kind: sql\n"
                                                  << "      function: apply_effect\n";
        process = testing::ChildProcess({.argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config",
                                                  (dir.path() / "worker.yaml").string()},
                                         .log_file = log_file,
                                         .run_as_user = std::nullopt,
                                         .env = {{"SEA_DATABASE_URL", database_url}},
                                         .working_directory = {}});
    }
};

// A family that gets its first sample only from an event this test does not cause: the
// first refusal of the worker's NATS credentials (src/worker/worker.cpp counts it).
bool appears_on_event(std::string_view name) {
    // A refused login; and the families of parts this worker does not run (the edges, the
    // federation's imports), which their own tests (tests/edges, tests/federation) read.
    return name == "seamq_nats_authentication_failures_total" || name.starts_with("seamq_inbound_") ||
           name.starts_with("seamq_webhook_") || name.starts_with("seamq_edge_") ||
           name.starts_with("seamq_federation_");
}

// The family names Prometheus stores for every metric of the catalog (a histogram as
// its _count series), but those of appears_on_event().
std::set<std::string> catalog_series() {
    std::set<std::string> names;
    for (const auto& metric : observability::metric::all) {
        if (appears_on_event(metric.name)) continue;
        names.insert(std::string(metric.name) +
                     (metric.type == observability::MetricType::histogram ? "_count" : ""));
    }
    return names;
}

std::set<std::string> seen_families(Prometheus& prometheus) {
    std::set<std::string> names;
    const auto answer = prometheus.api("/api/v1/label/__name__/values");
    if (answer.is_null() || !answer.contains("data")) return names;
    for (const auto& name : answer["data"]) names.insert(name.get<std::string>());
    return names;
}

struct Footprint {
    long rss_kib = 0;
    long peak_rss_kib = 0;
    double cpu_seconds = 0;
};

Footprint process_footprint(pid_t pid) {
    Footprint footprint;
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    for (std::string line; std::getline(status, line);) {
        if (line.starts_with("VmRSS:")) footprint.rss_kib = std::stol(line.substr(6));
        if (line.starts_with("VmHWM:")) footprint.peak_rss_kib = std::stol(line.substr(6));
    }
    // Fields 14 and 15 of /proc/PID/stat (utime, stime), after the ")" ending the name.
    const auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::vector<std::string> values{std::istream_iterator<std::string>(fields), {}};
    if (values.size() > 12) {
        footprint.cpu_seconds = static_cast<double>(std::stol(values[11]) + std::stol(values[12])) /
                                static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    return footprint;
}

TEST(Prometheus, ScrapesEveryCatalogFamilyAndFiresTheOutboxAlertWhileTheLagGrows) {
    testing::NatsServer nats;
    testing::PostgresServer postgres;
    relay::testing::apply_migrations(postgres.create_database("sea"));
    postgres.query_value(
        "CREATE TABLE effects (id text NOT NULL); CREATE FUNCTION apply_effect(envelope jsonb) RETURNS void "
        "LANGUAGE sql AS $$ INSERT INTO effects VALUES (envelope ->> 'id') $$; SELECT 1",
        "sea");
    const auto conninfo = postgres.connection_string("sea");

    // The streams do not exist yet: the relay cannot publish, and the outbox lags.
    Worker worker(nats.url(), postgres.url("sea"));
    Prometheus prometheus("127.0.0.1:" + std::to_string(worker.admin_port));
    ASSERT_TRUE(testing::wait_until([&] { return prometheus.ready(); }, 30s)) << prometheus.log();
    ASSERT_TRUE(
        testing::wait_until([&] { return prometheus.scalar("up{job=\"sea-mq-worker\"}") == 1.0; }, 20s))
        << prometheus.log() << read_file(worker.log_file);

    // The lag grows, as Prometheus sees it: 20 pending rows, then 40.
    relay::testing::enqueue_events(conninfo, "lag-", 0, 20);
    const std::string pending = "seamq_outbox_pending_rows{context=\"sea\"}";
    ASSERT_TRUE(testing::wait_until([&] { return prometheus.scalar(pending) == 20.0; }, 20s))
        << prometheus.query(pending).dump() << read_file(worker.log_file);
    relay::testing::enqueue_events(conninfo, "lag-", 20, 20);
    ASSERT_TRUE(testing::wait_until([&] { return prometheus.scalar(pending) == 40.0; }, 20s))
        << prometheus.query(pending).dump();
    EXPECT_EQ(prometheus.alert_state("SeaMqOutboxOldestPendingAge", "sea"), "")
        << "fired before the oldest row was 60 s old";
    // The rows are made 2 minutes older than they are (the threshold is 60 s) rather
    // than the test waiting a minute; the age keeps growing from there.
    postgres.query_value(
        "UPDATE seamq.outbox_events SET created_at = created_at - interval '2 minutes'; SELECT 1", "sea");
    std::string state;
    ASSERT_TRUE(testing::wait_until(
        [&] { return (state = prometheus.alert_state("SeaMqOutboxOldestPendingAge", "sea")) == "firing"; },
        30s))
        << state << prometheus.api("/api/v1/alerts").dump()
        << prometheus.query("seamq_outbox_oldest_pending_age_seconds").dump();
    const auto age = prometheus.scalar("seamq_outbox_oldest_pending_age_seconds{context=\"sea\"}");
    ASSERT_TRUE(age.has_value());
    EXPECT_GT(*age, 120.0);

    // The streams appear: the relay catches up, the consumer applies every event once.
    {
        nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "prometheus-itest"));
        nats::JetStream jetstream(connection);
        streams::StreamManager(jetstream).apply(
            streams::load_streams_config(worker.dir.path() / "streams.yaml"));
    }
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(DISTINCT id) FROM effects", "sea") == "40"; }, 60s))
        << read_file(worker.log_file);

    // Every family of the catalog reaches Prometheus.
    const auto expected = catalog_series();
    std::set<std::string> missing;
    ASSERT_TRUE(testing::wait_until(
        [&] {
            const auto seen = seen_families(prometheus);
            missing.clear();
            for (const auto& name : expected)
                if (!seen.contains(name)) missing.insert(name);
            return missing.empty();
        },
        30s, 500ms))
        << "not seen by Prometheus: " << nlohmann::json(missing).dump();

    // The alert resolves once nothing is pending.
    ASSERT_TRUE(testing::wait_until(
        [&] { return prometheus.alert_state("SeaMqOutboxOldestPendingAge", "sea").empty(); }, 30s))
        << prometheus.api("/api/v1/alerts").dump();

    // Every query of the dashboard is valid PromQL for this Prometheus and has data.
    const auto dashboard = nlohmann::json::parse(
        read_file(testing::source_dir() / "deploy/observability/grafana-dashboard.json"));
    int queries = 0;
    for (const auto& panel : dashboard["panels"]) {
        for (const auto& target : panel.value("targets", nlohmann::json::array())) {
            const auto expr = std::regex_replace(target["expr"].get<std::string>(),
                                                 std::regex(R"(\$__rate_interval)"), "30s");
            const auto answer = prometheus.query(expr);
            ++queries;
            EXPECT_EQ(answer.value("status", ""), "success") << expr << ": " << answer.dump();
            if (!appears_on_event(panel["title"].get<std::string>())) {
                EXPECT_FALSE(answer["data"]["result"].empty()) << panel["title"] << ": no data for " << expr;
            }
        }
    }
    EXPECT_EQ(queries, static_cast<int>(observability::metric::all.size()));

    // The footprint that deploy/k8s/worker-deployment.yaml requests: peak RSS and CPU
    // time while relaying and applying 5000 more events (printed for the record).
    const auto started = std::chrono::steady_clock::now();
    relay::testing::enqueue_events(conninfo, "load-", 0, 5000);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(DISTINCT id) FROM effects", "sea") == "5040"; }, 120s,
        200ms))
        << read_file(worker.log_file);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const auto footprint = process_footprint(worker.process.pid());
    std::cout << "worker footprint: peak RSS " << footprint.peak_rss_kib / 1024 << " MiB, RSS "
              << footprint.rss_kib / 1024 << " MiB, CPU " << footprint.cpu_seconds
              << " s in total, 5000 events in " << seconds << " s\n";
    RecordProperty("peak_rss_mib", std::to_string(footprint.peak_rss_kib / 1024));
    RecordProperty("cpu_seconds", std::to_string(footprint.cpu_seconds));
    EXPECT_LT(footprint.peak_rss_kib, 256 * 1024)
        << "above the memory limit of deploy/k8s/worker-deployment.yaml";

    worker.process.signal(SIGTERM);
    const auto status = worker.process.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(worker.log_file);
}

}  // namespace
}  // namespace seamq::deploy
