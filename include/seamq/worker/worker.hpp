#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/observability/health.hpp"
#include "seamq/observability/logging.hpp"
#include "seamq/observability/metrics.hpp"
#include "seamq/worker/admin_server.hpp"
#include "seamq/worker/component.hpp"
#include "seamq/worker/config.hpp"

namespace seamq::worker {

//! What components are built from: the worker's shared services. References stay valid
//! for the worker's lifetime.
struct WorkerServices {
    const Config& config;
    nats::Connection& nats;
    nats::JetStream& jetstream;
    observability::MetricsRegistry& metrics;
    observability::ReadinessChecks& readiness;
    observability::Logger logger;
};

//! The sea-mq-worker process: one NATS connection (every configured URL, reconnecting
//! forever), the admin server, the readiness checks (NATS connected, each context's
//! database reachable, the streams present) and the components (relays, consumers).
//!
//!     Worker worker(config, logger);
//!     worker.add_component(std::make_unique<MyRelay>(worker.services(), ...));
//!     return worker.run();  // until stop(); 0 when everything stopped cleanly
class Worker {
public:
    //! Connects to NATS (in the background when no server answers yet and
    //! nats.retry_on_failed_connect is set) and prepares the admin server. Throws
    //! seamq::Error when NATS options are unusable or, without retry, no server answers.
    //! `refusal_retry_delay`: how long run() stays up, not ready, after the servers refused
    //! the credentials (or nats.c closed the connection for good otherwise), before it returns so the caller
    //! can build a new Worker (and with it a new connection, reading credential files again): nats.c never
    //! retries a refusal.
    Worker(Config config, const observability::Logger& logger,
           std::chrono::milliseconds refusal_retry_delay = std::chrono::seconds(2));
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    //! Adds a component; before run() only.
    void add_component(std::unique_ptr<Component> component);
    WorkerServices services();

    //! Starts the admin server and the components, blocks until stop(), then stops the
    //! components within config.shutdown_deadline and closes NATS. Returns the exit code:
    //! 0 when everything stopped cleanly, 1 otherwise. Throws seamq::Error when it cannot
    //! start (admin address in use, a component's start failed).
    int run();
    //! run() returned because nats.c closed the NATS connection for good (the servers refused
    //! the credentials, or another server -ERR): build a new Worker to try again
    //! (sea-mq-worker's main does, with a growing delay).
    bool nats_gave_up() const;
    //! Asks run() to return; callable from any thread (signal watcher), any number of times.
    void stop();
    bool stopping() const;

    const Config& config() const noexcept { return config_; }
    observability::MetricsRegistry& metrics() noexcept { return metrics_; }
    observability::ReadinessChecks& readiness() noexcept { return readiness_; }
    nats::Connection& nats() noexcept { return *nats_; }
    //! The admin server's URL once run() has started it.
    std::string admin_url() const { return admin_.url(); }

private:
    enum class Phase { starting, running, stopping };

    void register_process_metrics();
    void register_readiness_checks();
    bool stop_components(std::chrono::steady_clock::time_point deadline);
    //! Counts and logs new authentication failures; true once nats.c closed the connection for good and
    //! refusal_retry_delay_ has passed since.
    bool watch_authentication(std::chrono::steady_clock::time_point now);

    Config config_;
    observability::Logger logger_;
    observability::MetricsRegistry metrics_;
    observability::ReadinessChecks readiness_;
    //! Set before the worker closes its NATS connection: a close before that is nats.c giving up.
    std::shared_ptr<std::atomic<bool>> closing_nats_ = std::make_shared<std::atomic<bool>>(false);
    std::unique_ptr<nats::Connection> nats_;
    std::unique_ptr<nats::JetStream> jetstream_;
    AdminServer admin_;
    std::vector<std::unique_ptr<Component>> components_;
    std::vector<observability::Registration> registrations_;
    struct DatabaseProbe;
    std::vector<std::unique_ptr<DatabaseProbe>> database_probes_;

    mutable std::mutex mutex_;
    std::condition_variable stop_requested_;
    bool stop_ = false;
    Phase phase_ = Phase::starting;
    std::chrono::milliseconds refusal_retry_delay_;
    std::uint64_t authentication_failures_seen_ = 0;
    std::optional<std::chrono::steady_clock::time_point> refused_since_;
    bool nats_gave_up_ = false;
};

//! Adds the relays and consumers the configuration asks for, from the modules present
//! in this build (seamq_outbox, seamq_inbox); logs a warning for each configured one
//! this build cannot run. The one place that knows how config maps to components.
void add_configured_components(Worker& worker);

}  // namespace seamq::worker
