// Selective replication between cells, end to end on a real federation (hub + two
// cells of three nodes, infra/nats/nats.conf), real PostgreSQL per cell, the real
// sea-mq CLI and sea-mq-worker: cell A commits events through its outbox; its relay
// publishes them, its export stage publishes the external copies to SEA_EXPORT; cell
// B's SEA_IMPORTS sources that stream across domains and B's ordinary inbox consumer
// applies them. Internal events must appear nowhere in B.
#include <set>
#include <sstream>

#include "tests/federation/federation_fixture.hpp"
#include "tests/relay/relay_fixture.hpp"
#include <nlohmann/json.hpp>
#include <signal.h>

#include "seamq/testing/postgres_server.hpp"

namespace seamq::federation::test {
namespace {

constexpr int external_events = 200;  //!< order-placed, visibility external: exported
constexpr int internal_placed = 50;   //!< order-placed, but the envelope says internal
constexpr int internal_other = 50;    //!< order-cancelled: internal contract, internal envelope
constexpr int claimed_external = 3;   //!< order-cancelled claiming external: refused, dead-lettered

TEST(Replication, CellBAppliesCellAsExternalEventsOnceInKeyOrderRedactedAndNothingInternalCrosses) {
    Federation federation;
    testing::TempDir files("federation-files");
    const auto streams_a = write_file(files, "streams-a.yaml",
                                      "defaults:\n  replicas: 3\n"
                                      "contexts:\n  - name: sea\n    export: true\n");
    const auto streams_b = write_file(files, "streams-b.yaml",
                                      "defaults:\n  replicas: 3\n"
                                      "contexts:\n  - name: sea\n"
                                      "imports:\n  - context: sea\n    cells: [cell-a]\n");
    auto applied_a = federation.cell_a().operator_cli({"streams", "apply", "--file", streams_a.string()});
    ASSERT_EQ(applied_a.exit_code, 0) << applied_a.out << applied_a.err;
    EXPECT_NE(applied_a.out.find("SEA_EXPORT: created"), std::string::npos) << applied_a.out;
    auto applied_b = federation.cell_b().operator_cli({"streams", "apply", "--file", streams_b.string()});
    ASSERT_EQ(applied_b.exit_code, 0) << applied_b.out << applied_b.err;
    EXPECT_NE(applied_b.out.find("SEA_IMPORTS: created"), std::string::npos) << applied_b.out;
    // Idempotent, sources included.
    applied_b = federation.cell_b().operator_cli({"streams", "apply", "--file", streams_b.string()});
    ASSERT_EQ(applied_b.exit_code, 0) << applied_b.out << applied_b.err;
    EXPECT_NE(applied_b.out.find("SEA_IMPORTS: unchanged"), std::string::npos) << applied_b.out;

    testing::PostgresServer postgres_a;
    testing::PostgresServer postgres_b;
    relay::testing::apply_migrations(postgres_a.create_database("sea"));
    relay::testing::apply_migrations(postgres_b.create_database("sea"));
    postgres_b.query_value(
        "CREATE TABLE applied (position bigserial PRIMARY KEY, id text NOT NULL, key text NOT NULL, "
        "total bigint, envelope jsonb NOT NULL); "
        "CREATE FUNCTION apply_imported(envelope jsonb) RETURNS void LANGUAGE sql AS "
        "$$ INSERT INTO applied (id, key, total, envelope) VALUES (envelope ->> 'id', envelope ->> "
        "'subject', "
        "(envelope -> 'data' ->> 'total_cents')::bigint, envelope) $$; SELECT 1",
        "sea");

    const auto admin_a = testing::free_port();
    const auto admin_b = testing::free_port();
    WorkerProcess worker_a("federation-worker-a", cell_a_worker_yaml(federation.cell_a(), admin_a, streams_a),
                           {{"SEA_DATABASE_URL", postgres_a.url("sea")}});
    WorkerProcess worker_b("federation-worker-b", cell_b_worker_yaml(federation.cell_b(), admin_b, streams_b),
                           {{"SEA_DATABASE_URL", postgres_b.url("sea")}});
    for (auto [port, worker] : {std::pair{admin_a, &worker_a}, std::pair{admin_b, &worker_b}}) {
        std::pair<int, std::string> ready;
        ASSERT_TRUE(testing::wait_until(
            [&] {
                ready = WorkerProcess::readyz(port);
                return ready.first == 200;
            },
            40s))
            << ready.second << "\n"
            << worker->log();
    }

    const auto a = postgres_a.connection_string("sea");
    enqueue(a, "ext-", "sea.event.order-placed.v1", "external", 0, external_events);
    enqueue(a, "int-placed-", "sea.event.order-placed.v1", "internal", 0, internal_placed);
    enqueue(a, "int-cancelled-", "sea.event.order-cancelled.v1", "internal", 0, internal_other);
    enqueue(a, "claimed-", "sea.event.order-cancelled.v1", "external", 0, claimed_external);

    Client operator_a(federation.cell_a().url("operator"), "federation-itest operator cell-a");
    Client operator_b(federation.cell_b().url("operator"), "federation-itest operator cell-b");
    ASSERT_TRUE(testing::wait_until(
        [&] {
            return postgres_b.query_value("SELECT count(*) FROM applied", "sea") ==
                   std::to_string(external_events);
        },
        90s, 100ms))
        << "applied " << postgres_b.query_value("SELECT count(*) FROM applied", "sea") << ", exported "
        << operator_a.jetstream().stream_info("SEA_EXPORT").value_or(nats::StreamInfo{}).state.messages
        << ", imported "
        << operator_b.jetstream().stream_info("SEA_IMPORTS").value_or(nats::StreamInfo{}).state.messages
        << "\n"
        <<
        [&] {
            std::string text;
            const auto info = operator_b.jetstream().stream_info("SEA_IMPORTS");
            if (info)
                for (const auto& source : info->sources)
                    text += fmt::format("source {} {} lag {} active {}ns\n", source.name, source.api_prefix,
                                        source.lag, source.active.count());
            std::istringstream logs(federation.hub().logs() + federation.cell_a().logs() +
                                    federation.cell_b().logs());
            for (std::string line; std::getline(logs, line);)
                if (line.find("Violation") != std::string::npos || line.find("[WRN]") != std::string::npos ||
                    line.find("[ERR]") != std::string::npos)
                    text += line + "\n";
            return text;
        }()
        << worker_a.log() << "\n"
        << worker_b.log();
    // A: every event in SEA_EVENTS once; the three that claimed to be external without
    // an external contract dead-lettered by the export stage, never exported.
    ASSERT_TRUE(testing::wait_until(
        [&] {
            const auto dlq = operator_a.jetstream().stream_info("SEA_DLQ");
            return dlq && dlq->state.messages == static_cast<std::uint64_t>(claimed_external);
        },
        30s))
        << worker_a.log();
    std::this_thread::sleep_for(2s);  // anything late or doubled would show now

    const auto events_a = relay::testing::read_stream(operator_a.jetstream(), "SEA_EVENTS");
    EXPECT_EQ(events_a.size(), static_cast<std::size_t>(external_events + internal_placed + internal_other +
                                                        claimed_external));
    const auto exported = relay::testing::read_stream(operator_a.jetstream(), "SEA_EXPORT");
    ASSERT_EQ(exported.size(), static_cast<std::size_t>(external_events));
    for (const auto& event : exported) {
        EXPECT_EQ(event.subject, "export.sea.event.order-placed.v1");
        EXPECT_EQ(event.message_id, event.envelope.value("id", ""));
    }

    // B applied each external event exactly once...
    EXPECT_EQ(postgres_b.query_value("SELECT count(*) FROM applied", "sea"), std::to_string(external_events));
    EXPECT_EQ(postgres_b.query_value("SELECT count(DISTINCT id) FROM applied", "sea"),
              std::to_string(external_events));
    EXPECT_EQ(postgres_b.query_value("SELECT count(*) FROM applied WHERE id NOT LIKE 'ext-%'", "sea"), "0");
    // ... in each key's commit order ...
    EXPECT_EQ(postgres_b.query_value(
                  "SELECT count(*) FROM (SELECT total < lag(total) OVER (PARTITION BY key ORDER BY position) "
                  "AS backwards FROM applied) o WHERE backwards",
                  "sea"),
              "0");
    // ... and redacted: the contract's sensitive fields are gone, the rest is there.
    EXPECT_EQ(postgres_b.query_value(
                  "SELECT count(*) FROM applied WHERE envelope -> 'data' -> 'customer' ? 'email' OR "
                  "envelope -> 'data' -> 'customer' ? 'name' OR envelope::text LIKE '%secret%'",
                  "sea"),
              "0");
    EXPECT_EQ(postgres_b.query_value(
                  "SELECT count(*) FROM applied WHERE envelope -> 'data' -> 'customer' ->> 'id' IS NOT NULL "
                  "AND envelope ->> 'visibility' = 'external'",
                  "sea"),
              std::to_string(external_events));

    // Nothing internal anywhere in B: read every stream B has, message by message.
    const auto names = operator_b.jetstream().stream_names();
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
              (std::set<std::string>{"SEA_EVENTS", "SEA_DLQ", "SEA_IMPORTS"}));
    std::size_t seen_in_b = 0;
    for (const auto& name : names) {
        for (const auto& message : relay::testing::read_stream(operator_b.jetstream(), name)) {
            ++seen_in_b;
            const auto id = message.envelope.value("id", "");
            EXPECT_TRUE(id.starts_with("ext-")) << name << " holds " << id;
            EXPECT_EQ(message.envelope.dump().find("secret"), std::string::npos) << name << ": " << id;
        }
    }
    EXPECT_EQ(seen_in_b, static_cast<std::size_t>(external_events));  // all of them in SEA_IMPORTS
    const auto imports = operator_b.jetstream().stream_info("SEA_IMPORTS");
    ASSERT_TRUE(imports.has_value());
    ASSERT_EQ(imports->sources.size(), 1U);
    EXPECT_EQ(imports->sources[0].name, "SEA_EXPORT");
    EXPECT_EQ(imports->sources[0].api_prefix, "$JS.cell-a.API");
    EXPECT_EQ(imports->sources[0].lag, 0U);

