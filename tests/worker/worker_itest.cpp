// The real sea-mq-worker binary against a real nats-server and PostgreSQL: readiness
// follows NATS and the database without restarts, /metrics parses with an independent
// parser, signals stop it as documented, secrets stay out of its logs.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/observability/run_command.hpp"
#include "tests/relay/relay_fixture.hpp"
#include "tests/worker/test_certificates.hpp"
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr std::string_view database_password = "Never-Log-This-Pa55word";

fs::path worker_binary() {
    return fs::path(test_support::environment_or("SEAMQ_BIN_DIR", "bin")) / "sea-mq-worker";
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Answer {
    int status = 0;  // 0: no answer
    nlohmann::json body;
};

Answer get_json(unsigned short port, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(10s);
    auto response = client.Get(path.c_str());
    if (!response) return {};
    return {response->status, nlohmann::json::parse(response->body, nullptr, false)};
}

std::optional<bool> check_ok(const Answer& answer, const std::string& name) {
    if (!answer.body.contains("checks")) return std::nullopt;
    for (const auto& check : answer.body["checks"]) {
        if (check["name"] == name) return check["ok"].get<bool>();
    }
    return std::nullopt;
}

// Scrapes /metrics and parses it with npm parse-prometheus-text-format; returns
// name -> first sample (the worker's process metrics have one sample each).
std::map<std::string, nlohmann::json> scrape(unsigned short port) {
    const auto script =
        fs::path(test_support::environment_or("SEAMQ_NODE_DIR", "tests/node")) / "metrics_parse.mjs";
    const auto result = test_support::run_command(
        {"node", script.string(), "http://127.0.0.1:" + std::to_string(port) + "/metrics"}, false);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::map<std::string, nlohmann::json> samples;
    for (const auto& family : nlohmann::json::parse(result.output, nullptr, false)) {
        samples[family["name"].get<std::string>()] = family;
    }
    return samples;
}

std::string sample_value(const std::map<std::string, nlohmann::json>& samples, const std::string& name) {
    const auto found = samples.find(name);
    if (found == samples.end()) return "<absent>";
    return found->second["metrics"][0]["value"].get<std::string>();
}

// A worker config with one context `sea`, its streams file, and a free admin port.
struct WorkerSetup {
    testing::TempDir dir{"worker"};
    unsigned short admin_port = testing::free_port();
    fs::path config_file = dir.path() / "worker.yaml";
    fs::path log_file = dir.path() / "worker.log";

    //! `admin_settings`: more lines of the `admin:` section, indented by two spaces.
    WorkerSetup(const std::string& nats_url, const std::string& shutdown_deadline, bool relay = false,
                const std::string& admin_settings = "") {
        std::ofstream(dir.path() / "streams.yaml") << "contexts:\n  - name: sea\n";
        std::ofstream(config_file) << "nats:\n"
                                   << "  servers: [" << nats_url << "]\n"
                                   << "  reconnect_wait: 100ms\n"
                                   << "  reconnect_jitter: 50ms\n"
                                   << "admin:\n"
                                   << "  listen: 127.0.0.1:" << admin_port << "\n"
                                   << admin_settings << "log:\n"
                                   << "  level: debug\n"
                                   << "streams_file: streams.yaml\n"
                                   << "shutdown_deadline: " << shutdown_deadline << "\n"
                                   << "contexts:\n"
                                   << "  - name: sea\n"
                                   << "    database:\n"
                                   << "      url: ${SEA_DATABASE_URL}\n"
                                   << "      connect_timeout: 2s\n"
                                   << "    relay:\n"
                                   << "      enabled: " << (relay ? "true" : "false") << "\n"
                                   << "      poll_interval: 200ms\n";
    }

    testing::ChildProcess start(const std::string& database_url, const fs::path& log) const {
        return testing::ChildProcess({.argv = {worker_binary().string(), "--config", config_file.string()},
                                      .log_file = log,
                                      .run_as_user = std::nullopt,
                                      .env = {{"SEA_DATABASE_URL", database_url}},
                                      .working_directory = {}});
    }
};

//! Adds consumer `sea-projector` to the setup's worker: an SQL handler that records each
//! event's id in the `effects` table of database `sea` (without a key: a repeat shows).
void add_projector(const WorkerSetup& setup, testing::PostgresServer& postgres) {
    postgres.query_value(
        "CREATE TABLE effects (id text NOT NULL); CREATE FUNCTION apply_effect(envelope jsonb) RETURNS void "
        "LANGUAGE sql AS $$ INSERT INTO effects VALUES (envelope ->> 'id') $$; SELECT 1",
        "sea");
    std::ofstream(setup.config_file, std::ios::app) << "consumers:\n"
                                                    << "  - name: sea-projector\n"
                                                    << "    context: sea\n"
                                                    << "    stream: SEA_EVENTS\n"
                                                    << "    handler:\n"
                                                    << "      kind: sql\n"
                                                    << "      function: apply_effect\n";
}

void apply_streams(const std::string& nats_url, const fs::path& streams_file) {
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats_url, "worker-itest"));
    nats::JetStream jetstream(connection);
    streams::StreamManager(jetstream).apply(streams::load_streams_config(streams_file));
}

