// The producer benchmark (issue 13): what `seamq.enqueue` costs the transactions of the
// service that calls it, against a plain INSERT of the same jsonb into a table keyed by
// id (what other outbox libraries do). All figures from one run on a PostgreSQL started
// here, driven by pgbench (8 clients, one event per transaction, a fixed duration):
//
//  * plain_insert: INSERT INTO a (id text PRIMARY KEY, envelope jsonb) table;
//  * enqueue: SELECT seamq.enqueue(envelope);
//  * enqueue_many: SELECT seamq.enqueue_many(ARRAY[10 envelopes]) (figures per event);
//  * enqueue_relay: enqueue with a seamq::relay::Relay running in this process,
//    publishing to a nats-server started here (the relay's CPU competes for the cores);
//
// each with synchronous_commit on ("sync") and off ("cpu": CPU-bound, no WAL flush wait).
// Without a relay the sessions run with `seamq.notify = off`: no relay is awake, so
// otherwise every transaction would NOTIFY, and notifying commits serialize. With the
// relay running the trigger's wake-up protocol runs as in production.
//
// Per case: tps, events/s, server time per event from pg_stat_statements
// (total_exec_time of the case's statement; it leaves out commit) and the CPU of the
// PostgreSQL processes per event (postmaster and children from /proc, before and after).
// After each case the rows in the table must equal the events pgbench reports.
//
// Then the parts of enqueue's cost, server side only (no client, no network): a procedure
// in one session runs each statement or expression 10,000 times, committing after each,
// so PL/pgSQL prepares its expressions again every time as it does for producers, whose
// transactions hold one event. Two rounds; the lower time of each part counts.
//
// Writes <out>/producer.json and <out>/producer.md and prints the table.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

