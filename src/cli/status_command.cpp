// `sea-mq status`: one screen for an operator: the NATS servers' health (/healthz, /jsz),
// and per context its relay leader, outbox lag, event stream, consumers and their lag,
// and dead-letter stream. Everything is gathered into one JSON document first; the text
// screen is rendered from it, so both outputs always say the same thing.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>

#include "src/cli/command_line.hpp"
#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/timestamp.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/streams/status_report.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::cli {

namespace {

using nlohmann::json;

//! Advisory-lock space of relay leadership (src/relay/relay.cpp, db/migrations/README.md).
constexpr int relay_lock_space = 24226;

struct StatusArguments {
    std::vector<std::string> nats_urls;
    std::vector<std::string> databases;
    std::vector<std::string> contexts;
    std::vector<std::string> monitors;
    std::string streams_file;
    std::string output = "text";
    int timeout_seconds = 5;
};

//! One context as the command sees it: where its database is and what its streams are called.
struct ContextTarget {
    std::string name;
    std::optional<std::size_t> database;  //!< index into the database list
    std::string events_stream;
    std::string dead_letter_stream;
};

struct DatabaseTarget {
    std::string conninfo;
    std::unique_ptr<postgres::Connection> connection;
    json report;
};

std::string utc_now() {
    return now_rfc3339(TimePrecision::seconds);
}

std::vector<std::string> split_lists(const std::vector<std::string>& values) {
    std::vector<std::string> result;
    for (const auto& value : values)
        for (auto& item : nats::ConnectionOptions::split_urls(value)) result.push_back(std::move(item));
    return result;
}

bool valid_context_name(const std::string& name) {
    static const std::regex grammar("^[a-z][a-z0-9]*([-_][a-z0-9]+)*$");
    return name.size() <= 32 && std::regex_match(name, grammar);
}

// ---------------------------------------------------------------------------------
// Cluster: the monitoring endpoints of the NATS servers.

json probe_monitor(const std::string& url, std::chrono::seconds timeout, std::vector<std::string>& problems) {
    std::string base = url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    json report = {{"monitor", base}, {"reachable", false}};
    httplib::Client client(base);
    if (!client.is_valid()) {
        report["error"] = "not a monitoring URL (expected http://host:port)";
        problems.push_back(fmt::format("monitor {}: not a monitoring URL; pass http://host:port", url));
        return report;
    }
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);

    auto health = client.Get("/healthz");
    if (!health) {
        report["error"] = httplib::to_string(health.error());
        problems.push_back(fmt::format("monitor {}: unreachable ({}); is nats-server running with http_port?",
                                       base, httplib::to_string(health.error())));
        return report;
    }
    report["reachable"] = true;
    const auto health_body = json::parse(health->body, nullptr, false);
    report["healthz"] = {{"http_status", health->status},
                         {"status", health_body.is_object() ? health_body.value("status", "") : health->body},
                         {"error", health_body.is_object() ? health_body.value("error", "") : ""}};
    if (health->status != 200)
        problems.push_back(fmt::format("server {}: /healthz answered {} {}", base, health->status,
                                       report["healthz"]["error"].get<std::string>()));

