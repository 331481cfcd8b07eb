// The inbound edge as a worker component: its own HTTP listener in front of
// edges::InboundIntake.
//
// Why not the admin server: the two face different callers. admin.listen is for operators
// and Prometheus (loopback or a private network, a bearer token, /readyz details naming
// servers); inbound.listen is what partners reach through a public proxy. Separate
// listeners keep the admin endpoints off the partner-facing address, let each have its
// own body limit, timeouts and thread pool (a flood of partner requests cannot starve
// scrapes and probes), and let a worker run without the inbound edge at all.
#include "src/worker/inbound_component.hpp"

#include <set>
#include <sys/socket.h>
#include <thread>

#include <httplib.h>

#include "seamq/contracts/contracts.hpp"
#include "seamq/edges/edge_retention.hpp"
#include "seamq/edges/inbound_intake.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/observability/metric_catalog.hpp"

namespace seamq::worker {
namespace {

void send_json(httplib::Response& response, int status, const nlohmann::json& body) {
    response.status = status;
    response.set_header("Cache-Control", "no-store");
    response.set_content(body.dump() + "\n", "application/json");
}

std::vector<edges::InboundPartner> partners_of(const InboundSettings& settings, const Config& config) {
    std::vector<edges::InboundPartner> partners;
    for (const auto& partner : settings.partners) {
        edges::InboundPartner intake_partner;
        intake_partner.name = partner.name;
        for (const auto& [label, secret] : partner.secrets)
            intake_partner.secrets.push_back(edges::WebhookSecret::parse(secret.reveal()));
        intake_partner.command = partner.command;
        intake_partner.subject_pointer = partner.subject_pointer;
        intake_partner.payload_pointer = partner.payload_pointer;
        intake_partner.max_body_bytes = static_cast<std::size_t>(partner.max_body_bytes.bytes);
        intake_partner.tolerance = std::chrono::duration_cast<std::chrono::seconds>(partner.tolerance);
        const auto* context = config.find_context(envelope::parse_subject(partner.command).context);
        if (!context)
            raise(Errc::config, "inbound partner {}: the context of {} is not configured", partner.name,
                  partner.command);
        intake_partner.database = context->database.url.reveal();
        partners.push_back(std::move(intake_partner));
    }
    return partners;
}

// One target per context database the partners' commands go to: its dedup rows.
edges::RetentionOptions retention_of(const InboundSettings& settings, const Config& config) {
    edges::RetentionOptions options;
    options.interval = settings.retention_interval;
    if (settings.deliveries_retention.count() <= 0) return options;
    std::set<std::string> seen;
    for (const auto& partner : settings.partners) {
        const auto context_name = envelope::parse_subject(partner.command).context;
        const auto* context = config.find_context(context_name);
        if (!context || !seen.insert(context_name).second) continue;
        options.targets.push_back({context_name, context->database.url.reveal(),
                                   edges::EdgeTable::inbound_deliveries, settings.deliveries_retention});
    }
    return options;
}

class InboundComponent final : public Component {
public:
    InboundComponent(const InboundSettings& settings, const WorkerServices& services)
        : settings_(settings),
          logger_(services.logger.with({.component = "inbound"})),
          registry_(contracts::Registry::load(
              settings.contracts_dir.empty() ? envelope::schemas_dir() / "events" : settings.contracts_dir)),
          validator_(envelope::Limits{}, &registry_),
          intake_(partners_of(settings, services.config), validator_),
          requests_(services.metrics.family(observability::metric::inbound_requests_total)),
          latency_(services.metrics.family(observability::metric::inbound_request_seconds)),
          retention_deleted_(services.metrics.family(observability::metric::edge_retention_deleted_total)),
          retention_(retention_of(settings, services.config), logger_,
                     [this](const edges::RetentionTarget& target, std::uint64_t rows) {
                         retention_deleted_
                             .with({target.context, std::string(edges::to_string(target.table))})
                             .increment(static_cast<double>(rows));
                     }) {
        for (const auto& partner : settings.partners) known_partners_.insert(partner.name);
        readiness_ = services.readiness.add("inbound", [this]() -> observability::CheckOutcome {
            if (!server_.is_running()) return {false, "not listening on " + settings_.listen};
            if (auto problem = intake_.check_databases(); !problem.empty()) return {false, problem};
            return {true, "listening on " + settings_.listen};
        });
    }

    ~InboundComponent() override { stop(std::chrono::steady_clock::now()); }

    std::string name() const override { return "inbound"; }

