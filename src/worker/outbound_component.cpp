// The outbound edge as a worker component.
#include "src/worker/outbound_component.hpp"

#include "seamq/contracts/contracts.hpp"
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
    for (const auto& endpoint : settings.endpoints)
        options.declared.push_back(
            {endpoint.name, endpoint.url, endpoint.subject_filter, endpoint.secret.reveal()});
    return options;
}

class OutboundComponent final : public Component {
public:
    OutboundComponent(const OutboundSettings& settings, const WorkerServices& services)
        : registry_(contracts::Registry::load(envelope::schemas_dir() / "events")),
          attempts_(services.metrics.family(observability::metric::webhook_attempts_total)),
          disabled_(services.metrics.family(observability::metric::webhook_endpoints_disabled_total)),
          dispatcher_(
              dispatcher_options(settings, services.config), services.jetstream, registry_,
              services.logger.with({.component = "outbound", .context = settings.context}),
              {.attempted =
                   [this](const std::string& endpoint, const edges::DeliveryAttempt& attempt) {
                       attempts_.with({endpoint, std::string(edges::to_string(attempt.outcome))}).increment();
                   },
               .disabled = [this](const std::string& endpoint,
                                  const std::string&) { disabled_.with({endpoint}).increment(); },
               .skipped = {}}) {}

    std::string name() const override { return "outbound"; }
    void start() override { dispatcher_.start(); }
    void request_stop() override { dispatcher_.request_stop(); }
    bool stop(std::chrono::steady_clock::time_point deadline) override { return dispatcher_.stop(deadline); }

private:
    contracts::Registry registry_;
    observability::Family<observability::Counter>& attempts_;
    observability::Family<observability::Counter>& disabled_;
    edges::WebhookDispatcher dispatcher_;
};

}  // namespace

std::unique_ptr<Component> make_outbound_component(const OutboundSettings& settings,
                                                   const WorkerServices& services) {
    return std::make_unique<OutboundComponent>(settings, services);
}

}  // namespace seamq::worker
