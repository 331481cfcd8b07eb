// A context's outbox relay as a worker component, with its metrics and readiness.
#include "src/worker/relay_component.hpp"

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "src/worker/component_health.hpp"

#include "seamq/observability/metric_catalog.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/relay/published_retention.hpp"
#include "seamq/relay/relay.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::worker {

namespace {

//! Pending rows and the age of the oldest, read from the context's database at scrape
//! time. One query serves both gauges: a result younger than a second is reused.
class OutboxBacklog {
public:
    explicit OutboxBacklog(std::string context, std::string database)
        : context_(std::move(context)), database_(std::move(database)) {}

    std::optional<double> pending() { return read() ? std::optional<double>(pending_) : std::nullopt; }
    std::optional<double> oldest_age_seconds() {
        return read() ? std::optional<double>(oldest_age_) : std::nullopt;
    }
    std::optional<double> rejected() { return read() ? std::optional<double>(rejected_) : std::nullopt; }
    std::optional<double> outbox_bytes() {
        return read() ? std::optional<double>(outbox_bytes_) : std::nullopt;
    }
    std::optional<double> inbox_bytes() {
        return read() ? std::optional<double>(inbox_bytes_) : std::nullopt;
    }

private:
    bool read() {
        std::lock_guard lock(mutex_);
        const auto now = std::chrono::steady_clock::now();
        if (valid_ && now - read_at_ < std::chrono::seconds(1)) return true;
        valid_ = false;
        try {
            if (!connection_ || !connection_->is_alive()) {
                connection_ = std::make_unique<postgres::Connection>(
                    postgres::ConnectOptions{.conninfo = database_,
                                             .connect_timeout = std::chrono::seconds(2),
                                             .application_name = "sea-mq-worker/metrics"});
            }
            const auto result = connection_->exec(
                "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 "
                "FROM seamq.outbox_events WHERE context = $1 AND status = 'pending'",
                context_);
            pending_ = static_cast<double>(result.get<std::int64_t>(0, 0));
            oldest_age_ = result.get<double>(0, 1);
            // Rejected rows through their partial index; sizes from the catalog (no scan).
            const auto sizes = connection_->exec(
                "SELECT (SELECT count(*) FROM seamq.outbox_events WHERE context = $1 AND status = "
                "'rejected'), "
                "pg_total_relation_size('seamq.outbox_events'), "
                "pg_total_relation_size('seamq.inbox_messages')",
                context_);
            rejected_ = static_cast<double>(sizes.get<std::int64_t>(0, 0));
            outbox_bytes_ = static_cast<double>(sizes.get<std::int64_t>(0, 1));
            inbox_bytes_ = static_cast<double>(sizes.get<std::int64_t>(0, 2));
            read_at_ = now;
            valid_ = true;
        } catch (const Error&) {
            connection_.reset();  // the sample is left out of this scrape
        }
        return valid_;
    }

    std::string context_;
    std::string database_;
    std::mutex mutex_;
    std::unique_ptr<postgres::Connection> connection_;
    std::chrono::steady_clock::time_point read_at_{};
    bool valid_ = false;
    double pending_ = 0;
    double oldest_age_ = 0;
    double rejected_ = 0;
    double outbox_bytes_ = 0;
    double inbox_bytes_ = 0;
};

//! Deletes records of published events (log entries, kept rows) older than
//! contexts[].relay.published_retention, a bounded call
//! of remove_published every minute, in the worker whose relay leads the context (so one
//! worker per context does it). A failure is logged and tried again a minute later.
class PublishedRowRetention {
public:
    PublishedRowRetention(relay::PublishedRetentionOptions options, std::string database,
                          const relay::Relay& relay, observability::Logger logger)
        : options_(std::move(options)),
          database_(std::move(database)),
          relay_(relay),
          logger_(std::move(logger)) {}
    ~PublishedRowRetention() { stop(); }

    void start() {
        if (thread_.joinable()) return;
        stopping_ = false;
        thread_ = std::thread([this] { run(); });
    }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    void run() {
        std::unique_ptr<postgres::Connection> connection;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                if (changed_.wait_for(lock, interval, [this] { return stopping_; })) return;
            }
            if (!relay_.is_leader()) continue;
            try {
                if (!connection || !connection->is_alive()) {
                    connection = std::make_unique<postgres::Connection>(postgres::ConnectOptions{
                        .conninfo = database_,
                        .connect_timeout = std::chrono::seconds(5),
                        .application_name = "sea-mq-worker/relay-retention/" + options_.context});
                }
                const auto report = relay::remove_published(*connection, options_);
                if (report.removed > 0)
                    logger_.info("removed {} published outbox rows older than {}s", report.removed,
                                 options_.horizon.count());
            } catch (const std::exception& error) {  // whatever it is, the relay is not concerned
                connection.reset();
                logger_.warn("published-row retention failed (tried again in a minute): {}", error.what());
            } catch (...) {
                connection.reset();
                logger_.error(
                    "published-row retention failed with a non-standard exception (tried again in a minute)");
            }
        }
    }

    static constexpr std::chrono::minutes interval{1};
    relay::PublishedRetentionOptions options_;
    std::string database_;
    const relay::Relay& relay_;
    observability::Logger logger_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    std::thread thread_;
};

