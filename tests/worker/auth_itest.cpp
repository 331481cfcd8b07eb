// The real sea-mq-worker authenticating to a real nats-server in each way its
// configuration offers (user/password, token, NKey, .creds in operator mode, mutual TLS):
// it relays an outbox event and consumes it into PostgreSQL. With a wrong password it
// stays up, not ready, and says why, a bounded number of times.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/relay/relay_fixture.hpp"
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/nats_operator.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::worker {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int occurrences(const std::string& text, const std::string& what) {
    int count = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
    return count;
}

// /readyz: the HTTP status (0 without an answer) and the body.
std::pair<int, nlohmann::json> readyz(unsigned short port) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(10s);
    auto response = client.Get("/readyz");
    if (!response) return {0, {}};
    return {response->status, nlohmann::json::parse(response->body, nullptr, false)};
}

std::optional<nlohmann::json> check_of(const nlohmann::json& body, const std::string& name) {
    if (!body.contains("checks")) return std::nullopt;
    for (const auto& check : body["checks"])
        if (check["name"] == name) return check;
    return std::nullopt;
}

//! How the worker authenticates: YAML lines inside its `nats:` section, the environment it
//! needs, and the connection options of a test client doing the same.
struct NatsAccess {
    std::string yaml;
    std::map<std::string, std::string> env;
    nats::ConnectionOptions client;
};

//! A worker with context `sea` (relay on) and consumer `sea-projector` (SQL handler
//! recording each event id in table `effects`), its streams applied with `access`.
struct AuthenticatedWorker {
    testing::TempDir dir{"worker-auth"};
    unsigned short admin_port = testing::free_port();
    fs::path log_file = dir.path() / "worker.log";
    testing::ChildProcess process;

    AuthenticatedWorker(const std::string& nats_url, const NatsAccess& access,
                        testing::PostgresServer& postgres, bool apply = true) {
        relay::testing::apply_migrations(postgres.create_database("sea"));
        postgres.query_value(
            "CREATE TABLE effects (id text NOT NULL); CREATE FUNCTION apply_effect(envelope jsonb) RETURNS "
            "void "
            "LANGUAGE sql AS $$ INSERT INTO effects VALUES (envelope ->> 'id') $$; SELECT 1",
            "sea");
        std::ofstream(dir.path() / "streams.yaml") << "contexts:\n  - name: sea\n";
        std::ofstream(dir.path() / "worker.yaml")
            << "nats:\n  servers: [" << nats_url << "]\n  reconnect_wait: 500ms\n  reconnect_jitter: 100ms\n"
            << access.yaml << "admin:\n  listen: 127.0.0.1:" << admin_port << "\n"
            << "log:\n  level: debug\nstreams_file: streams.yaml\nshutdown_deadline: 10s\n"
            << "contexts:\n  - name: sea\n    database:\n      url: ${SEA_DATABASE_URL}\n"
            << "      connect_timeout: 2s\n    relay:\n      enabled: true\n      poll_interval: 200ms\n"
            << "consumers:\n  - name: sea-projector\n    context: sea\n    stream: SEA_EVENTS\n"
            << "    handler:\n      kind: sql\n      function: apply_effect\n";
        if (apply) {
            nats::Connection connection(access.client);
            nats::JetStream jetstream(connection);
            streams::StreamManager(jetstream).apply(
                streams::load_streams_config(dir.path() / "streams.yaml"));
        }
        auto env = access.env;
        env["SEA_DATABASE_URL"] = postgres.url("sea");
        process = testing::ChildProcess({.argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config",
                                                  (dir.path() / "worker.yaml").string()},
                                         .log_file = log_file,
                                         .run_as_user = std::nullopt,
                                         .env = env,
                                         .working_directory = {}});
    }
};