    auto jsz = client.Get("/jsz");
    const auto jsz_body = jsz ? json::parse(jsz->body, nullptr, false) : json();
    if (!jsz || !jsz_body.is_object()) {
        report["jsz_error"] = jsz ? "not JSON" : httplib::to_string(jsz.error());
        problems.push_back(fmt::format("server {}: /jsz unavailable", base));
        return report;
    }
    report["server_id"] = jsz_body.value("server_id", "");
    report["jetstream_disabled"] = jsz_body.value("disabled", false);
    report["streams"] = jsz_body.value("streams", 0);
    report["consumers"] = jsz_body.value("consumers", 0);
    report["messages"] = jsz_body.value("messages", 0);
    report["bytes"] = jsz_body.value("bytes", 0);
    report["meta_cluster"] = nullptr;
    if (jsz_body.contains("meta_cluster") && jsz_body["meta_cluster"].is_object()) {
        const auto& meta = jsz_body["meta_cluster"];
        json replicas = json::array();
        if (meta.contains("replicas") && meta["replicas"].is_array())
            for (const auto& peer : meta["replicas"])
                replicas.push_back({{"name", peer.value("name", "")},
                                    {"current", peer.value("current", false)},
                                    {"offline", peer.value("offline", false)},
                                    {"lag", peer.value("lag", 0)}});
        report["meta_cluster"] = {{"name", meta.value("name", "")},
                                  {"leader", meta.value("leader", "")},
                                  {"cluster_size", meta.value("cluster_size", 0)},
                                  {"replicas", replicas}};
        if (meta.value("leader", "").empty())
            problems.push_back(fmt::format("server {}: the JetStream meta cluster has no leader", base));
        for (const auto& peer : replicas)
            if (peer["offline"].get<bool>())
                problems.push_back(fmt::format("server {}: meta cluster peer {} is offline", base,
                                               peer["name"].get<std::string>()));
    }
    if (report["jetstream_disabled"].get<bool>())
        problems.push_back(fmt::format("server {}: JetStream is disabled", base));
    return report;
}

// ---------------------------------------------------------------------------------
// Databases: reachability, relay sessions, leaders and outbox lag.

void probe_database(DatabaseTarget& database, std::chrono::seconds timeout,
                    std::vector<std::string>& problems, std::size_t index) {
    database.report = {{"label", fmt::format("database #{}", index + 1)}, {"reachable", false}};
    try {
        database.connection = std::make_unique<postgres::Connection>(
            postgres::ConnectOptions{database.conninfo, timeout, "sea-mq status"});
        // Named by what the server says, never by the URL (it may hold a password).
        const auto where = database.connection->exec(
            "SELECT current_database() || '@' || coalesce(host(inet_server_addr()), 'local') || ':' || "
            "current_setting('port'), to_regclass('seamq.outbox_events') IS NOT NULL");
        database.report["label"] = where.get<std::string>(0, 0);
        database.report["reachable"] = true;
        database.report["schema"] = where.get<bool>(0, 1);
        if (!where.get<bool>(0, 1))
            problems.push_back(fmt::format("{}: no seamq schema; run `sea-mq db migrate --database ...`",
                                           where.get<std::string>(0, 0)));
        const auto sessions = database.connection->exec(
            "SELECT left(application_name, length(application_name) - length('/leadership')), "
            "coalesce(host(client_addr), 'local'), "
            "to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), pid "
            "FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE "
            "'%/leadership' "
            "ORDER BY backend_start");
        json relays = json::array();
        for (int row = 0; row < sessions.rows(); ++row)
            relays.push_back({{"name", sessions.get<std::string>(row, 0)},
                              {"client_addr", sessions.get<std::string>(row, 1)},
                              {"since", sessions.get<std::string>(row, 2)},
                              {"pid", sessions.get<int>(row, 3)},
                              {"leads", json::array()}});
        database.report["relays"] = relays;
    } catch (const Error& error) {
        database.connection.reset();
        database.report["error"] = error.what();
        problems.push_back(
            fmt::format("{}: unreachable: {}", database.report["label"].get<std::string>(), error.what()));
    }
}

std::vector<std::string> discover_contexts(DatabaseTarget& database) {
    std::vector<std::string> names;
    if (!database.connection || !database.report.value("schema", false)) return names;
    const auto rows =
        database.connection->exec("SELECT DISTINCT context FROM seamq.outbox_events ORDER BY 1");
    for (int row = 0; row < rows.rows(); ++row) names.push_back(rows.get<std::string>(row, 0));
    return names;
}

