// The real `sea-mq` binary against real servers: `publish` writes one validated event
// into its context's outbox (and refuses invalid ones without writing), `tail` shows
// exactly the events a relay publishes, in order, with their content, and `status`
// reports the relay leader, the outbox lag the database holds, consumers, dead-letter
// stream sizes and server health, exiting 1 when something is unhealthy or unreachable.
#include <fstream>
#include <regex>

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

const std::string order_type = "sea.event.order-placed.v1";

//! A payload valid against schemas/events/sea/order-placed.v1.schema.json.
std::string order_data(int total_cents) {
    return json({{"order_id", "42"},
                 {"customer", {{"id", "c-1"}, {"email", "ada@example.com"}}},
                 {"lines", {{{"sku", "SKU-1"}, {"quantity", 1}, {"unit_price_cents", total_cents}}}},
                 {"total_cents", total_cents},
                 {"currency", "EUR"}})
        .dump();
}

std::string migrated_database(PostgresServer& postgres, const std::string& name) {
    postgres.create_database(name);
    const auto url = postgres.url(name);
    const auto migrate = sea_mq({"db", "migrate", "--database", url});
    EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
    return url;
}

std::string count_rows(PostgresServer& postgres, const std::string& database,
                       const std::string& where = "true") {
    return postgres.query_value("SELECT count(*) FROM seamq.outbox_events WHERE " + where, database);
}