// Ready, then one event through the outbox, the relay, the stream and the consumer.
void expect_relays_and_consumes(AuthenticatedWorker& worker, testing::PostgresServer& postgres) {
    std::pair<int, nlohmann::json> ready;
    ASSERT_TRUE(testing::wait_until([&] { return (ready = readyz(worker.admin_port)).first == 200; }, 30s))
        << ready.second.dump() << "\n"
        << read_file(worker.log_file);
    relay::testing::enqueue_events(postgres.connection_string("sea"), "auth-", 0, 3, 3);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "3"; }, 30s))
        << read_file(worker.log_file);
    EXPECT_EQ(postgres.query_value("SELECT string_agg(id, ',' ORDER BY id) FROM effects", "sea"),
              "auth-0,auth-1,auth-2");
    worker.process.signal(SIGTERM);
    const auto status = worker.process.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(worker.log_file);
}

nats::ConnectionOptions client_for(const testing::NatsServer& server) {
    return nats::ConnectionOptions::from_urls(server.url(), "worker-auth-itest");
}

testing::NatsServer nats_server_with(const std::string& config) {
    testing::NatsServer::Options options;
    options.extra_config = config;
    return testing::NatsServer(options);
}

constexpr std::string_view password = "Worker-Pa55word";

TEST(WorkerAuthentication, UserAndPasswordFromTheEnvironment) {
    auto server = nats_server_with(
        fmt::format(R"(authorization {{ users: [ {{user: relay, password: "{}"}} ] }})", password));
    testing::PostgresServer postgres;
    NatsAccess access{"  user: relay\n  password: ${SEA_NATS_PASSWORD}\n",
                      {{"SEA_NATS_PASSWORD", std::string(password)}},
                      client_for(server)};
    access.client.auth.user = "relay";
    access.client.auth.password = password;
    AuthenticatedWorker worker(server.url(), access, postgres);
    expect_relays_and_consumes(worker, postgres);
    EXPECT_EQ(read_file(worker.log_file).find(password), std::string::npos)
        << "the password leaked into the log";
}

TEST(WorkerAuthentication, TokenFromAFile) {
    auto server = nats_server_with(R"(authorization { token: "worker-token" })");
    testing::PostgresServer postgres;
    testing::TempDir secrets("secrets");
    std::ofstream(secrets.path() / "token") << "worker-token\n";
    NatsAccess access{
        "  token: {file: " + (secrets.path() / "token").string() + "}\n", {}, client_for(server)};
    access.client.auth.token = "worker-token";
    AuthenticatedWorker worker(server.url(), access, postgres);
    expect_relays_and_consumes(worker, postgres);
    EXPECT_EQ(read_file(worker.log_file).find("worker-token"), std::string::npos);
}

TEST(WorkerAuthentication, NKeySeedFile) {
    const auto user = nats::NKeySeed::generate(nats::NKeyRole::user);
    auto server = nats_server_with("authorization { users: [ {nkey: " + user.public_key() + "} ] }");
    testing::PostgresServer postgres;
    testing::TempDir secrets("secrets");
    const auto seed_file = secrets.path() / "relay.nk";
    std::ofstream(seed_file) << user.seed() << "\n";
    NatsAccess access{"  nkey: " + seed_file.string() + "\n", {}, client_for(server)};
    access.client.auth.nkey_seed_file = seed_file;
    AuthenticatedWorker worker(server.url(), access, postgres);
    expect_relays_and_consumes(worker, postgres);
}

TEST(WorkerAuthentication, CredentialsFileInOperatorMode) {
    testing::NatsOperator nats_operator;
    nats_operator.add_account("SEA");
    auto server = nats_server_with(nats_operator.server_config());
    testing::PostgresServer postgres;
    testing::TempDir secrets("secrets");
    const auto creds = nats_operator.write_credentials("SEA", "worker", secrets.path() / "worker.creds");
    NatsAccess access{"  creds: " + creds.string() + "\n", {}, client_for(server)};
    access.client.auth.credentials_file = creds;
    AuthenticatedWorker worker(server.url(), access, postgres);
    expect_relays_and_consumes(worker, postgres);
}