    void start() override {
        const auto address = parse_listen_address(settings_.listen);
        if (!address) raise(Errc::config, "inbound.listen '{}' is not HOST:PORT", settings_.listen);
        routes();
        if (!server_.bind_to_port(address->host, address->port))
            raise(Errc::io, "inbound.listen {}: cannot bind; choose another inbound.listen",
                  settings_.listen);
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        logger_.info("inbound edge listening on {} (POST /v1/inbound/{{partner}}, {} partners)",
                     settings_.listen, settings_.partners.size());
        retention_.start();
    }

    void request_stop() override {
        stopping_ = true;
        retention_.request_stop();
    }

    bool stop(std::chrono::steady_clock::time_point /*deadline*/) override {
        // httplib's stop() lets handlers in flight finish: an accepted delivery is either
        // committed and answered 202, or not committed and retried by the partner.
        if (thread_.joinable()) {
            server_.stop();
            thread_.join();
        }
        retention_.stop();
        return true;
    }

private:
    void routes() {
        server_.set_payload_max_length(intake_.largest_body_limit());
        server_.Post(R"(/v1/inbound/([^/]+))", [this](const httplib::Request& request,
                                                      httplib::Response& response) {
            if (stopping_) {
                response.set_header("Retry-After", "5");
                send_json(response, 503, {{"error", "not_ready"}, {"message", "the worker is stopping"}});
                return;
            }
            const auto started = std::chrono::steady_clock::now();
            const std::string partner = request.matches[1];
            // A label per configured partner only: the path is the caller's to choose.
            const std::string label = known_partners_.contains(partner) ? partner : std::string();
            const edges::WebhookHeaders headers{request.get_header_value("webhook-id"),
                                                request.get_header_value("webhook-timestamp"),
                                                request.get_header_value("webhook-signature")};
            const auto answer = intake_.receive(partner, headers, request.body);
            if (answer.status == 503) response.set_header("Retry-After", "5");
            send_json(response, answer.status, answer.body);
            requests_.with({label, answer.outcome}).increment();
            latency_.with({label}).observe(std::chrono::steady_clock::now() - started);
            auto log = logger_.with({.correlation_id = headers.id.size() <= 256 ? headers.id : std::string(),
                                     .extra = {{"partner", partner}, {"outcome", answer.outcome}}});
            if (answer.status >= 500) {
                log.warn("inbound delivery refused: {}", answer.body.dump());
            } else if (answer.status >= 400) {
                log.info("inbound delivery refused: {}", answer.body.value("message", ""));
            } else {
                log.debug("inbound delivery {} as {}", answer.outcome, answer.event_id);
            }
        });
        server_.set_error_handler([this](const httplib::Request& request, httplib::Response& response) {
            if (!response.body.empty()) return;
            if (response.status == 413) {
                constexpr std::string_view prefix = "/v1/inbound/";
                const auto partner =
                    request.path.starts_with(prefix) ? request.path.substr(prefix.size()) : "";
                requests_.with({known_partners_.contains(partner) ? partner : std::string(), "too_large"})
                    .increment();
                send_json(response, 413, {{"error", "too_large"}, {"message", "the body exceeds the limit"}});
            } else {
                send_json(response, response.status,
                          {{"error", response.status == 404 ? "not_found" : "request_failed"},
                           {"message", "POST /v1/inbound/{partner} is the only endpoint"},
                           {"path", request.path}});
            }
        });
        server_.set_exception_handler([this](const httplib::Request& request, httplib::Response& response,
                                             std::exception_ptr exception) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(std::move(exception));
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            logger_.error("inbound request {} failed: {}", request.path, what);
            send_json(response, 500, {{"error", "internal"}, {"message", "the delivery was not stored"}});
        });
        server_.set_read_timeout(std::chrono::seconds(10));
        server_.set_write_timeout(std::chrono::seconds(10));
        // As the admin server: SO_REUSEADDR only, so a second worker cannot share the port.
        server_.set_socket_options([](socket_t descriptor) {
            int yes = 1;
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        });
    }

    const InboundSettings& settings_;
    observability::Logger logger_;
    contracts::Registry registry_;
    envelope::Validator validator_;
    edges::InboundIntake intake_;
    observability::Family<observability::Counter>& requests_;
    observability::Family<observability::Histogram>& latency_;
    observability::Family<observability::Counter>& retention_deleted_;
    edges::EdgeRetention retention_;
    std::set<std::string> known_partners_;
    httplib::Server server_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    observability::Registration readiness_;
};

}  // namespace

std::unique_ptr<Component> make_inbound_component(const InboundSettings& settings,
                                                  const WorkerServices& services) {
    return std::make_unique<InboundComponent>(settings, services);
}

}  // namespace seamq::worker
