// `sea-mq streams apply|status`: the per-context JetStream streams of a streams file.
#include <iostream>
#include <memory>

#include "src/cli/command_line.hpp"
#include "src/cli/nats_options.hpp"

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/streams/status_report.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::cli {

namespace {

struct StreamsArguments {
    std::string file;
    NatsArguments nats;
    std::string output = "text";
    bool dry_run = false;
    int timeout_seconds = 10;
};

void add_nats_option(CLI::App* command, StreamsArguments& arguments) {
    add_nats_options(command, arguments.nats)->required();
    command
        ->add_option("--timeout", arguments.timeout_seconds,
                     "Seconds to wait for the server and each API call")
        ->check(CLI::Range(1, 600));
}

std::unique_ptr<nats::Connection> connect(const StreamsArguments& arguments, const char* name) {
    auto options = nats_connection_options(arguments.nats, name);
    options.connect_timeout = std::chrono::seconds(arguments.timeout_seconds);
    options.max_reconnect = 5;  // a one-shot command: do not hang on a dead cluster
    return std::make_unique<nats::Connection>(options);
}

nats::JetStreamOptions jetstream_options(const StreamsArguments& arguments) {
    nats::JetStreamOptions options;
    options.api_timeout = std::chrono::seconds(arguments.timeout_seconds);
    return options;
}

void run_apply(const StreamsArguments& arguments) {
    const auto config =
        streams::load_streams_config(arguments.file);  // before connecting: config errors exit 2
    const auto connection = connect(arguments, "sea-mq streams apply");
    nats::JetStream jetstream(*connection, jetstream_options(arguments));
    streams::StreamManager manager(jetstream);
    const auto plan = arguments.dry_run ? manager.plan(config) : manager.apply(config);
    std::cout << streams::format_plan(plan, arguments.dry_run);
    bool refused = false;
    for (const auto& item : plan) {
        if (item.action == streams::StreamAction::refused) {
            std::cerr << "sea-mq: refused: " << item.reason << "\n";
            refused = true;
        }
    }
    if (refused) {
        std::cerr << "sea-mq: nothing was changed" << (arguments.dry_run ? "" : " (all streams or none)")
                  << "\n";
        throw CLI::RuntimeError(1);
    }
}

void run_status(const StreamsArguments& arguments) {
    if (arguments.output != "text" && arguments.output != "json")
        raise(Errc::invalid_argument, "--output must be text or json, got '{}'", arguments.output);
    std::vector<std::string> names;
    if (!arguments.file.empty())
        for (const auto& stream : streams::load_streams_config(arguments.file).streams())
            names.push_back(stream.name);
    const auto connection = connect(arguments, "sea-mq streams status");
    nats::JetStream jetstream(*connection, jetstream_options(arguments));
    streams::StreamManager manager(jetstream);
    std::vector<std::string> missing;
    const auto infos = manager.status(names, &missing);
    if (arguments.output == "json") {
        nlohmann::json out = {{"streams", streams::status_json(infos)}, {"missing", missing}};
        std::cout << out.dump(2) << "\n";
    } else {
        std::cout << streams::format_status_table(infos);
    }
    if (!missing.empty()) {
        for (const auto& name : missing)
            std::cerr << "sea-mq: stream " << name << " of " << arguments.file
                      << " does not exist; run `sea-mq streams apply --file " << arguments.file << "`\n";
        throw CLI::RuntimeError(1);
    }
}

}  // namespace

void add_streams_commands(CLI::App& app) {
    auto* streams = app.add_subcommand("streams", "Per-context JetStream streams (config/streams.yaml)");
    streams->require_subcommand(1);
    auto arguments = std::make_shared<StreamsArguments>();

    auto* apply = streams->add_subcommand(
        "apply",
        "Create or update the streams of a streams file; prints created / updated (fields) / unchanged");
    apply->add_option("--file,-f", arguments->file, "Streams file (YAML)")->required();
    add_nats_option(apply, *arguments);
    apply->add_flag("--dry-run", arguments->dry_run, "Only print what would change");
    apply->callback([arguments] { run_apply(*arguments); });

    auto* status = streams->add_subcommand(
        "status",
        "Per stream: messages, bytes, first/last sequence, consumers, leader and replicas when clustered");
    status->add_option("--file,-f", arguments->file, "Only the streams of this file (reports missing ones)");
    add_nats_option(status, *arguments);
    status->add_option("--output,-o", arguments->output, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    status->callback([arguments] { run_status(*arguments); });
}

}  // namespace seamq::cli
