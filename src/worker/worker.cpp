#include "seamq/worker/worker.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "seamq/core/build_info.hpp"
#include "seamq/core/redaction.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/postgres/connection.hpp"

#ifdef SEAMQ_WORKER_HAVE_STREAMS
#include "seamq/streams/streams_config.hpp"
#endif

namespace seamq::worker {

namespace metric = observability::metric;
using observability::CheckOutcome;

namespace {

nats::ConnectionOptions connection_options(const NatsSettings& settings) {
    nats::ConnectionOptions options;
    options.servers = settings.servers;
    options.name = settings.name;
    options.connect_timeout = settings.connect_timeout;
    options.retry_on_failed_connect = settings.retry_on_failed_connect;
    options.max_reconnect = -1;  // a worker never gives up on its cluster
    options.reconnect_wait = settings.reconnect_wait;
    options.reconnect_jitter = settings.reconnect_jitter;
    options.reconnect_buffer_bytes = static_cast<int>(settings.reconnect_buffer_bytes.bytes);
    options.ping_interval = settings.ping_interval;
    options.max_pings_out = settings.max_pings_out;
    options.auth = nats_authentication(settings);
    options.tls = nats_tls(settings.tls);
    options.inbox_prefix = settings.inbox_prefix;
    return options;
}

// The streams /readyz expects: those the streams file declares for this worker's contexts,
// and those its consumers read. Not the other contexts' streams: a worker's NATS user may
// look only at its own (docs/security.md), and asking for others would be refused.
std::vector<std::string> expected_streams(const Config& config) {
    std::set<std::string> names;
#ifdef SEAMQ_WORKER_HAVE_STREAMS
    if (!config.streams_file.empty()) {
        std::set<std::string> served;
        for (const auto& context : config.contexts) served.insert(context.name);
        for (const auto& context : streams::load_streams_config(config.streams_file).contexts) {
            if (!served.contains(context.context)) continue;
            names.insert(context.events.name);
            names.insert(context.dead_letters.name);
            if (context.exports) names.insert(context.exports->name);  // the export stage writes there
        }
    }
#endif
    for (const auto& consumer : config.consumers) names.insert(consumer.stream);
    return {names.begin(), names.end()};
}

}  // namespace

//! Keeps one session per context database for /readyz and pings it; reconnects (bounded
//! by the check timeout) when the session is gone, so a restarted PostgreSQL turns the
//! check green again without restarting the worker.
struct Worker::DatabaseProbe {
    std::string context;
    postgres::ConnectOptions options;
    std::mutex mutex;
    std::optional<postgres::Connection> connection;