class RelayComponent final : public Component {
public:
    RelayComponent(const ContextSettings& context, const WorkerServices& services)
        : context_name_(context.name),
          backlog_(context.name, context.database.url.reveal()),
          logger_(services.logger.with({.component = "relay", .context = context.name})) {
        relay::RelayOptions options;
        options.context = context.name;
        options.database = context.database.url.reveal();
        options.expected_stream = streams::event_stream_name(context.name);
        options.instance_name = "sea-mq-worker/relay/" + context.name;
        options.batch_size = static_cast<std::size_t>(context.relay.batch_size);
        options.max_in_flight = static_cast<std::size_t>(context.relay.max_in_flight);
        options.poll_interval =
            std::chrono::duration_cast<std::chrono::milliseconds>(context.relay.poll_interval);
        options.publish_timeout =
            std::chrono::duration_cast<std::chrono::milliseconds>(context.relay.publish_timeout);
        options.published_rows =
            relay::parse_published_rows(context.relay.published_rows).value_or(relay::PublishedRows::log);
        options.vacuum_interval =
            std::chrono::duration_cast<std::chrono::milliseconds>(context.relay.vacuum_interval);

        auto& latency =
            services.metrics.family(observability::metric::relay_puback_latency_seconds).with({context.name});
        relay_ = std::make_unique<relay::Relay>(
            options, services.nats,
            relay::RelayHooks{.on_puback_latency = [&latency](std::chrono::nanoseconds elapsed) {
                latency.observe(elapsed);
            }});

        using namespace observability;
        const std::vector<std::string> labels{context.name};
        registrations_.push_back(
            services.metrics.family(metric::relay_published_total).add_callback(labels, [this] {
                return std::optional<double>(relay_->statistics().published);
            }));
        registrations_.push_back(
            services.metrics.family(metric::relay_publish_errors_total).add_callback(labels, [this] {
                const auto statistics = relay_->statistics();
                return std::optional<double>(statistics.publish_errors + statistics.rejected);
            }));
        registrations_.push_back(
            services.metrics.family(metric::relay_duplicate_pubacks_total).add_callback(labels, [this] {
                return std::optional<double>(relay_->statistics().duplicates);
            }));
        registrations_.push_back(services.metrics.family(metric::relay_leader).add_callback(labels, [this] {
            return std::optional<double>(relay_->is_leader() ? 1.0 : 0.0);
        }));
        register_component_health(
            registrations_, services, name(), [this] { return relay_->health(); },
            [this] {
                const auto statistics = relay_->statistics();
                return statistics.restarts + statistics.hook_errors;
            });
        if (context.relay.published_retention.count() > 0) {  // records left by any earlier mode too
            relay::PublishedRetentionOptions retention;
            retention.context = context.name;
            retention.horizon =
                std::chrono::duration_cast<std::chrono::seconds>(context.relay.published_retention);
            retention_ = std::make_unique<PublishedRowRetention>(retention, context.database.url.reveal(),
                                                                 *relay_, logger_);
        }
        registrations_.push_back(
            services.metrics.family(metric::outbox_pending_rows).add_callback(labels, [this] {
                return backlog_.pending();
            }));
        registrations_.push_back(
            services.metrics.family(metric::outbox_oldest_pending_age_seconds).add_callback(labels, [this] {
                return backlog_.oldest_age_seconds();
            }));
        registrations_.push_back(
            services.metrics.family(metric::outbox_rejected_rows).add_callback(labels, [this] {
                return backlog_.rejected();
            }));
        registrations_.push_back(services.metrics.family(metric::table_size_bytes)
                                     .add_callback(std::vector<std::string>{context.name, "outbox_events"},
                                                   [this] { return backlog_.outbox_bytes(); }));
        registrations_.push_back(services.metrics.family(metric::table_size_bytes)
                                     .add_callback(std::vector<std::string>{context.name, "inbox_messages"},
                                                   [this] { return backlog_.inbox_bytes(); }));
    }

    ~RelayComponent() override {
        registrations_.clear();  // no scrape may reach a relay being destroyed
    }

    std::string name() const override { return "relay/" + context_name_; }

    void start() override {
        relay_->start();
        if (retention_) retention_->start();
        logger_.info("relay started");
    }

    bool stop(std::chrono::steady_clock::time_point /*deadline*/) override {
        if (retention_) retention_->stop();  // ends its bounded call first
        // Relay::stop() waits for the PubAcks in flight, each bounded by publish_timeout.
        relay_->stop();
        const auto statistics = relay_->statistics();
        logger_.info("relay stopped: published {} (duplicates {}), rejected {}, transient errors {}",
                     statistics.published, statistics.duplicates, statistics.rejected,
                     statistics.publish_errors);
        return true;
    }

private:
    std::string context_name_;
    OutboxBacklog backlog_;
    observability::Logger logger_;
    std::unique_ptr<relay::Relay> relay_;
    std::unique_ptr<PublishedRowRetention> retention_;
    std::vector<observability::Registration> registrations_;
};

}  // namespace

std::unique_ptr<Component> make_relay_component(const ContextSettings& context,
                                                const WorkerServices& services) {
    return std::make_unique<RelayComponent>(context, services);
}

}  // namespace seamq::worker
