#include "seamq/testing/process.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <random>
#include <set>
#include <sstream>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include "seamq/core/error.hpp"

extern char** environ;

namespace seamq::testing {

namespace fs = std::filesystem;

namespace {

fs::path from_environment(const char* name, const char* compiled_in) {
    const char* configured = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
    return (configured != nullptr && *configured != '\0') ? fs::path(configured) : fs::path(compiled_in);
}

// Runs before main in every test binary that uses the harness, so test code and the
// programs it starts see the same locations.
// NOLINTNEXTLINE(cert-err58-cpp): setenv does not throw
const bool environment_exported = [] {
    ::setenv("SEAMQ_TEST_ROOT", SEAMQ_TEST_ROOT, 0);    // NOLINT(concurrency-mt-unsafe)
    ::setenv("SEAMQ_SOURCE_DIR", SEAMQ_SOURCE_DIR, 0);  // NOLINT(concurrency-mt-unsafe)
    ::setenv("SEAMQ_BIN_DIR", SEAMQ_BIN_DIR, 0);        // NOLINT(concurrency-mt-unsafe)
    ::setenv("SEAMQ_NODE_DIR", SEAMQ_NODE_DIR, 0);      // NOLINT(concurrency-mt-unsafe)
    return true;
}();

}  // namespace

fs::path source_dir() {
    return from_environment("SEAMQ_SOURCE_DIR", SEAMQ_SOURCE_DIR);
}
fs::path bin_dir() {
    return from_environment("SEAMQ_BIN_DIR", SEAMQ_BIN_DIR);
}
fs::path node_dir() {
    return from_environment("SEAMQ_NODE_DIR", SEAMQ_NODE_DIR);
}

fs::path test_root() {
    (void)environment_exported;
    fs::path root = from_environment("SEAMQ_TEST_ROOT", SEAMQ_TEST_ROOT);
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) raise(Errc::io, "cannot create test root {}: {}", root.string(), ec.message());
    // Servers that run as the `postgres` user must be able to reach their directories.
    fs::permissions(root,
                    fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                        fs::perms::others_read | fs::perms::others_exec,
                    ec);
    return root;
}

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = (test_root() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) {
        raise(Errc::io, "mkdtemp {} failed: {}", pattern, std::strerror(errno));  // NOLINT
    }
    path_ = pattern;
    fs::permissions(path_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
}

TempDir::~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

namespace {

bool can_bind(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) raise(Errc::io, "socket() failed: {}", std::strerror(errno));  // NOLINT
    const int reuse = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return bound;
}

}  // namespace

unsigned short free_port() {
    // Below Linux's ephemeral range (32768-60999 by default): the kernel hands ports from
    // that range to every outgoing connection, so a port picked there can be taken by a
    // client socket before the server binds it. Random, so parallel tests rarely meet.
    static thread_local std::mt19937 random{std::random_device{}() ^ static_cast<unsigned>(::getpid())};
    // Handed out already: free until its server binds it, so can_bind cannot tell.
    static std::mutex given_mutex;
    static std::set<unsigned short> given;
    std::uniform_int_distribution<int> range(20000, 32000);
    for (int attempt = 0; attempt < 200; ++attempt) {
        const auto port = static_cast<unsigned short>(range(random));
        {
            std::lock_guard lock(given_mutex);
            if (given.contains(port)) continue;
        }
        if (!can_bind(port)) continue;
        std::lock_guard lock(given_mutex);
        if (given.insert(port).second) return port;
    }
    raise(Errc::io, "no free loopback port in 20000-32000 after 200 attempts");
}

namespace {

struct UserIds {
    uid_t uid;
    gid_t gid;
};

UserIds lookup_user(const std::string& name) {
    passwd entry{};
    passwd* found = nullptr;
    std::string buffer(16384, '\0');
    if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
        raise(Errc::not_found, "OS user '{}' does not exist (is the postgresql package installed?)", name);
    }
    return {entry.pw_uid, entry.pw_gid};
}

// Only async-signal-safe calls between fork and exec: report failure with write+_exit.
[[noreturn]] void child_fail(const char* what) {
    const char* error = strerrordesc_np(errno);
    (void)!::write(STDERR_FILENO, "seamq-testing: ", 15);
    (void)!::write(STDERR_FILENO, what, std::strlen(what));
    (void)!::write(STDERR_FILENO, ": ", 2);
    (void)!::write(STDERR_FILENO, error, std::strlen(error));
    (void)!::write(STDERR_FILENO, "\n", 1);
    ::_exit(127);
}

}  // namespace

