#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/nats/jetstream_types.hpp"
#include "seamq/streams/stream_manager.hpp"

namespace seamq::streams {

//! One line per stream: messages, bytes, first/last sequence, consumers and, when
//! clustered, the leader and each replica with current/lag.
std::string format_status_table(const std::vector<nats::StreamInfo>& streams);
//! The same as JSON: [{name, subjects, storage, replicas, messages, bytes, first_sequence,
//! last_sequence, consumers, cluster: {name, leader, replicas: [{name, current, offline, lag,
//! active_ms}]} | null}].
nlohmann::json status_json(const std::vector<nats::StreamInfo>& streams);

//! "SEA_EVENTS: updated (max_age 30d -> 60d)" lines for `streams apply`.
std::string format_plan(const std::vector<StreamPlan>& plan, bool dry_run);

}  // namespace seamq::streams