TEST(CliPublish, WritesOneValidatedEventIntoItsContextsOutboxAndRefusesInvalidOnes) {
    PostgresServer postgres;
    const auto url = migrated_database(postgres, "orders");

    // Options: the id given, the source defaulted, the payload as given.
    auto published = sea_mq({"publish", "--database", url, "--type", order_type, "--subject", "order-42",
                             "--data", order_data(500), "--id", "order-42-placed", "--traceparent",
                             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"});
    ASSERT_EQ(published.exit_code, 0) << published.err;
    EXPECT_EQ(published.out, "order-42-placed\n");
    EXPECT_EQ(postgres.query_value(
                  "SELECT type || '|' || context || '|' || subject || '|' || status || '|' || "
                  "(envelope->>'source') || '|' || (envelope->'data'->>'total_cents') || '|' || "
                  "(envelope->>'traceparent') FROM seamq.outbox_events WHERE id = 'order-42-placed'",
                  "orders"),
              "sea.event.order-placed.v1|sea|order-42|pending|/sea-mq/cli|500|"
              "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

    // Without --id: a new UUID v4, printed alone on standard output.
    published = sea_mq({"publish", "--database", url, "--type", order_type, "--subject", "order-43", "--data",
                        order_data(700)});
    ASSERT_EQ(published.exit_code, 0) << published.err;
    const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$");
    ASSERT_TRUE(std::regex_match(published.out, uuid)) << published.out;
    const auto generated_id = published.out.substr(0, published.out.size() - 1);
    EXPECT_EQ(postgres.query_value("SELECT subject || '|' || (envelope->'data'->>'total_cents') FROM "
                                   "seamq.outbox_events WHERE id = '" +
                                       generated_id + "'",
                                   "orders"),
              "order-43|700");

    // A whole envelope from a file.
    TempDir scratch("publish");
    const auto envelope_file = scratch.path() / "envelope.json";
    {
        std::ofstream out(envelope_file);
        out << json({{"specversion", "1.0"},
                     {"id", "from-file-1"},
                     {"source", "/tests/cli"},
                     {"type", "vibespro.event.spec-published.v1"},
                     {"subject", "spec-7"},
                     {"time", "2024-05-01T12:00:00Z"},
                     {"datacontenttype", "application/json"},
                     {"data", json::parse(R"({"spec_id":"VP-007","revision":3,"title":"Checkout"})")}})
                   .dump();
    }
    published = sea_mq({"publish", "--database", url, "--file", envelope_file.string()});
    ASSERT_EQ(published.exit_code, 0) << published.err;
    EXPECT_EQ(published.out, "from-file-1\n");
    EXPECT_EQ(
        postgres.query_value("SELECT context || '|' || type || '|' || (envelope->'data'->>'revision') FROM "
                             "seamq.outbox_events WHERE id = 'from-file-1'",
                             "orders"),
        "vibespro|vibespro.event.spec-published.v1|3");
    const auto rows_before = count_rows(postgres, "orders");

    // Refusals: exit 1, the problem named, nothing written.
    const auto duplicate = sea_mq({"publish", "--database", url, "--type", order_type, "--subject",
                                   "order-42", "--data", order_data(500), "--id", "order-42-placed"});
    EXPECT_EQ(duplicate.exit_code, 1);
    EXPECT_NE(duplicate.err.find("order-42-placed is already in the outbox"), std::string::npos)
        << duplicate.err;

    auto incomplete = json::parse(order_data(500));
    incomplete.erase("currency");
    const auto breaks_contract = sea_mq({"publish", "--database", url, "--type", order_type, "--subject",
                                         "order-44", "--data", incomplete.dump()});
    EXPECT_EQ(breaks_contract.exit_code, 1);
    EXPECT_NE(breaks_contract.err.find("currency"), std::string::npos) << breaks_contract.err;
    EXPECT_NE(breaks_contract.err.find("nothing was published"), std::string::npos) << breaks_contract.err;

    const auto bad_type = sea_mq({"publish", "--database", url, "--type", "sea.event.Order_Placed.v1",
                                  "--subject", "order-45", "--data", "{}"});
    EXPECT_EQ(bad_type.exit_code, 1);
    EXPECT_NE(bad_type.err.find("/type"), std::string::npos) << bad_type.err;

    const auto not_json_file = scratch.path() / "broken.json";
    std::ofstream(not_json_file) << "{\"specversion\": ";
    const auto broken = sea_mq({"publish", "--database", url, "--file", not_json_file.string()});
    EXPECT_EQ(broken.exit_code, 1);
    EXPECT_NE(broken.err.find("broken.json"), std::string::npos) << broken.err;

    EXPECT_EQ(count_rows(postgres, "orders"), rows_before);

    // An unreachable database is an operation failure (1), not a usage error.
    const auto unreachable =
        sea_mq({"publish", "--database",
                "postgresql://postgres@127.0.0.1:" + std::to_string(seamq::testing::free_port()) +
                    "/orders?connect_timeout=2",
                "--type", order_type, "--subject", "order-46", "--data", order_data(1)});
    EXPECT_EQ(unreachable.exit_code, 1) << unreachable.err;
    EXPECT_NE(unreachable.err.find("sea-mq:"), std::string::npos) << unreachable.err;
}

//! `sea-mq ...` in the background with standard output and standard error in files.
struct BackgroundCommand {
    BackgroundCommand(const TempDir& scratch, const std::string& name,
                      const std::vector<std::string>& arguments)
        : out(scratch.path() / (name + ".out")), err(scratch.path() / (name + ".err")) {
        std::string command = "exec " + shell_quote(sea_mq_binary().string());
        for (const auto& argument : arguments) command += " " + shell_quote(argument);
        command += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string()) + " </dev/null";
        process = ChildProcess(ChildProcess::Options{.argv = {"sh", "-c", command}});
    }
    std::filesystem::path out;
    std::filesystem::path err;
    ChildProcess process;
};

ChildProcess start_relay(const TempDir& scratch, const std::string& name, const std::string& database,
                         const std::string& nats_url) {
    return ChildProcess(ChildProcess::Options{
        .argv = {sea_mq_binary().string(), "relay", "run", "--context", "sea", "--database", database,
                 "--nats", nats_url, "--name", name, "--expected-stream", "SEA_EVENTS", "--poll-ms", "100",
                 "--election-ms", "200"},
        .log_file = scratch.path() / (name + ".log")});
}

json context_report(const json& status, const std::string& name) {
    for (const auto& context : status.at("contexts"))
        if (context.at("name") == name) return context;
    ADD_FAILURE() << "no context " << name << " in " << status.dump(2);
    return json::object();
}

const json* consumer_report(const json& context, const std::string& name) {
    for (const auto& consumer : context.at("jetstream").at("consumers"))
        if (consumer.at("name") == name) return &consumer;
    return nullptr;
}

TEST(CliTailAndStatus, TailShowsTheRelayedEventsAndStatusReportsLeaderLagConsumersDeadLettersAndHealth) {
    NatsServer server;
    PostgresServer postgres;
    const auto database = migrated_database(postgres, "orders");
    const auto streams_file = (seamq::testing::source_dir() / "config" / "streams.yaml").string();
    const auto applied = sea_mq({"streams", "apply", "--file", streams_file, "--nats", server.url()});
    ASSERT_EQ(applied.exit_code, 0) << applied.err;
    TempDir scratch("tail-status");

    // Two tails, JSON lines and text, both subscribed before anything is published.
    BackgroundCommand tail_json(scratch, "tail-json",
                                {"tail", "sea.event.>", "--nats", server.url(), "--count", "3", "--timeout",
                                 "60s", "--output", "json"});
    BackgroundCommand tail_text(
        scratch, "tail-text",
        {"tail", "sea.event.>", "--nats", server.url(), "--count", "3", "--timeout", "60s"});
    ASSERT_TRUE(wait_until(
        [&] {
            return slurp(tail_json.err).find("following") != std::string::npos &&
                   slurp(tail_text.err).find("following") != std::string::npos;
        },
        20s))
        << slurp(tail_json.err) << slurp(tail_text.err);

    auto relay = start_relay(scratch, "relay-a", database, server.url());
    const std::vector<std::pair<std::string, int>> events = {{"e-1", 100}, {"e-2", 200}, {"e-3", 300}};
    for (const auto& [id, total] : events) {
        const auto published = sea_mq({"publish", "--database", database, "--type", order_type, "--subject",
                                       "order-42", "--data", order_data(total), "--id", id});
        ASSERT_EQ(published.exit_code, 0) << published.err;
    }
    for (auto* tail : {&tail_json, &tail_text}) {
        const auto status = tail->process.wait_for_exit(60s);
        ASSERT_TRUE(status.has_value()) << "tail did not stop after 3 messages: " << slurp(tail->err);
        EXPECT_EQ(ChildProcess::exit_code(*status), 0) << slurp(tail->err);
    }

    // JSON lines: exactly the three events, in commit order, with their ids and content.
    const auto json_lines = lines_of(slurp(tail_json.out));
    ASSERT_EQ(json_lines.size(), events.size()) << slurp(tail_json.out);
    for (std::size_t index = 0; index < events.size(); ++index) {
        const auto line = json::parse(json_lines[index]);
        EXPECT_EQ(line.at("number"), index + 1);
        EXPECT_EQ(line.at("subject"), order_type);
        EXPECT_EQ(line.at("headers").at("Nats-Msg-Id"), events[index].first);
        EXPECT_EQ(line.at("payload").at("id"), events[index].first);
        EXPECT_EQ(line.at("payload").at("subject"), "order-42");
        EXPECT_EQ(line.at("payload").at("data"), json::parse(order_data(events[index].second)));
    }
    // Text: subject line, headers, the payload indented, in the same order.
    const auto text = slurp(tail_text.out);
    std::size_t position = 0;
    for (std::size_t index = 0; index < events.size(); ++index) {
        for (const auto& expected :
             {"#" + std::to_string(index + 1) + " " + order_type, "  Nats-Msg-Id: " + events[index].first,
              "      \"total_cents\": " + std::to_string(events[index].second),
              "    \"id\": \"" + events[index].first + "\""}) {
            const auto found = text.find(expected, position);
            ASSERT_NE(found, std::string::npos)
                << "'" << expected << "' after offset " << position << " in:\n"
                << text;
            position = found;
        }
    }

    // A tail that does not get its --count in time says so and exits 1.
    const auto quiet =
        sea_mq({"tail", "sea.event.>", "--nats", server.url(), "--count", "1", "--timeout", "1s"});
    EXPECT_EQ(quiet.exit_code, 1);
    EXPECT_NE(quiet.err.find("expected 1 message(s), got 0"), std::string::npos) << quiet.err;

    // Two dead letters and a consumer that has read nothing yet.
    nats::Connection connection(nats::ConnectionOptions::from_urls(server.url(), "cli-itest"));
    nats::JetStream jetstream(connection);
    for (const auto* id : {"dead-1", "dead-2"}) {
        nats::OutgoingMessage letter;
        letter.subject = "dlq.sea.audit";
        letter.payload = R"({"dead":true})";
        letter.message_id = id;
        jetstream.publish(letter);
    }
    nats::ConsumerConfig audit;
    audit.durable_name = "audit";
    audit.filter_subject = "sea.event.>";
    jetstream.add_consumer("SEA_EVENTS", audit);
    ASSERT_TRUE(wait_until([&] { return count_rows(postgres, "orders", "status = 'pending'") == "0"; }, 20s));

    const std::vector<std::string> status_arguments = {
        "status",    "--nats",          server.url(),     "--monitor",  server.monitor_url(),
        "--context", "sea=" + database, "--streams-file", streams_file, "--timeout",
        "3"};
    auto with_json = [&](std::vector<std::string> arguments) {
        arguments.insert(arguments.end(), {"--output", "json"});
        return arguments;
    };

    // Healthy: exit 0; the leader, no lag, the consumer's backlog, the dead letters.
    auto result = sea_mq(with_json(status_arguments));
    ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
    auto document = json::parse(result.out);
    EXPECT_TRUE(document.at("healthy").get<bool>());
    EXPECT_TRUE(document.at("problems").empty()) << document.at("problems").dump();
    EXPECT_EQ(document.at("cluster").at(0).at("healthz").at("status"), "ok");
    EXPECT_TRUE(document.at("nats").at("connected").get<bool>());
    auto sea = context_report(document, "sea");
    EXPECT_EQ(sea.at("outbox").at("relay_leader").at("name"), "relay-a");
    EXPECT_EQ(sea.at("outbox").at("pending"), 0);
    EXPECT_EQ(sea.at("outbox").at("rejected"), 0);
    EXPECT_EQ(sea.at("jetstream").at("events_stream").at("messages"), 3);
    EXPECT_EQ(sea.at("jetstream").at("dead_letters").at("stream"), "SEA_DLQ");
    EXPECT_EQ(sea.at("jetstream").at("dead_letters").at("messages"), 2);
    ASSERT_NE(consumer_report(sea, "audit"), nullptr) << sea.dump(2);
    EXPECT_EQ(consumer_report(sea, "audit")->at("num_pending"), 3);
    EXPECT_EQ(context_report(document, "governance").at("jetstream").at("dead_letters").at("messages"), 0);

    result = sea_mq(status_arguments);
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    for (const char* expected : {"leader relay-a", "0 pending, 0 rejected", "SEA_EVENTS  3 messages",
                                 "audit  pending 3", "SEA_DLQ  2 messages", "healthz ok", "Healthy"})
        EXPECT_NE(result.out.find(expected), std::string::npos) << "'" << expected << "' in:\n" << result.out;

    // No relay: two events wait; status counts what the database holds and exits 1.
    EXPECT_EQ(ChildProcess::exit_code(relay.stop()), 0);
    for (const auto* id : {"e-4", "e-5"}) {
        const auto published = sea_mq({"publish", "--database", database, "--type", order_type, "--subject",
                                       "order-42", "--data", order_data(400), "--id", id});
        ASSERT_EQ(published.exit_code, 0) << published.err;
    }
    result = sea_mq(with_json(status_arguments));
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    document = json::parse(result.out);
    sea = context_report(document, "sea");
    EXPECT_TRUE(sea.at("outbox").at("relay_leader").is_null());
    EXPECT_EQ(std::to_string(sea.at("outbox").at("pending").get<std::int64_t>()),
              count_rows(postgres, "orders", "context = 'sea' AND status = 'pending'"));
    EXPECT_EQ(sea.at("outbox").at("pending"), 2);
    EXPECT_GT(sea.at("outbox").at("oldest_pending_age_seconds").get<double>(), 0.0);
    ASSERT_EQ(document.at("problems").size(), 1u) << document.at("problems").dump();
    EXPECT_NE(document.at("problems").at(0).get<std::string>().find("context sea: no relay is leading"),
              std::string::npos);
    result = sea_mq(status_arguments);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.out.find("NO LEADER"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("2 pending, oldest"), std::string::npos) << result.out;

    // Another relay takes over: the backlog drains and the consumer sees all five.
    auto successor = start_relay(scratch, "relay-b", database, server.url());
    ASSERT_TRUE(wait_until([&] { return count_rows(postgres, "orders", "status = 'pending'") == "0"; }, 20s));
    result = sea_mq(with_json(status_arguments));
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    sea = context_report(json::parse(result.out), "sea");
    EXPECT_EQ(sea.at("outbox").at("relay_leader").at("name"), "relay-b");
    EXPECT_EQ(sea.at("outbox").at("pending"), 0);
    ASSERT_NE(consumer_report(sea, "audit"), nullptr);
    EXPECT_EQ(consumer_report(sea, "audit")->at("num_pending"), 5);

    // NATS down: exit 1, what is still known is printed, the outage is named.
    server.stop();
    result = sea_mq(with_json(status_arguments));
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    document = json::parse(result.out);
    EXPECT_FALSE(document.at("healthy").get<bool>());
    EXPECT_FALSE(document.at("nats").at("connected").get<bool>());
    EXPECT_FALSE(document.at("cluster").at(0).at("reachable").get<bool>());
    sea = context_report(document, "sea");
    EXPECT_EQ(sea.at("outbox").at("pending"), 0);
    EXPECT_TRUE(sea.at("jetstream").is_null());
    bool names_nats = false;
    for (const auto& problem : document.at("problems"))
        names_nats = names_nats || problem.get<std::string>().rfind("NATS " + server.url(), 0) == 0;
    EXPECT_TRUE(names_nats) << document.at("problems").dump(2);
    result = sea_mq(status_arguments);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.out.find("UNREACHABLE"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("problem(s):"), std::string::npos) << result.out;
    successor.stop();
}

}  // namespace
}  // namespace seamq::cli::test
