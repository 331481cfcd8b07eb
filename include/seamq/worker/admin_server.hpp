#pragma once

#include <memory>
#include <string>

#include "seamq/observability/health.hpp"
#include "seamq/observability/logging.hpp"
#include "seamq/observability/metrics.hpp"
#include "seamq/worker/config.hpp"

namespace seamq::worker {

//! The admin HTTP server: GET /metrics (Prometheus text 0.0.4), /healthz (the process
//! is alive: 200 with {"status":"ok",...}) and /readyz (every readiness check: 200 when
//! all pass, else 503; the JSON body lists each check with ok and detail).
//!
//! With a bearer token, /metrics and /readyz answer 401 (`WWW-Authenticate: Bearer`, a
//! JSON body) unless the request carries `Authorization: Bearer TOKEN`; /healthz stays
//! open for liveness probes. With a certificate and key it speaks HTTPS only. Without
//! either, bind it to loopback or a network only Prometheus and operators reach.
class AdminServer {
public:
    struct Options {
        std::string listen = "127.0.0.1:9464";  //!< HOST:PORT; port 0 picks a free one
        std::string version;                    //!< reported by /healthz
        Secret bearer_token{};                  //!< empty: no authentication
        AdminTlsSettings tls{};                 //!< empty: plain HTTP
    };

    //! Throws seamq::Error (Errc::config) naming the setting when TLS is configured and
    //! the certificate or key cannot be loaded.
    AdminServer(Options options, observability::MetricsRegistry& metrics,
                observability::ReadinessChecks& readiness, const observability::Logger& logger);
    ~AdminServer();  //!< stop()
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;

    //! Binds (exclusively: a port another process listens on is refused, even with
    //! SO_REUSEPORT around) and serves on background threads. Throws seamq::Error
    //! (Errc::io) naming the address and the reason when it cannot bind.
    void start();
    //! Stops serving and joins the threads; idempotent.
    void stop();

    int port() const;         //!< the bound port (after start)
    std::string url() const;  //!< http://HOST:PORT, or https:// with TLS (after start)

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace seamq::worker
