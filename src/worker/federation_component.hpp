#pragma once

#include <memory>

#include "seamq/worker/component.hpp"
#include "seamq/worker/worker.hpp"

namespace seamq::worker {

//! Watches the cell's federation (docs/federation.md), when `federation.monitor_urls` is
//! set or the streams file declares imports of this worker's contexts: every `federation.poll_interval` it
//! reads each monitor's /leafz and the sources of those import streams (seamq_federation_* gauges) and keeps
//! an advisory readiness check, "federation", that says degraded while a link is down or a source is not
//! flowing. Readiness itself never depends on it. nullptr when there is nothing to watch.
std::unique_ptr<Component> make_federation_component(const WorkerServices& services);

}  // namespace seamq::worker