    for (auto* worker : {&worker_a, &worker_b}) {
        worker->process().signal(SIGTERM);
        const auto status = worker->process().wait_for_exit(20s);
        ASSERT_TRUE(status.has_value()) << worker->log();
        EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << worker->log();
        EXPECT_EQ(worker->log().find("Permissions Violation"), std::string::npos) << worker->log();
    }
}

// Accounts across the leafnode: the federation user (account FEDERATION on the hub)
// reaches a cell's export stream but not its internal streams, nor any event subject;
// a cell's own users cannot reach another cell's JetStream at all.
TEST(Replication, NoAccountReadsAnotherCellsInternalStreamsAcrossTheLeafnode) {
    Federation federation;
    testing::TempDir files("federation-files");
    const auto streams_a =
        write_file(files, "streams-a.yaml", "contexts:\n  - name: sea\n    export: true\n");
    const auto applied = federation.cell_a().operator_cli({"streams", "apply", "--file", streams_a.string()});
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;

    // The federation credential used as a client of the hub (answers may come only on
    // $JSC.R.>, as they do to a source consumer's server).
    Client leaf(federation.hub().url("federation"), "federation-itest federation user", "$JSC.R");
    auto internal_consumer = leaf.request(
        "$JS.cell-a.API.CONSUMER.CREATE.SEA_EVENTS",
        R"({"stream_name":"SEA_EVENTS","config":{"deliver_subject":"$JS.S.stolen","ack_policy":"none"}})",
        2s);
    EXPECT_FALSE(internal_consumer.has_value());
    EXPECT_TRUE(leaf.refused("Publish to", "$JS.cell-a.API.CONSUMER.CREATE.SEA_EVENTS")) << leaf.all_errors();
    auto info = leaf.request("$JS.cell-a.API.STREAM.INFO.SEA_EVENTS", "", 2s);
    EXPECT_FALSE(info.has_value());
    EXPECT_TRUE(leaf.refused("Publish to", "$JS.cell-a.API.STREAM.INFO.SEA_EVENTS")) << leaf.all_errors();
    auto events = leaf.connection().subscribe_sync("sea.>");
    leaf.connection().flush();
    EXPECT_TRUE(leaf.refused("Subscription to", "sea.>")) << leaf.all_errors();
    // What it is for: a consumer on the export stream answers.
    auto export_consumer = leaf.request(
        "$JS.cell-a.API.CONSUMER.CREATE.SEA_EXPORT",
        R"({"stream_name":"SEA_EXPORT","config":{"deliver_subject":"$JS.S.allowed","ack_policy":"none"}})",
        5s);
    ASSERT_TRUE(export_consumer.has_value()) << leaf.all_errors();
    EXPECT_NE(export_consumer->find("\"type\":\"io.nats.jetstream.api.v1.consumer_create_response\""),
              std::string::npos)
        << *export_consumer;

    // Cell B's service user (account SEAMQ of cell-b) and the hub's operator (account
    // SEAMQ of the hub) are refused cell A's JetStream API by their own permissions.
    Client service_b(federation.cell_b().url("service-sea"), "federation-itest service-sea cell-b",
                     "_INBOX_service-sea");
    EXPECT_FALSE(service_b.request("$JS.cell-a.API.STREAM.INFO.SEA_EVENTS", "", 2s).has_value());
    EXPECT_TRUE(service_b.refused("Publish to", "$JS.cell-a.API.STREAM.INFO.SEA_EVENTS"))
        << service_b.all_errors();
    Client hub_operator(federation.hub().url("operator"), "federation-itest operator hub");
    EXPECT_FALSE(hub_operator.request("$JS.cell-a.API.STREAM.INFO.SEA_EVENTS", "", 2s).has_value());
    EXPECT_TRUE(hub_operator.refused("Publish to", "$JS.cell-a.API.STREAM.INFO.SEA_EVENTS"))
        << hub_operator.all_errors();
    // The servers logged the refusals against the users.
    const auto logs = federation.hub().logs() + federation.cell_b().logs();
    EXPECT_NE(
        logs.find(
            R"(Publish Violation - User "federation", Subject "$JS.cell-a.API.CONSUMER.CREATE.SEA_EVENTS")"),
        std::string::npos);
}

}  // namespace
}  // namespace seamq::federation::test