TEST(WorkerProcess, ReadinessFollowsNatsAndPostgresAndSigtermStopsCleanly) {
    testing::NatsServer nats;
    testing::PostgresServer postgres;
    postgres.create_database("sea");
    // Trust authentication ignores the password: it is here to prove it is never logged.
    auto database_url = postgres.url("sea");
    database_url.replace(database_url.find("postgres@"), 9,
                         "postgres:" + std::string(database_password) + "@");

    WorkerSetup setup(nats.url(), "10s");
    apply_streams(nats.url(), setup.dir.path() / "streams.yaml");
    auto worker = setup.start(database_url, setup.log_file);
    const auto port = setup.admin_port;

    // Ready: every check passes.
    Answer ready;
    ASSERT_TRUE(testing::wait_until([&] { return (ready = get_json(port, "/readyz")).status == 200; }, 20s))
        << ready.body.dump() << "\n"
        << read_file(setup.log_file);
    EXPECT_EQ(ready.body["status"], "ready");
    std::set<std::string> names;
    for (const auto& check : ready.body["checks"]) {
        names.insert(check["name"].get<std::string>());
        EXPECT_TRUE(check["ok"].get<bool>()) << check.dump();
    }
    EXPECT_EQ(names, (std::set<std::string>{"database sea", "nats", "streams", "worker"}));
    EXPECT_NE(ready.body.dump().find("SEA_EVENTS"), std::string::npos) << ready.body.dump();

    const auto health = get_json(port, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body["status"], "ok");

    auto samples = scrape(port);
    EXPECT_EQ(samples["seamq_build_info"]["metrics"][0]["labels"]["version"], health.body["version"]);
    EXPECT_EQ(sample_value(samples, "seamq_nats_connected"), "1");
    EXPECT_EQ(sample_value(samples, "seamq_nats_reconnects_total"), "0");
    EXPECT_EQ(samples["seamq_nats_reconnects_total"]["type"], "COUNTER");

    // A second worker on the same admin address refuses to start, saying why.
    const auto second_log = setup.dir.path() / "second.log";
    auto second = setup.start(database_url, second_log);
    const auto second_status = second.wait_for_exit(15s);
    ASSERT_TRUE(second_status.has_value()) << read_file(second_log);
    EXPECT_EQ(testing::ChildProcess::exit_code(*second_status), 1);
    EXPECT_NE(read_file(second_log).find("address already in use"), std::string::npos)
        << read_file(second_log);

    // NATS goes away: not ready (alive still), and back without restarting the worker.
    nats.stop();
    ASSERT_TRUE(testing::wait_until(
        [&] {
            ready = get_json(port, "/readyz");
            return ready.status == 503 && check_ok(ready, "nats") == false;
        },
        10s))
        << ready.body.dump();
    EXPECT_EQ(check_ok(ready, "database sea"), true);
    EXPECT_EQ(get_json(port, "/healthz").status, 200);
    EXPECT_EQ(sample_value(scrape(port), "seamq_nats_connected"), "0");

    nats.start();
    ASSERT_TRUE(testing::wait_until([&] { return (ready = get_json(port, "/readyz")).status == 200; }, 20s))
        << ready.body.dump();
    samples = scrape(port);
    EXPECT_EQ(sample_value(samples, "seamq_nats_connected"), "1");
    EXPECT_EQ(sample_value(samples, "seamq_nats_disconnects_total"), "1");
    EXPECT_EQ(sample_value(samples, "seamq_nats_reconnects_total"), "1");

    // PostgreSQL goes away and comes back: the same, for the context's database.
    postgres.stop();
    ASSERT_TRUE(testing::wait_until(
        [&] {
            ready = get_json(port, "/readyz");
            return ready.status == 503 && check_ok(ready, "database sea") == false;
        },
        15s))
        << ready.body.dump();
    EXPECT_EQ(check_ok(ready, "nats"), true);
    postgres.start();
    ASSERT_TRUE(testing::wait_until([&] { return (ready = get_json(port, "/readyz")).status == 200; }, 20s))
        << ready.body.dump();

    // SIGTERM: a clean stop, exit 0, well within the deadline.
    const auto signalled = std::chrono::steady_clock::now();
    worker.signal(SIGTERM);
    const auto status = worker.wait_for_exit(15s);
    ASSERT_TRUE(status.has_value()) << read_file(setup.log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(setup.log_file);
    EXPECT_LT(std::chrono::steady_clock::now() - signalled, 10s);

    // The log: JSON lines only, with the events that happened, and no secret.
    const auto log = read_file(setup.log_file);
    EXPECT_EQ(log.find(database_password), std::string::npos) << "the database password leaked into the log";
    std::istringstream lines(log);
    std::string line;
    std::vector<nlohmann::json> records;
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        auto record = nlohmann::json::parse(line, nullptr, false);
        ASSERT_FALSE(record.is_discarded()) << "not a JSON line: " << line;
        for (const auto* key : {"time", "level", "component", "message"}) {
            EXPECT_TRUE(record.contains(key)) << key << " missing in " << line;
        }
        records.push_back(std::move(record));
    }
    const auto logged = [&](const std::string& component, const std::string& text) {
        return std::any_of(records.begin(), records.end(), [&](const nlohmann::json& record) {
            return record["component"] == component &&
                   record["message"].get<std::string>().find(text) != std::string::npos;
        });
    };
    EXPECT_TRUE(logged("nats", "disconnected from NATS")) << log;
    EXPECT_TRUE(logged("nats", "reconnected to NATS at " + nats.url())) << log;
    EXPECT_TRUE(logged("worker", "received SIGTERM")) << log;
    EXPECT_TRUE(logged("worker", "stopped cleanly")) << log;
}