TEST(WorkerAuthentication, MutualTls) {
    testing::CertificateAuthority ca("worker CA");
    const auto server_certificate = ca.issue_server("nats-server");
    const auto client_certificate = ca.issue_client("sea-mq-worker");
    auto server = nats_server_with(
        fmt::format("tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}",
                    server_certificate.certificate_file.string(), server_certificate.key_file.string(),
                    ca.certificate_file().string()));
    testing::PostgresServer postgres;
    NatsAccess access{
        fmt::format("  tls:\n    ca_file: {}\n    cert_file: {}\n    key_file: {}\n",
                    ca.certificate_file().string(), client_certificate.certificate_file.string(),
                    client_certificate.key_file.string()),
        {},
        client_for(server)};
    access.client.tls.ca_file = ca.certificate_file();
    access.client.tls.certificate_file = client_certificate.certificate_file;
    access.client.tls.key_file = client_certificate.key_file;
    AuthenticatedWorker worker(server.url(), access, postgres);
    expect_relays_and_consumes(worker, postgres);
    const auto connz = server.monitor("connz");
    ASSERT_TRUE(connz);
    EXPECT_EQ(connz->value("num_connections", -1), 0) << "the worker stopped";
}

// nats.c 3.4.1 never retries a connect the server refused: the worker stays up, not ready,
// says why at /readyz and in its log, and tries again with a new connection after 2 s,
// then 4 s, 8 s...: a bounded number of attempts, not a tight loop.
TEST(WorkerAuthentication, AWrongPasswordKeepsItUpNotReadyAndSaysWhyABoundedNumberOfTimes) {
    auto server = nats_server_with(R"(authorization { users: [ {user: relay, password: "right-pass"} ] })");
    testing::PostgresServer postgres;
    NatsAccess access{"  user: relay\n  password: ${SEA_NATS_PASSWORD}\n",
                      {{"SEA_NATS_PASSWORD", "wrong-pass"}},
                      client_for(server)};
    AuthenticatedWorker worker(server.url(), access, postgres, /*apply=*/false);

    std::pair<int, nlohmann::json> answer;
    ASSERT_TRUE(testing::wait_until(
        [&] {
            answer = readyz(worker.admin_port);
            const auto nats = check_of(answer.second, "nats");
            return nats &&
                   nats->value("detail", std::string()).find("Authorization Violation") != std::string::npos;
        },
        20s))
        << answer.second.dump() << "\n"
        << read_file(worker.log_file);
    EXPECT_EQ(answer.first, 503);
    EXPECT_THAT(check_of(answer.second, "nats")->dump(),
                HasSubstr("the servers refused the credentials (user/password, user relay): Authorization "
                          "Violation; retrying with a new connection"));

    // Attempts at about 0 s, 2 s and 6 s (the next one at 14 s): two refused connects each.
    std::this_thread::sleep_for(8s);
    EXPECT_TRUE(worker.process.running()) << read_file(worker.log_file);
    const auto log = read_file(worker.log_file);
    EXPECT_EQ(log.find("wrong-pass"), std::string::npos) << "the password leaked into the log";
    const int closes = occurrences(log, "NATS connection closed for good: Authorization Violation");
    EXPECT_GE(closes, 2) << "the worker tried again with a new connection\n" << log;
    EXPECT_LE(closes, 4) << "the attempts back off\n" << log;
    const int refusals = occurrences(read_file(server.log_file()), "authentication error");
    EXPECT_GE(refusals, 2 * closes - 1);
    EXPECT_LE(refusals, 2 * closes + 2);
    EXPECT_EQ(occurrences(log,
                          "the NATS server refused the credentials (user/password, user relay): "
                          "Authorization Violation"),
              closes)
        << log;
    // The components never started without NATS; the log stays short.
    std::istringstream lines(log);
    std::string line;
    int count = 0;
    while (std::getline(lines, line)) ++count;
    EXPECT_LT(count, 30 * closes) << log;

    worker.process.signal(SIGTERM);
    const auto status = worker.process.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value()) << read_file(worker.log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(worker.log_file);
}

