// An inbox consumer as a worker component, with its handler, metrics and readiness.
#include "src/worker/consumer_component.hpp"

#include "src/worker/component_health.hpp"

#include "seamq/contracts/contracts.hpp"
#include "seamq/federation/export_handler.hpp"
#include "seamq/inbox/consumer.hpp"
#include "seamq/inbox/http_handler.hpp"
#include "seamq/inbox/sql_function_handler.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/observability/metric_catalog.hpp"

namespace seamq::worker {

namespace {

//! Times every handler call and counts the failures, whatever kind the handler is.
class MeasuredHandler final : public inbox::Handler {
public:
    MeasuredHandler(std::unique_ptr<inbox::Handler> inner, observability::Histogram& latency,
                    observability::Counter& failures)
        : inner_(std::move(inner)), latency_(latency), failures_(failures) {}

    void handle(const envelope::Envelope& envelope, const inbox::Delivery& delivery,
                postgres::Transaction& transaction) override {
        const auto started = std::chrono::steady_clock::now();
        try {
            inner_->handle(envelope, delivery, transaction);
        } catch (...) {
            latency_.observe(std::chrono::steady_clock::now() - started);
            failures_.increment();
            throw;
        }
        latency_.observe(std::chrono::steady_clock::now() - started);
    }

    std::string describe() const override { return inner_->describe(); }
    bool effects_only_in_transaction() const override { return inner_->effects_only_in_transaction(); }

private:
    std::unique_ptr<inbox::Handler> inner_;
    observability::Histogram& latency_;
    observability::Counter& failures_;
};

std::unique_ptr<inbox::Handler> make_handler(const HandlerSettings& settings,
                                             const WorkerServices& services) {
    if (settings.kind == "sql") return std::make_unique<inbox::SqlFunctionHandler>(settings.function);
    if (settings.kind == "export") {
        auto registry =
            std::make_shared<const contracts::Registry>(contracts::Registry::load(settings.contracts));
        federation::ExportOptions options;
        options.publish_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings.timeout);
        return std::make_unique<federation::ExportHandler>(services.jetstream, std::move(registry), options);
    }
    if (settings.kind == "http") {
        inbox::HttpHandlerOptions options;
        options.url = settings.url;
        options.timeout = settings.timeout;
        for (const auto& [name, value] : settings.headers) options.headers.push_back({name, value.reveal()});
        return std::make_unique<inbox::HttpHandler>(std::move(options));
    }
    raise(Errc::config, "consumer handler kind '{}' is not one of: sql, http, export", settings.kind);
}

class ConsumerComponent final : public Component {
public:
    ConsumerComponent(const ConsumerSettings& settings, const WorkerServices& services)
        : name_(settings.name),
          jetstream_(services.jetstream),
          logger_(services.logger.with(
              {.component = "consumer", .context = settings.context, .consumer = settings.name})) {
        const auto* context = services.config.find_context(settings.context);
        if (context == nullptr) {
            raise(Errc::config, "consumer '{}' names context '{}', which is not configured", settings.name,
                  settings.context);
        }
        using namespace observability;
        const std::vector<std::string> labels{settings.context, settings.name};
        auto handler = std::make_shared<MeasuredHandler>(
            make_handler(settings.handler, services),
            services.metrics.family(metric::inbox_handler_latency_seconds).with(labels),
            services.metrics.family(metric::inbox_failed_total).with(labels));

        inbox::ConsumerOptions options;
        options.name = settings.name;
        options.context = settings.context;
        options.stream = settings.stream;
        options.filter_subject = settings.filter_subject;
        options.database = context->database.url.reveal();
        options.max_deliver = settings.max_deliver;
        options.retry_delays = settings.retry_delays;
        options.ack_wait = settings.ack_wait;
        options.max_ack_pending = settings.max_ack_pending;
        options.batch_size = settings.batch_size;
        options.retention.horizon = std::chrono::duration_cast<std::chrono::seconds>(settings.retention);
        options.instance_name = "sea-mq-worker/consumer/" + settings.name;
        consumer_ = std::make_unique<inbox::InboxConsumer>(options, services.nats, std::move(handler));

        registrations_.push_back(
            services.metrics.family(metric::inbox_processed_total).add_callback(labels, [this] {
                return std::optional<double>(consumer_->statistics().processed);
            }));
        registrations_.push_back(
            services.metrics.family(metric::inbox_duplicates_total).add_callback(labels, [this] {
                return std::optional<double>(consumer_->statistics().duplicates);
            }));
        registrations_.push_back(
            services.metrics.family(metric::dead_lettered_total).add_callback(labels, [this] {
                return std::optional<double>(consumer_->statistics().dead_lettered);
            }));
        register_component_health(
            registrations_, services, name(), [this] { return consumer_->health(); },
            [this] {
                const auto statistics = consumer_->statistics();
                return statistics.restarts + statistics.hook_errors;
            });
        // JetStream's own view, asked at scrape time (no answer: the sample is left out).
        registrations_.push_back(services.metrics.family(metric::consumer_num_pending)
                                     .add_callback(labels, [this]() -> std::optional<double> {
                                         const auto info = consumer_info();
                                         if (!info) return std::nullopt;
                                         return static_cast<double>(info->num_pending);
                                     }));
        registrations_.push_back(services.metrics.family(metric::consumer_num_ack_pending)
                                     .add_callback(labels, [this]() -> std::optional<double> {
                                         const auto info = consumer_info();
                                         if (!info) return std::nullopt;
                                         return static_cast<double>(info->num_ack_pending);
                                     }));
    }

    ~ConsumerComponent() override { registrations_.clear(); }

    std::string name() const override { return "consumer/" + name_; }

    void start() override {
        consumer_->start();
        logger_.info("consumer started");
    }

    void request_stop() override { consumer_->request_stop(); }

    bool stop(std::chrono::steady_clock::time_point deadline) override {
        const bool in_time = consumer_->stop(deadline);
        const auto statistics = consumer_->statistics();
        logger_.info("consumer stopped: processed {}, duplicates {}, retried {}, dead-lettered {}",
                     statistics.processed, statistics.duplicates, statistics.retried,
                     statistics.dead_lettered);
        return in_time;
    }

private:
    std::optional<nats::ConsumerInfo> consumer_info() const {
        try {
            return jetstream_.consumer_info(consumer_->options().stream, consumer_->options().name);
        } catch (const Error&) {
            return std::nullopt;
        }
    }

    std::string name_;
    nats::JetStream& jetstream_;
    observability::Logger logger_;
    std::unique_ptr<inbox::InboxConsumer> consumer_;
    std::vector<observability::Registration> registrations_;
};

}  // namespace

std::unique_ptr<Component> make_consumer_component(const ConsumerSettings& consumer,
                                                   const WorkerServices& services) {
    return std::make_unique<ConsumerComponent>(consumer, services);
}

}  // namespace seamq::worker
