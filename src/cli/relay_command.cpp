// `sea-mq relay run`: one context's relay in the foreground, for operators who want a
// relay without a worker (a sidecar, a debugging session) and for process-level tests.
#include <iostream>

#include "src/cli/command_line.hpp"
#include "src/cli/nats_options.hpp"
#include <signal.h>

#include "seamq/cli/commands.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/relay/relay.hpp"

namespace seamq::cli {

namespace {

struct RelayRunArguments {
    relay::RelayOptions relay;
    NatsArguments nats;
    int poll_ms = 1000;
    int election_ms = 1000;
    int publish_timeout_ms = 5000;
    std::string published_rows = "log";
};

void run_relay(const RelayRunArguments& arguments) {
    // Block the stop signals before nats.c starts its threads, so they inherit the mask
    // and only sigwait() below sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto options = arguments.relay;
    options.poll_interval = std::chrono::milliseconds(arguments.poll_ms);
    options.published_rows = *relay::parse_published_rows(arguments.published_rows);  // checked by CLI11
    options.election_interval = std::chrono::milliseconds(arguments.election_ms);
    options.publish_timeout = std::chrono::milliseconds(arguments.publish_timeout_ms);

    auto nats_options = nats_connection_options(arguments.nats, options.instance_name);
    nats_options.retry_on_failed_connect = true;
    nats::Connection connection(std::move(nats_options));
    relay::Relay relay(options, connection);
    relay.start();
    std::cerr << "sea-mq relay: running for context '" << options.context << "' (pid " << getpid() << ")\n";

    int received = 0;
    sigwait(&stop_signals, &received);
    std::cerr << "sea-mq relay: signal " << received << ", finishing in-flight publishes\n";
    relay.stop();
    const auto statistics = relay.statistics();
    std::cerr << "sea-mq relay: stopped; published " << statistics.published << " (duplicates "
              << statistics.duplicates << "), rejected " << statistics.rejected << ", transient errors "
              << statistics.publish_errors << "\n";
}

}  // namespace

void add_relay_commands(CLI::App& app) {
    auto* relay = app.add_subcommand("relay", "Run an outbox relay outside the worker");
    relay->require_subcommand(1);
    auto arguments = std::make_shared<RelayRunArguments>();
    auto* run = relay->add_subcommand(
        "run", "Publish one context's committed outbox rows to JetStream until SIGTERM/SIGINT");
    run->add_option("--context", arguments->relay.context, "Bounded context, e.g. sea")->required();
    add_env_option(run, "--database", arguments->relay.database, "PostgreSQL URL of the context's database",
                   "SEAMQ_DATABASE_URL")
        ->required();
    add_nats_options(run, arguments->nats)->required();
    run->add_option("--expected-stream", arguments->relay.expected_stream,
                    "Stream that must capture the events (Nats-Expected-Stream)");
    run->add_option("--name", arguments->relay.instance_name, "Name in logs and pg_stat_activity");
    run->add_option("--batch-size", arguments->relay.batch_size, "Rows read per query at most")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    run->add_option("--poll-ms", arguments->poll_ms, "Fallback poll interval without NOTIFY")
        ->capture_default_str()
        ->check(CLI::Range(10, 600000));
    run->add_option("--election-ms", arguments->election_ms, "How often a standby tries to lead")
        ->capture_default_str()
        ->check(CLI::Range(10, 600000));
    run->add_option("--publish-timeout-ms", arguments->publish_timeout_ms, "PubAck wait per message")
        ->capture_default_str()
        ->check(CLI::Range(100, 600000));
    run->add_option("--max-in-flight", arguments->relay.max_in_flight,
                    "Messages awaiting their PubAck at most")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    run->add_option("--published-rows", arguments->published_rows,
                    "What a published row leaves behind: log (deleted, recorded in seamq.outbox_published), "
                    "keep (marked published) or discard")
        ->capture_default_str()
        ->check(CLI::IsMember({"log", "keep", "discard"}));
    run->callback([arguments] { run_relay(*arguments); });
}

}  // namespace seamq::cli
