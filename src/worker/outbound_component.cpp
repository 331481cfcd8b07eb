// The outbound edge as a worker component.
#include "src/worker/outbound_component.hpp"

#include "seamq/contracts/contracts.hpp"
#include "seamq/edges/edge_retention.hpp"
#include "seamq/edges/webhook_dispatcher.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::worker {
namespace {

edges::DispatcherOptions dispatcher_options(const OutboundSettings& settings, const Config& config) {
    const auto* context = config.find_context(settings.context);
    if (!context) raise(Errc::config, "outbound.context '{}' is not one of contexts[]", settings.context);
    edges::DispatcherOptions options;
    options.context = settings.context;
    options.database = context->database.url.reveal();
    options.stream = streams::event_stream_name(settings.context);
    options.allow_networks = settings.allow_networks;
    options.schedule.delays = settings.retry_delays;
    options.failing_period = settings.failing_period;
    options.timeout = settings.timeout;
    options.secrets_key = settings.secrets_key.reveal();
    for (const auto& endpoint : settings.endpoints)
        options.declared.push_back({endpoint.name, endpoint.url, endpoint.subject_filter,
                                    endpoint.secret.reveal(), endpoint.ordered});
    return options;
}

edges::RetentionOptions retention_of(const OutboundSettings& settings, const Config& config) {
    edges::RetentionOptions options;
    options.interval = settings.retention_interval;
    const auto* context = config.find_context(settings.context);
    if (context && settings.attempts_retention.count() > 0)
        options.targets.push_back({settings.context, context->database.url.reveal(),
                                   edges::EdgeTable::webhook_attempts, settings.attempts_retention});
    return options;
}

class OutboundComponent final : public Component {
public:
    OutboundComponent(const OutboundSettings& settings, const WorkerServices& services)
        : registry_(contracts::Registry::load(envelope::schemas_dir() / "events")),
          attempts_(services.metrics.family(observability::metric::webhook_attempts_total)),
          disabled_(services.metrics.family(observability::metric::webhook_endpoints_disabled_total)),
          retention_deleted_(services.metrics.family(observability::metric::edge_retention_deleted_total)),
          dispatcher_(dispatcher_options(settings, services.config), services.jetstream, registry_,
                      services.logger.with({.component = "outbound", .context = settings.context}),
                      {.attempted =
                           [this](const std::string& endpoint, const edges::DeliveryAttempt& attempt) {
                               attempts_
                                   .with({endpoint, std::string(edges::to_string(attempt.outcome)),
                                          std::string(edges::to_string(attempt.failure))})
                                   .increment();
                           },
                       .disabled = [this](const std::string& endpoint,
                                          const std::string&) { disabled_.with({endpoint}).increment(); },
                       .skipped = {}}),
          retention_(retention_of(settings, services.config),
                     services.logger.with({.component = "outbound", .context = settings.context}),
                     [this](const edges::RetentionTarget& target, std::uint64_t rows) {
                         retention_deleted_
                             .with({target.context, std::string(edges::to_string(target.table))})
                             .increment(static_cast<double>(rows));
                     }) {}

    std::string name() const override { return "outbound"; }
    void start() override {
        dispatcher_.start();
        retention_.start();
    }
    void request_stop() override {
        dispatcher_.request_stop();
        retention_.request_stop();
    }
    bool stop(std::chrono::steady_clock::time_point deadline) override {
        retention_.stop();
        return dispatcher_.stop(deadline);
    }

private:
    contracts::Registry registry_;
    observability::Family<observability::Counter>& attempts_;
    observability::Family<observability::Counter>& disabled_;
    observability::Family<observability::Counter>& retention_deleted_;
    edges::WebhookDispatcher dispatcher_;
    edges::EdgeRetention retention_;
};

}  // namespace

std::unique_ptr<Component> make_outbound_component(const OutboundSettings& settings,
                                                   const WorkerServices& services) {
    return std::make_unique<OutboundComponent>(settings, services);
}

}  // namespace seamq::worker