json probe_outbox(DatabaseTarget& database, const std::string& context, std::vector<std::string>& problems) {
    json report = {{"database", database.report["label"]}};
    if (!database.connection || !database.report.value("schema", false)) {
        report["error"] = database.connection ? "no seamq schema" : "database unreachable";
        return report;
    }
    try {
        // The relay holds pg_try_advisory_lock(24226, hashtext('relay/<context>')): pg_locks
        // shows the two int4 keys as classid and objid (as oid, so a negative hash becomes
        // its unsigned 32-bit value) with objsubid 2.
        const auto leader = database.connection->exec(
            "SELECT left(a.application_name, greatest(length(a.application_name) - length('/leadership'), "
            "0)), "
            "coalesce(host(a.client_addr), 'local'), "
            "to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), a.pid "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = $1::int::oid "
            "AND l.objid::bigint = (hashtext('relay/' || $2)::bigint & 4294967295) "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            relay_lock_space, context);
        if (leader.empty()) {
            report["relay_leader"] = nullptr;
        } else {
            report["relay_leader"] = {{"name", leader.get<std::string>(0, 0)},
                                      {"client_addr", leader.get<std::string>(0, 1)},
                                      {"since", leader.get<std::string>(0, 2)},
                                      {"pid", leader.get<int>(0, 3)}};
            for (auto& relay : database.report["relays"])
                if (relay["pid"] == leader.get<int>(0, 3)) relay["leads"].push_back(context);
        }
        const auto lag = database.connection->exec(
            "SELECT count(*) FILTER (WHERE status = 'pending'), "
            "coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')), "
            "0)::float8, "
            "count(*) FILTER (WHERE status = 'rejected') "
            "FROM seamq.outbox_events WHERE context = $1 AND status IN ('pending', 'rejected')",
            context);
        report["pending"] = lag.get<std::int64_t>(0, 0);
        report["oldest_pending_age_seconds"] = lag.get<double>(0, 1);
        report["rejected"] = lag.get<std::int64_t>(0, 2);
        if (report["relay_leader"].is_null())
            problems.push_back(
                fmt::format("context {}: no relay is leading; its outbox is not being published "
                            "(start `sea-mq relay run --context {}` or the worker)",
                            context, context));
        if (report["rejected"].get<std::int64_t>() > 0)
            problems.push_back(
                fmt::format("context {}: {} outbox event(s) rejected for good (status 'rejected' "
                            "in seamq.outbox_events, reason in last_error)",
                            context, report["rejected"].get<std::int64_t>()));
    } catch (const Error& error) {
        report["error"] = error.what();
        problems.push_back(fmt::format("context {}: outbox query failed: {}", context, error.what()));
    }
    return report;
}

// ---------------------------------------------------------------------------------
// JetStream: streams, consumers and dead letters of a context.

json cluster_json(const std::optional<nats::ClusterInfo>& cluster) {
    if (!cluster) return nullptr;
    json replicas = json::array();
    for (const auto& peer : cluster->replicas)
        replicas.push_back(
            {{"name", peer.name}, {"current", peer.current}, {"offline", peer.offline}, {"lag", peer.lag}});
    return {{"name", cluster->name}, {"leader", cluster->leader}, {"replicas", replicas}};
}

void check_cluster(const std::string& what, const std::optional<nats::ClusterInfo>& cluster,
                   std::vector<std::string>& problems) {
    if (!cluster) return;
    if (cluster->leader.empty())
        problems.push_back(fmt::format("{}: no leader (an election is running?)", what));
    for (const auto& peer : cluster->replicas)
        if (peer.offline) problems.push_back(fmt::format("{}: replica {} is offline", what, peer.name));
}

