// Secrets in URLs stay out of every output. A nats-server that requires a user and password
// and a PostgreSQL role that requires its password; the secrets in every URL given to
// sea-mq-worker (relaying, consuming, readiness, metrics, a NATS outage, a context whose
// database is unreachable, --print-config) and to every sea-mq verb that takes a URL
// (successes, a wrong password, an unreachable server). Nothing it prints, logs or serves
// may contain a password.
#include <fstream>
#include <thread>

#include "tests/cli/run_sea_mq.hpp"
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::cli::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;
using seamq::testing::ChildProcess;
using seamq::testing::NatsServer;
using seamq::testing::PostgresServer;
using seamq::testing::TempDir;
using seamq::testing::wait_until;

const std::string nats_secret = "S3cr3t-nats-7f1c";
const std::string database_secret = "S3cr3t-pg-a92e";
const std::string wrong_secret = "S3cr3t-wrong-c0de";  // a wrong password is still a password
const std::string order_type = "sea.event.order-placed.v1";

std::string order_data(int total_cents) {
    return json({{"order_id", "42"},
                 {"customer", {{"id", "c-1"}, {"email", "ada@example.com"}}},
                 {"lines", {{{"sku", "SKU-1"}, {"quantity", 1}, {"unit_price_cents", total_cents}}}},
                 {"total_cents", total_cents},
                 {"currency", "EUR"}})
        .dump();
}

//! Everything the run printed, served or logged, by where it came from.
struct Outputs {
    std::vector<std::pair<std::string, std::string>> entries;

    void add(const std::string& label, const std::string& text) { entries.emplace_back(label, text); }
    void add(const std::string& label, const CommandResult& result) {
        add(label + " (stdout)", result.out);
        add(label + " (stderr)", result.err);
    }
    std::string all() const {
        std::string text;
        for (const auto& [label, output] : entries) text += output;
        return text;
    }
};

//! GET on the worker's admin server; the body, or "" when it did not answer.
std::string get_body(unsigned short port, const std::string& path, int* status = nullptr) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(10s);
    const auto response = client.Get(path.c_str());
    if (status != nullptr) *status = response ? response->status : 0;
    return response ? response->body : std::string();
}

bool nats_check_ok(const std::string& readyz) {
    const auto body = json::parse(readyz, nullptr, false);
    if (!body.contains("checks")) return false;
    for (const auto& check : body["checks"])
        if (check["name"] == "nats") return check["ok"].get<bool>();
    return false;
}

