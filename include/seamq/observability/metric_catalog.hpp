#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "seamq/observability/metrics.hpp"

//! Every metric sea-mq exposes, in one place: name, type, help and label names. Code
//! records metrics only through these definitions (`registry.family(metric::x)`), and
//! docs/metrics.md is generated from `metric::all` and checked by a test, so the
//! reference cannot drift from the code. To add a metric: define it here, add it to
//! `all`, run `sea-mq-worker --reference metrics` and paste into docs/metrics.md.
namespace seamq::observability {

//! Shape of any metric, for catalogs and documentation.
struct MetricDescription {
    std::string_view name;
    MetricType type;
    std::string_view help;
    std::span<const std::string_view> labels;
    std::span<const double> buckets;  //!< histograms only
};

//! A counter's definition; registry.family(definition) gives its Family<Counter>.
struct CounterDefinition {
    std::string_view name;
    std::string_view help;
    std::span<const std::string_view> labels;
    constexpr MetricDescription describe() const { return {name, MetricType::counter, help, labels, {}}; }
};

//! A gauge's definition; registry.family(definition) gives its Family<Gauge>.
struct GaugeDefinition {
    std::string_view name;
    std::string_view help;
    std::span<const std::string_view> labels;
    constexpr MetricDescription describe() const { return {name, MetricType::gauge, help, labels, {}}; }
};

//! A histogram's definition; registry.family(definition) gives its Family<Histogram>.
struct HistogramDefinition {
    std::string_view name;
    std::string_view help;
    std::span<const std::string_view> labels;
    std::span<const double> buckets;
    constexpr MetricDescription describe() const {
        return {name, MetricType::histogram, help, labels, buckets};
    }
};

namespace metric {

namespace labels {
inline constexpr std::string_view context[] = {"context"};
inline constexpr std::string_view consumer[] = {"context", "consumer"};
inline constexpr std::string_view build[] = {"version"};
inline constexpr std::string_view component[] = {"component"};
inline constexpr std::string_view table[] = {"context", "table"};
inline constexpr std::string_view partner[] = {"partner"};
inline constexpr std::string_view partner_outcome[] = {"partner", "outcome"};
inline constexpr std::string_view endpoint[] = {"endpoint"};
inline constexpr std::string_view endpoint_outcome_class[] = {"endpoint", "outcome", "class"};
inline constexpr std::string_view source[] = {"stream", "domain"};
inline constexpr std::string_view monitor[] = {"monitor"};
}  // namespace labels

namespace buckets {
//! PubAck round trips: sub-millisecond on loopback, seconds during a leader election.
inline constexpr double puback_seconds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
//! Handler calls: SQL functions in milliseconds, HTTP handlers up to their timeout.
inline constexpr double handler_seconds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0};
}  // namespace buckets

// --- outbox and relay, per context -------------------------------------------------
inline constexpr GaugeDefinition outbox_pending_rows{
    "seamq_outbox_pending_rows",
    "Outbox rows committed and not yet relayed (no PubAck yet), read from the context's database at "
    "scrape time.",
    labels::context};
inline constexpr GaugeDefinition outbox_oldest_pending_age_seconds{
    "seamq_outbox_oldest_pending_age_seconds",
    "Age in seconds of the oldest outbox row not yet relayed; 0 when nothing is pending.", labels::context};
inline constexpr GaugeDefinition outbox_rejected_rows{
    "seamq_outbox_rejected_rows",
    "Outbox rows the relay could not publish for good (seamq.outbox_rejected), read at scrape time.",
    labels::context};
inline constexpr GaugeDefinition table_size_bytes{
    "seamq_table_size_bytes",
    "pg_total_relation_size (rows, indexes, TOAST) of sea-mq's tables in the context's database: table "
    "outbox_events (published rows go after contexts[].relay.published_retention) and inbox_messages "
    "(processed rows go after consumers[].retention). Read at scrape time by the context's relay component.",
    labels::table};
inline constexpr CounterDefinition relay_published_total{
    "seamq_relay_published_total",
    "Outbox events published by the relay and acknowledged by JetStream (duplicate PubAcks included).",
    labels::context};
inline constexpr CounterDefinition relay_publish_errors_total{
    "seamq_relay_publish_errors_total",
    "Relay publishes that failed (error, timeout or missing PubAck); the rows stay and are retried.",
    labels::context};
inline constexpr CounterDefinition relay_duplicate_pubacks_total{
    "seamq_relay_duplicate_pubacks_total",
    "PubAcks that said Duplicate: the stream held the event already (a retry after a lost PubAck, a "
    "relay taking over); counted in seamq_relay_published_total too, stored once.",
    labels::context};
inline constexpr HistogramDefinition relay_puback_latency_seconds{
    "seamq_relay_puback_latency_seconds", "Time from publishing an outbox event to receiving its PubAck.",
    labels::context, buckets::puback_seconds};
inline constexpr GaugeDefinition relay_leader{
    "seamq_relay_leader", "1 while this worker holds the context's relay leadership, else 0.",
    labels::context};

// --- inbox consumers, per consumer ---------------------------------------------------
inline constexpr CounterDefinition inbox_processed_total{
    "seamq_inbox_processed_total",
    "Messages whose handler succeeded and whose inbox row committed in the same transaction.",
    labels::consumer};
inline constexpr CounterDefinition inbox_duplicates_total{
    "seamq_inbox_duplicates_total",
    "Messages acknowledged without running the handler because the inbox already held their id.",
    labels::consumer};
inline constexpr CounterDefinition inbox_failed_total{
    "seamq_inbox_failed_total",
    "Handler attempts that failed; the message is retried after its delay or dead-lettered.",
    labels::consumer};
inline constexpr HistogramDefinition inbox_handler_latency_seconds{
    "seamq_inbox_handler_latency_seconds", "Duration of handler calls, successful or not.", labels::consumer,
    buckets::handler_seconds};
inline constexpr CounterDefinition dead_lettered_total{
    "seamq_dead_lettered_total",
    "Messages moved to the context's dead-letter stream (max_deliver reached or a permanent failure).",
    labels::consumer};
inline constexpr GaugeDefinition consumer_num_pending{
    "seamq_consumer_num_pending",
    "Messages in the stream not yet delivered to this consumer (JetStream num_pending).", labels::consumer};
inline constexpr GaugeDefinition consumer_num_ack_pending{
    "seamq_consumer_num_ack_pending",
    "Messages delivered to this consumer and not yet acknowledged (JetStream num_ack_pending).",
    labels::consumer};

// --- inbound edge, per partner ----------------------------------------------------------
inline constexpr CounterDefinition inbound_requests_total{
    "seamq_inbound_requests_total",
    "Deliveries answered by the inbound edge (POST /v1/inbound/{partner}), by outcome: accepted (202), "
    "duplicate (200, stored before), invalid_signature (401), too_large (413), bad_payload (400), "
    "unknown_partner (404), not_ready (503). partner is \"\" when the path names no configured partner.",
    labels::partner_outcome};
inline constexpr HistogramDefinition inbound_request_seconds{
    "seamq_inbound_request_seconds",
    "Time from reading a delivery to answering it, the outbox commit included.", labels::partner,
    buckets::handler_seconds};

// --- outbound edge, per webhook endpoint ------------------------------------------------
inline constexpr CounterDefinition webhook_attempts_total{
    "seamq_webhook_attempts_total",
    "Webhook delivery attempts by outcome: delivered (2xx), retry (other status, redirect, timeout, "
    "refused connection), gone (410: endpoint disabled), refused (SSRF guard: endpoint disabled); and "
    "by failure class: none (delivered), timeout, connection_refused (refused or reset), resolve (DNS), "
    "tls, redirect (3xx, never followed), http_4xx, http_5xx, http_other, gone (410), ssrf_refused, "
    "invalid_url, other.",
    labels::endpoint_outcome_class};
inline constexpr CounterDefinition webhook_endpoints_disabled_total{
    "seamq_webhook_endpoints_disabled_total",
    "Webhook endpoints disabled by the worker (410, refused address, or failing for "
    "outbound.failing_period).",
    labels::endpoint};
inline constexpr CounterDefinition edge_retention_deleted_total{
    "seamq_edge_retention_deleted_total",
    "Rows deleted by the edges' retention, by table: webhook_attempts (outbound.attempts_retention), "
    "inbound_deliveries (inbound.deliveries_retention), in the context's database.",
    labels::table};
// --- federation (docs/federation.md) ----------------------------------------------------------
inline constexpr GaugeDefinition federation_source_lag_messages{
    "seamq_federation_source_lag_messages",
    "Messages of another cell's export stream (domain) not yet copied into an import stream of the "
    "streams file, as its stream leader last reported (read every federation.poll_interval).",
    labels::source};
inline constexpr GaugeDefinition federation_source_last_seen_seconds{
    "seamq_federation_source_last_seen_seconds",
    "Seconds since the import stream last heard from the source (messages or heartbeats); absent while it "
    "has no source consumer (link down or being set up). Read every federation.poll_interval.",
    labels::source};

inline constexpr GaugeDefinition federation_source_active{
    "seamq_federation_source_active",
    "1 while the import stream's source is flowing (a source consumer, heard from within "
    "federation.max_inactive), else 0 (link down, source being set up, or stalled).",
    labels::source};
inline constexpr GaugeDefinition federation_link_up{
    "seamq_federation_link_up",
    "1 while the NATS server at a federation.monitor_urls entry holds at least one leafnode link (its "
    "/leafz, polled every federation.poll_interval), 0 when it holds none or does not answer.",
    labels::monitor};
inline constexpr GaugeDefinition federation_link_rtt_seconds{
    "seamq_federation_link_rtt_seconds",
    "Round-trip time of the slowest leafnode link of the server at a federation.monitor_urls entry, as "
    "its /leafz reports it; absent while it has no link.",
    labels::monitor};

// --- components --------------------------------------------------------------------------
inline constexpr GaugeDefinition component_healthy{
    "seamq_component_healthy",
    "1 while a component's loop (relay/<context>, consumer/<name>) completes its rounds; 0 from a failure "
    "that escaped a round until the next completed one. A component at 0 makes /readyz fail.",
    labels::component};
inline constexpr CounterDefinition component_unexpected_errors_total{
    "seamq_component_unexpected_errors_total",
    "Unexpected errors in a component (a broken invariant, an odd server reply, a throwing hook): each "
    "either restarted the component's loop with fresh sessions, or was a hook's and was ignored. Any "
    "increase is worth an alert and a bug report.",
    labels::component};

// --- process ---------------------------------------------------------------------------
inline constexpr GaugeDefinition nats_connected{
    "seamq_nats_connected", "1 while the worker's NATS connection is up, else 0.", {}};
inline constexpr CounterDefinition nats_disconnects_total{
    "seamq_nats_disconnects_total", "Times the NATS connection was lost.", {}};
inline constexpr CounterDefinition nats_reconnects_total{
    "seamq_nats_reconnects_total",
    "Times the NATS connection was re-established, to any server of the list.",
    {}};
inline constexpr CounterDefinition nats_authentication_failures_total{
    "seamq_nats_authentication_failures_total",
    "Times a NATS server refused the worker's credentials (authorization violation, expired "
    "credentials). Each refusal of a whole connection also makes the worker rebuild itself in-process "
    "(see docs/security.md), which resets its counters.",
    {}};
inline constexpr GaugeDefinition build_info{"seamq_build_info", "Always 1; the labels name the build.",
                                            labels::build};

//! Every definition above, in documentation order.
inline constexpr std::array all{
    outbox_pending_rows.describe(),
    outbox_oldest_pending_age_seconds.describe(),
    outbox_rejected_rows.describe(),
    table_size_bytes.describe(),
    relay_published_total.describe(),
    relay_publish_errors_total.describe(),
    relay_duplicate_pubacks_total.describe(),
    relay_puback_latency_seconds.describe(),
    relay_leader.describe(),
    inbox_processed_total.describe(),
    inbox_duplicates_total.describe(),
    inbox_failed_total.describe(),
    inbox_handler_latency_seconds.describe(),
    dead_lettered_total.describe(),
    consumer_num_pending.describe(),
    consumer_num_ack_pending.describe(),
    inbound_requests_total.describe(),
    inbound_request_seconds.describe(),
    webhook_attempts_total.describe(),
    webhook_endpoints_disabled_total.describe(),
    edge_retention_deleted_total.describe(),
    federation_source_lag_messages.describe(),
    federation_source_last_seen_seconds.describe(),
    federation_source_active.describe(),
    federation_link_up.describe(),
    federation_link_rtt_seconds.describe(),
    component_healthy.describe(),
    component_unexpected_errors_total.describe(),
    nats_connected.describe(),
    nats_disconnects_total.describe(),
    nats_reconnects_total.describe(),
    nats_authentication_failures_total.describe(),
    build_info.describe(),
};

//! The Markdown table of `all` that docs/metrics.md carries between its
//! `<!-- BEGIN GENERATED: metrics -->` and `<!-- END GENERATED: metrics -->` lines.
std::string reference_markdown();

}  // namespace metric
}  // namespace seamq::observability
