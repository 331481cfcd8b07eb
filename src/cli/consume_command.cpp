// `sea-mq consume run`: one inbox consumer with a SQL-function handler in the foreground,
// for operators who want a consumer without a worker (a sidecar, a debugging session)
// and for process-level tests (kill -9, several processes on one consumer).
#include <iostream>

#include "src/cli/command_line.hpp"
#include "src/cli/nats_options.hpp"
#include <signal.h>

#include "seamq/cli/commands.hpp"
#include "seamq/inbox/consumer.hpp"
#include "seamq/inbox/sql_function_handler.hpp"
#include "seamq/nats/connection.hpp"

namespace seamq::cli {

namespace {

struct ConsumeRunArguments {
    inbox::ConsumerOptions consumer;
    NatsArguments nats;
    std::string handler_function;
    std::vector<int> retry_delays_ms{1000, 5000, 30000};
    int ack_wait_ms = 4000;
    int fetch_wait_ms = 1000;
};

void run_consumer(const ConsumeRunArguments& arguments) {
    // Block the stop signals before nats.c starts its threads, so they inherit the mask
    // and only sigwait() below sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto options = arguments.consumer;
    options.retry_delays.clear();
    for (const int delay : arguments.retry_delays_ms) options.retry_delays.emplace_back(delay);
    options.ack_wait = std::chrono::milliseconds(arguments.ack_wait_ms);
    options.fetch_wait = std::chrono::milliseconds(arguments.fetch_wait_ms);
    if (options.instance_name.empty()) options.instance_name = "sea-mq consume";
    inbox::check_options(options);
    auto handler = std::make_shared<inbox::SqlFunctionHandler>(arguments.handler_function);

    auto nats_options = nats_connection_options(arguments.nats, options.instance_name);
    nats_options.retry_on_failed_connect = true;
    nats::Connection connection(std::move(nats_options));
    inbox::InboxConsumer consumer(options, connection, handler);
    consumer.start();
    std::cerr << "sea-mq consume: consumer '" << options.name << "' on " << options.stream << " running ("
              << handler->describe() << ", pid " << getpid() << ")\n";

    int received = 0;
    sigwait(&stop_signals, &received);
    std::cerr << "sea-mq consume: signal " << received << ", finishing the batch in hand\n";
    consumer.stop();
    const auto statistics = consumer.statistics();
    std::cerr << "sea-mq consume: stopped; processed " << statistics.processed << ", duplicates "
              << statistics.duplicates << ", retried " << statistics.retried << ", dead-lettered "
              << statistics.dead_lettered << " (poison " << statistics.poison << ")\n";
}

}  // namespace

void add_consume_commands(CLI::App& app) {
    auto* consume = app.add_subcommand("consume", "Run an inbox consumer outside the worker");
    consume->require_subcommand(1);
    auto arguments = std::make_shared<ConsumeRunArguments>();
    auto& options = arguments->consumer;
    auto* run = consume->add_subcommand(
        "run",
        "Apply messages of one durable consumer exactly once with a SQL function, until SIGTERM/SIGINT");
    run->add_option("--consumer", options.name, "Durable consumer name (also the inbox key)")->required();
    run->add_option("--context", options.context, "Bounded context, e.g. sea (selects the DLQ)")->required();
    run->add_option("--stream", options.stream, "Stream to consume, e.g. SEA_EVENTS")->required();
    run->add_option("--filter-subject", options.filter_subject, "Subject filter, e.g. sea.event.>");
    run->add_option("--handler-sql", arguments->handler_function,
                    "Function called as SELECT FUNCTION($1::jsonb) inside the inbox transaction")
        ->required();
    add_env_option(run, "--database", options.database, "PostgreSQL URL of the context's database",
                   "SEAMQ_DATABASE_URL")
        ->required();
    add_nats_options(run, arguments->nats)->required();
    run->add_option("--max-deliver", options.max_deliver, "Deliveries before dead-lettering")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    run->add_option("--retry-delays-ms", arguments->retry_delays_ms, "Delay after each failed attempt")
        ->delimiter(',')
        ->capture_default_str();
    run->add_option("--ack-wait-ms", arguments->ack_wait_ms,
                    "JetStream ack wait: how soon a killed worker's messages are redelivered")
        ->capture_default_str()
        ->check(CLI::Range(1000, 3600000));
    run->add_option("--max-ack-pending", options.max_ack_pending, "Unacknowledged messages, all workers")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000000));
    run->add_option("--batch-size", options.batch_size, "Messages per fetch and transaction")
        ->capture_default_str()
        ->check(CLI::Range(1, 1000));
    run->add_option("--fetch-wait-ms", arguments->fetch_wait_ms, "How long one pull request waits")
        ->capture_default_str()
        ->check(CLI::Range(10, 60000));
    run->add_option("--dead-letter-stream", options.dead_letter_stream,
                    "DLQ stream (default: <CONTEXT>_DLQ)");
    run->add_option("--name", options.instance_name, "Name in logs and pg_stat_activity");
    run->callback([arguments] { run_consumer(*arguments); });
}

}  // namespace seamq::cli
