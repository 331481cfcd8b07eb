#pragma once

#include <memory>

#include "seamq/worker/component.hpp"
#include "seamq/worker/config.hpp"
#include "seamq/worker/worker.hpp"

namespace seamq::worker {

//! The inbox consumer `consumer` (see src/inbox/README.md) with its handler (sql or http),
//! exporting seamq_inbox_*, seamq_dead_lettered_total and seamq_consumer_* metrics.
std::unique_ptr<Component> make_consumer_component(const ConsumerSettings& consumer,
                                                   const WorkerServices& services);

}  // namespace seamq::worker
