#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/observability/metrics.hpp"

namespace seamq::observability {

//! What a readiness check found: ok or not, and a short human-readable detail
//! ("connected to nats://127.0.0.1:4222", "connection refused").
struct CheckOutcome {
    bool ok = false;
    std::string detail;
};

//! One check's outcome with its name, as /readyz reports it.
struct CheckResult {
    std::string name;
    bool ok = false;
    std::string detail;
};

//! Whether the process can do its work now; the body of /readyz.
struct ReadinessReport {
    bool ready = true;  //!< every check ok (and there is at least one)
    std::vector<CheckResult> checks;

    //! {"status":"ready"|"not ready","checks":[{"name":..,"ok":..,"detail":..}]}
    nlohmann::json to_json() const;
};

//! Runs at /readyz; must be bounded in time (a few seconds at most) and may throw (the
//! check then fails with the exception's message).
using ReadinessCheck = std::function<CheckOutcome()>;

//! The readiness checks of one process. Components register theirs (NATS connected,
//! database reachable, streams present, relay running ...) and keep the Registration as
//! long as the check's captures live.
class ReadinessChecks {
public:
    ReadinessChecks() = default;
    ReadinessChecks(const ReadinessChecks&) = delete;
    ReadinessChecks& operator=(const ReadinessChecks&) = delete;

    //! Adds a check; reports list checks in name order. Removing it (the Registration's
    //! destruction) waits for a running evaluation. A check must not add or remove checks.
    [[nodiscard]] Registration add(std::string name, ReadinessCheck check);

    //! Runs every check now. Not ready when a check fails or none is registered.
    ReadinessReport evaluate() const;

private:
    struct Entry {
        std::string name;
        ReadinessCheck check;
    };
    // Shared with the Registrations (weakly), which may outlive this object.
    struct State {
        std::shared_mutex mutex;  // shared while checks run, exclusive to add or remove
        std::uint64_t next_id = 0;
        std::map<std::uint64_t, Entry> entries;
    };

    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace seamq::observability
