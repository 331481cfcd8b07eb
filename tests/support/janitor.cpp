// The test suite's own leak check. `prepare ROOT` runs before the first test and
// `check ROOT` after the last (ctest fixtures). `check` fails when a process started by
// the tests is still alive or a temporary directory was left under ROOT, so a leak
// breaks `make test` instead of going unnoticed. It never kills anything: it only
// reports what it finds, by PID, and removes leftover directories.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct Survivor {
    std::string pid;
    std::string command;
};

std::string read_cmdline(const fs::path& proc_dir) {
    std::ifstream in(proc_dir / "cmdline", std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (auto& c : raw) {
        if (c == '\0') c = ' ';
    }
    return raw;
}

// A process belongs to the tests when its command line or working directory names a
// path under the test root (nats-server -c ROOT/..., postgres -D ROOT/..., backends
// whose cwd is the data directory, workers given a config under ROOT).
std::vector<Survivor> processes_under(const fs::path& root) {
    std::vector<Survivor> found;
    const std::string prefix = root.string();
    const std::string self = std::to_string(getpid());
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos || name == self) continue;
        const std::string command = read_cmdline(entry.path());
        std::error_code cwd_error;
        const auto cwd = fs::read_symlink(entry.path() / "cwd", cwd_error).string();
        const bool in_root =
            command.find(prefix) != std::string::npos || (!cwd_error && cwd.rfind(prefix, 0) == 0);
        if (in_root) found.push_back({name, command.empty() ? cwd : command});
    }
    return found;
}

int prepare(const fs::path& root) {
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) {
        std::cerr << "janitor: cannot create test root " << root << ": " << ec.message() << "\n";
        return 1;
    }
    // Directories of servers that run as the `postgres` user must be reachable by it.
    fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    const auto survivors = processes_under(root);
    for (const auto& s : survivors) {
        std::cerr << "janitor: process " << s.pid << " from an earlier run still lives: " << s.command
                  << "\n";
    }
    if (!survivors.empty()) return 1;
    // Directories left by an earlier run that crashed would be blamed on this one.
    for (const auto& entry : fs::directory_iterator(root, ec)) fs::remove_all(entry.path(), ec);
    std::cout << "janitor: test root " << root << " ready\n";
    return 0;
}

int check(const fs::path& root) {
    int failures = 0;
    // Processes get a moment to finish exiting (a postmaster's backends leave just
    // after it), bounded.
    std::vector<Survivor> survivors;
    for (int attempt = 0; attempt < 50; ++attempt) {
        survivors = processes_under(root);
        if (survivors.empty()) break;
        usleep(100 * 1000);
    }
    for (const auto& s : survivors) {
        std::cerr << "janitor: LEAK: process " << s.pid
                  << " started by a test is still running: " << s.command << "\n";
        ++failures;
    }
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
        std::cerr << "janitor: LEAK: temporary path left behind: " << entry.path().string() << "\n";
        ++failures;
        fs::remove_all(entry.path(), ec);
    }
    if (failures == 0) {
        fs::remove(root, ec);
        std::cout << "janitor: no process and no temporary directory left behind\n";
    }
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: seamq-test-janitor prepare|check ROOT\n";
        return 2;
    }
    const std::string verb = argv[1];
    const fs::path root = argv[2];
    if (verb == "prepare") return prepare(root);
    if (verb == "check") return check(root);
    std::cerr << "janitor: unknown verb '" << verb << "' (prepare|check)\n";
    return 2;
}
