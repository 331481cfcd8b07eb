// Which components a configuration asks for, built from the modules of this build.
// Relays (seamq_outbox) and inbox consumers (seamq_inbox) plug in here: when such a
// module exists, src/worker/CMakeLists.txt links it and defines SEAMQ_WORKER_HAVE_<MODULE>,
// and the matching block below builds its component from worker.services() and the
// context's or consumer's settings.
#include <fmt/format.h>

#include "seamq/worker/worker.hpp"

namespace seamq::worker {

void add_configured_components(Worker& worker) {
    const auto services = worker.services();
    const auto& config = worker.config();
    for (const auto& context : config.contexts) {
        if (!context.relay.enabled) continue;
#ifdef SEAMQ_WORKER_HAVE_OUTBOX
#error "build the relay component of `context` here"
#else
        services.logger.warn("relay for context {} is configured, but this build has no relay (seamq_outbox)",
                             context.name);
#endif
    }
    for (const auto& consumer : config.consumers) {
#ifdef SEAMQ_WORKER_HAVE_INBOX
#error "build the inbox consumer component of `consumer` here"
#else
        services.logger.warn("consumer {} is configured, but this build has no inbox consumer (seamq_inbox)",
                             consumer.name);
#endif
    }
}

}  // namespace seamq::worker
