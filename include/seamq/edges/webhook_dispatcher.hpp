#pragma once

// The outbound edge: events of one context's stream to the enabled endpoints of
// seamq.webhook_endpoints, each endpoint through its own durable consumer, so one slow
// or failing partner never delays another.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "seamq/contracts/contracts.hpp"
#include "seamq/edges/webhook_sender.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/observability/logging.hpp"

namespace seamq::edges {

//! An endpoint declared in the worker's configuration: written into
//! seamq.webhook_endpoints (URL, filter, secret; a new row enabled) when the dispatcher
//! first reaches the database; enabling and disabling stay with the table.
struct DeclaredEndpoint {
    std::string name;
    std::string url;
    std::string subject_filter;
    std::string secret;    //!< whsec_
    bool ordered = false;  //!< one event at a time: a retried event holds back the later ones
};

struct DispatcherOptions {
    std::string context;   //!< whose operational event `{context}.event.webhook-endpoint-disabled.v1` is
    std::string database;  //!< libpq conninfo: seamq.webhook_endpoints and seamq.webhook_attempts
    std::string stream;    //!< the context's events stream, e.g. SEA_EVENTS
    std::vector<std::string> allow_networks;  //!< CIDR blocks the SSRF guard lets through
    RetrySchedule schedule;
    //! An endpoint failing (no delivery) for this long is disabled.
    std::chrono::milliseconds failing_period{std::chrono::hours(24)};
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};          //!< one attempt
    std::chrono::milliseconds refresh_interval{std::chrono::seconds(2)};  //!< endpoints table re-read
    std::vector<DeclaredEndpoint> declared;
    //! base64 of 32 bytes: declared secrets are stored sealed and sealed ones opened
    //! (SecretBox); empty: stored as given, and a sealed row is not served.
    std::string secrets_key;
};

//! What happened, for metrics: one call per attempt and one per disabled endpoint.
struct DispatcherHooks {
    std::function<void(const std::string& endpoint, const DeliveryAttempt&)> attempted;
    std::function<void(const std::string& endpoint, const std::string& reason)> disabled;
    std::function<void(const std::string& endpoint)> skipped;  //!< an internal event, not sent
};

//! Every `refresh_interval` reads the enabled endpoints and runs one thread per endpoint:
//! it creates (or updates) the durable consumer `webhook-<name>` (filter = the endpoint's
//! subject filter), fetches, sends each external event's redacted external copy
//! (contracts::external_copy) as CloudEvent JSON, logs the attempt in
//! seamq.webhook_attempts, and settles the message: ack when delivered (or internal:
//! never sent), nak with the schedule's delay otherwise. The message stays in JetStream
//! until it is delivered, so a worker stopped mid-retry loses nothing: the next one gets
//! it again from the consumer.
//!
//! Disabling: an answer 410, a refused address (SSRF guard), or no delivery for
//! `failing_period`. In one transaction: enabled = false with the reason, and the
//! operational event `{context}.event.webhook-endpoint-disabled.v1` (internal; data:
//! endpoint, reason; subject: the endpoint) appended to the context's outbox, which its
//! relay publishes; plus a log line at error level. The endpoint's messages stay in its
//! consumer for when it is enabled again.
class WebhookDispatcher {
public:
    //! `jetstream` and `contracts` must outlive the dispatcher.
    WebhookDispatcher(DispatcherOptions options, nats::JetStream& jetstream,
                      const contracts::Registry& contracts, observability::Logger logger,
                      DispatcherHooks hooks = {});
    ~WebhookDispatcher();
    WebhookDispatcher(const WebhookDispatcher&) = delete;
    WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

    void start();
    void request_stop();
    //! Waits for the endpoint threads (each finishes its attempt in flight).
    bool stop(std::chrono::steady_clock::time_point deadline);
    //! Enabled endpoints with a running thread.
    std::size_t running_endpoints() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

//! The durable consumer name of an endpoint.
std::string webhook_consumer_name(const std::string& endpoint);

}  // namespace seamq::edges