#include "bench/bench_support.hpp"
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/relay/relay.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::bench {
namespace {

using namespace std::chrono_literals;

constexpr const char* stream_name = "SEA";
constexpr const char* plain_table = "public.bench_plain_events";

struct Settings {
    int seconds = 10;                //!< pgbench duration of each case
    int clients = 8;                 //!< pgbench sessions
    int jobs = 2;                    //!< pgbench threads
    int keys = 1000;                 //!< ordering keys (envelope subject)
    int padding = 160;               //!< bytes of filler in each event's data
    int batch = 10;                  //!< events per enqueue_many call
    bool relay = true;               //!< the enqueue_relay case
    bool nested = false;             //!< pg_stat_statements.track = all: statements inside the functions
    int parts_transactions = 10000;  //!< per part of enqueue's cost; 0 skips them
    fs::path output_dir = "build/bench";
};

// --- the transactions ------------------------------------------------------------

//! The envelope as SQL: a CloudEvents object valid for seamq.enqueue, a fresh UUID as
//! its id, `key` the ordering key number, `line` a number in its data, and `padding`
//! bytes of filler, as bench_support's make_events builds them.
std::string envelope_sql(const std::string& key, const std::string& line, int padding) {
    return "format('{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/bench/orders\",\"type\":\"" +
           std::string(event_type) +
           "\",\"subject\":\"order-%s\",\"time\":\"2024-05-01T12:00:00.000000Z\",\"datacontenttype\":"
           "\"application/json\",\"data\":{\"order_id\":\"order-%s\",\"line\":%s,\"amount_cents\":%s,"
           "\"note\":\"" +
           std::string(static_cast<std::size_t>(padding), 'x') + "\"}}', gen_random_uuid(), " + key + ", " +
           key + ", " + line + ", 1000 + " + line + " % 9000)::jsonb";
}

//! Events the outbox holds: rows still in the table plus those the relay has published
//! and recorded in the publication log (its default, which deletes the row).
constexpr const char* outbox_count_sql =
    "SELECT (SELECT count(*) FROM seamq.outbox_events) + "
    "(SELECT coalesce(sum(cardinality(ids)), 0) FROM seamq.outbox_publications)";

struct Script {
    std::string name;
    std::string text;        //!< pgbench script
    std::string statement;   //!< LIKE pattern of its statement in pg_stat_statements
    std::string count_sql;   //!< rows it has written
    std::string reset_sql;   //!< empties its table before the case
    std::string sample_sql;  //!< one envelope it wrote
    int events_per_transaction = 1;
};

std::string script_header(const Settings& settings) {
    return "\\set k random(0, " + std::to_string(settings.keys - 1) + ")\n\\set line random(1, 1000000)\n";
}

Script plain_insert_script(const Settings& settings) {
    return Script{
        .name = "plain_insert",
        .text = script_header(settings) + "INSERT INTO " + plain_table +
                " (id, envelope) SELECT e ->> 'id', e FROM (SELECT " +
                envelope_sql(":k::int", ":line::int", settings.padding) + ") AS v(e);\n",
        .statement = "INSERT INTO " + std::string(plain_table) + "%",
        .count_sql = "SELECT count(*) FROM " + std::string(plain_table),
        .reset_sql = "TRUNCATE " + std::string(plain_table),
        .sample_sql = "SELECT envelope::text FROM " + std::string(plain_table) + " LIMIT 1",
    };
}

Script enqueue_script(const Settings& settings) {
    return Script{
        .name = "enqueue",
        .text = script_header(settings) + "SELECT seamq.enqueue(" +
                envelope_sql(":k::int", ":line::int", settings.padding) + ");\n",
        .statement = "SELECT seamq.enqueue(%",
        .count_sql = outbox_count_sql,
        .reset_sql = "TRUNCATE seamq.outbox_events, seamq.outbox_publications",
        .sample_sql = "SELECT envelope::text FROM seamq.outbox_events LIMIT 1",
    };
}

Script enqueue_many_script(const Settings& settings) {
    // Distinct keys within a batch (101 and 1,000 are coprime), as distinct orders would be.
    const std::string key = "((:k::int + g * 101) % " + std::to_string(settings.keys) + ")";
    return Script{
        .name = "enqueue_many",
        .text = script_header(settings) + "SELECT cardinality(seamq.enqueue_many(ARRAY(SELECT " +
                envelope_sql(key, "(:line::int + g)", settings.padding) + " FROM generate_series(1, " +
                std::to_string(settings.batch) + ") AS g)));\n",
        .statement = "SELECT cardinality(seamq.enqueue_many(%",
        .count_sql = outbox_count_sql,
        .reset_sql = "TRUNCATE seamq.outbox_events, seamq.outbox_publications",
        .sample_sql = "SELECT envelope::text FROM seamq.outbox_events LIMIT 1",
        .events_per_transaction = settings.batch,
    };
}

// --- pgbench ---------------------------------------------------------------------

//! pgbench of the PostgreSQL the harness runs (Debian keeps it out of PATH).
fs::path pgbench_path() {
    if (const char* configured = std::getenv("SEAMQ_PG_BINDIR"); configured && *configured)  // NOLINT
        return fs::path(configured) / "pgbench";
    for (const char* candidate : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"}) {
        if (fs::exists(fs::path(candidate) / "pgbench")) return fs::path(candidate) / "pgbench";
    }
    const auto bindir = command_output("pg_config --bindir 2>/dev/null");
    if (!bindir.empty() && fs::exists(fs::path(bindir) / "pgbench")) return fs::path(bindir) / "pgbench";
    raise(Errc::not_found, "pgbench not found in /usr/lib/postgresql/15/bin (Debian package postgresql-15)");
}

struct PgbenchRun {
    std::uint64_t transactions = 0;
    std::uint64_t failed = 0;
    double tps = 0;
    double latency_ms = 0;
    std::string command;
};

//! The number after `label` on the first line of pgbench's output that contains it.
double output_number(const std::string& output, const std::string& label) {
    const auto at = output.find(label);
    if (at == std::string::npos) return -1;
    std::istringstream rest(output.substr(at + label.size()));
    double value = -1;
    rest >> value;
    return value;
}

PgbenchRun run_pgbench(const fs::path& script, const std::string& pgoptions, unsigned short port,
                       const Settings& settings) {
    PgbenchRun run;
    run.command = "PGOPTIONS='" + pgoptions + "' " + pgbench_path().string() +
                  " -n -M prepared -h 127.0.0.1 -p " + std::to_string(port) + " -U postgres -c " +
                  std::to_string(settings.clients) + " -j " + std::to_string(settings.jobs) + " -T " +
                  std::to_string(settings.seconds) + " -f " + script.string() + " seamq";
    std::string output;
    int status = -1;
    if (FILE* pipe = ::popen((run.command + " 2>&1").c_str(), "r")) {
        char buffer[512];
        while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
        status = ::pclose(pipe);
    }
    if (status != 0) raise(Errc::internal, "pgbench failed (status {}): {}\n{}", status, run.command, output);
    run.transactions =
        static_cast<std::uint64_t>(output_number(output, "number of transactions actually processed:"));
    const double failed = output_number(output, "number of failed transactions:");
    run.failed = failed > 0 ? static_cast<std::uint64_t>(failed) : 0;
    run.tps = output_number(output, "tps =");
    run.latency_ms = output_number(output, "latency average =");
    if (run.tps < 0 || output.find("number of transactions actually processed:") == std::string::npos)
        raise(Errc::internal, "pgbench output not understood:\n{}", output);
    return run;
}

// --- server time -----------------------------------------------------------------

//! Milliseconds and calls of the statements matching `pattern` since the last reset.
std::pair<double, std::int64_t> statement_time(postgres::Connection& connection, const std::string& pattern) {
    const auto rows = connection.exec(
        "SELECT coalesce(sum(total_exec_time), 0)::float8::text, coalesce(sum(calls), 0)::bigint FROM "
        "pg_stat_statements WHERE toplevel AND query LIKE $1",
        pattern);
    return {std::stod(std::string(rows.text(0, 0))), rows.get<std::int64_t>(0, 1)};
}

//! The statements that took the most server time since the last reset (with --nested,
//! also those the functions and triggers run).
json top_statements(postgres::Connection& connection) {
    const auto rows = connection.exec(
        "SELECT calls, round(total_exec_time::numeric, 1)::text, round(mean_exec_time::numeric, 4)::text, "
        "toplevel, left(regexp_replace(query, '\\s+', ' ', 'g'), 140) FROM pg_stat_statements "
        "WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 12");
    json top = json::array();
    for (int row = 0; row < rows.rows(); ++row) {
        top.push_back({{"calls", rows.get<std::int64_t>(row, 0)},
                       {"total_ms", std::stod(std::string(rows.text(row, 1)))},
                       {"mean_ms", std::stod(std::string(rows.text(row, 2)))},
                       {"toplevel", rows.text(row, 3) == "t"},
                       {"query", std::string(rows.text(row, 4))}});
    }
    return top;
}

// --- the relay beside it ---------------------------------------------------------

relay::RelayOptions relay_options(const std::string& conninfo) {
    relay::RelayOptions options;
    options.context = "sea";
    options.database = conninfo;
    options.expected_stream = stream_name;
    options.instance_name = "bench-relay";
    return options;  // everything else: the defaults a worker runs with
}

void reset_stream(nats::JetStream& jetstream) {
    jetstream.delete_stream(stream_name);
    nats::StreamConfig config;
    config.name = stream_name;
    config.subjects = {"sea.>"};
    config.storage = nats::StorageType::file;
    config.replicas = 1;
    jetstream.add_stream(config);
}

// --- the parts of enqueue's cost --------------------------------------------------

constexpr const char* parts_table_sql =
    "CREATE TABLE IF NOT EXISTS public.bench_parts (part text, round int, us_per_transaction float8)";

//! Runs public.bench_parts_body(n) and records µs per transaction in bench_parts.
constexpr const char* parts_probe_sql = R"sql(
CREATE OR REPLACE PROCEDURE public.bench_parts_probe(part text, round int, n int)
LANGUAGE plpgsql AS $probe$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    CALL public.bench_parts_body(n);
    INSERT INTO public.bench_parts
    VALUES (part, round, extract(epoch FROM clock_timestamp() - started) * 1e6 / n);
    COMMIT;
END $probe$)sql";

//! public.bench_parts_body(n): `n` transactions, each building `e`, an envelope as the
//! pgbench scripts write them, then running `body` (a PL/pgSQL statement that may assign
//! to `ok boolean` and `id text`).
std::string parts_body_sql(const std::string& body, const Settings& settings) {
    return "CREATE OR REPLACE PROCEDURE public.bench_parts_body(n int) LANGUAGE plpgsql AS $body$ "
           "DECLARE e jsonb; ok boolean; id text; "
           "BEGIN FOR i IN 1..n LOOP e := " +
           envelope_sql("(i % " + std::to_string(settings.keys) + ")", "i", settings.padding) + "; " + body +
           "; COMMIT; END LOOP; END $body$";
}

struct Part {
    std::string name;
    std::string body;
    bool without_trigger = false;  //!< the insert trigger disabled while it runs
};

std::vector<Part> enqueue_parts() {
    const auto expression = [](std::string name, std::string expr) {
        return Part{.name = std::move(name), .body = "ok := (" + std::move(expr) + ") IS NOT NULL"};
    };
    return {
        {.name = "transaction: build the envelope, commit", .body = "NULL"},
        {.name = "plain INSERT",
         .body = "INSERT INTO " + std::string(plain_table) + " (id, envelope) VALUES (e ->> 'id', e)"},
        {.name = "outbox row, trigger disabled (every column given, position from the sequence)",
         .body = "INSERT INTO seamq.outbox_events (id, position, context, subject, type, envelope) "
                 "VALUES (e ->> 'id', nextval('seamq.outbox_events_position_seq'), 'sea', e ->> 'subject', "
                 "e ->> 'type', e)",
         .without_trigger = true},
        {.name = "INSERT (envelope) through the trigger",
         .body = "INSERT INTO seamq.outbox_events (envelope) VALUES (e)"},
        {.name = "seamq.enqueue(envelope)", .body = "id := seamq.enqueue(e)"},
        expression("expression: true (the fixed cost of one)", "true"),
        expression("expression: fast-path verdict (seamq.is_plain_valid_envelope)",
                   "seamq.is_plain_valid_envelope(e)"),
        expression("expression: numbers beyond a double (jsonpath)",
                   "jsonb_path_exists(e, seamq.beyond_double())"),
        expression("expression: size (envelope::text)",
                   "octet_length(e::text) <= seamq.max_envelope_bytes()"),
        expression("expression: ordering-key lock and transaction id",
                   "pg_advisory_xact_lock(24225, hashtext('sea/' || (e ->> 'subject'))) IS NOT NULL "
                   "AND pg_current_xact_id() IS NOT NULL"),
        expression("expression: position (nextval)", "nextval('seamq.outbox_events_position_seq') > 0"),
    };
}

//! µs per transaction of each part, the lower of `rounds` runs, and net of the bare
//! transaction (the first part).
json measure_enqueue_parts(const std::string& conninfo, const Settings& settings, int rounds) {
    postgres::Connection session(conninfo);
    session.exec("SET synchronous_commit = off");
    session.exec("SET seamq.notify = off");
    session.exec(parts_table_sql);
    session.exec(parts_probe_sql);
    session.exec("TRUNCATE public.bench_parts");
    const auto parts = enqueue_parts();
    for (int round = 1; round <= rounds; ++round) {
        for (const auto& part : parts) {
            session.exec("TRUNCATE seamq.outbox_events, seamq.outbox_publications, " +
                         std::string(plain_table));
            if (part.without_trigger)
                session.exec("ALTER TABLE seamq.outbox_events DISABLE TRIGGER outbox_events_before_insert");
            session.exec(parts_body_sql(part.body, settings));
            session.exec("CALL public.bench_parts_probe($1, $2, $3)", part.name, round,
                         settings.parts_transactions);
            if (part.without_trigger)
                session.exec("ALTER TABLE seamq.outbox_events ENABLE TRIGGER outbox_events_before_insert");
        }
    }
    session.exec("TRUNCATE seamq.outbox_events, seamq.outbox_publications, " + std::string(plain_table));
    const auto fastest =
        session.exec("SELECT part, min(us_per_transaction) FROM public.bench_parts GROUP BY part");
    std::map<std::string, double> us;
    for (int row = 0; row < fastest.rows(); ++row)
        us[fastest.get<std::string>(row, 0)] = fastest.get<double>(row, 1);
    const double bare = us.at(parts.front().name);
    json result = json::array();
    for (const auto& part : parts) {
        const double value = us.at(part.name);
        result.push_back({{"part", part.name},
                          {"us_per_transaction", round_to(value, 2)},
                          {"net_us", round_to(part.name == parts.front().name ? value : value - bare, 2)}});
    }
    return result;
}

// --- report ----------------------------------------------------------------------

std::string markdown(const json& report) {
    std::ostringstream out;
    const auto& figures = report.at("figures");
    const auto& targets = report.at("targets");
    out << "## sea-mq producer benchmark\n\n";
    out << figure_rows_markdown(
        figures, targets,
        {
            {"enqueue_vs_plain_insert", "enqueue tps / plain INSERT tps, synchronous commit"},
            {"enqueue_vs_plain_insert_cpu", "the same, synchronous_commit off (CPU-bound)"},
            {"enqueue_many_vs_plain_insert", "enqueue_many events/s / plain INSERT events/s, synchronous"},
            {"enqueue_many_vs_plain_insert_cpu", "the same, synchronous_commit off"},
            {"enqueue_relay_vs_plain_insert", "enqueue with the relay running / plain INSERT, synchronous"},
            {"enqueue_relay_vs_plain_insert_cpu", "the same, synchronous_commit off"},
        });
    out << "\n| case | commit | tps | events/s | SQL µs/event | postgres CPU µs/event | client CPU µs/event "
           "| "
           "rows = events |\n|---|---|---:|---:|---:|---:|---:|:---:|\n";
    for (const auto& result : report.at("cases")) {
        out << "| " << result.at("case").get<std::string>() << " | " << result.at("commit").get<std::string>()
            << " | " << format_number(result.at("tps")) << " | " << format_number(result.at("events_per_s"))
            << " | " << format_number(result.at("sql_us_per_event")) << " | "
            << format_number(result.at("postgres_cpu_us_per_event")) << " | "
            << format_number(result.at("client_cpu_us_per_event")) << " | "
            << (result.at("rows_match").get<bool>() ? "yes" : "**no**")
            << (!result.contains("relay_caught_up")        ? ""
                : result.at("relay_caught_up").get<bool>() ? ", all published"
                                                           : ", **relay behind**")
            << " |\n";
    }
    if (!report.at("parts").empty()) {
        out << "\n**The parts of enqueue's cost**, server side only: one session runs each statement or "
               "expression in its own transaction (PL/pgSQL prepares expressions again in each), "
               "synchronous_commit off; net = minus the bare transaction.\n\n"
               "| part | µs per transaction | net µs |\n|---|---:|---:|\n";
        for (const auto& part : report.at("parts"))
            out << "| " << part.at("part").get<std::string>() << " | "
                << format_number(part.at("us_per_transaction")) << " | " << format_number(part.at("net_us"))
                << " |\n";
    }
    const auto& environment = report.at("environment");
    out << "\n**Workload**: " << report.at("workload").at("description").get<std::string>() << "\n\n";
    out << machine_markdown(environment);
    out << "**Versions**: " << environment.at("postgresql").get<std::string>() << "; "
        << environment.at("pgbench").get<std::string>() << "; nats-server "
        << environment.at("nats_server").get<std::string>() << ".\n";
    for (const auto& note : report.at("notes")) out << "\n* " << note.get<std::string>();
    out << "\n";
    return out.str();
}

// --- main --------------------------------------------------------------------------

int run(const Settings& settings) {
    const auto bench_start = Clock::now();
    json report;
    json notes = json::array();
    json cases = json::array();  // in the order they ran
    json environment = machine_environment();
    environment["pgbench"] = command_output(pgbench_path().string() + " --version 2>&1");

    log("starting PostgreSQL" + std::string(settings.relay ? " and nats-server" : ""));
    std::optional<seamq::testing::NatsServer> nats_server;
    if (settings.relay) nats_server.emplace();
    seamq::testing::PostgresServer postgres_server;
    {
        postgres::Connection admin(postgres_server.connection_string());
        admin.exec("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'");
    }
    postgres_server.restart();
    const std::string seamq_db = postgres_server.create_database("seamq");
    postgres::Connection connection(seamq_db);
    postgres::migrate(connection, postgres::embedded_migrations());
    connection.exec("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    if (settings.nested) {
        // Known to the server only once the library is loaded; a reload applies it.
        connection.exec("ALTER SYSTEM SET pg_stat_statements.track = 'all'");
        connection.exec("SELECT pg_reload_conf()");
    }
    connection.exec("CREATE TABLE " + std::string(plain_table) +
                    " (id text PRIMARY KEY, envelope jsonb NOT NULL)");
    add_postgres_environment(environment, seamq_db);

    std::optional<nats::Connection> nats;
    std::optional<nats::JetStream> jetstream;
    if (settings.relay) {
        nats.emplace(nats::ConnectionOptions::from_urls(nats_server->url(), "bench"));
        jetstream.emplace(*nats);
    }

    const seamq::testing::TempDir scripts;
    const auto write_script = [&](const Script& script) {
        const auto path = scripts.path() / (script.name + ".sql");
        std::ofstream(path) << script.text;
        return path;
    };
    const auto postmaster = postmaster_pid(postgres_server.data_dir());
    const pid_t nats_pid = settings.relay ? nats_server->pid() : 0;
    bool all_rows_match = true;

    const auto run_case = [&](const Script& script, bool synchronous, bool with_relay) {
        const std::string name =
            (with_relay ? std::string("enqueue_relay") : script.name) + "_" + (synchronous ? "sync" : "cpu");
        connection.exec(script.reset_sql);
        connection.exec("CHECKPOINT");
        std::string pgoptions = std::string("-c synchronous_commit=") + (synchronous ? "on" : "off");
        if (!with_relay) pgoptions += " -c seamq.notify=off";
        std::optional<relay::Relay> relay;
        if (with_relay) {
            reset_stream(*jetstream);
            relay.emplace(relay_options(seamq_db), *nats);
            relay->start();
            if (!seamq::testing::wait_until([&] { return relay->is_leader(); }, 10s))
                raise(Errc::internal, "relay never led");
        }
        log(name + ": pgbench " + std::to_string(settings.seconds) + " s");
        connection.exec("SELECT pg_stat_statements_reset()");
        const auto before = cpu_sample(postmaster, nats_pid);
        const auto run = run_pgbench(write_script(script), pgoptions, postgres_server.port(), settings);
        const auto after = cpu_sample(postmaster, nats_pid);
        const auto [sql_ms, calls] = statement_time(connection, script.statement);
        const auto top = top_statements(connection);
        const auto events = run.transactions * static_cast<std::uint64_t>(script.events_per_transaction);
        json result;
        if (relay) {
            // What the relay published by the end of the run, then let it catch up (bounded)
            // so the next case starts on a quiet server.
            result["relay_published_during_run"] = relay->statistics().published;
            seamq::testing::wait_until([&] { return relay->statistics().published >= events; }, 60s, 10ms);
            result["relay_published"] = relay->statistics().published;
            result["relay_caught_up"] = relay->statistics().published == events;
            relay->stop();
        }
        const auto rows =
            static_cast<std::uint64_t>(connection.exec(script.count_sql).get<std::int64_t>(0, 0));
        const double per_event = 1e6 / static_cast<double>(std::max<std::uint64_t>(events, 1));
        result.update(json{
            {"name", name},
            {"case", with_relay ? "enqueue_relay" : script.name},
            {"commit", synchronous ? "synchronous" : "off (cpu)"},
            {"pgoptions", pgoptions},
            {"pgbench", run.command},
            {"transactions", run.transactions},
            {"failed_transactions", run.failed},
            {"events", events},
            {"rows", rows},
            {"rows_match", rows == events && run.failed == 0},
            {"tps", round_to(run.tps, 0)},
            {"events_per_s", round_to(run.tps * script.events_per_transaction, 0)},
            {"latency_avg_ms", round_to(run.latency_ms, 3)},
            {"statement_calls", calls},
            {"sql_us_per_event",
             round_to(sql_ms * 1000.0 / static_cast<double>(std::max<std::uint64_t>(events, 1)), 1)},
            {"postgres_cpu_us_per_event", round_to((after.postgres - before.postgres) * per_event, 1)},
            {"client_cpu_us_per_event", round_to((after.bench - before.bench) * per_event, 1)},
            {"nats_cpu_us_per_event", round_to((after.nats - before.nats) * per_event, 1)},
            {"sql_top", top},
        });
        // The one-line sanity check: a script that silently wrote nothing cannot pass.
        log(name + ": " + std::to_string(events) + " events reported, " + std::to_string(rows) + " rows" +
            (result["rows_match"].get<bool>() ? "" : "  MISMATCH"));
        all_rows_match = all_rows_match && result["rows_match"].get<bool>();
        // None left when the relay has published (and so deleted) every row.
        const auto sample = connection.exec(script.sample_sql);
        result["sample_envelope"] = sample.rows() > 0 ? json(sample.get<std::string>(0, 0)) : json(nullptr);
        cases.push_back(result);
    };

    const auto plain = plain_insert_script(settings);
    const auto enqueue = enqueue_script(settings);
    const auto enqueue_many = enqueue_many_script(settings);
    for (const bool synchronous : {true, false}) {
        run_case(plain, synchronous, false);
        run_case(enqueue, synchronous, false);
        run_case(enqueue_many, synchronous, false);
        if (settings.relay) run_case(enqueue, synchronous, true);
    }
    json parts = json::array();
    if (settings.parts_transactions > 0) {
        log("parts of enqueue's cost: " + std::to_string(settings.parts_transactions) +
            " transactions each, 2 rounds");
        parts = measure_enqueue_parts(seamq_db, settings, 2);
    }

    // Figures, ratios, targets.
    json figures;
    const auto events_per_s = [&](const std::string& name) {
        for (const auto& result : cases)
            if (result["name"] == name) return result["events_per_s"].get<double>();
        return 0.0;
    };
    const auto ratio = [&](const std::string& numerator, const std::string& denominator) {
        const double bottom = events_per_s(denominator);
        return bottom > 0 ? json(round_to(events_per_s(numerator) / bottom, 3)) : json(nullptr);
    };
    for (const auto& [suffix, commit] : {std::pair{"", "sync"}, std::pair{"_cpu", "cpu"}}) {
        const std::string base = std::string("plain_insert_") + commit;
        figures[std::string("enqueue_vs_plain_insert") + suffix] =
            ratio(std::string("enqueue_") + commit, base);
        figures[std::string("enqueue_many_vs_plain_insert") + suffix] =
            ratio(std::string("enqueue_many_") + commit, base);
        if (settings.relay)
            figures[std::string("enqueue_relay_vs_plain_insert") + suffix] =
                ratio(std::string("enqueue_relay_") + commit, base);
    }
    json targets = {
        {"enqueue_vs_plain_insert", {{"op", ">="}, {"value", 0.8}}},
        {"enqueue_vs_plain_insert_cpu", {{"op", ">="}, {"value", 0.6}}},
    };
    check_targets(targets, figures);

    notes.push_back(
        "Without the relay, sessions run with PGOPTIONS='-c seamq.notify=off': the trigger "
        "returns before the wake-up protocol (no gate lock, no NOTIFY), as when a relay is awake "
        "but without its try-lock." +
        std::string(settings.relay ? " enqueue_relay runs the protocol as in production (notify on)." : ""));
    notes.push_back(
        "SQL µs/event: pg_stat_statements total_exec_time of the case's top-level statement "
        "(leaves out parse, commit and the WAL flush). It is elapsed time: with more sessions than cores "
        "it includes waits for a core or a lock, so it can exceed the CPU figure. postgres CPU µs/event: "
        "utime+stime of the "
        "postmaster and all its children (backends, WAL writer, checkpointer, autovacuum) from "
        "/proc. client CPU: pgbench" +
        std::string(settings.relay ? " plus, in enqueue_relay, the in-process relay." : "."));
    if (!all_rows_match) notes.push_back("A case's row count differs from the events pgbench reported.");

    environment["load_average_end"] = load_average();
    report["figures"] = figures;
    report["targets"] = targets;
    report["cases"] = cases;
    report["parts"] = parts;
    report["environment"] = environment;
    report["workload"] = {
        {"seconds_per_case", settings.seconds},
        {"clients", settings.clients},
        {"pgbench_threads", settings.jobs},
        {"ordering_keys", settings.keys},
        {"padding_bytes", settings.padding},
        {"enqueue_many_batch", settings.batch},
        {"pg_stat_statements_track", settings.nested ? "all" : "top"},
        {"scripts",
         {{"plain_insert", plain.text}, {"enqueue", enqueue.text}, {"enqueue_many", enqueue_many.text}}},
        {"description",
         "pgbench -M prepared, " + std::to_string(settings.clients) + " clients, " +
             std::to_string(settings.seconds) +
             " s per case, one event per transaction (enqueue_many: " + std::to_string(settings.batch) +
             " per transaction); each event a CloudEvents envelope with a fresh UUID id, one of " +
             std::to_string(settings.keys) + " ordering keys, " + std::to_string(settings.padding) +
             " bytes of filler; plain_insert writes the same jsonb into (id text PRIMARY KEY, envelope "
             "jsonb). Tables truncated and a CHECKPOINT before each case."},
    };
    report["notes"] = notes;
    report["bench_seconds"] = round_to(seconds_since(bench_start), 1);
    write_report(report, markdown(report), settings.output_dir, "producer", bench_start);
    return all_rows_match ? 0 : 1;
}

}  // namespace
}  // namespace seamq::bench