json probe_streams(nats::JetStream& jetstream, const ContextTarget& context,
                   std::vector<std::string>& problems) {
    json report = {{"events_stream", nullptr}, {"consumers", json::array()}, {"dead_letters", nullptr}};
    try {
        const auto events = jetstream.stream_info(context.events_stream);
        if (!events) {
            problems.push_back(fmt::format("context {}: stream {} does not exist; run `sea-mq streams apply`",
                                           context.name, context.events_stream));
        } else {
            report["events_stream"] = streams::status_json({*events}).at(0);
            check_cluster("stream " + context.events_stream, events->cluster, problems);
            auto names = jetstream.consumer_names(context.events_stream);
            std::sort(names.begin(), names.end());
            for (const auto& name : names) {
                const auto info = jetstream.consumer_info(context.events_stream, name);
                if (!info) continue;  // deleted between the two calls
                report["consumers"].push_back({{"name", info->name},
                                               {"filter_subject", info->config.filter_subject},
                                               {"num_pending", info->num_pending},
                                               {"num_ack_pending", info->num_ack_pending},
                                               {"num_redelivered", info->num_redelivered},
                                               {"num_waiting", info->num_waiting},
                                               {"delivered_stream_sequence", info->delivered.stream_sequence},
                                               {"ack_floor_stream_sequence", info->ack_floor.stream_sequence},
                                               {"cluster", cluster_json(info->cluster)}});
                check_cluster(fmt::format("consumer {} of {}", name, context.events_stream), info->cluster,
                              problems);
            }
        }
        const auto dead_letters = jetstream.stream_info(context.dead_letter_stream);
        if (!dead_letters) {
            problems.push_back(
                fmt::format("context {}: dead-letter stream {} does not exist; run `sea-mq "
                            "streams apply`",
                            context.name, context.dead_letter_stream));
        } else {
            report["dead_letters"] = {{"stream", context.dead_letter_stream},
                                      {"messages", dead_letters->state.messages},
                                      {"bytes", dead_letters->state.bytes},
                                      {"cluster", cluster_json(dead_letters->cluster)}};
            check_cluster("stream " + context.dead_letter_stream, dead_letters->cluster, problems);
        }
    } catch (const Error& error) {
        report["error"] = error.what();
        problems.push_back(
            fmt::format("context {}: JetStream request failed: {}", context.name, error.what()));
    }
    return report;
}

// ---------------------------------------------------------------------------------
// The text screen, rendered from the JSON document.

std::string joined(const json& strings) {
    std::string text;
    for (const auto& item : strings) text += (text.empty() ? "" : ",") + item.get<std::string>();
    return text;
}

std::string age_text(double seconds) {
    if (seconds < 1) return fmt::format("{:.0f}ms", seconds * 1000);
    if (seconds < 120) return fmt::format("{:.1f}s", seconds);
    if (seconds < 7200) return fmt::format("{:.0f}m", seconds / 60);
    return fmt::format("{:.1f}h", seconds / 3600);
}

std::string cluster_text(const json& cluster) {
    if (cluster.is_null()) return "";
    std::string text =
        " [leader " + (cluster["leader"].get<std::string>().empty() ? std::string("(none)")
                                                                    : cluster["leader"].get<std::string>());
    for (const auto& peer : cluster["replicas"])
        text += fmt::format(
            ", {} {}{}", peer["name"].get<std::string>(),
            peer["offline"].get<bool>()   ? "offline"
            : peer["current"].get<bool>() ? "current"
                                          : "behind",
            peer["lag"].get<std::uint64_t>() ? fmt::format(" lag {}", peer["lag"].get<std::uint64_t>()) : "");
    return text + "]";
}

