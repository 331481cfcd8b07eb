// `sea-mq contracts lint|lock [DIR]`: keeps event contracts well-formed and immutable.
#include <iostream>
#include <memory>

#include "seamq/cli/commands.hpp"
#include "seamq/contracts/contracts.hpp"
#include "seamq/core/error.hpp"
#include "seamq/envelope/envelope.hpp"

namespace seamq::cli {

namespace {

std::filesystem::path events_dir(const std::string& given) {
    return given.empty() ? envelope::schemas_dir() / "events" : std::filesystem::path(given);
}

void run_lint(const std::filesystem::path& dir) {
    const auto findings = contracts::lint(dir);
    std::size_t errors = 0;
    std::size_t notes = 0;
    for (const auto& finding : findings) {
        auto& out = finding.error ? std::cerr : std::cout;
        out << (dir / finding.file).string() << ": " << finding.kind << ": " << finding.message << "\n";
        (finding.error ? errors : notes) += 1;
    }
    std::cout << "contracts lint " << dir.string() << ": " << errors << " error(s), " << notes
              << " note(s)\n";
    if (errors > 0) throw CLI::RuntimeError(1);
}

void run_lock(const std::filesystem::path& dir) {
    const auto added = contracts::lock(dir);
    for (const auto& type : added) std::cout << "locked " << type << "\n";
    if (added.empty()) std::cout << "nothing to lock: every contract in " << dir.string() << " is locked\n";
}

}  // namespace

void add_contracts_commands(CLI::App& app) {
    auto* contracts_command = app.add_subcommand(
        "contracts", "Event payload contracts: schemas/events/<context>/<name>.v<n>.schema.json");
    contracts_command->require_subcommand(1);
    auto dir = std::make_shared<std::string>();
    auto* lint = contracts_command->add_subcommand("lint",
                                                   "Check file names, schemas, annotations and immutability "
                                                   "against contracts.lock. Exit 1 on any error");
    lint->add_option("dir", *dir, "Events directory (default: the schemas directory's events/)")
        ->check(CLI::ExistingDirectory);
    lint->callback([dir] { run_lint(events_dir(*dir)); });
    auto* lock = contracts_command->add_subcommand(
        "lock",
        "Record the content hash of every contract not yet in contracts.lock (never rewrites entries)");
    lock->add_option("dir", *dir, "Events directory (default: the schemas directory's events/)")
        ->check(CLI::ExistingDirectory);
    lock->callback([dir] { run_lock(events_dir(*dir)); });
}

}  // namespace seamq::cli
