#include "src/worker/component_health.hpp"

#include <fmt/format.h>

#include "seamq/observability/metric_catalog.hpp"

namespace seamq::worker {

void register_component_health(std::vector<observability::Registration>& registrations,
                               const WorkerServices& services, const std::string& component,
                               std::function<LoopHealth::Snapshot()> health,
                               std::function<std::uint64_t()> unexpected_errors) {
    namespace metric = observability::metric;
    registrations.push_back(services.readiness.add(component, [health]() -> observability::CheckOutcome {
        const auto snapshot = health();
        if (snapshot.healthy) {
            return {true, snapshot.failures == 0
                              ? "running"
                              : fmt::format("running (recovered from {} failure(s))", snapshot.failures)};
        }
        if (snapshot.last_failure.empty()) return {false, "starting"};
        return {false, fmt::format("retrying after: {}", snapshot.last_failure)};
    }));
    registrations.push_back(
        services.metrics.family(metric::component_healthy).add_callback({component}, [health] {
            return std::optional<double>(health().healthy ? 1.0 : 0.0);
        }));
    registrations.push_back(
        services.metrics.family(metric::component_unexpected_errors_total)
            .add_callback({component}, [unexpected_errors = std::move(unexpected_errors)] {
                return std::optional<double>(static_cast<double>(unexpected_errors()));
            }));
}

}  // namespace seamq::worker
