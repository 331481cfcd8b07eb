#pragma once

// Runs the real sea-mq binary (bounded by `timeout`) and captures its exit code,
// standard output and standard error apart.
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/wait.h>
#include <vector>

#include "seamq/testing/process.hpp"

namespace seamq::cli::test {

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

inline std::string shell_quote(const std::string& word) {
    std::string quoted = "'";
    for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

inline std::string slurp(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline std::filesystem::path sea_mq_binary() {
    return seamq::testing::bin_dir() / "sea-mq";
}

//! `sea-mq <arguments>` with standard input from /dev/null, killed after `timeout_seconds`.
inline CommandResult sea_mq(const std::vector<std::string>& arguments, int timeout_seconds = 60) {
    seamq::testing::TempDir capture("cli");
    std::string command =
        "timeout -s KILL " + std::to_string(timeout_seconds) + " " + shell_quote(sea_mq_binary().string());
    for (const auto& argument : arguments) command += " " + shell_quote(argument);
    command += " >" + shell_quote((capture.path() / "out").string());
    command += " 2>" + shell_quote((capture.path() / "err").string()) + " </dev/null";
    const int status = std::system(command.c_str());
    CommandResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = slurp(capture.path() / "out");
    result.err = slurp(capture.path() / "err");
    return result;
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
