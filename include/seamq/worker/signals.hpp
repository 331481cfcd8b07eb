#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "seamq/observability/logging.hpp"

namespace seamq::worker {

//! SIGTERM and SIGINT for a daemon: the first asks for a graceful stop, a second one
//! ends the process at once (exit status 128 + signal), and a stop that overruns its
//! deadline is ended too (exit status 1), so a stuck shutdown never hangs a deploy.
//!
//! Construct it first thing in main(), before any thread exists: it blocks both signals
//! in the calling thread, every thread created afterwards inherits that, and a watcher
//! thread takes them with sigtimedwait (no async-signal-safety concerns).
class ShutdownSignals {
public:
    ShutdownSignals();
    ~ShutdownSignals();  //!< stops the watcher; the signals stay blocked
    ShutdownSignals(const ShutdownSignals&) = delete;
    ShutdownSignals& operator=(const ShutdownSignals&) = delete;

    //! Starts watching. On the first signal, logs it and calls `on_first_signal` (which
    //! must return promptly: e.g. Worker::stop); then the process is ended if it is still
    //! running `hard_deadline` later, or at once on a second signal.
    void watch(observability::Logger logger, std::function<void()> on_first_signal,
               std::chrono::milliseconds hard_deadline);

    //! The first signal received (SIGTERM, SIGINT), 0 if none yet.
    int received() const noexcept { return received_.load(); }

private:
    void run(const observability::Logger& logger, const std::function<void()>& on_first_signal,
             std::chrono::milliseconds hard_deadline);

    std::atomic<bool> stopping_{false};
    std::atomic<int> received_{0};
    std::thread watcher_;
};

}  // namespace seamq::worker
