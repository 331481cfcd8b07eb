#pragma once

// Runs a program (the real sea-mq binary, node) with std::system and captures its exit
// code, stdout and stderr through files in a TempDir. Shared by tests/envelope and
// tests/contracts.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "seamq/testing/process.hpp"

namespace seamq::test {

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

inline std::string shell_quote(const std::string& word) {
    std::string quoted = "'";
    for (const char c : word) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

inline std::string slurp(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

//! Runs argv (argv[0] a path or a name on PATH), `stdin_file` as standard input if given.
inline CommandResult run_command(const std::vector<std::string>& argv, const std::string& stdin_file = {}) {
    testing::TempDir capture("command");
    std::string command;
    for (const auto& word : argv) command += shell_quote(word) + " ";
    command += "> " + shell_quote((capture.path() / "out").string());
    command += " 2> " + shell_quote((capture.path() / "err").string());
    command += " < " + shell_quote(stdin_file.empty() ? std::string("/dev/null") : stdin_file);
    const int status = std::system(command.c_str());
    CommandResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = slurp(capture.path() / "out");
    result.err = slurp(capture.path() / "err");
    return result;
}

inline std::filesystem::path environment_path(const char* name) {
    const char* value = std::getenv(name);
    return value ? std::filesystem::path(value) : std::filesystem::path();
}

inline std::filesystem::path sea_mq_binary() {
    return environment_path("SEAMQ_BIN_DIR") / "sea-mq";
}
inline std::filesystem::path source_dir() {
    return environment_path("SEAMQ_SOURCE_DIR");
}

}  // namespace seamq::test
