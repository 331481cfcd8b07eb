#pragma once

#include <memory>

#include "seamq/worker/component.hpp"
#include "seamq/worker/config.hpp"
#include "seamq/worker/worker.hpp"

namespace seamq::worker {

//! The outbox relay of `context` (leader-elected, see src/relay/README.md), exporting
//! seamq_relay_* and seamq_outbox_* metrics for it.
std::unique_ptr<Component> make_relay_component(const ContextSettings& context,
                                                const WorkerServices& services);

}  // namespace seamq::worker
