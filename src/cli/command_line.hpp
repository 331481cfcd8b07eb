#pragma once

// What every verb shares about reading its command line: options with an environment
// fallback. (Words that name no command: require_known_commands in seamq/cli/commands.hpp.)
#include <string>

#include <CLI/CLI.hpp>

namespace seamq::cli {

//! The command line that reaches `command`: "sea-mq db migrate".
std::string command_path(const CLI::App* command);

//! An option of `command` that falls back to the environment variable `variable`; the
//! flag always wins. CLI11 reads the environment for the options of every command,
//! selected or not, and stores what it read; two sibling commands binding one variable
//! would then overwrite a flag with the environment. This stores the value only when
//! `command` is the command being run.
template <typename T>
CLI::Option* add_env_option(CLI::App* command, const std::string& name, T& target,
                            const std::string& description, const std::string& variable) {
    auto* option = command->add_option_function<T>(
        name,
        [command, &target](const T& value) {
            if (command->count() > 0) target = value;
        },
        description);
    option->envname(variable);
    return option;
}

}  // namespace seamq::cli
