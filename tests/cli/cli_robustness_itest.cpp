// The real `sea-mq` binary against real servers, told odd things: an explicit flag wins
// over the environment for every verb that falls back to one (and the environment alone
// still works), `tail` prints every message whatever its payload bytes, and `dlq replay`
// replays each dead letter on its own and always sums up.
#include <fstream>

#include "tests/cli/run_sea_mq.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::cli::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using seamq::testing::ChildProcess;
using seamq::testing::NatsServer;
using seamq::testing::PostgresServer;
using seamq::testing::TempDir;
using seamq::testing::wait_until;
using Environment = std::map<std::string, std::string>;

const std::string order_type = "sea.event.order-placed.v1";

std::string streams_file() {
    return (seamq::testing::source_dir() / "config" / "streams.yaml").string();
}

//! A loopback port nobody listens on: what the environment points at when the flag must win.
std::string dead_nats_url() {
    return "nats://127.0.0.1:" + std::to_string(seamq::testing::free_port());
}
std::string dead_database_url() {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(seamq::testing::free_port()) +
           "/nowhere?connect_timeout=2";
}

//! A payload valid against schemas/events/sea/order-placed.v1.schema.json.
std::string order_data(int total_cents) {
    return json({{"order_id", "42"},
                 {"customer", {{"id", "c-1"}, {"email", "ada@example.com"}}},
                 {"lines", {{{"sku", "SKU-1"}, {"quantity", 1}, {"unit_price_cents", total_cents}}}},
                 {"total_cents", total_cents},
                 {"currency", "EUR"}})
        .dump();
}

std::uint64_t stream_messages(const std::string& nats_url, const std::string& stream) {
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats_url, "cli-robustness-itest"));
    nats::JetStream jetstream(connection);
    const auto info = jetstream.stream_info(stream);
    return info ? info->state.messages : 0;
}

bool stream_exists(const std::string& nats_url, const std::string& stream) {
    nats::Connection connection(nats::ConnectionOptions::from_urls(nats_url, "cli-robustness-itest"));
    nats::JetStream jetstream(connection);
    return jetstream.stream_info(stream).has_value();
}

//! `sea-mq ...` in the background with `environment`, standard output and error in files.
struct Background {
    Background(const TempDir& scratch, const std::string& name, const Environment& environment,
               const std::vector<std::string>& arguments)
        : out(scratch.path() / (name + ".out")), err(scratch.path() / (name + ".err")) {
        std::string command = "exec " + shell_quote(sea_mq_binary().string());
        for (const auto& argument : arguments) command += " " + shell_quote(argument);
        command += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
        process = ChildProcess(ChildProcess::Options{.argv = {"sh", "-c", command}, .env = environment});
    }
    std::filesystem::path out;
    std::filesystem::path err;
    ChildProcess process;
};

std::string describe(const CommandResult& result) {
    return "exit " + std::to_string(result.exit_code) + "\nstdout:\n" + result.out + "\nstderr:\n" +
           result.err;
}