TEST(WorkerProcess, ASecondSignalEndsAStuckShutdownAtOnce) {
    testing::NatsServer nats;
    WorkerSetup setup(nats.url(), "60s");
    // No database here: the worker runs (not ready) without one.
    auto worker = setup.start("postgresql://postgres@127.0.0.1:1/none", setup.log_file);
    ASSERT_TRUE(testing::wait_until(
        [&] { return check_ok(get_json(setup.admin_port, "/readyz"), "nats") == true; }, 20s))
        << read_file(setup.log_file);

    // A hung server: draining the connection waits for an answer that does not come.
    nats.pause();
    worker.signal(SIGTERM);
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(worker.running()) << "the graceful stop should still be waiting for NATS";
    const auto signalled = std::chrono::steady_clock::now();
    worker.signal(SIGINT);
    const auto status = worker.wait_for_exit(5s);
    nats.resume();
    ASSERT_TRUE(status.has_value()) << read_file(setup.log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 128 + SIGINT);
    EXPECT_LT(std::chrono::steady_clock::now() - signalled, 2s);
    EXPECT_NE(read_file(setup.log_file).find("second signal (SIGINT) during shutdown: exiting at once"),
              std::string::npos)
        << read_file(setup.log_file);
}

TEST(WorkerProcess, RelaysUnderLoadAndSigtermLosesAndDoublesNothing) {
    testing::NatsServer nats;
    testing::PostgresServer postgres;
    const auto database_url = postgres.url("sea");
    relay::testing::apply_migrations(postgres.create_database("sea"));
    WorkerSetup setup(nats.url(), "10s", /*relay=*/true);
    apply_streams(nats.url(), setup.dir.path() / "streams.yaml");
    auto worker = setup.start(database_url, setup.log_file);
    Answer ready;
    ASSERT_TRUE(testing::wait_until(
        [&] { return (ready = get_json(setup.admin_port, "/readyz")).status == 200; }, 20s))
        << read_file(setup.log_file);

    // Producers commit 3,000 events in transactions of 10 at a steady pace while the
    // worker is stopped with SIGTERM in the middle, then a second worker takes over.
    constexpr int total = 3000;
    std::atomic<int> committed{0};
    std::thread producer([&] {
        for (int first = 0; first < total; first += 10) {
            relay::testing::enqueue_events(postgres.connection_string("sea"), "load-", first, 10, 7);
            committed += 10;
            std::this_thread::sleep_for(3ms);
        }
    });
    ASSERT_TRUE(testing::wait_until([&] { return committed >= 600; }, 30s));

    // While relaying: the relay's metrics, parsed by the independent parser.
    const auto samples = scrape(setup.admin_port);
    EXPECT_EQ(sample_value(samples, "seamq_relay_leader"), "1");
    EXPECT_EQ(samples.at("seamq_relay_leader")["metrics"][0]["labels"]["context"], "sea");
    EXPECT_GT(std::stod(sample_value(samples, "seamq_relay_published_total")), 0.0);
    EXPECT_TRUE(samples.contains("seamq_outbox_pending_rows"));
    EXPECT_EQ(samples.at("seamq_relay_puback_latency_seconds")["type"], "HISTOGRAM");

    worker.signal(SIGTERM);
    const auto status = worker.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value()) << "the worker did not stop within its deadline";
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(setup.log_file);
    const int committed_at_stop = committed;
    producer.join();
    EXPECT_LT(committed_at_stop, total) << "the stop should land while producers still commit";

    auto successor = setup.start(database_url, setup.dir.path() / "successor.log");
    ASSERT_TRUE(testing::wait_until(
        [&] {
            return relay::testing::count_rows(postgres.connection_string("sea"), "status = 'published'") ==
                   total;
        },
        60s));

    // A duplicate PubAck is counted on /metrics: an event the stream already holds (same
    // Nats-Msg-Id, published directly) is relayed, stored once, and counted once more.
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "worker-itest-reader"));
    nats::JetStream jetstream(connection);
    const auto duplicates_before =
        std::stod(sample_value(scrape(setup.admin_port), "seamq_relay_duplicate_pubacks_total"));
    nats::OutgoingMessage early;
    early.subject = "sea.event.order-placed.v1";
    early.message_id = "dup-0";
    early.payload =
        R"({"specversion":"1.0","id":"dup-0","source":"/tests/relay","type":"sea.event.order-placed.v1",)"
        R"("subject":"key-0","data":{"n":0}})";
    EXPECT_FALSE(jetstream.publish(early).duplicate);
    relay::testing::enqueue_events(postgres.connection_string("sea"), "dup-", 0, 1);
    ASSERT_TRUE(testing::wait_until(
        [&] {
            return relay::testing::count_rows(postgres.connection_string("sea"), "status = 'published'") ==
                   total + 1;
        },
        20s));
    EXPECT_EQ(std::stod(sample_value(scrape(setup.admin_port), "seamq_relay_duplicate_pubacks_total")),
              duplicates_before + 1);
    successor.signal(SIGTERM);
    const auto successor_status = successor.wait_for_exit(20s);
    ASSERT_TRUE(successor_status.has_value());
    EXPECT_EQ(testing::ChildProcess::exit_code(*successor_status), 0);

    const auto events = relay::testing::read_stream(jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), static_cast<std::size_t>(total + 1));
    relay::testing::expect_exactly_once(events, "load-", 0, total);
    relay::testing::expect_exactly_once(events, "dup-", 0, 1);
}

