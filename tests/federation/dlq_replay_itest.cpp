// Dead letters of imported events, replayed in the receiving cell: cell A exports; cell
// B's ordinary consumer of SEA_IMPORTS refuses one event for good (SQLSTATE SQ100), which
// goes to B's SEA_DLQ with its subject export.sea.<type>; after the handler is fixed,
// `sea-mq dlq replay` in B republishes it to SEA_IMPORTS's own replay subject
// import.sea.<type> and B applies it exactly once. (Before import streams had that
// subject, the replay was refused: no stream of B captures export.sea.>.)
#include <thread>

#include "tests/federation/federation_fixture.hpp"
#include "tests/relay/relay_fixture.hpp"
#include <nlohmann/json.hpp>

#include "seamq/testing/postgres_server.hpp"

namespace seamq::federation::test {
namespace {

constexpr int events = 6;

TEST(DlqReplay, ADeadLetteredImportedEventIsReplayedInTheReceivingCellAndAppliedOnce) {
    Federation federation;
    testing::TempDir files("federation-dlq-replay");
    const auto streams_a = write_file(
        files, "streams-a.yaml", "defaults:\n  replicas: 3\ncontexts:\n  - name: sea\n    export: true\n");
    const auto streams_b = write_file(files, "streams-b.yaml",
                                      "defaults:\n  replicas: 3\ncontexts:\n  - name: sea\n"
                                      "imports:\n  - context: sea\n    cells: [cell-a]\n");
    for (auto [cluster, file] :
         {std::pair{&federation.cell_a(), streams_a}, std::pair{&federation.cell_b(), streams_b}}) {
        const auto applied = cluster->operator_cli({"streams", "apply", "--file", file.string()});
        ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    }
    testing::PostgresServer postgres_a;
    testing::PostgresServer postgres_b;
    relay::testing::apply_migrations(postgres_a.create_database("sea"));
    relay::testing::apply_migrations(postgres_b.create_database("sea"));
    // B's handler refuses, for good, the events listed in `refused`.
    postgres_b.query_value(
        "CREATE TABLE applied (position bigserial PRIMARY KEY, id text NOT NULL, key text NOT NULL, "
        "total bigint); CREATE TABLE refused (id text PRIMARY KEY); INSERT INTO refused VALUES ('p-2'); "
        "CREATE FUNCTION apply_imported(envelope jsonb) RETURNS void LANGUAGE plpgsql AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM refused WHERE id = envelope ->> 'id') THEN "
        "RAISE EXCEPTION 'order % refused', envelope ->> 'id' USING ERRCODE = 'SQ100'; END IF; "
        "INSERT INTO applied (id, key, total) VALUES (envelope ->> 'id', envelope ->> 'subject', "
        "(envelope -> 'data' ->> 'total_cents')::bigint); END $$; SELECT 1",
        "sea");

    const auto admin_a = testing::free_port();
    const auto admin_b = testing::free_port();
    WorkerProcess worker_a("federation-dlq-a", cell_a_worker_yaml(federation.cell_a(), admin_a, streams_a),
                           {{"SEA_DATABASE_URL", postgres_a.url("sea")}});
    WorkerProcess worker_b("federation-dlq-b", cell_b_worker_yaml(federation.cell_b(), admin_b, streams_b),
                           {{"SEA_DATABASE_URL", postgres_b.url("sea")}});
    for (auto [port, worker] : {std::pair{admin_a, &worker_a}, std::pair{admin_b, &worker_b}}) {
        ASSERT_TRUE(testing::wait_until([&] { return WorkerProcess::readyz(port).first == 200; }, 40s))
            << worker->log();
    }
    enqueue(postgres_a.connection_string("sea"), "p-", "sea.event.order-placed.v1", "external", 0, events);

    const auto applied = [&] {
        return std::stoi(postgres_b.query_value("SELECT count(*) FROM applied", "sea"));
    };
    Client operator_b(federation.cell_b().url("operator"), "federation-dlq operator cell-b");
    const auto dead_letters = [&] {
        const auto dlq = operator_b.jetstream().stream_info("SEA_DLQ");
        return dlq ? dlq->state.messages : 0;
    };
    ASSERT_TRUE(
        testing::wait_until([&] { return applied() == events - 1 && dead_letters() == 1; }, 60s, 100ms))
        << "applied " << applied() << ", dead letters " << dead_letters() << "\n"
        << worker_b.log();

    // The dead letter names the import stream and the export subject it came on.
    const auto listed =
        federation.cell_b().operator_cli({"dlq", "list", "--context", "sea", "--output", "json"});
    ASSERT_EQ(listed.exit_code, 0) << listed.out << listed.err;
    EXPECT_NE(listed.out.find("export.sea.event.order-placed.v1"), std::string::npos) << listed.out;
    EXPECT_NE(listed.out.find("SEA_IMPORTS"), std::string::npos) << listed.out;

    // Fixed; replayed by the operator of cell B.
    postgres_b.query_value("DELETE FROM refused; SELECT 1", "sea");
    const auto replayed =
        federation.cell_b().operator_cli({"dlq", "replay", "--context", "sea", "--all", "--output", "json"});
    ASSERT_EQ(replayed.exit_code, 0) << replayed.out << replayed.err;
    const auto report = nlohmann::json::parse(replayed.out, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << replayed.out;
    EXPECT_EQ(report["summary"]["replayed"], 1) << replayed.out;
    EXPECT_EQ(report["summary"]["failed"], 0) << replayed.out;

    ASSERT_TRUE(testing::wait_until([&] { return applied() == events; }, 30s, 100ms))
        << "applied " << applied() << "\n"
        << worker_b.log();
    std::this_thread::sleep_for(2s);  // anything applied twice would show now
    EXPECT_EQ(applied(), events);
    EXPECT_EQ(postgres_b.query_value("SELECT count(*) FROM applied WHERE id = 'p-2'", "sea"), "1");
    EXPECT_EQ(postgres_b.query_value("SELECT count(DISTINCT id) FROM applied", "sea"),
              std::to_string(events));
    EXPECT_EQ(dead_letters(), 0U);
    // The replay went into the import stream by its own subject, not into any stream of B
    // that captures export.sea.> (there is none) nor back to cell A.
    const auto imports = operator_b.jetstream().stream_info("SEA_IMPORTS");
    ASSERT_TRUE(imports);
    EXPECT_EQ(imports->state.messages, static_cast<std::uint64_t>(events + 1));
    const auto last = operator_b.jetstream().get_message("SEA_IMPORTS", imports->state.last_sequence);
    ASSERT_TRUE(last);
    EXPECT_EQ(last->subject(), "import.sea.event.order-placed.v1");
    Client operator_a(federation.cell_a().url("operator"), "federation-dlq operator cell-a");
    const auto exported = operator_a.jetstream().stream_info("SEA_EXPORT");
    ASSERT_TRUE(exported);
    EXPECT_EQ(exported->state.messages, static_cast<std::uint64_t>(events));
}

}  // namespace
}  // namespace seamq::federation::test
