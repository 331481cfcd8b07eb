// `sea-mq envelope validate FILE...`: checks envelopes against the envelope schema, the
// subject grammar, the size limit and, where one exists, the payload contract.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <system_error>

#include "src/cli/input.hpp"

#include "seamq/cli/commands.hpp"
#include "seamq/contracts/contracts.hpp"
#include "seamq/core/error.hpp"
#include "seamq/envelope/envelope.hpp"

namespace seamq::cli {

namespace {

namespace fs = std::filesystem;

struct ValidateOptions {
    std::vector<std::string> files;
    std::size_t max_bytes = envelope::Limits{}.max_bytes;
    std::string schemas;
};

int validate_files(const ValidateOptions& options) {
    const envelope::Limits limits{options.max_bytes};
    // NOLINTNEXTLINE(concurrency-mt-unsafe): the CLI reads its environment on one thread
    const bool schemas_given = !options.schemas.empty() || std::getenv("SEAMQ_SCHEMAS_DIR");
    const fs::path schemas = envelope::schemas_dir(options.schemas);
    // Contracts come from the schemas directory; an installed binary without the
    // repository (and without --schemas) validates against the built-in envelope schema only.
    std::optional<contracts::Registry> registry;
    if (fs::is_directory(schemas / "events")) {
        registry = contracts::Registry::load(schemas / "events");
    } else if (schemas_given) {
        raise(Errc::config,
              "schemas directory {} has no events/ folder; pass the repository's schemas/ with --schemas",
              schemas.string());
    }
    const envelope::DataContracts* data_contracts = registry ? &*registry : nullptr;
    const auto validator =
        options.schemas.empty()
            ? envelope::Validator(limits, data_contracts)
            : envelope::Validator(schemas / "events" / "envelope-v1.schema.json", limits, data_contracts);
    bool all_valid = true;
    for (const auto& file : options.files) {
        const std::string name = file == "-" ? "<stdin>" : file;
        std::string text;
        if (file == "-") {
            text = read_bounded(std::cin, limits.max_bytes);
        } else {
            std::ifstream in(file, std::ios::binary);
            if (!in) {
                std::cerr << name << ": (root): io: cannot open the file ("
                          << std::error_code(errno, std::generic_category()).message()
                          << "); it was not validated\n";
                all_valid = false;
                continue;
            }
            text = read_bounded(in, limits.max_bytes);
        }
        std::vector<envelope::Problem> problems;
        if (text.size() > limits.max_bytes) {
            std::error_code error;
            const auto size = file == "-" ? 0 : fs::file_size(file, error);
            problems.push_back(
                {"", "size", size ? fmt::format("{} bytes", size) : "",
                 fmt::format("envelope is {} than the limit of {} bytes; send large payloads by "
                             "reference or raise the limit (--max-bytes)",
                             size ? fmt::format("{} bytes, more", size) : std::string("larger"),
                             limits.max_bytes)});
        } else {
            problems = validator.validate(text);
        }
        if (problems.empty()) {
            std::cout << name << ": valid\n";
            continue;
        }
        all_valid = false;
        for (const auto& problem : problems)
            std::cerr << name << ": " << envelope::to_string(problem) << "\n";
    }
    if (!all_valid) throw CLI::RuntimeError(1);
    return 0;
}

}  // namespace

void add_envelope_commands(CLI::App& app) {
    auto* envelope_command =
        app.add_subcommand("envelope", "Work with event envelopes (CloudEvents 1.0 JSON)");
    envelope_command->require_subcommand(1);
    auto options = std::make_shared<ValidateOptions>();
    auto* validate = envelope_command->add_subcommand(
        "validate",
        "Validate envelopes: schema, subject grammar, size limit and payload contract. Exit 0 when all are "
        "valid, 1 when any is invalid or unreadable (one line per problem on stderr), 2 on usage errors");
    validate->add_option("files", options->files, "Envelope files; '-' reads standard input")->required();
    validate
        ->add_option("--max-bytes", options->max_bytes, "Largest accepted envelope in bytes (default 1 MiB)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
    validate
        ->add_option("--schemas", options->schemas,
                     "Schemas directory holding events/envelope-v1.schema.json and the contracts "
                     "(default: $SEAMQ_SCHEMAS_DIR, else the built-in envelope schema and the source "
                     "tree's schemas/)")
        ->check(CLI::ExistingDirectory);
    validate->callback([options] { validate_files(*options); });
}

}  // namespace seamq::cli
