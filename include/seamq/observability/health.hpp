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
    bool advisory = false;  //!< failing makes the process degraded, not unready
};

//! Whether the process can do its work now; the body of /readyz.
struct ReadinessReport {
    bool ready = true;      //!< every check that is not advisory ok (and there is at least one)
    bool degraded = false;  //!< an advisory check failed
    std::vector<CheckResult> checks;

    //! {"status":"ready"|"not ready","degraded":bool,"degraded_reasons":["name: detail"],
    //!  "checks":[{"name":..,"ok":..,"detail":..[,"advisory":true]}]}
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
    //! Adds an advisory check: when it fails the process stays ready but is reported
    //! degraded, with the check's detail as the reason (a cell whose federation link is
    //! down keeps working on its own). It must be quick: read state, do no I/O.
    [[nodiscard]] Registration add_advisory(std::string name, ReadinessCheck check);

    //! Runs every check now. Not ready when a check fails or none is registered.
    ReadinessReport evaluate() const;

private:
    struct Entry {
        std::string name;
        ReadinessCheck check;
        bool advisory = false;
    };
    Registration add_entry(Entry entry);
    // Shared with the Registrations (weakly), which may outlive this object.
    struct State {
        std::shared_mutex mutex;  // shared while checks run, exclusive to add or remove
        std::uint64_t next_id = 0;
        std::map<std::uint64_t, Entry> entries;
    };

    std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace seamq::observability
