#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "seamq/core/supervision.hpp"
#include "seamq/observability/metrics.hpp"
#include "seamq/worker/worker.hpp"

namespace seamq::worker {

//! What every supervised component reports (see the catch policy in src/worker/README.md):
//! a readiness check named after the component ("relay/sea", "consumer/sea-projector")
//! that fails while its loop is unhealthy, naming the failure; the gauge
//! seamq_component_healthy; and seamq_component_unexpected_errors_total. Appends the
//! registrations to `registrations`: keep them while the functions can be called.
void register_component_health(std::vector<observability::Registration>& registrations,
                               const WorkerServices& services, const std::string& component,
                               std::function<LoopHealth::Snapshot()> health,
                               std::function<std::uint64_t()> unexpected_errors);

}  // namespace seamq::worker
