// The admin HTTP server on cpp-httplib. httplib.h is heavy: this is the only file of
// the worker that includes it. Debian's libcpp-httplib is built with OpenSSL; its
// pkg-config file (PkgConfig::HTTPLIB) defines CPPHTTPLIB_OPENSSL_SUPPORT for every
// file that includes the header, so httplib::SSLServer is there and every translation
// unit sees the same classes.
#include "seamq/worker/admin_server.hpp"

#include <arpa/inet.h>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <thread>

#include "src/worker/admin_tls.hpp"
#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
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

using Digest = std::array<unsigned char, 32>;

// SHA-256: requests are compared with the token by digest, so the comparison takes the
// same time whatever the length and content of what was sent.
Digest sha256(std::string_view text) {
    Digest digest{};
    unsigned int size = 0;
    if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
        size != digest.size()) {
        raise(Errc::internal, "OpenSSL could not compute a SHA-256 digest");
    }
    return digest;
}

// The credentials of `Authorization: Bearer CREDENTIALS` (scheme case-insensitive);
// nullopt for another scheme.
std::optional<std::string_view> bearer_credentials(std::string_view header) {
    constexpr std::string_view scheme = "bearer";
    if (header.size() <= scheme.size() || header[scheme.size()] != ' ') return std::nullopt;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) return std::nullopt;
    }
    auto credentials = header.substr(scheme.size());
    while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
    while (!credentials.empty() && credentials.back() == ' ') credentials.remove_suffix(1);
    return credentials;
}

std::unique_ptr<httplib::Server> make_server(const AdminTlsSettings& tls) {
    if (!tls.enabled()) return std::make_unique<httplib::Server>();
    std::optional<AdminTlsProblem> problem;
    auto server = std::make_unique<httplib::SSLServer>([&](SSL_CTX& context) {
        problem = configure_admin_tls(context, tls);
        return !problem;
    });
    if (!server->is_valid()) {
        if (problem) raise(Errc::config, "{}: {}", problem->key, problem->reason);
        raise(Errc::config, "admin.tls: OpenSSL cannot create a TLS context");
    }
    return server;
}

}  // namespace

struct AdminServer::Impl {
    Options options;
    observability::MetricsRegistry& metrics;
    observability::ReadinessChecks& readiness;
    observability::Logger logger;
    std::optional<Digest> token_digest;  // set: /metrics and /readyz need the token
    std::unique_ptr<httplib::Server> server;
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
          logger(std::move(logger_in)),
          server(make_server(options.tls)) {
        if (!options.bearer_token.empty()) token_digest = sha256(options.bearer_token.reveal());
    }

    // Whether the request may read what only operators and Prometheus should; when not,
    // answers 401 itself (RFC 6750: `error="invalid_token"` only when a token was sent).
    bool authorized(const httplib::Request& request, httplib::Response& response) const {
        if (!token_digest) return true;
        const bool sent = request.has_header("Authorization");
        const auto header = request.get_header_value("Authorization");
        const auto credentials = bearer_credentials(header);
        // Both digests are always compared in full: the time says nothing about the token.
        const auto presented = sha256(credentials.value_or(std::string_view()));
        if (credentials && CRYPTO_memcmp(presented.data(), token_digest->data(), presented.size()) == 0) {
            return true;
        }
        response.set_header("WWW-Authenticate", sent
                                                    ? R"(Bearer realm="sea-mq-worker", error="invalid_token")"
                                                    : R"(Bearer realm="sea-mq-worker")");
        send_json(response, 401,
                  {{"error", "unauthorized"},
                   {"detail", sent ? "the Authorization header does not carry admin.token_file's token"
                                   : "send Authorization: Bearer TOKEN (the token of admin.token_file)"},
                   {"path", request.path}});
        logger.debug("admin request {} from {} refused: {}", request.path, request.remote_addr,
                     sent ? "wrong credentials" : "no Authorization header");
        return false;
    }

    void routes() {
        server->Get("/metrics", [this](const httplib::Request& request, httplib::Response& response) {
            if (!authorized(request, response)) return;
            response.set_header("Cache-Control", "no-store");
            response.set_content(metrics.expose(),
                                 std::string(observability::MetricsRegistry::content_type).c_str());
        });
        // Open with a token too: liveness probes cannot send one, and it tells nothing
        // but the version.
        server->Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
            const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at);
            send_json(response, 200,
                      {{"status", "ok"}, {"version", options.version}, {"uptime_seconds", uptime.count()}});
        });
        // Behind the token: its details name servers, databases and failures.
        server->Get("/readyz", [this](const httplib::Request& request, httplib::Response& response) {
            if (!authorized(request, response)) return;
            const auto report = readiness.evaluate();
            send_json(response, report.ready ? 200 : 503, report.to_json());
        });
        server->set_error_handler([](const httplib::Request& request, httplib::Response& response) {
            if (!response.body.empty()) return;
            send_json(response, response.status,
                      {{"error", response.status == 404 ? "not found" : "request failed"},
                       {"path", request.path},
                       {"endpoints", {"/metrics", "/healthz", "/readyz"}}});
        });
        server->set_exception_handler([this](const httplib::Request& request, httplib::Response& response,
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
        server->set_read_timeout(std::chrono::seconds(5));
        server->set_write_timeout(std::chrono::seconds(5));
        // httplib sets SO_REUSEPORT by default, which lets a second worker bind the same
        // port silently and steal half the scrapes. SO_REUSEADDR alone refuses that.
        server->set_socket_options([](socket_t descriptor) {
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
        impl_->port = impl_->server->bind_to_any_port(address->host);
        if (impl_->port <= 0) {
            raise(Errc::io, "admin.listen {}: cannot bind: {}", impl_->options.listen,
                  bind_failure_reason(address->host, 0));
        }
    } else {
        if (!impl_->server->bind_to_port(address->host, address->port)) {
            raise(Errc::io, "admin.listen {}: cannot bind: {}; choose another admin.listen",
                  impl_->options.listen, bind_failure_reason(address->host, address->port));
        }
        impl_->port = address->port;
    }
    impl_->started = true;
    impl_->started_at = std::chrono::steady_clock::now();
    // Bound and listening already: connections queue until the loop accepts them.
    impl_->thread = std::thread([impl = impl_.get()] { impl->server->listen_after_bind(); });
    // httplib's stop() is a no-op until the loop runs; wait for it so stop() always works.
    for (int i = 0; i < 500 && !impl_->server->is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    impl_->logger.info("admin server listening on {} (/metrics, /healthz, /readyz{})", url(),
                       impl_->token_digest ? "; /metrics and /readyz need the bearer token" : "");
}

void AdminServer::stop() {
    if (!impl_ || !impl_->started) return;
    impl_->server->stop();
    if (impl_->thread.joinable()) impl_->thread.join();
    impl_->started = false;
}

int AdminServer::port() const {
    return impl_->port;
}

std::string AdminServer::url() const {
    const bool ipv6 = impl_->host.find(':') != std::string::npos;
    const auto* scheme = impl_->options.tls.enabled() ? "https" : "http";
    return ipv6 ? fmt::format("{}://[{}]:{}", scheme, impl_->host, impl_->port)
                : fmt::format("{}://{}:{}", scheme, impl_->host, impl_->port);
}

}  // namespace seamq::worker
