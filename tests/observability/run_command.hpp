#pragma once

// Runs a short-lived helper program (node with an independent parser, the worker with
// --check-config) and captures what it prints. For programs that exit on their own;
// long-running ones go through seamq::testing::ChildProcess.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "tests/envelope/run_command.hpp"

namespace seamq::test_support {

struct CommandResult {
    int exit_code = -1;
    std::string output;  //!< stdout, plus stderr when asked
};

using seamq::test::shell_quote;

//! Runs argv (through /bin/sh, quoted) with a 60 s timeout; stderr is merged into the
//! output when `merge_stderr`, else discarded.
inline CommandResult run_command(const std::vector<std::string>& argv, bool merge_stderr = true) {
    std::string command = "timeout 60";
    for (const auto& argument : argv) command += " " + shell_quote(argument);
    command += merge_stderr ? " 2>&1" : " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("popen failed for: " + command);
    CommandResult result;
    std::array<char, 4096> buffer{};
    std::size_t read = 0;
    while ((read = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        result.output.append(buffer.data(), read);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

//! $name, or `fallback` when unset.
inline std::string environment_or(const char* name, const std::string& fallback) {
    const char* value = std::getenv(name);
    return value != nullptr ? std::string(value) : fallback;
}

}  // namespace seamq::test_support