std::string render_text(const json& document) {
    std::string out = fmt::format("sea-mq status at {}\n\n", document["time"].get<std::string>());
    const auto& nats_report = document["nats"];
    if (nats_report.value("connected", false)) {
        out += fmt::format("NATS        {} connected", nats_report["connected_url"].get<std::string>());
        if (nats_report.contains("jetstream"))
            out += fmt::format("; JetStream account: {} streams, {} consumers",
                               nats_report["jetstream"]["streams"].get<std::int64_t>(),
                               nats_report["jetstream"]["consumers"].get<std::int64_t>());
        out += "\n";
    } else {
        out += fmt::format("NATS        {} UNREACHABLE: {}\n", joined(nats_report["servers"]),
                           nats_report.value("error", ""));
    }
    if (document["cluster"].empty())
        out += "Servers     (no --monitor given: /healthz and /jsz not checked)\n";
    for (const auto& server : document["cluster"]) {
        out += fmt::format("Server      {}  ", server["monitor"].get<std::string>());
        if (!server["reachable"].get<bool>()) {
            out += fmt::format("UNREACHABLE ({})\n", server.value("error", ""));
            continue;
        }
        const auto& health = server["healthz"];
        out += fmt::format("healthz {}", health["status"].get<std::string>());
        if (!health["error"].get<std::string>().empty())
            out += " (" + health["error"].get<std::string>() + ")";
        if (server.contains("streams"))
            out +=
                fmt::format("  streams {}  consumers {}  messages {}", server["streams"].get<std::int64_t>(),
                            server["consumers"].get<std::int64_t>(), server["messages"].get<std::uint64_t>());
        if (server.contains("meta_cluster") && !server["meta_cluster"].is_null()) {
            const auto& meta = server["meta_cluster"];
            out += fmt::format("  meta cluster {} size {}{}", meta["name"].get<std::string>(),
                               meta["cluster_size"].get<int>(), cluster_text(meta));
        }
        out += "\n";
    }
    out += "\n";
    for (const auto& database : document["databases"]) {
        out += fmt::format("Database    {}", database["label"].get<std::string>());
        if (!database["reachable"].get<bool>()) {
            out += fmt::format("  UNREACHABLE: {}\n", database.value("error", ""));
            continue;
        }
        out += "  relays: ";
        if (database["relays"].empty()) out += "none connected";
        bool first = true;
        for (const auto& relay : database["relays"]) {
            out += fmt::format(
                "{}{} ({}, {})", first ? "" : ", ", relay["name"].get<std::string>(),
                relay["client_addr"].get<std::string>(),
                relay["leads"].empty() ? std::string("standby") : "leads " + joined(relay["leads"]));
            first = false;
        }
        out += "\n";
    }
    for (const auto& context : document["contexts"]) {
        out += fmt::format("\nContext {}\n", context["name"].get<std::string>());
        const auto& outbox = context["outbox"];
        if (outbox.is_null()) {
            out += "  relay         (no database given for this context)\n";
        } else if (outbox.contains("error")) {
            out += fmt::format("  outbox        UNKNOWN: {}\n", outbox["error"].get<std::string>());
        } else {
            const auto& leader = outbox["relay_leader"];
            out += leader.is_null()
                       ? std::string("  relay         NO LEADER\n")
                       : fmt::format(
                             "  relay         leader {} ({}, since {})\n", leader["name"].get<std::string>(),
                             leader["client_addr"].get<std::string>(), leader["since"].get<std::string>());
            const auto pending = outbox["pending"].get<std::int64_t>();
            out += fmt::format(
                "  outbox        {} pending{}, {} rejected\n", pending,
                pending ? ", oldest " + age_text(outbox["oldest_pending_age_seconds"].get<double>())
                        : std::string(),
                outbox["rejected"].get<std::int64_t>());
        }
        const auto& jetstream = context["jetstream"];
        if (jetstream.is_null()) {
            out += "  streams       UNKNOWN (NATS unreachable)\n";
            continue;
        }
        const auto& events = jetstream["events_stream"];
        if (events.is_null()) {
            out += fmt::format("  events        {} MISSING\n", context["events_stream"].get<std::string>());
        } else {
            out += fmt::format("  events        {}  {} messages, last sequence {}{}\n",
                               events["name"].get<std::string>(), events["messages"].get<std::uint64_t>(),
                               events["last_sequence"].get<std::uint64_t>(), cluster_text(events["cluster"]));
        }
        for (const auto& consumer : jetstream["consumers"])
            out +=
                fmt::format("  consumer      {}  pending {}  ack pending {}  redelivered {}  waiting {}{}\n",
                            consumer["name"].get<std::string>(), consumer["num_pending"].get<std::uint64_t>(),
                            consumer["num_ack_pending"].get<std::int64_t>(),
                            consumer["num_redelivered"].get<std::int64_t>(),
                            consumer["num_waiting"].get<std::int64_t>(), cluster_text(consumer["cluster"]));
        if (!events.is_null() && jetstream["consumers"].empty()) out += "  consumer      (none)\n";
        const auto& dead_letters = jetstream["dead_letters"];
        if (dead_letters.is_null()) {
            out +=
                fmt::format("  dead letters  {} MISSING\n", context["dead_letter_stream"].get<std::string>());
        } else {
            out += fmt::format(
                "  dead letters  {}  {} messages{}\n", dead_letters["stream"].get<std::string>(),
                dead_letters["messages"].get<std::uint64_t>(), cluster_text(dead_letters["cluster"]));
        }
    }
    out += "\n";
    if (document["problems"].empty()) {
        out += "Healthy: every server, database and stream above is reachable and in order.\n";
    } else {
        out += fmt::format("{} problem(s):\n", document["problems"].size());
        for (const auto& problem : document["problems"]) out += "  - " + problem.get<std::string>() + "\n";
    }
    return out;
}

