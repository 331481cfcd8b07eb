// A context's outbox relay as a worker component, with its metrics and readiness.
#include "src/worker/relay_component.hpp"

#include <mutex>
#include <optional>

#include "src/worker/component_health.hpp"

#include "seamq/observability/metric_catalog.hpp"
#include "seamq/postgres/connection.hpp"
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
        options.keep_published = context.relay.keep_published;

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
        registrations_.push_back(
            services.metrics.family(metric::outbox_pending_rows).add_callback(labels, [this] {
                return backlog_.pending();
            }));
        registrations_.push_back(
            services.metrics.family(metric::outbox_oldest_pending_age_seconds).add_callback(labels, [this] {
                return backlog_.oldest_age_seconds();
            }));
    }

    ~RelayComponent() override {
        registrations_.clear();  // no scrape may reach a relay being destroyed
    }

    std::string name() const override { return "relay/" + context_name_; }

    void start() override {
        relay_->start();
        logger_.info("relay started");
    }

    bool stop(std::chrono::steady_clock::time_point /*deadline*/) override {
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
    std::vector<observability::Registration> registrations_;
};

}  // namespace

std::unique_ptr<Component> make_relay_component(const ContextSettings& context,
                                                const WorkerServices& services) {
    return std::make_unique<RelayComponent>(context, services);
}

}  // namespace seamq::worker