TEST(CliEnvironment, DatabaseVerbsUseTheFlagOverTheEnvironmentAndTheEnvironmentAlone) {
    PostgresServer postgres;
    postgres.create_database("flagged");
    postgres.create_database("fallback");
    const Environment dead = {{"SEAMQ_DATABASE_URL", dead_database_url()},
                              {"SEAMQ_NATS_URL", dead_nats_url()}};
    const Environment live = {{"SEAMQ_DATABASE_URL", postgres.url("fallback")}};
    const auto migrated = [&](const std::string& database) {
        return postgres.query_value("SELECT to_regclass('seamq.schema_migrations') IS NOT NULL", database) ==
               "t";
    };
    const auto migrations = [&](const std::string& database) {
        return postgres.query_value("SELECT count(*) FROM seamq.schema_migrations", database);
    };

    auto result = sea_mq_with_env(dead, {"db", "migrate", "--database", postgres.url("flagged")});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    ASSERT_TRUE(migrated("flagged"));
    EXPECT_NE(migrations("flagged"), "0");
    result = sea_mq_with_env(dead, {"db", "status", "--database", postgres.url("flagged")});
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_FALSE(migrated("fallback")) << "the flag's database only";

    result = sea_mq_with_env(live, {"db", "migrate"});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    ASSERT_TRUE(migrated("fallback"));
    EXPECT_EQ(migrations("fallback"), migrations("flagged"));
    result = sea_mq_with_env(live, {"db", "status"});
    EXPECT_EQ(result.exit_code, 0) << describe(result);

    const std::vector<std::string> event = {"--type",  order_type, "--subject",
                                            "order-1", "--data",   order_data(100)};
    auto with = [&](std::vector<std::string> front) {
        front.insert(front.end(), event.begin(), event.end());
        return front;
    };
    result =
        sea_mq_with_env(dead, with({"publish", "--id", "by-flag", "--database", postgres.url("flagged")}));
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(
        postgres.query_value("SELECT count(*) FROM seamq.outbox_events WHERE id = 'by-flag'", "flagged"),
        "1");
    result = sea_mq_with_env(live, with({"publish", "--id", "by-environment"}));
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(postgres.query_value("SELECT count(*) FROM seamq.outbox_events WHERE id = 'by-environment'",
                                   "fallback"),
              "1");
}

TEST(CliEnvironment, RelayAndConsumerRunUseTheFlagsOverTheEnvironmentAndTheEnvironmentAlone) {
    NatsServer server;
    PostgresServer postgres;
    postgres.create_database("orders");
    const auto database = postgres.url("orders");
    ASSERT_EQ(sea_mq({"db", "migrate", "--database", database}).exit_code, 0);
    ASSERT_EQ(sea_mq({"streams", "apply", "--file", streams_file(), "--nats", server.url()}).exit_code, 0);
    postgres.query_value("CREATE TABLE effects (consumer text, payload jsonb)", "orders");
    postgres.query_value(
        "CREATE FUNCTION record_effect(message jsonb) RETURNS void LANGUAGE sql AS "
        "$$ INSERT INTO effects VALUES ('any', message) $$",
        "orders");
    const Environment dead = {{"SEAMQ_DATABASE_URL", dead_database_url()},
                              {"SEAMQ_NATS_URL", dead_nats_url()}};
    const Environment live = {{"SEAMQ_DATABASE_URL", database}, {"SEAMQ_NATS_URL", server.url()}};
    TempDir scratch("cli-environment");
    const auto publish = [&](const std::string& id) {
        const auto result = sea_mq({"publish", "--database", database, "--type", order_type, "--subject",
                                    "order-1", "--data", order_data(100), "--id", id});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
    };
    const auto relay = [&](const std::string& name, const Environment& environment,
                           std::vector<std::string> flags) {
        std::vector<std::string> argv = {
            sea_mq_binary().string(), "relay", "run", "--context", "sea", "--name", name, "--poll-ms", "100",
            "--election-ms",          "200"};
        argv.insert(argv.end(), flags.begin(), flags.end());
        return ChildProcess(ChildProcess::Options{
            .argv = argv, .log_file = scratch.path() / (name + ".log"), .env = environment});
    };
    const auto consumer = [&](const std::string& name, const Environment& environment,
                              std::vector<std::string> flags) {
        std::vector<std::string> argv = {sea_mq_binary().string(),
                                         "consume",
                                         "run",
                                         "--consumer",
                                         name,
                                         "--context",
                                         "sea",
                                         "--stream",
                                         "SEA_EVENTS",
                                         "--filter-subject",
                                         "sea.event.>",
                                         "--handler-sql",
                                         "record_effect"};
        argv.insert(argv.end(), flags.begin(), flags.end());
        return ChildProcess(ChildProcess::Options{
            .argv = argv, .log_file = scratch.path() / (name + ".log"), .env = environment});
    };
    const auto pending = [&] {
        return postgres.query_value("SELECT count(*) FROM seamq.outbox_events WHERE status = 'pending'",
                                    "orders");
    };
    const auto effects = [&] { return postgres.query_value("SELECT count(*) FROM effects", "orders"); };

    publish("e-1");
    {
        auto by_flags = relay("relay-flags", dead, {"--database", database, "--nats", server.url()});
        ASSERT_TRUE(wait_until([&] { return pending() == "0"; }, 20s))
            << slurp(scratch.path() / "relay-flags.log");
        EXPECT_EQ(stream_messages(server.url(), "SEA_EVENTS"), 1U);
        EXPECT_EQ(ChildProcess::exit_code(by_flags.stop()), 0) << slurp(scratch.path() / "relay-flags.log");
    }
    publish("e-2");
    {
        auto by_environment = relay("relay-environment", live, {});
        ASSERT_TRUE(wait_until([&] { return pending() == "0"; }, 20s))
            << slurp(scratch.path() / "relay-environment.log");
        EXPECT_EQ(stream_messages(server.url(), "SEA_EVENTS"), 2U);
        EXPECT_EQ(ChildProcess::exit_code(by_environment.stop()), 0);
    }
    {
        auto by_flags = consumer("shipping", dead, {"--database", database, "--nats", server.url()});
        ASSERT_TRUE(wait_until([&] { return effects() == "2"; }, 20s))
            << slurp(scratch.path() / "shipping.log");
        EXPECT_EQ(ChildProcess::exit_code(by_flags.stop()), 0) << slurp(scratch.path() / "shipping.log");
    }
    {
        auto by_environment = consumer("audit", live, {});
        ASSERT_TRUE(wait_until([&] { return effects() == "4"; }, 20s)) << slurp(scratch.path() / "audit.log");
        EXPECT_EQ(ChildProcess::exit_code(by_environment.stop()), 0);
    }
}