// ---------------------------------------------------------------------------------

void run_status(const StatusArguments& arguments) {
    const std::chrono::seconds timeout(arguments.timeout_seconds);
    const auto nats_urls = split_lists(arguments.nats_urls);
    if (nats_urls.empty()) raise(Errc::invalid_argument, "--nats: give at least one NATS server URL");

    // Which contexts, where their databases are and what their streams are called. Every
    // usage problem is found here, before anything is contacted.
    std::vector<DatabaseTarget> databases;
    std::vector<ContextTarget> contexts;
    const auto find_context = [&](const std::string& name) -> ContextTarget* {
        for (auto& context : contexts)
            if (context.name == name) return &context;
        return nullptr;
    };
    const auto add_context = [&](const std::string& name) -> ContextTarget& {
        if (auto* found = find_context(name)) return *found;
        contexts.push_back(
            {name, std::nullopt, streams::event_stream_name(name), streams::dead_letter_stream_name(name)});
        return contexts.back();
    };
    const auto add_database = [&](const std::string& conninfo) {
        for (std::size_t index = 0; index < databases.size(); ++index)
            if (databases[index].conninfo == conninfo) return index;
        databases.push_back({conninfo, nullptr, json()});
        return databases.size() - 1;
    };
    for (const auto& entry : arguments.contexts) {
        const auto equals = entry.find('=');
        const auto name = entry.substr(0, equals);
        if (!valid_context_name(name))
            raise(Errc::invalid_argument,
                  "--context '{}': '{}' is not a context name (lowercase letters, digits, '-' or '_'); use "
                  "--context NAME=DATABASE_URL",
                  entry, name);
        auto& context = add_context(name);
        if (equals != std::string::npos) {
            if (equals + 1 == entry.size())
                raise(Errc::invalid_argument, "--context '{}': the database URL after '=' is empty", entry);
            context.database = add_database(entry.substr(equals + 1));
        }
    }
    std::optional<streams::StreamsConfig> streams_config;
    if (!arguments.streams_file.empty()) {
        streams_config = streams::load_streams_config(arguments.streams_file);
        for (const auto& context_streams : streams_config->contexts) {
            auto& context = add_context(context_streams.context);
            context.events_stream = context_streams.events.name;
            context.dead_letter_stream = context_streams.dead_letters.name;
        }
    }
    std::vector<std::size_t> plain_databases;
    for (const auto& database : arguments.databases) plain_databases.push_back(add_database(database));

    std::vector<std::string> problems;
    json document = {{"time", utc_now()}};

    // Servers' own view first: it still answers when the client port does not.
    document["cluster"] = json::array();
    for (const auto& monitor : split_lists(arguments.monitors))
        document["cluster"].push_back(probe_monitor(monitor, timeout, problems));

    for (std::size_t index = 0; index < databases.size(); ++index)
        probe_database(databases[index], timeout, problems, index);
    // A --database without a context serves the contexts found in its outbox, and those of
    // the streams file still without one when it is the only such database.
    for (const auto index : plain_databases) {
        for (const auto& name : discover_contexts(databases[index])) {
            auto& context = add_context(name);
            if (!context.database) context.database = index;
        }
    }
    if (plain_databases.size() == 1)
        for (auto& context : contexts)
            if (!context.database) context.database = plain_databases.front();

    std::vector<std::string> shown_urls;  // without the passwords URLs may carry
    shown_urls.reserve(nats_urls.size());
    for (const auto& url : nats_urls) shown_urls.push_back(nats::redact_url(url));
    json nats_report = {{"servers", shown_urls}, {"connected", false}};
    std::unique_ptr<nats::Connection> connection;
    std::unique_ptr<nats::JetStream> jetstream;
    try {
        auto options =
            nats::ConnectionOptions::from_urls(fmt::format("{}", fmt::join(nats_urls, ",")), "sea-mq status");
        options.connect_timeout = timeout;
        options.max_reconnect = 1;  // a one-shot command: report a dead server, do not wait for it
        connection = std::make_unique<nats::Connection>(options);
        nats::JetStreamOptions jetstream_options;
        jetstream_options.api_timeout = timeout;
        jetstream = std::make_unique<nats::JetStream>(*connection, jetstream_options);
        nats_report["connected"] = true;
        nats_report["connected_url"] = connection->connected_url();
        const auto account = jetstream->account_info();
        nats_report["jetstream"] = {{"streams", account.streams},
                                    {"consumers", account.consumers},
                                    {"memory", account.memory},
                                    {"store", account.store},
                                    {"domain", account.domain}};
    } catch (const Error& error) {
        nats_report["error"] = error.what();
        problems.push_back(fmt::format("NATS {}: {}", fmt::join(nats_urls, ","), error.what()));
        jetstream.reset();
    }
    document["nats"] = nats_report;

    document["contexts"] = json::array();
    for (const auto& context : contexts) {
        json report = {{"name", context.name},
                       {"events_stream", context.events_stream},
                       {"dead_letter_stream", context.dead_letter_stream},
                       {"outbox", nullptr},
                       {"jetstream", nullptr}};
        if (context.database)
            report["outbox"] = probe_outbox(databases[*context.database], context.name, problems);
        if (jetstream && nats_report["connected"].get<bool>())
            report["jetstream"] = probe_streams(*jetstream, context, problems);
        document["contexts"].push_back(std::move(report));
    }
    document["databases"] = json::array();
    for (const auto& database : databases) document["databases"].push_back(database.report);
    document["problems"] = problems;
    document["healthy"] = problems.empty();

    if (arguments.output == "json") {
        std::cout << document.dump(2) << std::endl;
    } else {
        std::cout << render_text(document) << std::flush;
    }
    if (!problems.empty()) throw CLI::RuntimeError(1);
}

}  // namespace

