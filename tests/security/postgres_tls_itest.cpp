// PostgreSQL over TLS end to end: the real sea-mq-worker and sea-mq binaries against a
// real PostgreSQL 15 with ssl=on and a throwaway CA. With `sslmode=verify-full` and the CA
// in `sslrootcert` they work as usual and every session they open is encrypted; with
// another CA or a host name the server's certificate does not list they refuse, and say
// so in libpq's words (not ready with the reason on /readyz and in the log; exit 1 with
// the reason on standard error), never showing the password.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/cli/run_sea_mq.hpp"
#include "tests/relay/relay_fixture.hpp"
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::security {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using seamq::cli::test::sea_mq;
using seamq::cli::test::sea_mq_with_env;
using testing::PostgresServer;

// Trust authentication ignores it: it is in the URLs to prove it never shows.
constexpr std::string_view password = "Never-Show-This-Pa55word";

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

//! postgresql://postgres:<password>@host:port/database?<parameters>
std::string url_to(const PostgresServer& server, const std::string& host, const std::string& database,
                   const std::string& parameters) {
    return "postgresql://postgres:" + std::string(password) + "@" + host + ":" +
           std::to_string(server.port()) + "/" + database + "?" + parameters;
}

std::string verify_full(const fs::path& ca) {
    return "sslmode=verify-full&sslrootcert=" + ca.string();
}

std::string tail(const std::string& text, std::size_t bytes = 4000) {
    return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

//! The messages of the worker's JSON log lines that contain every one of `parts`.
std::vector<std::string> log_messages_with(const fs::path& log_file, const std::vector<std::string>& parts) {
    std::vector<std::string> found;
    std::istringstream lines(read_file(log_file));
    std::string line;
    while (std::getline(lines, line)) {
        const auto record = nlohmann::json::parse(line, nullptr, false);
        if (!record.is_object() || !record.contains("message")) continue;
        const auto message = record["message"].get<std::string>();
        if (std::all_of(parts.begin(), parts.end(),
                        [&](const auto& part) { return contains(message, part); }))
            found.push_back(message);
    }
    return found;
}

struct Answer {
    int status = 0;  // 0: no answer
    std::string text;
    nlohmann::json body;
};

Answer get_readyz(unsigned short port) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(10s);
    auto response = client.Get("/readyz");
    if (!response) return {};
    return {response->status, response->body, nlohmann::json::parse(response->body, nullptr, false)};
}

//! The named check of a /readyz answer ({} when absent).
nlohmann::json check_of(const Answer& answer, const std::string& name) {
    if (!answer.body.is_object() || !answer.body.contains("checks")) return {};
    for (const auto& check : answer.body["checks"]) {
        if (check["name"] == name) return check;
    }
    return {};
}

// A worker with context `sea` (its database URL from ${SEA_DATABASE_URL}: a secret comes
// from the environment, not the file), its relay, and consumer `sea-projector` whose SQL
// handler records each event id in table `effects`.
struct WorkerSetup {
    testing::TempDir dir{"worker-tls"};
    unsigned short admin_port = testing::free_port();
    fs::path config_file = dir.path() / "worker.yaml";
    fs::path log_file = dir.path() / "worker.log";

    explicit WorkerSetup(const std::string& nats_url) {
        std::ofstream(dir.path() / "streams.yaml") << "contexts:\n  - name: sea\n";
        std::ofstream(config_file) << "nats:\n"
                                   << "  servers: [" << nats_url << "]\n"
                                   << "admin:\n"
                                   << "  listen: 127.0.0.1:" << admin_port << "\n"
                                   << "log:\n"
                                   << "  level: debug\n"
                                   << "streams_file: streams.yaml\n"
                                   << "shutdown_deadline: 10s\n"
                                   << "contexts:\n"
                                   << "  - name: sea\n"
                                   << "    database:\n"
                                   << "      url: ${SEA_DATABASE_URL}\n"
                                   << "      connect_timeout: 2s\n"
                                   << "    relay:\n"
                                   << "      enabled: true\n"
                                   << "      poll_interval: 200ms\n"
                                   << "consumers:\n"
                                   << "  - name: sea-projector\n"
                                   << "    context: sea\n"
                                   << "    stream: SEA_EVENTS\n"
                                   << "    handler:\n"
                                   << "      kind: sql\n"
                                   << "      function: apply_effect\n";
        nats::Connection connection(nats::ConnectionOptions::from_urls(nats_url, "security-itest"));
        nats::JetStream jetstream(connection);
        streams::StreamManager(jetstream).apply(streams::load_streams_config(dir.path() / "streams.yaml"));
    }

    testing::ChildProcess start(const std::string& database_url) const {
        const auto binary = testing::bin_dir() / "sea-mq-worker";
        return testing::ChildProcess({.argv = {binary.string(), "--config", config_file.string()},
                                      .log_file = log_file,
                                      .run_as_user = std::nullopt,
                                      .env = {{"SEA_DATABASE_URL", database_url}},
                                      .working_directory = {}});
    }
};

// Database `sea` with sea-mq's migrations and the projector's table and function.
void prepare_database(PostgresServer& postgres) {
    relay::testing::apply_migrations(postgres.create_database("sea"));
    postgres.query_value(
        "CREATE TABLE effects (id text NOT NULL); CREATE FUNCTION apply_effect(envelope jsonb) RETURNS void "
        "LANGUAGE sql AS $$ INSERT INTO effects VALUES (envelope ->> 'id') $$; SELECT 1",
        "sea");
}

void stop(testing::ChildProcess& worker, const fs::path& log_file) {
    worker.signal(SIGTERM);
    const auto status = worker.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value()) << read_file(log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(log_file);
}

TEST(PostgresTls, WorkerRelaysAndConsumesOverVerifyFullAndEverySessionItOpensIsEncrypted) {
    testing::NatsServer nats;
    // Plain TCP stays allowed here, so what pg_stat_ssl shows is the worker's own choice.
    PostgresServer postgres(PostgresServer::Options{.tls = true});
    prepare_database(postgres);
    WorkerSetup setup(nats.url());
    auto worker = setup.start(url_to(postgres, "localhost", "sea", verify_full(postgres.ca_file())));

    Answer ready;
    ASSERT_TRUE(
        testing::wait_until([&] { return (ready = get_readyz(setup.admin_port)).status == 200; }, 30s))
        << ready.text << "\n"
        << read_file(setup.log_file);
    relay::testing::enqueue_events(postgres.connection_string("sea"), "tls-", 0, 100, 7);
    ASSERT_TRUE(testing::wait_until(
        [&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "100"; }, 30s))
        << read_file(setup.log_file);
    EXPECT_EQ(relay::testing::count_rows(postgres.connection_string("sea"), "status = 'published'"), 100);

    // The readiness probe, the relay's sessions and the consumer's: each over TLS.
    const auto sessions = postgres.query_value(
        "SELECT string_agg(a.application_name || ' ssl=' || s.ssl || ' ' || coalesce(s.version, '-'), '\n' "
        "ORDER BY a.application_name) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
        "WHERE a.datname = 'sea' AND a.application_name LIKE 'sea-mq-worker%'",
        "sea");
    std::set<std::string> kinds;
    for (const auto& line : cli::test::lines_of(sessions)) {
        EXPECT_TRUE(line.ends_with(" ssl=true TLSv1.3")) << "a session without TLS: " << line;
        if (line.starts_with("sea-mq-worker readiness")) kinds.insert("readiness");
        if (line.starts_with("sea-mq-worker/relay/sea")) kinds.insert("relay");
        if (line.starts_with("sea-mq-worker/consumer/sea-projector")) kinds.insert("consumer");
    }
    EXPECT_EQ(kinds, (std::set<std::string>{"readiness", "relay", "consumer"})) << sessions;

    stop(worker, setup.log_file);
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "security-itest-reader"));
    nats::JetStream jetstream(connection);
    relay::testing::expect_exactly_once(relay::testing::read_stream(jetstream, "SEA_EVENTS"), "tls-", 0, 100);
    EXPECT_EQ(postgres.query_value("SELECT count(DISTINCT id) FROM effects", "sea"), "100");
    EXPECT_FALSE(contains(read_file(setup.log_file), password));
}

