#pragma once

// What keeps one bad message or one odd reply from stopping more than itself: the text of
// whatever was thrown, the health a supervised loop reports, and fail points that let tests
// inject a fault into a loop of a real process.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace seamq {

//! The message of the exception being handled; call it inside a catch block. Names
//! exceptions that are not std::exception ("a non-standard exception") instead of losing them.
std::string current_exception_text();

//! How a supervised loop is doing, read from any thread (readiness checks, metrics): it is
//! healthy after a round of work that ended normally, and unhealthy from a failure that
//! escaped a round until the next round that ends normally.
class LoopHealth {
public:
    struct Snapshot {
        bool healthy = false;
        std::uint64_t failures = 0;  //!< failures that escaped a round, since start
        std::string last_failure;    //!< empty when there was none
    };

    //! A round ended normally. Cheap: called once per round on the loop's thread.
    void round_completed() noexcept {
        if (!healthy_.load(std::memory_order_relaxed)) healthy_.store(true, std::memory_order_release);
    }
    //! Something escaped a round: the loop is unhealthy until the next round completes.
    void failed(std::string what);
    Snapshot snapshot() const;

private:
    std::atomic<bool> healthy_{false};
    std::atomic<std::uint64_t> failures_{0};
    mutable std::mutex mutex_;
    std::string last_failure_;
};

//! Delay before a supervised loop restarts: doubles after each failure from `initial` up to
//! `ceiling`, and starts over once a round completes, so a loop that keeps failing at once
//! never spins and one that recovers restarts fast the next time.
class RestartBackoff {
public:
    RestartBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds ceiling)
        : initial_(initial), ceiling_(ceiling), next_(initial) {}
    std::chrono::milliseconds next() noexcept {
        const auto delay = next_;
        next_ = std::min(next_ * 2, ceiling_);
        return delay;
    }
    void reset() noexcept { next_ = initial_; }

private:
    std::chrono::milliseconds initial_, ceiling_, next_;
};

//! Calls `hook` when it is set; what it throws is returned as text, never propagated:
//! observing (metrics, tests) must not change what happens to events.
template <typename Hook, typename... Args>
std::optional<std::string> call_hook(const Hook& hook, Args&&... args) noexcept {
    if (!hook) return std::nullopt;
    try {
        hook(std::forward<Args>(args)...);
        return std::nullopt;
    } catch (...) {
        return current_exception_text();
    }
}

//! Thrown by a fail point; deliberately not a std::exception, so it travels the path of the
//! worst thing a handler or library can throw.
struct InjectedFault {
    std::string fail_point;
};

//! Fail points: named places in a loop where tests make a real process fail. Configured
//! once from SEAMQ_FAIL_POINTS ("name" fails once, "name=N" N times; several separated by
//! ','), read at the first call. When none is configured a fail point costs one load.
void fail_point(std::string_view name);
//! Arms fail point `name` for `count` failures in this process (tests in one process).
void arm_fail_point(std::string_view name, std::uint64_t count);

}  // namespace seamq
