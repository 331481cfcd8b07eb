#pragma once

#include <memory>

#include "seamq/worker/component.hpp"
#include "seamq/worker/config.hpp"
#include "seamq/worker/worker.hpp"

namespace seamq::worker {

//! The outbound edge: edges::WebhookDispatcher over `outbound.context`'s database and
//! events stream, with the metrics seamq_webhook_*.
std::unique_ptr<Component> make_outbound_component(const OutboundSettings& settings,
                                                   const WorkerServices& services);

}  // namespace seamq::worker