TEST(PostgresTls, WorkerWithAnotherCaOrAHostTheCertificateDoesNotNameIsNotReadyAndSaysWhy) {
    testing::NatsServer nats;
    PostgresServer postgres(PostgresServer::Options{.listen_addresses = "127.0.0.1,127.0.0.2", .tls = true});
    prepare_database(postgres);
    const testing::CertificateAuthority wrong_ca("other CA");

    struct Case {
        std::string name;
        std::string url;
        std::string libpq_says;  // libpq's words for the failed check
        std::string hint;
    };
    const std::vector<Case> cases = {
        {"another CA", url_to(postgres, "localhost", "sea", verify_full(wrong_ca.certificate_file())),
         "SSL error: certificate verify failed",
         "hint: the server's certificate is not signed by the CA in sslrootcert " +
             wrong_ca.certificate_file().string()},
        {"a host the certificate does not name",
         url_to(postgres, "127.0.0.2", "sea", verify_full(postgres.ca_file())),
         "server certificate for \"localhost\" (and 1 other name) does not match host name \"127.0.0.2\"",
         "hint: with sslmode=verify-full the host in the URL must be a name or address the server's "
         "certificate "
         "lists"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        WorkerSetup setup(nats.url());
        auto worker = setup.start(c.url);
        Answer answer;
        const auto database_check_says = [&](const std::string& text) {
            const auto check = check_of(answer, "database sea");
            return check.is_object() && check["ok"] == false &&
                   contains(check["detail"].get<std::string>(), text);
        };
        ASSERT_TRUE(testing::wait_until(
            [&] {
                answer = get_readyz(setup.admin_port);
                return answer.status == 503 && database_check_says(c.libpq_says);
            },
            20s))
            << answer.text << "\n"
            << tail(read_file(setup.log_file));
        const auto detail = check_of(answer, "database sea")["detail"].get<std::string>();
        EXPECT_TRUE(detail.starts_with("TLS to PostgreSQL failed: connection to server at ")) << detail;
        EXPECT_TRUE(contains(detail, c.hint)) << detail;
        EXPECT_EQ(check_of(answer, "nats")["ok"], true) << answer.text;

        // The relay and the consumer cannot connect either, and their log lines say why.
        const auto logged = [&](const std::string& who) {
            return !log_messages_with(setup.log_file, {who, c.libpq_says, c.hint}).empty();
        };
        ASSERT_TRUE(testing::wait_until(
            [&] { return logged("relay sea-mq-worker/relay/sea") && logged("inbox consumer sea-projector"); },
            20s))
            << tail(read_file(setup.log_file));
        EXPECT_EQ(postgres.query_value("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                                       "'sea-mq-worker%'",
                                       "sea"),
                  "0");
        stop(worker, setup.log_file);
        const auto log = read_file(setup.log_file);
        EXPECT_FALSE(contains(log, password)) << log;
        EXPECT_FALSE(contains(answer.text, password)) << answer.text;
    }
}

TEST(PostgresTls, CliMigratesAndReadsOverVerifyFullAndRefusesAnotherCaOrHostSayingWhy) {
    PostgresServer postgres(
        PostgresServer::Options{.listen_addresses = "127.0.0.1,127.0.0.2", .tls = true, .tls_only = true});
    postgres.create_database("orders");
    const auto url = url_to(postgres, "localhost", "orders", verify_full(postgres.ca_file()));

    const auto migrate = sea_mq({"db", "migrate", "--database", url});
    ASSERT_EQ(migrate.exit_code, 0) << migrate.err;
    const auto status = sea_mq_with_env({{"SEAMQ_DATABASE_URL", url}}, {"db", "status"});
    EXPECT_EQ(status.exit_code, 0) << status.err;
    EXPECT_TRUE(contains(status.out, "applied")) << status.out;
    EXPECT_EQ(postgres.query_value("SELECT to_regclass('seamq.outbox_events') IS NOT NULL", "orders"), "t");
    const auto rejected = sea_mq({"outbox", "rejected", "--database", url});
    EXPECT_EQ(rejected.exit_code, 0) << rejected.err;

    const testing::CertificateAuthority wrong_ca("other CA");
    struct Case {
        std::string name;
        std::string url;
        std::vector<std::string> says;
    };
    const std::vector<Case> cases = {
        {"another CA",
         url_to(postgres, "localhost", "orders", verify_full(wrong_ca.certificate_file())),
         {"TLS to PostgreSQL failed: connection to server at \"localhost\" (127.0.0.1)",
          "SSL error: certificate verify failed",
          "hint: the server's certificate is not signed by the CA in sslrootcert " +
              wrong_ca.certificate_file().string()}},
        {"a host the certificate does not name",
         url_to(postgres, "127.0.0.2", "orders", verify_full(postgres.ca_file())),
         {"TLS to PostgreSQL failed: connection to server at \"127.0.0.2\"",
          "does not match host name \"127.0.0.2\"", "subjectAltName"}},
        {"no TLS where the server requires it",
         url_to(postgres, "localhost", "orders", "sslmode=disable"),
         {"no pg_hba.conf entry for host \"127.0.0.1\", user \"postgres\", database \"orders\", no "
          "encryption",
          "hint: the server accepts this client over TLS only"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        for (const auto& arguments : std::vector<std::vector<std::string>>{
                 {"db", "migrate", "--database", c.url}, {"outbox", "rejected", "--database", c.url}}) {
            const auto refused = sea_mq(arguments);
            EXPECT_EQ(refused.exit_code, 1) << refused.err;
            EXPECT_TRUE(refused.err.starts_with("sea-mq: PostgreSQL: connect to 'postgresql://postgres:***@"))
                << refused.err;
            for (const auto& text : c.says)
                EXPECT_TRUE(contains(refused.err, text)) << text << "\n" << refused.err;
            EXPECT_FALSE(contains(refused.err + refused.out, password)) << refused.err;
        }
    }
}

TEST(PostgresTls, CliAuthenticatesWithAClientCertificate) {
    PostgresServer postgres(PostgresServer::Options{.tls = true, .client_certificates = true});
    postgres.create_database("orders");
    const auto& client = postgres.client_certificate();
    const auto url = url_to(postgres, "localhost", "orders",
                            verify_full(postgres.ca_file()) + "&sslcert=" + client.certificate_file.string() +
                                "&sslkey=" + client.key_file.string());
    const auto migrate = sea_mq({"db", "migrate", "--database", url});
    EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
    EXPECT_EQ(postgres.query_value("SELECT to_regclass('seamq.outbox_events') IS NOT NULL", "orders"), "t");

    const auto without = sea_mq({"db", "status", "--database",
                                 url_to(postgres, "localhost", "orders", verify_full(postgres.ca_file()))});
    EXPECT_EQ(without.exit_code, 1) << without.err;
    EXPECT_TRUE(contains(without.err, "connection requires a valid client certificate")) << without.err;
    EXPECT_TRUE(contains(without.err,
                         "hint: the server authenticates by client certificate: give sslcert and sslkey"))
        << without.err;
}

}  // namespace
}  // namespace seamq::security