int main(int argc, char** argv) {
    seamq::bench::Settings settings;
    CLI::App app{"sea-mq producer benchmark: seamq.enqueue vs a plain INSERT, with pgbench"};
    app.add_option("--seconds", settings.seconds, "pgbench duration of each case")->check(CLI::Range(1, 600));
    app.add_option("--clients", settings.clients, "pgbench sessions")->check(CLI::Range(1, 64));
    app.add_option("--jobs", settings.jobs, "pgbench threads")->check(CLI::Range(1, 64));
    app.add_option("--keys", settings.keys, "ordering keys")->check(CLI::Range(1, 1000000));
    app.add_option("--padding", settings.padding, "bytes of filler in each event's data")
        ->check(CLI::Range(0, 100000));
    app.add_option("--batch", settings.batch, "events per enqueue_many call")->check(CLI::Range(1, 1000));
    app.add_flag("!--no-relay", settings.relay, "skip the case with the relay running");
    app.add_option("--parts-transactions", settings.parts_transactions,
                   "transactions per part of enqueue's cost (0: skip the parts)")
        ->check(CLI::Range(0, 1000000));
    app.add_flag("--nested", settings.nested,
                 "pg_stat_statements.track = all: sql_top also lists the statements inside enqueue (adds "
                 "overhead to every case)");
    app.add_option("--out", settings.output_dir, "directory for producer.json and producer.md");
    CLI11_PARSE(app, argc, argv);
    try {
        return seamq::bench::run(settings);
    } catch (const std::exception& error) {
        std::cerr << "seamq-bench-producer: " << error.what() << std::endl;
        return 1;
    }
}
