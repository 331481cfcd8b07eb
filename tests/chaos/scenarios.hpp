#pragma once

// The five faults of issue 7, each injected with real signals and restarts while the
// producers commit. Run on the main thread: processes it (re)starts die with the thread
// that started them (PR_SET_PDEATHSIG).
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tests/chaos/environment.hpp"

namespace seamq::chaos {

//! Something the scenario did or saw, `at` seconds after the load started.
struct FaultEvent {
    double at = 0;
    std::string what;
};

struct FaultSettings {
    int worker_kills = 4;                           //!< worker-kill: how many kill -9s
    std::chrono::milliseconds isolation{10000};     //!< node-isolation: how long the node is frozen
    std::chrono::milliseconds postgres_down{2000};  //!< postgres-restart: time between stop and start
};

//! What a scenario's fault schedule works with.
class FaultSchedule {
public:
    FaultSchedule(ChaosEnvironment& environment, std::chrono::steady_clock::time_point load_start,
                  std::chrono::duration<double> load, FaultSettings settings, std::uint64_t seed);

    ChaosEnvironment& environment() { return environment_; }
    const FaultSettings& settings() const { return settings_; }
    std::mt19937_64& random() { return random_; }
    std::chrono::duration<double> load() const { return load_; }

    //! Sleeps until `fraction` of the load duration has passed (no-op if it has).
    void sleep_until(double fraction) const;
    //! Seconds since the load started.
    double now() const;
    //! Records (and prints) what happened.
    void note(std::string what);
    const std::vector<FaultEvent>& events() const { return events_; }

private:
    ChaosEnvironment& environment_;
    std::chrono::steady_clock::time_point load_start_;
    std::chrono::duration<double> load_;
    FaultSettings settings_;
    std::mt19937_64 random_;
    std::vector<FaultEvent> events_;
};

struct Scenario {
    std::string name;
    std::string description;
    std::function<void(FaultSchedule&)> inject;  //!< returns when every fault is over
};

//! baseline (no fault), then the five of issue 7: leader-kill, rolling-restart,
//! worker-kill, postgres-restart, node-isolation.
const std::vector<Scenario>& scenarios();

}  // namespace seamq::chaos
