// `sea-mq publish`: one event through a context's outbox, for trying things. The event
// goes the way a service's events go (validated, then seamq.enqueue in a transaction),
// so a running relay publishes it; the command itself never talks to NATS.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "src/cli/command_line.hpp"
#include "src/cli/input.hpp"
#include <nlohmann/json.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/contracts/contracts.hpp"
#include "seamq/core/error.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/outbox/producer.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::cli {

namespace {

namespace fs = std::filesystem;

struct PublishArguments {
    std::string database;
    std::string file;
    std::string type;
    std::string subject;
    std::string data;
    std::string source = "/sea-mq/cli";
    std::string id;
    std::string correlation_id;
    std::string traceparent;
    std::string schemas;
};

std::string read_file(const std::string& file, std::size_t limit) {
    if (file == "-") return read_bounded(std::cin, limit);
    std::ifstream in(file, std::ios::binary);
    if (!in) raise(Errc::invalid_argument, "--file {}: cannot open the file; nothing was published", file);
    return read_bounded(in, limit);
}

// Builds and validates the envelope; an invalid one is reported problem by problem and
// ends the command with exit code 1 before any SQL runs.
envelope::Envelope make_envelope(const PublishArguments& arguments, const envelope::Validator& validator) {
    if (!arguments.file.empty()) {
        const auto text = read_file(arguments.file, validator.limits().max_bytes);
        const auto problems = validator.validate(text);
        if (!problems.empty()) {
            const std::string name = arguments.file == "-" ? "<stdin>" : arguments.file;
            for (const auto& problem : problems)
                std::cerr << name << ": " << envelope::to_string(problem) << "\n";
            std::cerr << "sea-mq publish: invalid envelope; nothing was published\n";
            throw CLI::RuntimeError(1);
        }
        return validator.parse(text);
    }
    nlohmann::json data;
    try {
        data = nlohmann::json::parse(arguments.data);
    } catch (const nlohmann::json::exception& error) {
        raise(Errc::invalid_argument,
              "--data is not JSON ({}); pass the payload as JSON text, e.g. '{{\"a\":1}}'", error.what());
    }
    envelope::EnvelopeBuilder builder(arguments.type, arguments.source, arguments.subject);
    builder.data(std::move(data));
    if (!arguments.id.empty()) builder.id(arguments.id);
    if (!arguments.correlation_id.empty()) builder.correlation_id(arguments.correlation_id);
    if (!arguments.traceparent.empty()) builder.traceparent(arguments.traceparent);
    try {
        return builder.build(validator);
    } catch (const Error& error) {
        if (error.code() != Errc::invalid_envelope && error.code() != Errc::too_large) throw;
        std::cerr << error.what() << "\n";
        std::cerr << "sea-mq publish: invalid envelope; nothing was published\n";
        throw CLI::RuntimeError(1);
    }
}

void run_publish(const PublishArguments& arguments) {
    const bool from_file = !arguments.file.empty();
    const bool from_options =
        !arguments.type.empty() || !arguments.subject.empty() || !arguments.data.empty();
    if (from_file && from_options)
        raise(Errc::invalid_argument, "give either --file or --type/--subject/--data, not both");
    if (!from_file && (arguments.type.empty() || arguments.subject.empty() || arguments.data.empty()))
        raise(Errc::invalid_argument, "give --type, --subject and --data (or a whole envelope with --file)");

    // Contracts come from the schemas directory as for `envelope validate`: a payload that
    // breaks its event's contract is refused here, not by a consumer later.
    const fs::path schemas = envelope::schemas_dir(arguments.schemas);
    std::optional<contracts::Registry> registry;
    if (fs::is_directory(schemas / "events")) {
        registry = contracts::Registry::load(schemas / "events");
    } else if (!arguments.schemas.empty()) {
        raise(Errc::config, "--schemas {} has no events/ folder; pass the repository's schemas/",
              arguments.schemas);
    }
    const envelope::DataContracts* data_contracts = registry ? &*registry : nullptr;
    const envelope::Validator validator(envelope::Limits{}, data_contracts);
    const auto event = make_envelope(arguments, validator);

    postgres::Connection connection(
        postgres::ConnectOptions{arguments.database, std::chrono::seconds(10), "sea-mq publish"});
    const outbox::Producer producer(validator);
    postgres::Transaction transaction(connection);
    std::string id;
    try {
        id = producer.append(transaction, event);
    } catch (const postgres::SqlError& error) {
        if (error.is_unique_violation()) {
            std::cerr << "sea-mq publish: event id " << event.id()
                      << " is already in the outbox; nothing was published (omit --id for a new one)\n";
            throw CLI::RuntimeError(1);
        }
        throw;
    }
    transaction.commit();
    std::cerr << "sea-mq publish: " << event.type() << " (subject " << event.subject()
              << ") is in the outbox of context '" << event.context()
              << "'; a relay for that context publishes it\n";
    std::cout << id << "\n";
}

}  // namespace

void add_publish_commands(CLI::App& app) {
    auto arguments = std::make_shared<PublishArguments>();
    auto* publish = app.add_subcommand(
        "publish", "Write one event to its context's outbox, validated first; a relay publishes it");
    publish->footer(
        "Prints the event id on standard output. Exit 0 when the event is committed to the outbox, 1 when "
        "the "
        "envelope is invalid (one line per problem on standard error; nothing is written) or the database "
        "refuses it (e.g. the id is already there), 2 on usage errors. The payload is checked against its "
        "contract in schemas/events/ when there is one.");
    add_env_option(
        publish, "--database", arguments->database,
        "PostgreSQL connection of the event's context: postgresql:// URL or libpq key=value string",
        "SEAMQ_DATABASE_URL")
        ->required();
    publish->add_option("--type", arguments->type,
                        "Event type, also the NATS subject: sea.event.order-placed.v1");
    publish->add_option("--subject", arguments->subject, "Ordering key (aggregate or entity id): order-42");
    publish->add_option("--data", arguments->data, "Payload as JSON text: '{\"order_id\":\"42\"}'");
    publish->add_option("--source", arguments->source, "CloudEvents source naming the producer")
        ->capture_default_str();
    publish->add_option("--id", arguments->id, "Event id (default: a new UUID v4)");
    publish->add_option("--correlation-id", arguments->correlation_id, "Correlation id extension attribute");
    publish->add_option("--traceparent", arguments->traceparent, "W3C traceparent to carry along");
    publish->add_option("--file,-f", arguments->file,
                        "A whole envelope (CloudEvents JSON) instead of --type/--subject/--data; '-' reads "
                        "standard input");
    publish
        ->add_option("--schemas", arguments->schemas,
                     "Schemas directory with the payload contracts (default: $SEAMQ_SCHEMAS_DIR, else the "
                     "source tree's schemas/)")
        ->check(CLI::ExistingDirectory);
    publish->callback([arguments] { run_publish(*arguments); });
}

}  // namespace seamq::cli