ChildProcess::ChildProcess(Options options) {
    if (options.argv.empty()) raise(Errc::invalid_argument, "ChildProcess needs a program to run");

    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls are allowed.
    std::vector<std::string> environment_strings;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string item = *entry;
        const auto key = item.substr(0, item.find('='));
        if (options.env.find(key) == options.env.end()) environment_strings.push_back(item);
    }
    for (const auto& [key, value] : options.env)
        environment_strings.push_back(std::string(key).append("=").append(value));
    std::vector<char*> environment;
    environment.reserve(environment_strings.size() + 1);
    for (auto& item : environment_strings) environment.push_back(item.data());
    environment.push_back(nullptr);
    std::vector<char*> arguments;
    for (auto& argument : options.argv) arguments.push_back(argument.data());
    arguments.push_back(nullptr);

    std::optional<UserIds> user;
    if (options.run_as_user) user = lookup_user(*options.run_as_user);
    const std::string log = options.log_file.empty() ? std::string("/dev/null") : options.log_file.string();
    const std::string cwd = options.working_directory.string();
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) raise(Errc::io, "fork failed: {}", std::strerror(errno));  // NOLINT
    if (pid == 0) {
        // Own process group, so kill() reaches grandchildren (PostgreSQL backends) too.
        if (::setpgid(0, 0) != 0) child_fail("setpgid");
        const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) child_fail("open log file");
        if (::dup2(log_fd, STDOUT_FILENO) < 0 || ::dup2(log_fd, STDERR_FILENO) < 0) child_fail("dup2");
        const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
        if (user) {
            // Equivalent of runuser, done in-process so the PID we hold is the server's own
            // and the death signal below still reaches it.
            if (::setgroups(0, nullptr) != 0 || ::setgid(user->gid) != 0 || ::setuid(user->uid) != 0) {
                child_fail("switch user");
            }
        }
        // Set after the user switch: a credential change clears the death signal.
        if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail("prctl");
        if (::getppid() != parent) ::_exit(126);  // the parent died before prctl took effect
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) child_fail("chdir");
        sigset_t none;
        sigemptyset(&none);
        // NOLINTNEXTLINE(concurrency-mt-unsafe): the forked child has one thread
        sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execvpe(arguments[0], arguments.data(), environment.data());
        child_fail(arguments[0]);
    }
    pid_ = pid;
}

ChildProcess::~ChildProcess() {
    if (pid_ > 0 && !status_) {
        try {
            stop(std::chrono::seconds(5));
        } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
        }
    }
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(std::exchange(other.status_, std::nullopt)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0 && !status_) {
            try {
                stop(std::chrono::seconds(5));
            } catch (...) {  // NOLINT(bugprone-empty-catch)
            }
        }
        pid_ = std::exchange(other.pid_, -1);
        status_ = std::exchange(other.status_, std::nullopt);
    }
    return *this;
}

bool ChildProcess::running() {
    if (pid_ <= 0 || status_) return false;
    int status = 0;
    const pid_t result = ::waitpid(pid_, &status, WNOHANG);
    if (result == pid_) {
        status_ = status;
        reap_group();
        return false;
    }
    return true;
}

void ChildProcess::signal(int signal) {
    if (pid_ > 0 && !status_) ::kill(pid_, signal);
}

namespace {

// True while a process other than a zombie is in `group`. Zombies are dead already; an
// init that is slow to reap orphans must not make every stop wait.
bool group_has_live_members(pid_t group) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat_file(entry.path() / "stat");
        std::string stat;
        std::getline(stat_file, stat);
        // Fields after the parenthesised command: state ppid pgrp ...
        const auto close = stat.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream fields(stat.substr(close + 1));
        char state = 0;
        pid_t parent = 0;
        pid_t process_group = 0;
        fields >> state >> parent >> process_group;
        if (process_group == group && state != 'Z' && state != 'X') return true;
    }
    return false;
}

}  // namespace

void ChildProcess::reap_group() {
    // Processes left in the group (orphaned PostgreSQL backends) would hold the data
    // directory or shared memory; a crash of the leader takes them with it, bounded.
    for (int attempt = 0; attempt < 200 && group_has_live_members(pid_); ++attempt) {
        ::kill(-pid_, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int ChildProcess::kill() {
    if (pid_ <= 0) return 0;
    if (status_) return *status_;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = status;
    reap_group();
    return status;
}

std::optional<int> ChildProcess::wait_for_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return 0;
    if (status_) return status_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        int status = 0;
        const pid_t result = ::waitpid(pid_, &status, WNOHANG);
        if (result == pid_) {
            status_ = status;
            reap_group();
            return status;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

int ChildProcess::stop(std::chrono::milliseconds grace, int signal) {
    if (pid_ <= 0) return 0;
    if (status_) return *status_;
    ::kill(pid_, SIGCONT);  // a paused process cannot act on the signal
    ::kill(pid_, signal);
    if (auto status = wait_for_exit(grace)) return *status;
    return kill();
}

int ChildProcess::exit_code(int wait_status) {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return -WTERMSIG(wait_status);
    return -1;
}

}  // namespace seamq::testing