//! A dead letter as the inbox consumer writes it (src/dead_letters/README.md), published
//! straight into the DLQ stream.
void publish_dead_letter(nats::JetStream& jetstream, const std::string& id, const std::string& consumer,
                         const std::string& original_subject, bool with_headers = true) {
    nats::OutgoingMessage letter;
    letter.subject = "dlq.sea.audit";
    letter.payload = json({{"id", id}, {"type", order_type}}).dump();
    letter.message_id = "dlq-" + id;
    if (with_headers)
        letter.headers = {{"Seamq-Original-Subject", original_subject},
                          {"Seamq-Original-Stream", "SEA_EVENTS"},
                          {"Seamq-Original-Sequence", "1"},
                          {"Seamq-Original-Msg-Id", id},
                          {"Seamq-Consumer", consumer},
                          {"Seamq-Context", "sea"},
                          {"Seamq-Deliveries", "4"},
                          {"Seamq-Error-Class", "exhausted"},
                          {"Seamq-Error", "downstream said no"}};
    jetstream.publish(letter);
}

TEST(CliEnvironment, NatsVerbsUseTheFlagOverTheEnvironmentAndTheEnvironmentAlone) {
    NatsServer flagged;
    NatsServer fallback;
    const Environment dead = {{"SEAMQ_NATS_URL", dead_nats_url()},
                              {"SEAMQ_DATABASE_URL", dead_database_url()}};
    const Environment live = {{"SEAMQ_NATS_URL", fallback.url()}};

    // streams apply / status
    auto result =
        sea_mq_with_env(dead, {"streams", "apply", "--file", streams_file(), "--nats", flagged.url()});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_TRUE(stream_exists(flagged.url(), "SEA_EVENTS"));
    EXPECT_FALSE(stream_exists(fallback.url(), "SEA_EVENTS"));
    result = sea_mq_with_env(live, {"streams", "apply", "--file", streams_file()});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_TRUE(stream_exists(fallback.url(), "SEA_EVENTS"));
    for (const auto& [environment, flags] : std::vector<std::pair<Environment, std::vector<std::string>>>{
             {dead, {"--nats", flagged.url()}}, {live, {}}}) {
        std::vector<std::string> arguments = {"streams",      "status",   "--file",
                                              streams_file(), "--output", "json"};
        arguments.insert(arguments.end(), flags.begin(), flags.end());
        result = sea_mq_with_env(environment, arguments);
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        EXPECT_TRUE(json::parse(result.out).at("missing").empty()) << result.out;
    }

    // dlq list / show / replay / purge: two dead letters on each server.
    for (const auto* url : {&flagged, &fallback}) {
        nats::Connection connection(nats::ConnectionOptions::from_urls(url->url(), "cli-robustness-itest"));
        nats::JetStream jetstream(connection);
        publish_dead_letter(jetstream, "order-1", "audit", order_type);
        publish_dead_letter(jetstream, "order-2", "audit", order_type);
    }
    for (const auto& [environment, flags, url] :
         std::vector<std::tuple<Environment, std::vector<std::string>, std::string>>{
             {dead, {"--nats", flagged.url()}, flagged.url()}, {live, {}, fallback.url()}}) {
        auto command = [&](std::vector<std::string> arguments) {
            arguments.insert(arguments.end(), {"--context", "sea", "--output", "json"});
            arguments.insert(arguments.end(), flags.begin(), flags.end());
            return sea_mq_with_env(environment, arguments);
        };
        result = command({"dlq", "list"});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        EXPECT_EQ(json::parse(result.out).size(), 2U) << result.out;
        result = command({"dlq", "show", "1"});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        EXPECT_EQ(json::parse(result.out).at("payload").at("id"), "order-1");
        result = command({"dlq", "replay", "--from-seq", "1", "--to-seq", "1"});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        EXPECT_EQ(json::parse(result.out).at("summary").at("replayed"), 1) << result.out;
        EXPECT_EQ(stream_messages(url, "SEA_EVENTS"), 1U);
        result = command({"dlq", "purge", "--all"});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        EXPECT_EQ(json::parse(result.out).at("count"), 1);
        EXPECT_EQ(stream_messages(url, "SEA_DLQ"), 0U);
    }

    // tail: follows the flag's server.
    TempDir scratch("cli-environment-tail");
    for (const auto& [environment, flags, url] :
         std::vector<std::tuple<Environment, std::vector<std::string>, std::string>>{
             {dead, {"--nats", flagged.url()}, flagged.url()}, {live, {}, fallback.url()}}) {
        std::vector<std::string> arguments = {"tail",      "sea.event.>", "--count",  "1",
                                              "--timeout", "30s",         "--output", "json"};
        arguments.insert(arguments.end(), flags.begin(), flags.end());
        Background tail(scratch, flags.empty() ? "tail-environment" : "tail-flag", environment, arguments);
        ASSERT_TRUE(wait_until([&] { return slurp(tail.err).find("following") != std::string::npos; }, 20s))
            << slurp(tail.err);
        nats::Connection connection(nats::ConnectionOptions::from_urls(url, "cli-robustness-itest"));
        nats::JetStream jetstream(connection);
        nats::OutgoingMessage message;
        message.subject = order_type;
        message.payload = R"({"id":"tailed"})";
        jetstream.publish(message);
        const auto status = tail.process.wait_for_exit(30s);
        ASSERT_TRUE(status.has_value())
            << "published to " << url << "; " << slurp(tail.err) << slurp(tail.out);
        EXPECT_EQ(ChildProcess::exit_code(*status), 0) << slurp(tail.err);
        EXPECT_EQ(json::parse(slurp(tail.out)).at("payload").at("id"), "tailed");
    }

    // status: reports the flag's server.
    for (const auto& [environment, flags, url] :
         std::vector<std::tuple<Environment, std::vector<std::string>, std::string>>{
             {dead, {"--nats", flagged.url()}, flagged.url()}, {live, {}, fallback.url()}}) {
        std::vector<std::string> arguments = {"status", "--context", "sea", "--timeout",
                                              "3",      "--output",  "json"};
        arguments.insert(arguments.end(), flags.begin(), flags.end());
        result = sea_mq_with_env(environment, arguments);
        const auto document = json::parse(result.out);
        EXPECT_TRUE(document.at("nats").at("connected").get<bool>()) << describe(result);
        EXPECT_EQ(document.at("problems"), json::array()) << describe(result);
        EXPECT_EQ(result.exit_code, 0) << describe(result);
    }
}