TEST(WorkerProcess, ComponentsWhoseLoopsFailRestartThemAndReadinessSaysSoMeanwhile) {
    testing::NatsServer nats;
    testing::PostgresServer postgres;
    const auto database_url = postgres.url("sea");
    relay::testing::apply_migrations(postgres.create_database("sea"));
    WorkerSetup setup(nats.url(), "10s", /*relay=*/true);
    add_projector(setup, postgres);
    apply_streams(nats.url(), setup.dir.path() / "streams.yaml");
    // The relay's first three election rounds and the consumer's first three rounds fail
    // as a bug would: each restarts after 1 s, 2 s and 4 s, not ready meanwhile.
    auto worker = testing::ChildProcess(
        {.argv = {worker_binary().string(), "--config", setup.config_file.string()},
         .log_file = setup.log_file,
         .run_as_user = std::nullopt,
         .env = {{"SEA_DATABASE_URL", database_url},
                 {"SEAMQ_FAIL_POINTS", "relay.election.round=3,inbox.consumer.round=3"}},
         .working_directory = {}});
    Answer answer;
    const auto failing = [&](const std::string& check, const std::string& fail_point) {
        if (check_ok(answer, check) != false) return false;
        for (const auto& entry : answer.body["checks"]) {
            if (entry["name"] == check)
                return entry["detail"].get<std::string>().find("injected fault at fail point " +
                                                               fail_point) != std::string::npos;
        }
        return false;
    };
    ASSERT_TRUE(testing::wait_until(
        [&] {
            answer = get_json(setup.admin_port, "/readyz");
            return answer.status == 503 && failing("relay/sea", "relay.election.round") &&
                   failing("consumer/sea-projector", "inbox.consumer.round");
        },
        10s))
        << answer.body.dump() << read_file(setup.log_file);
    EXPECT_EQ(check_ok(answer, "nats"), true) << "only the failing components are not ready";
    relay::testing::enqueue_events(postgres.connection_string("sea"), "evt-", 0, 20, 3);

    ASSERT_TRUE(testing::wait_until(
        [&] { return (answer = get_json(setup.admin_port, "/readyz")).status == 200; }, 20s))
        << answer.body.dump() << read_file(setup.log_file);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "20"; }, 20s));
    const auto samples = scrape(setup.admin_port);
    std::map<std::string, std::string> unexpected;
    for (const auto& sample : samples.at("seamq_component_unexpected_errors_total")["metrics"])
        unexpected[sample["labels"]["component"].get<std::string>()] = sample["value"].get<std::string>();
    EXPECT_EQ(unexpected,
              (std::map<std::string, std::string>{{"consumer/sea-projector", "3"}, {"relay/sea", "3"}}));
    for (const auto& sample : samples.at("seamq_component_healthy")["metrics"])
        EXPECT_EQ(sample["value"], "1") << sample.dump();
    EXPECT_NE(read_file(setup.log_file).find("starting over with fresh sessions"), std::string::npos);
    EXPECT_NE(read_file(setup.log_file).find("restarting its loop with fresh sessions"), std::string::npos);

    worker.signal(SIGTERM);
    ASSERT_TRUE(worker.wait_for_exit(20s).has_value());
    EXPECT_EQ(postgres.query_value("SELECT count(DISTINCT id) FROM effects", "sea"), "20")
        << "each applied once";
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "worker-itest-reader"));
    nats::JetStream jetstream(connection);
    relay::testing::expect_exactly_once(relay::testing::read_stream(jetstream, "SEA_EVENTS"), "evt-", 0, 20);
}