void add_status_commands(CLI::App& app) {
    auto arguments = std::make_shared<StatusArguments>();
    auto* status = app.add_subcommand(
        "status",
        "One screen: server health, relay leaders, outbox lag, consumers and dead letters per context");
    status->footer(
        "Servers: /healthz and /jsz (meta cluster leader and peers) of each --monitor URL. Per context: the "
        "relay "
        "holding its leadership lock, pending and rejected outbox rows and the oldest pending age, its "
        "events "
        "stream (leader and replicas when clustered), every consumer on it with num_pending, "
        "num_ack_pending, "
        "num_redelivered and num_waiting, and its dead-letter stream size. Contexts come from --context, the "
        "--streams-file and the outboxes of --database. Exit 0 when everything is reachable and healthy, 1 "
        "otherwise (what is known is still printed, followed by the problems), 2 on usage errors. The "
        "database "
        "role must see other sessions in pg_stat_activity (superuser or pg_read_all_stats).");
    add_env_option(status, "--nats", arguments->nats_urls, "NATS server URLs, comma-separated or repeated",
                   "SEAMQ_NATS_URL")
        ->required();
    status->add_option(
        "--context", arguments->contexts,
        "NAME=DATABASE_URL: a context and its database (repeatable); NAME alone for its streams "
        "only");
    status->add_option(
        "--database", arguments->databases,
        "A database whose contexts are found in its outbox (repeatable); with a single one, also "
        "the database of the --streams-file contexts");
    status->add_option("--monitor", arguments->monitors,
                       "nats-server monitoring URLs (http://host:8222), comma-separated or repeated");
    status->add_option("--streams-file,-f", arguments->streams_file,
                       "Streams file: its contexts and their stream names");
    status->add_option("--output,-o", arguments->output, "text, or json: one document")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    status->add_option("--timeout", arguments->timeout_seconds, "Seconds to wait for each server and request")
        ->check(CLI::Range(1, 600))
        ->capture_default_str();
    status->callback([arguments] { run_status(*arguments); });
}

}  // namespace seamq::cli
