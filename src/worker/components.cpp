// Which components a configuration asks for: a relay per context that enables one, an
// inbox consumer per configured consumer, the inbound and outbound edges when enabled,
// the federation watch when there are links or import streams to watch.
#include "src/worker/consumer_component.hpp"
#include "src/worker/federation_component.hpp"
#include "src/worker/inbound_component.hpp"
#include "src/worker/outbound_component.hpp"
#include "src/worker/relay_component.hpp"
#include <fmt/format.h>

#include "seamq/worker/worker.hpp"

namespace seamq::worker {

void add_configured_components(Worker& worker) {
    const auto services = worker.services();
    const auto& config = worker.config();
    for (const auto& context : config.contexts) {
        if (!context.relay.enabled) continue;
        worker.add_component(make_relay_component(context, services));
    }
    for (const auto& consumer : config.consumers) {
        worker.add_component(make_consumer_component(consumer, services));
    }
    if (config.inbound.enabled) worker.add_component(make_inbound_component(config.inbound, services));
    if (config.outbound.enabled) worker.add_component(make_outbound_component(config.outbound, services));
    if (auto federation = make_federation_component(services)) worker.add_component(std::move(federation));
}

}  // namespace seamq::worker