    CheckOutcome check() {
        std::lock_guard lock(mutex);
        if (connection && connection->ping()) return {true, "reachable"};
        connection.reset();
        try {
            connection.emplace(options);
            return {true, "reachable (connected)"};
        } catch (const postgres::SqlError& e) {
            // libpq's message names host and port, never the password (masked all the same);
            // the hint says which TLS setting to check when TLS failed.
            if (e.primary_message().empty()) return {false, mask_credentials(e.what())};
            if (e.hint().empty()) return {false, mask_credentials(e.primary_message())};
            return {false, mask_credentials(fmt::format("{}; hint: {}", e.primary_message(), e.hint()))};
        } catch (const seamq::Error& e) {
            return {false, mask_credentials(e.what())};
        }
    }
};

Worker::Worker(Config config, const observability::Logger& logger,
               std::chrono::milliseconds refusal_retry_delay)
    : config_(std::move(config)),
      logger_(logger.with({.component = "worker"})),
      admin_({.listen = config_.admin.listen,
              .version = build_info::version,
              .bearer_token = config_.admin.token,
              .tls = config_.admin.tls},
             metrics_, readiness_, logger),
      refusal_retry_delay_(refusal_retry_delay) {
    register_process_metrics();

    auto& disconnects = metrics_.family(metric::nats_disconnects_total).with({});
    auto& reconnects = metrics_.family(metric::nats_reconnects_total).with({});
    auto options = connection_options(config_.nats);
    options.on_event = [&disconnects, &reconnects, closing = closing_nats_,
                        retry_delay = refusal_retry_delay_, nats_logger = logger.with({.component = "nats"})](
                           nats::ConnectionEvent event, const std::string& detail) {
        switch (event) {
            case nats::ConnectionEvent::connected: nats_logger.info("connected to NATS at {}", detail); break;
            case nats::ConnectionEvent::disconnected:
                disconnects.increment();
                nats_logger.warn("disconnected from NATS ({}); reconnecting to any configured server",
                                 detail.empty() ? "connection lost" : detail);
                break;
            case nats::ConnectionEvent::reconnected:
                reconnects.increment();
                nats_logger.info("reconnected to NATS at {}", detail);
                break;
            case nats::ConnectionEvent::closed:
                if (closing->load()) {
                    nats_logger.info("NATS connection closed");
                } else {
                    // nats.c 3.4.1 gives up on refused credentials (and other server -ERRs):
                    // nothing reconnects this connection any more; run() makes a new one.
                    nats_logger.error(
                        "NATS connection closed for good: {}. The worker makes a new connection in {}, "
                        "reading credential files again; fix the credentials or TLS settings (or the "
                        "server) if it is refused again",
                        detail.empty() ? "no reason given" : detail, format_duration(retry_delay));
                }
                break;
            case nats::ConnectionEvent::error:
                nats_logger.error("NATS asynchronous error: {}", detail);
                break;
        }
    };
    nats_ = std::make_unique<nats::Connection>(std::move(options));
    if (nats_->is_connected()) {
        logger_.with({.component = "nats"}).info("connected to NATS at {}", nats_->connected_url());
    } else if (!nats_->authentication_refused()) {  // a refusal is logged by run()
        logger_.with({.component = "nats"})
            .warn("not connected to NATS at {} yet; retrying in the background",
                  mask_url_credentials(fmt::format("{}", fmt::join(config_.nats.servers, ","))));
    }
    nats::JetStreamOptions jetstream_options;
    jetstream_options.domain = config_.nats.jetstream_domain;
    jetstream_options.api_timeout = config_.nats.api_timeout;
    jetstream_ = std::make_unique<nats::JetStream>(*nats_, jetstream_options);

    register_readiness_checks();
}

Worker::~Worker() {
    closing_nats_->store(true);
    // Nothing may evaluate a check or scrape a callback while what they capture dies.
    admin_.stop();
    registrations_.clear();
    components_.clear();
}

void Worker::add_component(std::unique_ptr<Component> component) {
    std::lock_guard lock(mutex_);
    if (phase_ != Phase::starting) raise(Errc::internal, "components can only be added before Worker::run()");
    components_.push_back(std::move(component));
}

WorkerServices Worker::services() {
    return WorkerServices{config_, *nats_, *jetstream_, metrics_, readiness_, logger_};
}

void Worker::register_process_metrics() {
    metrics_.family(metric::build_info).with({build_info::version}).set(1);
}

void Worker::register_readiness_checks() {
    registrations_.push_back(metrics_.family(metric::nats_connected).add_callback({}, [this] {
        return std::optional<double>(nats_->is_connected() ? 1.0 : 0.0);
    }));

    registrations_.push_back(readiness_.add("worker", [this]() -> CheckOutcome {
        std::lock_guard lock(mutex_);
        switch (phase_) {
            case Phase::starting: return {false, "starting"};
            case Phase::running: return {true, "running"};
            case Phase::stopping: return {false, "stopping"};
        }
        return {false, "unknown"};
    }));

    registrations_.push_back(readiness_.add("nats", [this]() -> CheckOutcome {
        if (nats_->is_connected()) return {true, "connected to " + nats_->connected_url()};
        if (nats_->authentication_refused()) {
            return {false,
                    fmt::format("the servers refused the credentials ({}, {}): {}; retrying with a new "
                                "connection",
                                nats_authentication(config_.nats).mode(),
                                config_.nats.user.empty() ? "no user" : "user " + config_.nats.user,
                                nats_->last_error())};
        }
        if (const auto reason = nats_->closed_reason(); !reason.empty()) {
            return {false, fmt::format("closed for good: {}; retrying with a new connection",
                                       mask_credentials(reason))};
        }
        std::string detail =
            fmt::format("{}; trying {}", nats::to_string(nats_->status()),
                        mask_url_credentials(fmt::format("{}", fmt::join(config_.nats.servers, ","))));
        if (const auto error = nats_->last_error(); !error.empty())
            detail += "; last error: " + mask_credentials(error);
        return {false, detail};
    }));

    for (const auto& context : config_.contexts) {
        auto probe = std::make_unique<DatabaseProbe>();
        probe->context = context.name;
        probe->options.conninfo = context.database.url.reveal();
        // libpq counts whole seconds, at least 2 (it treats 1 as 2).
        const auto timeout =
            std::min(context.database.connect_timeout, config_.admin.readiness_check_timeout);
        probe->options.connect_timeout =
            std::max(std::chrono::seconds(2), std::chrono::duration_cast<std::chrono::seconds>(timeout));
        probe->options.application_name = "sea-mq-worker readiness";
        registrations_.push_back(
            readiness_.add("database " + context.name, [raw = probe.get()] { return raw->check(); }));
        database_probes_.push_back(std::move(probe));
    }

    const auto streams = expected_streams(config_);
    registrations_.push_back(readiness_.add("streams", [this, streams]() -> CheckOutcome {
        if (streams.empty()) return {true, "no streams configured"};
        if (!nats_->is_connected()) return {false, "NATS not connected"};
        std::vector<std::string> missing;
        for (const auto& stream : streams) {
            if (!jetstream_->stream_info(stream)) missing.push_back(stream);
        }
        if (!missing.empty()) {
            return {false, fmt::format("missing: {} (run `sea-mq streams apply`)", fmt::join(missing, ", "))};
        }
        return {true, fmt::format("present: {}", fmt::join(streams, ", "))};
    }));
}

int Worker::run() {
    admin_.start();
    std::vector<std::string> contexts;
    for (const auto& context : config_.contexts) contexts.push_back(context.name);
    logger_.info("sea-mq-worker {} running {} component(s) for context(s) {}; admin on {}",
                 build_info::version, components_.size(), fmt::join(contexts, ","), admin_.url());

    // Credentials (or TLS) the servers refused at the first connect: nothing can work, start nothing.
    if (nats_->authentication_refused() || !nats_->closed_reason().empty()) components_.clear();
    for (std::size_t i = 0; i < components_.size(); ++i) {
        try {
            logger_.info("starting {}", components_[i]->name());
            components_[i]->start();
        } catch (const std::exception& e) {
            const auto name = components_[i]->name();
            logger_.error("{} failed to start: {}", name, e.what());
            components_.resize(i);  // stop only what started
            stop_components(std::chrono::steady_clock::now() + config_.shutdown_deadline);
            admin_.stop();
            raise(Errc::internal, "{} failed to start: {}", name, e.what());
        }
    }
    {
        std::unique_lock lock(mutex_);
        phase_ = Phase::running;
        while (!stop_) {
            stop_requested_.wait_for(lock, std::chrono::milliseconds(250));
            if (!stop_ && watch_authentication(std::chrono::steady_clock::now())) {
                nats_gave_up_ = true;
                break;
            }
        }
        phase_ = Phase::stopping;
    }

    const auto started_stopping = std::chrono::steady_clock::now();
    const auto deadline = started_stopping + config_.shutdown_deadline;
    logger_.info("stopping: {} component(s), deadline {}", components_.size(),
                 format_duration(config_.shutdown_deadline));
    bool clean = stop_components(deadline);

    // Sends what is still buffered for NATS (acks, dead letters), then closes, within
    // what is left. Not a drain: the components are stopped, nobody would handle what a
    // drain delivers, and nats.c's drain of the leftover JetStream subscriptions ran
    // into its timeout every time, making each stop take the whole deadline.
    if (nats_->is_connected()) {
        const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       deadline - std::chrono::steady_clock::now()),
                                   std::chrono::milliseconds(100));
        try {
            nats_->flush(left);
        } catch (const seamq::Error& e) {
            logger_.warn("flushing the NATS connection failed: {}", e.what());
            clean = false;
        }
    }
    closing_nats_->store(true);
    nats_->close();
    admin_.stop();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                            started_stopping);
    if (clean) {
        logger_.info("stopped cleanly in {} ms", took.count());
    } else {
        logger_.warn("stopped in {} ms with work left undone (it is redone after restart)", took.count());
    }
    return clean ? 0 : 1;
}