// The runbook's rotation of a password, on a real server and worker: the server's
// configuration changes and is reloaded (SIGHUP), the worker is refused and waits, not
// ready, while services keep committing events; the new password lands in the worker's
// secret file and the next connection uses it. Every event is applied exactly once.
TEST(WorkerAuthentication, APasswordRotatedOnTheServerThenInTheSecretFileLosesNothing) {
    const std::string rotated = "Rotated-Pa55word";
    auto server = nats_server_with(
        fmt::format(R"(authorization {{ users: [ {{user: relay, password: "{}"}} ] }})", password));
    testing::PostgresServer postgres;
    testing::TempDir secrets("secrets");
    const auto password_file = secrets.path() / "nats-password";
    std::ofstream(password_file) << password << "\n";
    NatsAccess access{
        "  user: relay\n  password: {file: " + password_file.string() + "}\n", {}, client_for(server)};
    access.client.auth.user = "relay";
    access.client.auth.password = password;
    AuthenticatedWorker worker(server.url(), access, postgres);
    std::pair<int, nlohmann::json> answer;
    ASSERT_TRUE(testing::wait_until([&] { return (answer = readyz(worker.admin_port)).first == 200; }, 30s))
        << answer.second.dump() << read_file(worker.log_file);
    relay::testing::enqueue_events(postgres.connection_string("sea"), "rot-", 0, 3, 3);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "3"; }, 30s))
        << read_file(worker.log_file);

    // The server first: the worker's connection is refused from now on.
    std::stringstream config;
    config << std::ifstream(server.config_file()).rdbuf();
    auto text = config.str();
    text.replace(text.find(password), password.size(), rotated);
    std::ofstream(server.config_file()) << text;
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(testing::wait_until(
        [&] {
            answer = readyz(worker.admin_port);
            const auto nats = check_of(answer.second, "nats");
            return answer.first == 503 && nats &&
                   nats->value("detail", std::string()).find("Authorization Violation") != std::string::npos;
        },
        30s))
        << answer.second.dump() << "\n"
        << read_file(worker.log_file);
    // Services keep committing while the worker waits.
    relay::testing::enqueue_events(postgres.connection_string("sea"), "rot-", 3, 3, 3);
    std::this_thread::sleep_for(3s);
    EXPECT_TRUE(worker.process.running()) << read_file(worker.log_file);
    EXPECT_EQ(postgres.query_value("SELECT count(*) FROM effects", "sea"), "3");

    // Then the worker's secret: its next connection authenticates.
    std::ofstream(password_file) << rotated << "\n";
    ASSERT_TRUE(testing::wait_until([&] { return (answer = readyz(worker.admin_port)).first == 200; }, 45s))
        << answer.second.dump() << read_file(worker.log_file);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "6"; }, 30s))
        << read_file(worker.log_file);
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(postgres.query_value("SELECT string_agg(id, ',' ORDER BY id) FROM effects", "sea"),
              "rot-0,rot-1,rot-2,rot-3,rot-4,rot-5");
    EXPECT_EQ(
        postgres.query_value("SELECT count(*) FROM seamq.outbox_events WHERE status <> 'published'", "sea"),
        "0");
    const auto log = read_file(worker.log_file);
    EXPECT_EQ(log.find(rotated), std::string::npos) << "the password leaked into the log";
    EXPECT_EQ(log.find(password), std::string::npos) << "the password leaked into the log";

    worker.process.signal(SIGTERM);
    const auto status = worker.process.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value()) << read_file(worker.log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(worker.log_file);
}

}  // namespace
}  // namespace seamq::worker