TEST(WorkerProcess, StartedBeforeTheStreamsExistItPublishesAndAppliesEverythingOnceWhenTheyAreApplied) {
    testing::NatsServer nats;
    testing::PostgresServer postgres;
    const auto database_url = postgres.url("sea");
    relay::testing::apply_migrations(postgres.create_database("sea"));
    WorkerSetup setup(nats.url(), "10s", /*relay=*/true);
    add_projector(setup, postgres);
    // A deployment race: the worker runs before the job that applies the streams.
    auto worker = setup.start(database_url, setup.log_file);
    Answer answer;
    ASSERT_TRUE(testing::wait_until(
        [&] {
            answer = get_json(setup.admin_port, "/readyz");
            return check_ok(answer, "streams") == false && check_ok(answer, "nats") == true;
        },
        20s))
        << answer.body.dump() << read_file(setup.log_file);
    EXPECT_EQ(answer.status, 503);
    relay::testing::enqueue_events(postgres.connection_string("sea"), "early-", 0, 200, 10);
    std::this_thread::sleep_for(10s);
    EXPECT_EQ(relay::testing::count_rows(postgres.connection_string("sea"), "status = 'rejected'"), 0);
    EXPECT_TRUE(worker.running()) << read_file(setup.log_file);

    apply_streams(nats.url(), setup.dir.path() / "streams.yaml");
    ASSERT_TRUE(testing::wait_until(
        [&] { return (answer = get_json(setup.admin_port, "/readyz")).status == 200; }, 30s))
        << answer.body.dump() << read_file(setup.log_file);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "200"; }, 30s))
        << read_file(setup.log_file);
    worker.signal(SIGTERM);
    ASSERT_TRUE(worker.wait_for_exit(20s).has_value());
    EXPECT_EQ(relay::testing::count_rows(postgres.connection_string("sea"), "status = 'rejected'"), 0);
    EXPECT_EQ(postgres.query_value("SELECT count(DISTINCT id) FROM effects", "sea"), "200");
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "worker-itest-reader"));
    nats::JetStream jetstream(connection);
    relay::testing::expect_exactly_once(relay::testing::read_stream(jetstream, "SEA_EVENTS"), "early-", 0,
                                        200);
}

