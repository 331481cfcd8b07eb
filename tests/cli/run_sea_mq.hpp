#pragma once

// Runs the real sea-mq binary (bounded by `timeout`) and captures its exit code,
// standard output and standard error apart, through tests/envelope/run_command.hpp.
#include <map>
#include <string>
#include <vector>

#include "tests/envelope/run_command.hpp"

namespace seamq::cli::test {

using seamq::test::CommandResult;
using seamq::test::sea_mq_binary;
using seamq::test::shell_quote;
using seamq::test::slurp;

//! `sea-mq <arguments>` with standard input from /dev/null, killed after `timeout_seconds`.
inline CommandResult sea_mq(const std::vector<std::string>& arguments, int timeout_seconds = 60) {
    std::vector<std::string> argv{"timeout", "-s", "KILL", std::to_string(timeout_seconds),
                                  sea_mq_binary().string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return seamq::test::run_command(argv);
}

//! The variables through which sea-mq falls back to the environment.
inline const std::vector<std::string>& sea_mq_environment_variables() {
    static const std::vector<std::string> names = {"SEAMQ_NATS_URL", "SEAMQ_DATABASE_URL"};
    return names;
}

//! `sea-mq <arguments>` with exactly `environment` of the variables above (the others unset,
//! whatever the test runner's environment holds).
inline CommandResult sea_mq_with_env(const std::map<std::string, std::string>& environment,
                                     const std::vector<std::string>& arguments, int timeout_seconds = 60) {
    std::vector<std::string> argv{"env"};
    for (const auto& name : sea_mq_environment_variables()) argv.insert(argv.end(), {"-u", name});
    for (const auto& [name, value] : environment) argv.push_back(name + "=" + value);
    argv.insert(argv.end(),
                {"timeout", "-s", "KILL", std::to_string(timeout_seconds), sea_mq_binary().string()});
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return seamq::test::run_command(argv);
}

inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find('\n', start);
        lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return lines;
}

}  // namespace seamq::cli::test
