#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace seamq::testing {

//! Root under which every test-owned directory lives: $SEAMQ_TEST_ROOT, else a directory
//! of its own per build tree (/tmp/seamq-test-<hash>). The leak check at the end of the
//! suite fails when anything is left under it.
std::filesystem::path test_root();
//! The repository ($SEAMQ_SOURCE_DIR, else the tree this was built from).
std::filesystem::path source_dir();
//! Where sea-mq and sea-mq-worker are built ($SEAMQ_BIN_DIR, else <build>/bin).
std::filesystem::path bin_dir();
//! tests/node with its node_modules ($SEAMQ_NODE_DIR, else <source>/tests/node).
std::filesystem::path node_dir();
// These four are also exported to the environment of every test process (and so of
// the programs it starts) as SEAMQ_TEST_ROOT, SEAMQ_SOURCE_DIR, SEAMQ_BIN_DIR and
// SEAMQ_NODE_DIR, unless already set.

//! A fresh directory under test_root(), removed (recursively) when this object dies.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "tmp");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&& other) noexcept;
    TempDir& operator=(TempDir&& other) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

//! A TCP port on 127.0.0.1 that was free a moment ago (random in 20000-32000, bound once
//! to check, then closed), never one this process was given before: a test that picks
//! many ports before its servers bind them (a federation: ~40) would otherwise get one
//! twice now and then, and a server would fail with "address already in use".
unsigned short free_port();

//! A child process owned by a test. It runs in its own process group and gets SIGKILL
//! when the thread that started it dies (PR_SET_PDEATHSIG), so a crashed or killed test
//! binary leaves nothing behind. Start children from the test's main thread: the death
//! signal follows the starting thread, not the process.
class ChildProcess {
public:
    struct Options {
        std::vector<std::string> argv{};            //!< argv[0] is looked up in PATH
        std::filesystem::path log_file{};           //!< stdout+stderr; /dev/null if empty
        std::optional<std::string> run_as_user{};   //!< switch to this user (root only)
        std::map<std::string, std::string> env{};   //!< added to (or replacing in) environ
        std::filesystem::path working_directory{};  //!< unchanged if empty
    };

    ChildProcess() = default;
    explicit ChildProcess(Options options);
    ~ChildProcess();
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return pid_; }
    bool running();

    //! Sends `signal` to the process (not its group): SIGSTOP/SIGCONT/SIGTERM...
    void signal(int signal);
    //! SIGKILL to the whole process group, then reaps. Returns the wait status.
    int kill();
    //! `signal` (SIGTERM by default) to the process, waits up to `grace`, then kill().
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(10), int signal = 15);
    //! Waits for the process to exit on its own; nullopt on timeout. Returns the wait status.
    std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

    //! Exit code when the process exited normally, -signal when a signal ended it.
    static int exit_code(int wait_status);

private:
    void reap_group();

    pid_t pid_ = -1;
    std::optional<int> status_;
};

//! Polls `condition` every `interval` until it returns true or `timeout` passes.
template <typename Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(50));

}  // namespace seamq::testing

#include <thread>

namespace seamq::testing {
template <typename Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        if (condition()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(interval);
    }
}
}  // namespace seamq::testing