TEST(SecretHygiene, ARunWithSecretsInEveryUrlLeavesThemInNoOutput) {
    NatsServer::Options nats_options;
    nats_options.extra_config = "authorization {\n  user: seamq\n  password: \"" + nats_secret + "\"\n}\n";
    NatsServer nats(nats_options);
    PostgresServer postgres;
    postgres.create_database("sea");
    const auto role_url = postgres.create_password_role("seamq_app", database_secret);
    const auto database_url = role_url + "sea";
    const auto nats_host = "127.0.0.1:" + std::to_string(nats.port());
    const auto nats_url = "nats://seamq:" + nats_secret + "@" + nats_host;
    // Unreachable (nothing listens there) and wrongly authenticated variants.
    const auto closed_port = std::to_string(seamq::testing::free_port());
    const auto dead_database_url =
        "postgresql://seamq_app:" + database_secret + "@127.0.0.1:" + closed_port + "/governance";
    const auto dead_nats_url = "nats://seamq:" + nats_secret + "@127.0.0.1:" + closed_port;
    auto wrong_database_url = database_url;
    wrong_database_url.replace(wrong_database_url.find(database_secret), database_secret.size(),
                               wrong_secret);
    auto wrong_nats_url = nats_url;
    wrong_nats_url.replace(wrong_nats_url.find(nats_secret), nats_secret.size(), wrong_secret);
    // Both the token form and a comma-separated list.
    const auto nats_list = "nats://" + wrong_secret + "@127.0.0.1:" + closed_port + "," + nats_url;

    const auto streams_file = (seamq::testing::source_dir() / "config" / "streams.yaml").string();
    TempDir scratch("secret-hygiene");
    Outputs outputs;

    // Setting up through the CLI, the secrets in its URLs.
    auto result = sea_mq({"db", "migrate", "--database", database_url});
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
    outputs.add("db migrate", result);
    outputs.add("db status", sea_mq({"db", "status", "--database", database_url}));
    result = sea_mq({"streams", "apply", "--file", streams_file, "--nats", nats_url});
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
    outputs.add("streams apply", result);
    outputs.add("streams status", sea_mq({"streams", "status", "--file", streams_file, "--nats", nats_list}));
    for (int index = 1; index <= 3; ++index) {
        result = sea_mq({"publish", "--database", database_url, "--type", order_type, "--subject", "order-42",
                         "--data", order_data(index * 100), "--id", "secret-" + std::to_string(index)});
        ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
        outputs.add("publish", result);
    }
    postgres.query_value(
        "CREATE TABLE effects (id text NOT NULL); CREATE FUNCTION apply_effect(envelope jsonb) RETURNS void "
        "LANGUAGE sql AS $$ INSERT INTO effects VALUES (envelope ->> 'id') $$; SELECT 1",
        "sea");

    // The worker: relays and consumes `sea`; `governance` has a database nobody listens on.
    const auto admin_port = seamq::testing::free_port();
    const auto config_file = scratch.path() / "worker.yaml";
    std::ofstream(config_file) << "nats:\n"
                               << "  servers: [\"" << nats_url << "\"]\n"
                               << "  reconnect_wait: 100ms\n"
                               << "  reconnect_jitter: 50ms\n"
                               << "admin:\n"
                               << "  listen: 127.0.0.1:" << admin_port << "\n"
                               << "log:\n"
                               << "  level: debug\n"
                               << "streams_file: " << streams_file << "\n"
                               << "shutdown_deadline: 10s\n"
                               << "contexts:\n"
                               << "  - name: sea\n"
                               << "    database:\n"
                               << "      url: \"" << database_url << "\"\n"
                               << "    relay:\n"
                               << "      poll_interval: 200ms\n"
                               << "  - name: governance\n"
                               << "    database:\n"
                               << "      url: \"" << dead_database_url << "\"\n"
                               << "      connect_timeout: 2s\n"
                               << "consumers:\n"
                               << "  - name: sea-projector\n"
                               << "    context: sea\n"
                               << "    stream: SEA_EVENTS\n"
                               << "    handler:\n"
                               << "      kind: sql\n"
                               << "      function: apply_effect\n";
    const auto worker_binary = (seamq::testing::bin_dir() / "sea-mq-worker").string();
    result =
        seamq::test::run_command({worker_binary, "--check-config", config_file.string(), "--print-config"});
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
    outputs.add("sea-mq-worker --check-config --print-config", result);

    const auto worker_log = scratch.path() / "worker.log";
    ChildProcess worker({.argv = {worker_binary, "--config", config_file.string(), "--print-config"},
                         .log_file = worker_log});
    EXPECT_TRUE(
        wait_until([&] { return postgres.query_value("SELECT count(*) FROM effects", "sea") == "3"; }, 30s))
        << seamq::test::slurp(worker_log);
    std::string readyz;
    EXPECT_TRUE(wait_until([&] { return nats_check_ok(readyz = get_body(admin_port, "/readyz")); }, 20s))
        << readyz;
    outputs.add("/readyz, connected", readyz);
    outputs.add("/metrics", get_body(admin_port, "/metrics"));
    outputs.add("/healthz", get_body(admin_port, "/healthz"));

    // A NATS outage: disconnect and reconnect events, readiness naming the servers it tries.
    nats.stop();
    EXPECT_TRUE(wait_until([&] { return !nats_check_ok(readyz = get_body(admin_port, "/readyz")); }, 20s))
        << readyz;
    outputs.add("/readyz, NATS down", readyz);
    outputs.add("/metrics, NATS down", get_body(admin_port, "/metrics"));
    // The CLI against a server that is not there.
    outputs.add("streams status, NATS down",
                sea_mq({"streams", "status", "--file", streams_file, "--nats", nats_url}));
    outputs.add("dlq list, NATS down", sea_mq({"dlq", "list", "--context", "sea", "--nats", nats_url}));
    nats.start();
    EXPECT_TRUE(wait_until([&] { return nats_check_ok(readyz = get_body(admin_port, "/readyz")); }, 30s))
        << readyz;
    outputs.add("/readyz, reconnected", readyz);

    // Every verb that takes a URL, with the right secrets, a wrong password and nobody there.
    const std::vector<std::string> status_arguments = {"status",
                                                       "--nats",
                                                       nats_url,
                                                       "--monitor",
                                                       nats.monitor_url(),
                                                       "--context",
                                                       "sea=" + database_url,
                                                       "--context",
                                                       "governance=" + dead_database_url,
                                                       "--streams-file",
                                                       streams_file,
                                                       "--timeout",
                                                       "3"};
    auto with = [](std::vector<std::string> arguments, const std::vector<std::string>& more) {
        arguments.insert(arguments.end(), more.begin(), more.end());
        return arguments;
    };
    result = sea_mq(status_arguments);
    EXPECT_NE(result.out.find("nats://seamq:***@" + nats_host), std::string::npos)
        << result.out << result.err;
    outputs.add("status", result);
    result = sea_mq(with(status_arguments, {"--output", "json"}));
    EXPECT_TRUE(json::accept(result.out)) << result.out << result.err;
    outputs.add("status --output json", result);
    outputs.add("status, wrong passwords", sea_mq({"status", "--nats", wrong_nats_url, "--database",
                                                   wrong_database_url, "--timeout", "3"}));
    outputs.add("status --output json, wrong passwords",
                sea_mq({"status", "--nats", wrong_nats_url, "--database", wrong_database_url, "--timeout",
                        "3", "--output", "json"}));
    outputs.add("status, NATS list", sea_mq({"status", "--nats", nats_list, "--timeout", "3"}));
    result = sea_mq({"db", "migrate", "--database", wrong_database_url});
    EXPECT_NE(result.err.find("password authentication failed for user \"seamq_app\""), std::string::npos)
        << result.err;
    outputs.add("db migrate, wrong password", result);
    outputs.add("db status, unreachable", sea_mq({"db", "status", "--database", dead_database_url}));
    // The other shapes of a database password: libpq key=value, quoted, and a URL query parameter.
    const auto port = std::to_string(postgres.port());
    outputs.add("db status, key=value", sea_mq({"db", "status", "--database",
                                                "host=127.0.0.1 port=" + port + " user=seamq_app password=" +
                                                    database_secret + " dbname=sea"}));
    result = sea_mq(
        {"db", "status", "--database",
         "host=127.0.0.1 port=" + port + " user=seamq_app password='" + wrong_secret + "' dbname=sea"});
    EXPECT_NE(result.err.find("password='***'"), std::string::npos) << result.err;
    outputs.add("db status, quoted key=value, wrong password", result);
    result = sea_mq({"outbox", "rejected", "--database",
                     "postgresql://seamq_app@127.0.0.1:" + closed_port + "/sea?password=" + database_secret});
    EXPECT_NE(result.err.find("?password=***"), std::string::npos) << result.err;
    outputs.add("outbox rejected, query parameter, unreachable", result);
    outputs.add("outbox rejected", sea_mq({"outbox", "rejected", "--database", database_url}));
    outputs.add("outbox rejected, wrong password",
                sea_mq({"outbox", "rejected", "--database", wrong_database_url}));
    outputs.add("dlq list", sea_mq({"dlq", "list", "--context", "sea", "--nats", nats_url}));
    outputs.add("dlq list --output json",
                sea_mq({"dlq", "list", "--context", "sea", "--nats", nats_url, "--output", "json"}));
    outputs.add("dlq list, wrong password",
                sea_mq({"dlq", "list", "--context", "sea", "--nats", wrong_nats_url}));
    outputs.add("tail",
                sea_mq({"tail", "sea.event.>", "--nats", nats_url, "--count", "1", "--timeout", "1s"}));
    outputs.add("tail, wrong password",
                sea_mq({"tail", "sea.event.>", "--nats", wrong_nats_url, "--count", "1", "--timeout", "1s"}));
    result = sea_mq({"streams", "apply", "--file", streams_file, "--nats", wrong_nats_url});
    EXPECT_NE(result.err.find("nats://seamq:***@" + nats_host), std::string::npos) << result.err;
    outputs.add("streams apply, wrong password", result);
    outputs.add("streams status, unreachable",
                sea_mq({"streams", "status", "--file", streams_file, "--nats", dead_nats_url}));
    outputs.add("publish, wrong password",
                sea_mq({"publish", "--database", wrong_database_url, "--type", order_type, "--subject",
                        "order-43", "--data", order_data(100)}));
    outputs.add("relay run, unreachable NATS", sea_mq({"relay", "run", "--context", "sea", "--database",
                                                       database_url, "--nats", dead_nats_url},
                                                      10));
    outputs.add(
        "relay run, wrong database password",
        sea_mq({"relay", "run", "--context", "sea", "--database", wrong_database_url, "--nats", nats_url},
               10));
    outputs.add(
        "consume run, wrong NATS password",
        sea_mq({"consume", "run", "--consumer", "cli", "--context", "sea", "--stream", "SEA_EVENTS",
                "--handler-sql", "apply_effect", "--database", database_url, "--nats", wrong_nats_url},
               10));

    EXPECT_EQ(worker.stop(20s), 0);
    const auto log = seamq::test::slurp(worker_log);
    outputs.add("sea-mq-worker log", log);

    // The run saw what it was meant to: connections, the outage, the unreachable database.
    EXPECT_NE(log.find("reconnected to NATS at"), std::string::npos) << log;
    EXPECT_NE(log.find("seamq_app:***@127.0.0.1:" + closed_port), std::string::npos) << log;
    EXPECT_NE(log.find("nats://seamq:***@" + nats_host), std::string::npos) << log;
    const auto everything = outputs.all();
    EXPECT_GT(everything.size(), 10000U);
    EXPECT_NE(everything.find("seamq_app"), std::string::npos);  // user names stay

    for (const auto& [label, text] : outputs.entries) {
        for (const auto& secret : {nats_secret, database_secret, wrong_secret}) {
            const auto found = text.find(secret);
            if (found == std::string::npos) continue;
            const auto from = found < 200 ? 0 : found - 200;
            ADD_FAILURE() << label << " shows the password " << secret << ":\n..." << text.substr(from, 400)
                          << "...";
        }
    }
}

}  // namespace
}  // namespace seamq::cli::test