TEST(CliTail, PrintsEveryMessageInOrderAndPayloadsThatAreNotUtf8Losslessly) {
    NatsServer server;
    ASSERT_EQ(sea_mq({"streams", "apply", "--file", streams_file(), "--nats", server.url()}).exit_code, 0);
    TempDir scratch("cli-tail-bytes");
    Background tail_json(scratch, "tail-json", {},
                         {"tail", "sea.event.>", "--nats", server.url(), "--count", "3", "--timeout", "60s",
                          "--output", "json"});
    Background tail_text(scratch, "tail-text", {},
                         {"tail", "sea.event.>", "--nats", server.url(), "--count", "3", "--timeout", "60s"});
    ASSERT_TRUE(wait_until(
        [&] {
            return slurp(tail_json.err).find("following") != std::string::npos &&
                   slurp(tail_text.err).find("following") != std::string::npos;
        },
        20s));

    // Bytes no UTF-8 decoder accepts (a lone continuation byte, 0xFF, an overlong NUL), a NUL.
    const std::string binary("\x80\xff\xc0\x80 binary \x00 tail", 18);
    const std::string binary_base64 = "gP/AgCBiaW5hcnkgACB0YWls";
    nats::Connection connection(nats::ConnectionOptions::from_urls(server.url(), "cli-robustness-itest"));
    nats::JetStream jetstream(connection);
    for (const auto& [id, payload, header] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"first", R"({"id":"first"})", "plain"},
             {"odd", binary, "caf\xe9"},  // Latin-1, not UTF-8
             {"last", R"({"id":"last"})", "plain"}}) {
        nats::OutgoingMessage message;
        message.subject = order_type;
        message.payload = payload;
        message.message_id = id;
        message.headers = {{"X-Note", header}};
        jetstream.publish(message);
    }
    EXPECT_EQ(stream_messages(server.url(), "SEA_EVENTS"), 3U);

    for (auto* tail : {&tail_json, &tail_text}) {
        const auto status = tail->process.wait_for_exit(60s);
        ASSERT_TRUE(status.has_value()) << slurp(tail->err);
        EXPECT_EQ(ChildProcess::exit_code(*status), 0) << slurp(tail->err);
    }
    const auto lines = lines_of(slurp(tail_json.out));
    ASSERT_EQ(lines.size(), 3U) << slurp(tail_json.out) << slurp(tail_json.err);
    const auto first = json::parse(lines[0]);
    const auto odd = json::parse(lines[1]);
    const auto last = json::parse(lines[2]);
    EXPECT_EQ(first.at("payload").at("id"), "first");
    EXPECT_EQ(odd.at("headers").at("Nats-Msg-Id"), "odd");
    EXPECT_FALSE(odd.contains("payload"));
    EXPECT_FALSE(odd.contains("payload_text"));
    EXPECT_EQ(odd.at("payload_base64"), binary_base64) << lines[1];
    EXPECT_EQ(odd.at("headers").at("X-Note"), "caf\xef\xbf\xbd") << "U+FFFD for the byte that is not UTF-8";
    EXPECT_EQ(last.at("payload").at("id"), "last");
    EXPECT_EQ(last.at("number"), 3);

    const auto text = slurp(tail_text.out);
    std::size_t position = 0;
    for (const auto& expected : std::vector<std::string>{
             "#1 " + order_type, "\"id\": \"first\"", "#2 " + order_type,
             "(not UTF-8, base64) " + binary_base64, "#3 " + order_type, "\"id\": \"last\""}) {
        const auto found = text.find(expected, position);
        ASSERT_NE(found, std::string::npos) << "'" << expected << "' after offset " << position << " in:\n"
                                            << text;
        position = found;
    }
}

