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
#include "seamq/streams/streams_config.hpp"

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
        register_source_gauges(settings, services);
    }

    ~ConsumerComponent() override { registrations_.clear(); }

    //! For a consumer of an import stream (docs/federation.md): each source's lag and when
    //! it was last heard from, asked at scrape time. The link's state does not touch
    //! readiness: a cell cut off from the others keeps working on its own.
    void register_source_gauges(const ConsumerSettings& settings, const WorkerServices& services) {
        if (services.config.streams_file.empty()) return;
        std::vector<std::string> cells;
        try {
            for (const auto& imported : streams::load_streams_config(services.config.streams_file).imports)
                if (imported.stream.name == settings.stream) cells = imported.cells;
        } catch (const Error&) {
            return;  // the loader already checked the file; nothing to add here
        }
        using namespace observability;
        for (const auto& cell : cells) {
            const std::vector<std::string> labels{settings.stream, cell};
            const auto prefix = streams::domain_api_prefix(cell);
            registrations_.push_back(services.metrics.family(metric::federation_source_lag_messages)
                                         .add_callback(labels, [this, prefix]() -> std::optional<double> {
                                             const auto source = source_info(prefix);
                                             if (!source) return std::nullopt;
                                             return static_cast<double>(source->lag);
                                         }));
            registrations_.push_back(services.metrics.family(metric::federation_source_last_seen_seconds)
                                         .add_callback(labels, [this, prefix]() -> std::optional<double> {
                                             const auto source = source_info(prefix);
                                             if (!source || source->active.count() < 0) return std::nullopt;
                                             return static_cast<double>(source->active.count()) / 1e9;
                                         }));
        }
    }

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
    std::optional<nats::StreamSourceInfo> source_info(const std::string& api_prefix) const {
        try {
            const auto info = jetstream_.stream_info(consumer_->options().stream);
            if (!info) return std::nullopt;
            for (const auto& source : info->sources)
                if (source.api_prefix == api_prefix) return source;
        } catch (const Error&) {
        }
        return std::nullopt;
    }

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
