#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/nats/api_reply.hpp"

//! The state of federation as one cell sees it: its servers' leafnode links (from their
//! /leafz monitoring endpoint) and the sources of its importing streams (stream info).
//! Read by `sea-mq federation status` and by the worker's federation component (gauges,
//! the degraded note of /readyz): one reading, one set of verdicts.
namespace seamq::federation {

//! One leafnode connection as /leafz lists it.
struct LeafLink {
    std::string account;
    std::string remote;         //!< ip:port of the other side
    std::string rtt;            //!< as nats-server writes it ("1.2ms")
    double rtt_seconds = -1.0;  //!< -1: unreadable or not measured yet
    std::uint64_t in_msgs = 0;
    std::uint64_t out_msgs = 0;
};

//! The links of a /leafz body ({"leafnodes": n, "leafs": [...] or null}). Throws
//! Error(Errc::http) when the body is not such an object.
std::vector<LeafLink> parse_leafz(std::string_view body);

//! "87µs" / "1.2ms" / "1.5s" / "1m2.5s" (Go durations, as nats-server writes RTTs) in
//! seconds; -1 when unreadable.
double go_duration_seconds(std::string_view text);

//! One server's /leafz, fetched.
struct LinkProbe {
    std::string monitor;  //!< the monitoring URL, without a trailing slash
    bool reachable = false;
    std::string error;  //!< why not reachable or not readable
    std::vector<LeafLink> links;

    bool up() const { return reachable && !links.empty(); }
    //! The slowest link's RTT in seconds, nullopt when none is known.
    std::optional<double> worst_rtt_seconds() const;
    //! ok: nullopt; otherwise what is wrong, with the runbook.
    std::optional<std::string> problem() const;
};

//! GETs `monitor`/leafz within `timeout` (connect and read each); never throws.
LinkProbe probe_links(const std::string& monitor, std::chrono::milliseconds timeout);

enum class SourceState { active, lagging, stalled, inactive };
std::string_view to_string(SourceState state) noexcept;

//! One source of an importing stream, judged.
struct SourceStatus {
    std::string stream;
    std::string source;  //!< the source stream's name in the other cell
    std::string api;     //!< its API prefix ($JS.<domain>.API), "" in the same domain
    std::string domain;  //!< the other cell's JetStream domain, from `api`
    std::uint64_t lag = 0;
    std::optional<double> last_seen_seconds;  //!< nullopt: no source consumer now
    SourceState state = SourceState::inactive;
    std::uint64_t stream_messages = 0;

    //! active and lagging count as flowing; stalled and inactive do not.
    bool flowing() const { return state == SourceState::active || state == SourceState::lagging; }
    //! ok: nullopt; otherwise what is wrong, with the runbook.
    std::optional<std::string> problem() const;
};

//! Each source of the stream judged: inactive without a source consumer, stalled when not
//! heard from within `max_inactive`, lagging with messages left to copy, else active.
std::vector<SourceStatus> judge_sources(const nats::StreamSourcesReply& stream,
                                        std::chrono::seconds max_inactive);

//! "$JS.cell-a.API" -> "cell-a"; anything else unchanged.
std::string domain_of_api(std::string_view api);

}  // namespace seamq::federation