bool Worker::watch_authentication(std::chrono::steady_clock::time_point now) {
    const auto failures = nats_->counters().authentication_failures;
    if (failures > authentication_failures_seen_) {
        metrics_.family(metric::nats_authentication_failures_total)
            .with({})
            .increment(static_cast<double>(failures - authentication_failures_seen_));
        authentication_failures_seen_ = failures;
        logger_.with({.component = "nats"})
            .error("the NATS server refused the credentials ({}, {}): {}",
                   nats_authentication(config_.nats).mode(),
                   config_.nats.user.empty() ? "no user" : "user " + config_.nats.user, nats_->last_error());
    }
    // The closed event said so in the log (nats.c gave up: refused credentials, another -ERR).
    if (!nats_->authentication_refused() && nats_->closed_reason().empty()) return false;
    if (!refused_since_) refused_since_ = now;
    return now - *refused_since_ >= refusal_retry_delay_;
}

bool Worker::nats_gave_up() const {
    std::lock_guard lock(mutex_);
    return nats_gave_up_;
}

bool Worker::stop_components(std::chrono::steady_clock::time_point deadline) {
    for (auto it = components_.rbegin(); it != components_.rend(); ++it) {
        try {
            (*it)->request_stop();
        } catch (const std::exception& e) {
            logger_.error("{}: stop request failed: {}", (*it)->name(), e.what());
        }
    }
    bool clean = true;
    for (auto it = components_.rbegin(); it != components_.rend(); ++it) {
        try {
            if (!(*it)->stop(deadline)) {
                logger_.warn("{} stopped with work in flight", (*it)->name());
                clean = false;
            }
        } catch (const std::exception& e) {
            logger_.error("{}: stop failed: {}", (*it)->name(), e.what());
            clean = false;
        }
        if (std::chrono::steady_clock::now() > deadline) {
            logger_.warn("{} overran the shutdown deadline", (*it)->name());
            clean = false;
        }
    }
    return clean;
}

void Worker::stop() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    stop_requested_.notify_all();
}

bool Worker::stopping() const {
    std::lock_guard lock(mutex_);
    return stop_;
}

}  // namespace seamq::worker
