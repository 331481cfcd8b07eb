// The admin HTTP server on cpp-httplib. httplib.h is heavy: this is the only file of
// the worker that includes it.
#include "seamq/worker/admin_server.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <system_error>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <unistd.h>

#include "seamq/core/error.hpp"
#include "seamq/worker/config.hpp"

namespace seamq::worker {

namespace {

// Why binding `host:port` fails, found by trying it with the same options httplib will
// use (httplib itself only says "false").
std::string bind_failure_reason(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* result = nullptr;
    const auto service = std::to_string(port);
    if (const int error = getaddrinfo(host.c_str(), service.c_str(), &hints, &result); error != 0) {
        return fmt::format("cannot resolve '{}': {}", host, gai_strerror(error));
    }
    std::string reason = "unknown reason";
    const int descriptor = socket(result->ai_family, result->ai_socktype, result->ai_protocol);
    if (descriptor < 0) {
        reason = std::error_code(errno, std::generic_category()).message();
    } else {
        int yes = 1;
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        if (bind(descriptor, result->ai_addr, result->ai_addrlen) != 0) {
            reason = errno == EADDRINUSE ? "address already in use (is another worker running?)"
                                         : std::error_code(errno, std::generic_category()).message();
        }
        close(descriptor);
    }
    freeaddrinfo(result);
    return reason;
}

void send_json(httplib::Response& response, int status, const nlohmann::json& body) {
    response.status = status;
    response.set_header("Cache-Control", "no-store");
    response.set_content(body.dump() + "\n", "application/json");
}

}  // namespace

struct AdminServer::Impl {
    Options options;
    observability::MetricsRegistry& metrics;
    observability::ReadinessChecks& readiness;
    observability::Logger logger;
    httplib::Server server;
    std::thread thread;
    std::string host;
    int port = 0;
    bool started = false;
    std::chrono::steady_clock::time_point started_at = std::chrono::steady_clock::now();

    Impl(Options options_in, observability::MetricsRegistry& metrics_in,
         observability::ReadinessChecks& readiness_in, observability::Logger logger_in)
        : options(std::move(options_in)),
          metrics(metrics_in),
          readiness(readiness_in),
          logger(std::move(logger_in)) {}

    void routes() {
        server.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
            response.set_header("Cache-Control", "no-store");
            response.set_content(metrics.expose(),
                                 std::string(observability::MetricsRegistry::content_type).c_str());
        });
        server.Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
            const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at);
            send_json(response, 200,
                      {{"status", "ok"}, {"version", options.version}, {"uptime_seconds", uptime.count()}});
        });
        server.Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
            const auto report = readiness.evaluate();
            send_json(response, report.ready ? 200 : 503, report.to_json());
        });
        server.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
            if (!response.body.empty()) return;
            send_json(response, response.status,
                      {{"error", response.status == 404 ? "not found" : "request failed"},
                       {"path", request.path},
                       {"endpoints", {"/metrics", "/healthz", "/readyz"}}});
        });
        server.set_exception_handler([this](const httplib::Request& request, httplib::Response& response,
                                            std::exception_ptr exception) {
            std::string what = "unknown exception";
            try {
                std::rethrow_exception(std::move(exception));
            } catch (const std::exception& e) {
                what = e.what();
            } catch (...) {
            }
            logger.error("admin request {} failed: {}", request.path, what);
            send_json(response, 500, {{"error", what}});
        });
        server.set_read_timeout(std::chrono::seconds(5));
        server.set_write_timeout(std::chrono::seconds(5));
        // httplib sets SO_REUSEPORT by default, which lets a second worker bind the same
        // port silently and steal half the scrapes. SO_REUSEADDR alone refuses that.
        server.set_socket_options([](socket_t descriptor) {
            int yes = 1;
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        });
    }
};

AdminServer::AdminServer(Options options, observability::MetricsRegistry& metrics,
                         observability::ReadinessChecks& readiness, const observability::Logger& logger)
    : impl_(std::make_unique<Impl>(std::move(options), metrics, readiness,
                                   logger.with({.component = "admin"}))) {}

AdminServer::~AdminServer() {
    stop();
}

void AdminServer::start() {
    if (impl_->started) return;
    const auto address = parse_listen_address(impl_->options.listen);
    if (!address) {
        raise(Errc::config, "admin.listen '{}' is not HOST:PORT (e.g. 127.0.0.1:9464)",
              impl_->options.listen);
    }
    impl_->routes();
    impl_->host = address->host;
    if (address->port == 0) {
        impl_->port = impl_->server.bind_to_any_port(address->host);
        if (impl_->port <= 0) {
            raise(Errc::io, "admin.listen {}: cannot bind: {}", impl_->options.listen,
                  bind_failure_reason(address->host, 0));
        }
    } else {
        if (!impl_->server.bind_to_port(address->host, address->port)) {
            raise(Errc::io, "admin.listen {}: cannot bind: {}; choose another admin.listen",
                  impl_->options.listen, bind_failure_reason(address->host, address->port));
        }
        impl_->port = address->port;
    }
    impl_->started = true;
    impl_->started_at = std::chrono::steady_clock::now();
    // Bound and listening already: connections queue until the loop accepts them.
    impl_->thread = std::thread([impl = impl_.get()] { impl->server.listen_after_bind(); });
    // httplib's stop() is a no-op until the loop runs; wait for it so stop() always works.
    for (int i = 0; i < 500 && !impl_->server.is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    impl_->logger.info("admin server listening on {} (/metrics, /healthz, /readyz)", url());
}

void AdminServer::stop() {
    if (!impl_ || !impl_->started) return;
    impl_->server.stop();
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->started = false;
}

int AdminServer::port() const {
    return impl_->port;
}

std::string AdminServer::url() const {
    const bool ipv6 = impl_->host.find(':') != std::string::npos;
    return ipv6 ? fmt::format("http://[{}]:{}", impl_->host, impl_->port)
                : fmt::format("http://{}:{}", impl_->host, impl_->port);
}

}  // namespace seamq::worker
