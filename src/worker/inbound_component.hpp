#pragma once

#include <memory>

#include "seamq/worker/component.hpp"
#include "seamq/worker/config.hpp"
#include "seamq/worker/worker.hpp"

namespace seamq::worker {

//! The inbound edge: `POST /v1/inbound/{partner}` on `inbound.listen` (its own cpp-httplib
//! server, not the admin server's), each request handed to edges::InboundIntake. Adds
//! the readiness check `inbound` (listening, and every partner's database answering).
//! Throws Error(config) when a partner's contract directory or secret is unusable, and
//! Error(io) when the address cannot be bound.
std::unique_ptr<Component> make_inbound_component(const InboundSettings& settings,
                                                  const WorkerServices& services);

}  // namespace seamq::worker
