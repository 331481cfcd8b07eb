#include "src/cli/command_line.hpp"

#include <memory>
#include <string_view>

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/redaction.hpp"

namespace seamq::cli {

namespace {

//! spdlog's default pattern over the message with its passwords masked.
class MaskingFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& destination) override {
        const auto masked =
            mask_credentials(std::string_view(message.payload.data(), message.payload.size()));
        auto copy = message;
        copy.payload = masked;
        pattern_.format(copy, destination);
    }
    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<MaskingFormatter>(); }

private:
    spdlog::pattern_formatter pattern_;
};

}  // namespace

void mask_credentials_in_logs() {
    spdlog::set_formatter(std::make_unique<MaskingFormatter>());
}

std::string command_path(const CLI::App* command) {
    std::string path = command->get_name();
    for (const auto* parent = command->get_parent(); parent != nullptr; parent = parent->get_parent())
        path.insert(0, parent->get_name() + " ");
    return path;
}

namespace {

std::vector<const CLI::App*> named_commands(const CLI::App* command) {
    return command->get_subcommands([](const CLI::App* sub) { return !sub->get_name().empty(); });
}

}  // namespace

void require_known_commands(const CLI::App& root, int argc, const char* const* argv) {
    const CLI::App* command = &root;
    // Walks the words while `command` is a group (it has commands of its own); a command
    // without any stops the walk: CLI11 reads its options and arguments.
    for (int index = 1; index < argc && !named_commands(command).empty(); ++index) {
        const std::string_view word = argv[index];
        if (word == "--") return;
        if (word.size() > 1 && word.front() == '-') {
            const auto equals = word.find('=');
            const auto* option = command->get_option_no_throw(std::string(word.substr(0, equals)));
            if (option == nullptr) return;  // CLI11 reports it
            if (equals == std::string_view::npos && option->get_items_expected_max() > 0) ++index;
            continue;
        }
        const CLI::App* next = nullptr;
        for (const auto* sub : named_commands(command))
            if (sub->check_name(std::string(word))) next = sub;
        if (next == nullptr) {
            std::string known;
            for (const auto* sub : named_commands(command)) {
                if (sub->get_group().empty()) continue;  // hidden
                known += (known.empty() ? "" : ", ") + sub->get_name();
            }
            raise(Errc::invalid_argument, "unknown command '{}' for `{}`; its commands are: {}", word,
                  command_path(command), known);
        }
        command = next;
    }
}

}  // namespace seamq::cli