// The real worker with admin.token_file and admin.tls: HTTPS only, /healthz open,
// /metrics and /readyz only with the token, which never reaches the log.
TEST(WorkerProcess, AnAdminTokenAndTlsGuardTheAdminEndpoints) {
    testing::NatsServer nats;
    testing::TempDir material("admin-tls");
    const auto certificates = test::make_test_certificates(material.path());
    const std::string token = "c0ffee-7d1e-4b8a-admin-scrape-token";
    std::ofstream(material.path() / "admin-token") << token << "\n";
    WorkerSetup setup(nats.url(), "10s", false,
                      "  token_file: " + (material.path() / "admin-token").string() +
                          "\n  tls:\n    certificate_file: " + certificates.certificate.string() +
                          "\n    key_file: " + certificates.key.string() + "\n");
    // No database: the worker runs, not ready, and says so only to who sends the token.
    auto worker = setup.start("postgresql://postgres@127.0.0.1:1/none", setup.log_file);

    const auto base = "https://127.0.0.1:" + std::to_string(setup.admin_port);
    const auto get = [&](const char* path, const std::string& authorization) {
        httplib::Client client(base);
        client.set_ca_cert_path(certificates.ca.c_str());
        client.enable_server_certificate_verification(true);
        client.set_connection_timeout(2s);
        client.set_read_timeout(10s);
        httplib::Headers headers;
        if (!authorization.empty()) headers.emplace("Authorization", authorization);
        return client.Get(path, headers);
    };
    ASSERT_TRUE(testing::wait_until(
        [&] {
            auto health = get("/healthz", "");
            return health && health->status == 200;
        },
        20s))
        << read_file(setup.log_file);

    for (const auto* path : {"/metrics", "/readyz"}) {
        auto refused = get(path, "");
        ASSERT_TRUE(refused) << path;
        EXPECT_EQ(refused->status, 401) << path;
        EXPECT_EQ(refused->get_header_value("WWW-Authenticate"), R"(Bearer realm="sea-mq-worker")");
        refused = get(path, "Bearer not-" + token);
        ASSERT_TRUE(refused) << path;
        EXPECT_EQ(refused->status, 401) << path;
    }
    Answer ready;
    ASSERT_TRUE(testing::wait_until(
        [&] {
            auto response = get("/readyz", "Bearer " + token);
            if (!response) return false;
            ready = {response->status, nlohmann::json::parse(response->body, nullptr, false)};
            return check_ok(ready, "nats") == true;
        },
        20s))
        << ready.body.dump() << read_file(setup.log_file);
    EXPECT_EQ(ready.status, 503);
    EXPECT_EQ(check_ok(ready, "database sea"), false);
    auto scrape = get("/metrics", "Bearer " + token);
    ASSERT_TRUE(scrape);
    EXPECT_EQ(scrape->status, 200);
    EXPECT_NE(scrape->body.find("seamq_nats_connected 1\n"), std::string::npos) << scrape->body;

    // Plain HTTP on the same port gets nothing.
    EXPECT_EQ(get_json(setup.admin_port, "/healthz").status, 0);

    worker.signal(SIGTERM);
    const auto status = worker.wait_for_exit(15s);
    ASSERT_TRUE(status.has_value()) << read_file(setup.log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(setup.log_file);
    const auto log = read_file(setup.log_file);
    EXPECT_NE(log.find("admin server listening on " + base), std::string::npos) << log;
    EXPECT_NE(log.find("/metrics and /readyz need the bearer token"), std::string::npos) << log;
    EXPECT_EQ(log.find(token), std::string::npos) << "the admin token leaked into the log";
}

}  // namespace
}  // namespace seamq::worker
