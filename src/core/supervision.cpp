#include "seamq/core/supervision.hpp"

#include <cstdlib>
#include <exception>
#include <map>
#include <typeinfo>

#include <spdlog/spdlog.h>

namespace seamq {

std::string current_exception_text() {
    try {
        throw;
    } catch (const InjectedFault& fault) {
        return "injected fault at fail point " + fault.fail_point;
    } catch (const std::exception& error) {
        return error.what();
    } catch (...) {
        return "a non-standard exception (not derived from std::exception)";
    }
}

void LoopHealth::failed(std::string what) {
    {
        std::lock_guard lock(mutex_);
        last_failure_ = std::move(what);
    }
    failures_.fetch_add(1, std::memory_order_relaxed);
    healthy_.store(false, std::memory_order_release);
}

LoopHealth::Snapshot LoopHealth::snapshot() const {
    Snapshot snapshot;
    snapshot.healthy = healthy_.load(std::memory_order_acquire);
    snapshot.failures = failures_.load(std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    snapshot.last_failure = last_failure_;
    return snapshot;
}

namespace {

struct FailPoints {
    std::mutex mutex;
    std::map<std::string, std::uint64_t, std::less<>> remaining;  //!< failures left per name
};

// Parsed once; `armed` stays false (the one load of the fast path) when nothing is configured.
std::atomic<bool> armed{false};

FailPoints& fail_points() {
    static FailPoints* points = [] {
        auto* parsed = new FailPoints;  // never destroyed: loops may run during static destruction
        const char* spec = std::getenv("SEAMQ_FAIL_POINTS");  // NOLINT(concurrency-mt-unsafe): read once
        std::string_view rest = spec != nullptr ? spec : "";
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const auto entry = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (entry.empty()) continue;
            const auto equals = entry.find('=');
            std::uint64_t count = 1;
            if (equals != std::string_view::npos) {
                count = std::strtoull(std::string(entry.substr(equals + 1)).c_str(), nullptr, 10);
            }
            parsed->remaining[std::string(entry.substr(0, equals))] = count;
            spdlog::warn("fail point {} armed for {} failure(s) (SEAMQ_FAIL_POINTS)", entry.substr(0, equals),
                         count);
        }
        armed.store(!parsed->remaining.empty());
        return parsed;
    }();
    return *points;
}

// Parsed before main, so `armed` is set before any loop runs.
[[maybe_unused]] const bool parsed_at_start = (static_cast<void>(fail_points()), true);

}  // namespace

void fail_point(std::string_view name) {
    if (!armed.load(std::memory_order_relaxed)) return;
    auto& points = fail_points();
    std::lock_guard lock(points.mutex);
    const auto found = points.remaining.find(name);
    if (found == points.remaining.end() || found->second == 0) return;
    --found->second;
    throw InjectedFault{std::string(name)};
}

void arm_fail_point(std::string_view name, std::uint64_t count) {
    auto& points = fail_points();
    std::lock_guard lock(points.mutex);
    points.remaining[std::string(name)] = count;
    armed.store(true);
}

}  // namespace seamq