TEST(CliDlqReplay, EachDeadLetterIsReplayedOnItsOwnAndTheSummaryCountsThem) {
    NatsServer server;
    ASSERT_EQ(sea_mq({"streams", "apply", "--file", streams_file(), "--nats", server.url()}).exit_code, 0);
    nats::Connection connection(nats::ConnectionOptions::from_urls(server.url(), "cli-robustness-itest"));
    nats::JetStream jetstream(connection);
    // 1, 3: good. 2: its subject is captured by no stream any more. 4: no sea-mq headers.
    // 5: good, for a consumer whose name is not UTF-8.
    publish_dead_letter(jetstream, "order-1", "audit", order_type);
    publish_dead_letter(jetstream, "order-2", "audit", "retired.event.order-placed.v1");
    publish_dead_letter(jetstream, "order-3", "audit", order_type);
    publish_dead_letter(jetstream, "order-4", "audit", order_type, /*with_headers=*/false);
    publish_dead_letter(jetstream, "order-5", "audit\xff", order_type);

    auto result =
        sea_mq({"dlq", "replay", "--context", "sea", "--nats", server.url(), "--all", "--output", "json"});
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    const auto document = json::parse(result.out);
    EXPECT_EQ(document.at("summary"), json({{"replayed", 3}, {"failed", 1}, {"skipped", 1}})) << result.out;
    std::vector<std::uint64_t> replayed;
    for (const auto& entry : document.at("replayed")) {
        replayed.push_back(entry.at("dlq_sequence"));
        EXPECT_EQ(entry.at("stream"), "SEA_EVENTS");
        EXPECT_TRUE(entry.at("removed").get<bool>());
    }
    EXPECT_EQ(replayed, (std::vector<std::uint64_t>{1, 3, 5}));
    ASSERT_EQ(document.at("failed").size(), 1U);
    EXPECT_EQ(document.at("failed").at(0).at("dlq_sequence"), 2);
    EXPECT_EQ(document.at("failed").at(0).at("subject"), "retired.event.order-placed.v1");
    EXPECT_FALSE(document.at("failed").at(0).at("error").get<std::string>().empty());
    ASSERT_EQ(document.at("skipped").size(), 1U);
    EXPECT_EQ(document.at("skipped").at(0).at("dlq_sequence"), 4);
    EXPECT_NE(result.err.find("replaying dead letter 2 failed"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("skipped dead letter 4"), std::string::npos) << result.err;
    EXPECT_EQ(stream_messages(server.url(), "SEA_EVENTS"), 3U) << "the three good ones, once each";
    EXPECT_EQ(stream_messages(server.url(), "SEA_DLQ"), 2U) << "the failed and the skipped one stay";

    // Text: the same verdicts, the summary as the last line.
    publish_dead_letter(jetstream, "order-6", "audit", order_type);
    result = sea_mq({"dlq", "replay", "--context", "sea", "--nats", server.url(), "--all"});
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    const auto lines = lines_of(result.out);
    ASSERT_FALSE(lines.empty()) << describe(result);
    EXPECT_EQ(lines.back(), "1 replayed, 1 failed, 1 skipped") << result.out;
    EXPECT_NE(result.out.find("replayed dead letter 6 to " + order_type), std::string::npos) << result.out;
    EXPECT_NE(result.err.find("replaying dead letter 2 failed"), std::string::npos) << result.err;
    EXPECT_EQ(stream_messages(server.url(), "SEA_EVENTS"), 4U);

    // Only good ones left: exit 0.
    publish_dead_letter(jetstream, "order-7", "audit", order_type);
    result = sea_mq({"dlq", "replay", "--context", "sea", "--nats", server.url(), "--from-seq", "7"});
    EXPECT_EQ(result.exit_code, 0) << describe(result);
    EXPECT_EQ(lines_of(result.out).back(), "1 replayed, 0 failed, 0 skipped");
}

}  // namespace
}  // namespace seamq::cli::test
