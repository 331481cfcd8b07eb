// `sea-mq federation status`: the leafnode links of a cell (each server's /leafz) and the
// stream sources of its importing streams (stream info: lag, last heard from), and one
// verdict: ok, or degraded with the reasons. A cell whose link is down keeps working on
// its own (its workers stay ready); this command is where the down link shows.
#include <chrono>
#include <iostream>
#include <memory>

#include "src/cli/command_line.hpp"
#include "src/cli/nats_options.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/redaction.hpp"
#include "seamq/core/timestamp.hpp"
#include "seamq/federation/status.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"

namespace seamq::cli {

namespace {

using nlohmann::json;

struct FederationStatusArguments {
    NatsArguments nats;
    std::vector<std::string> monitors;
    std::vector<std::string> streams;
    int max_inactive_seconds = 10;
    std::string output = "text";
    int timeout_seconds = 5;
};

std::vector<std::string> split_lists(const std::vector<std::string>& values) {
    std::vector<std::string> result;
    for (const auto& value : values)
        for (auto& item : nats::ConnectionOptions::split_urls(value)) result.push_back(std::move(item));
    return result;
}

json link_json(const federation::LinkProbe& probe, std::vector<std::string>& problems) {
    json report = {{"monitor", probe.monitor}, {"reachable", probe.reachable}, {"links", json::array()}};
    if (!probe.error.empty()) report["error"] = probe.error;
    for (const auto& link : probe.links)
        report["links"].push_back({{"account", link.account},
                                   {"remote", link.remote},
                                   {"rtt", link.rtt},
                                   {"rtt_seconds", link.rtt_seconds},
                                   {"in_msgs", link.in_msgs},
                                   {"out_msgs", link.out_msgs}});
    // nats-server 2.9.10's /leafz says nothing of when a link came up.
    report["since"] = nullptr;
    if (probe.reachable) report["state"] = probe.up() ? "up" : "down";
    if (const auto problem = probe.problem()) problems.push_back(*problem);
    return report;
}

json probe_sources(nats::JetStream& jetstream, const std::vector<std::string>& wanted,
                   std::chrono::seconds max_inactive, std::vector<std::string>& problems) {
    json sources = json::array();
    const auto names = wanted.empty() ? jetstream.stream_names() : wanted;
    for (const auto& name : names) {
        const auto stream = jetstream.stream_sources(name);
        if (!stream) {
            problems.push_back(fmt::format("stream {}: not found", name));
            continue;
        }
        for (const auto& source : federation::judge_sources(*stream, max_inactive)) {
            if (const auto problem = source.problem()) problems.push_back(*problem);
            sources.push_back({{"stream", source.stream},
                               {"source", source.source},
                               {"api", source.api},
                               {"domain", source.domain},
                               {"lag", source.lag},
                               {"last_seen_seconds",
                                source.last_seen_seconds ? json(*source.last_seen_seconds) : json(nullptr)},
                               {"state", federation::to_string(source.state)},
                               {"messages", source.stream_messages}});
        }
    }
    return sources;
}

std::string render_text(const json& document) {
    std::string out = fmt::format("Federation  {}\n", document["status"].get<std::string>());
    for (const auto& server : document["servers"]) {
        if (!server["reachable"].get<bool>()) {
            out += fmt::format("Link        {}  unreachable\n", server["monitor"].get<std::string>());
            continue;
        }
        out += fmt::format("Link        {}  {}", server["monitor"].get<std::string>(),
                           server["state"].get<std::string>());
        for (const auto& link : server["links"])
            out += fmt::format("  {} {} rtt {}", link["account"].get<std::string>(),
                               link["remote"].get<std::string>(), link["rtt"].get<std::string>());
        out += "\n";
    }
    for (const auto& source : document["sources"]) {
        out += fmt::format("Source      {} <- {}@{}  {}  lag {}  last seen {}\n",
                           source["stream"].get<std::string>(), source["source"].get<std::string>(),
                           source["domain"].get<std::string>(), source["state"].get<std::string>(),
                           source["lag"].get<std::uint64_t>(),
                           source["last_seen_seconds"].is_null()
                               ? std::string("never")
                               : fmt::format("{:.1f}s ago", source["last_seen_seconds"].get<double>()));
    }
    if (document["servers"].empty()) out += "Links       (no --monitor given: /leafz not checked)\n";
    for (const auto& problem : document["problems"]) out += "problem: " + problem.get<std::string>() + "\n";
    return out;
}

void run_federation_status(const FederationStatusArguments& arguments) {
    const auto timeout = std::chrono::seconds(arguments.timeout_seconds);
    if (arguments.monitors.empty() && split_lists(arguments.nats.urls).empty())
        raise(Errc::invalid_argument, "give --monitor (leafnode links) and/or --nats (stream sources)");
    std::vector<std::string> problems;
    json document = {{"time", now_rfc3339(TimePrecision::seconds)},
                     {"servers", json::array()},
                     {"sources", json::array()}};
    for (const auto& monitor : split_lists(arguments.monitors))
        document["servers"].push_back(link_json(federation::probe_links(monitor, timeout), problems));
    if (!arguments.nats.urls.empty()) {
        try {
            auto options = nats_connection_options(arguments.nats, "sea-mq federation status");
            options.connect_timeout = timeout;
            options.max_reconnect = 1;
            nats::Connection connection(options);
            nats::JetStreamOptions jetstream_options;
            jetstream_options.api_timeout = timeout;
            nats::JetStream jetstream(connection, jetstream_options);
            document["sources"] =
                probe_sources(jetstream, split_lists(arguments.streams),
                              std::chrono::seconds(arguments.max_inactive_seconds), problems);
        } catch (const Error& error) {
            problems.push_back(fmt::format("NATS: {}", error.what()));
        }
    }
    document["problems"] = problems;
    document["status"] = problems.empty() ? "ok" : "degraded";
    if (arguments.output == "json")
        std::cout << document.dump(2) << std::endl;
    else
        std::cout << mask_credentials(render_text(document)) << std::flush;
    if (!problems.empty()) throw CLI::RuntimeError(1);
}

}  // namespace

void add_federation_commands(CLI::App& app) {
    auto* federation = app.add_subcommand("federation", "Links between cells and the streams they import");
    federation->require_subcommand(1);
    auto arguments = std::make_shared<FederationStatusArguments>();
    auto* status = federation->add_subcommand(
        "status", "Leafnode links (/leafz) and stream sources (lag, last seen): ok or degraded");
    status->footer(
        "Links: each --monitor server's leafnode connections from /leafz (account, remote, RTT); a server "
        "without one is a problem. Sources: every stream with sources (or --stream), each source's lag in "
        "messages and when it was last heard from; never heard from, or not within --max-inactive, is a "
        "problem. Exit 0 when ok, 1 when degraded (the problems are listed), 2 on usage errors. "
        "Runbooks: docs/runbooks/federation-*.md.");
    add_nats_options(status, arguments->nats, "NATS server URLs of this cell (stream sources)");
    status->add_option("--monitor", arguments->monitors,
                       "nats-server monitoring URLs (http://host:8222), comma-separated or repeated");
    status->add_option("--stream", arguments->streams,
                       "Only these streams (default: every stream with sources)");
    status
        ->add_option("--max-inactive", arguments->max_inactive_seconds,
                     "Seconds without a message or heartbeat from a source before it counts as stalled")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    status->add_option("--output,-o", arguments->output, "text, or json: one document")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    status->add_option("--timeout", arguments->timeout_seconds, "Seconds to wait for each server and request")
        ->check(CLI::Range(1, 600))
        ->capture_default_str();
    status->callback([arguments] { run_federation_status(*arguments); });
}

}  // namespace seamq::cli
