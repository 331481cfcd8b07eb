#include "seamq/worker/signals.hpp"

#include <cstdlib>
#include <optional>
#include <string>
#include <system_error>

#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "seamq/core/error.hpp"

namespace seamq::worker {

namespace {

sigset_t shutdown_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

std::string signal_name(int signal) {
    const char* abbreviation = sigabbrev_np(signal);
    return abbreviation != nullptr ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

}  // namespace

ShutdownSignals::ShutdownSignals() {
    const sigset_t set = shutdown_set();
    if (const int error = pthread_sigmask(SIG_BLOCK, &set, nullptr); error != 0) {
        raise(Errc::internal, "cannot block SIGTERM/SIGINT: {}",
              std::error_code(error, std::generic_category()).message());
    }
}

ShutdownSignals::~ShutdownSignals() {
    stopping_ = true;
    if (watcher_.joinable()) watcher_.join();
}

void ShutdownSignals::watch(observability::Logger logger, std::function<void()> on_first_signal,
                            std::chrono::milliseconds hard_deadline) {
    if (watcher_.joinable()) raise(Errc::internal, "ShutdownSignals::watch called twice");
    watcher_ = std::thread([this, logger = std::move(logger), on_first_signal = std::move(on_first_signal),
                            hard_deadline]() { run(logger, on_first_signal, hard_deadline); });
}

void ShutdownSignals::run(const observability::Logger& logger, const std::function<void()>& on_first_signal,
                          std::chrono::milliseconds hard_deadline) {
    const sigset_t set = shutdown_set();
    std::optional<std::chrono::steady_clock::time_point> end_at;
    // Polls in short steps so the destructor's stop request is seen promptly.
    while (!stopping_.load()) {
        timespec step{0, 100'000'000};
        const int signal = sigtimedwait(&set, nullptr, &step);
        if (signal > 0) {
            if (received_.load() == 0) {
                received_ = signal;
                end_at = std::chrono::steady_clock::now() + hard_deadline;
                logger.info(
                    "received {}: stopping gracefully (forced exit after {} ms; send it again to exit at "
                    "once)",
                    signal_name(signal), hard_deadline.count());
                if (on_first_signal) on_first_signal();
            } else {
                logger.error("received a second signal ({}) during shutdown: exiting at once",
                             signal_name(signal));
                logger.spdlog_logger()->flush();
                std::_Exit(128 + signal);
            }
        }
        if (end_at && std::chrono::steady_clock::now() > *end_at) {
            logger.error("graceful shutdown did not finish within {} ms: exiting at once",
                         hard_deadline.count());
            logger.spdlog_logger()->flush();
            std::_Exit(1);
        }
    }
}

}  // namespace seamq::worker
