#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/core/error.hpp"
#include "seamq/inbox/handler.hpp"

namespace seamq::inbox {

//! A header the HTTP handler adds to every request, e.g. `Authorization` from the
//! configuration's secrets. Values never appear in errors, logs or describe().
struct HttpHeader {
    std::string name;
    std::string value;
};

//! Settings of the handler kind "http" (the worker's `consumers[].handler` block).
struct HttpHandlerOptions {
    //! Endpoint the envelope is POSTed to: http:// or https:// with a host.
    std::string url;
    //! Limit on the whole exchange (connect, send, wait, read); past it the attempt is a
    //! transient failure and the message is retried.
    std::chrono::milliseconds timeout{std::chrono::seconds(5)};
    //! Limit on establishing the TCP (and TLS) connection, within `timeout`.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds(2)};
    //! Extra request headers. Content-Type, Content-Length, Transfer-Encoding, Expect,
    //! Host, Connection, Idempotency-Key, traceparent and tracestate are set by the handler
    //! and refused here; a User-Agent given here replaces the default `sea-mq/<version>`.
    std::vector<HttpHeader> headers;
};

//! An attempt that may succeed later: HTTP 408, 429 or 5xx, a timeout, a refused or
//! reset connection, a name that did not resolve. The consumer retries the message with
//! its retry delays (never sooner than retry_after() when the server sent Retry-After).
class TransientHttpFailure : public Error {
public:
    TransientHttpFailure(const std::string& message, int status,
                         std::optional<std::chrono::seconds> retry_after)
        : Error(Errc::http, message), status_(status), retry_after_(retry_after) {}

    //! The response status, or 0 when there was no response (timeout, connection failure).
    int status() const noexcept { return status_; }
    //! The server's Retry-After on a 429 or 503 (delta seconds or HTTP-date, at most
    //! max_retry_after), nullopt when absent, unparsable or another status.
    std::optional<std::chrono::seconds> retry_after() const noexcept { return retry_after_; }

private:
    int status_;
    std::optional<std::chrono::seconds> retry_after_;
};

//! Retry-After values beyond this are taken as this: a partner cannot park a message
//! for days by mistake.
inline constexpr std::chrono::seconds max_retry_after{std::chrono::hours(24)};

//! The handler kind "http": POSTs each envelope to a service endpoint as a CloudEvent in
//! structured mode (`Content-Type: application/cloudevents+json; charset=utf-8`, body =
//! Envelope::to_json(): the same members, compact), with `Idempotency-Key: <envelope id>`,
//! `traceparent` (and `tracestate`) from the event and `User-Agent: sea-mq/<version>`.
//!
//! Outcomes: 2xx returns (success). 4xx other than 408 and 429, and 3xx (redirects are
//! not followed), throw PermanentFailure "HTTP <code> from <url>: <start of body>" (the
//! message is dead-lettered at once). 408, 429, 5xx, timeouts and connection failures
//! throw TransientHttpFailure (the message is retried).
//!
//! Guarantee: at-least-once POSTs, at-most-once after a recorded success. The HTTP call
//! cannot join the PostgreSQL transaction, so the handler writes nothing to it; the
//! consumer's inbox row, committed in that transaction after a 2xx, is what keeps a
//! redelivered message from being posted again. A crash, a failed COMMIT or a lost
//! database connection between the 2xx and the commit leaves no inbox row, and the
//! message is POSTed again with the same Idempotency-Key: the endpoint must use that key
//! to apply each envelope once. A 2xx whose response was lost (timeout after the server
//! acted) is retried the same way.
//!
//! Connections are kept alive and reused between calls. Calls from several threads are
//! safe; each concurrent call uses a connection of its own.
class HttpHandler final : public Handler {
public:
    //! Throws seamq::Error(Errc::config) for unusable options (see check_options).
    explicit HttpHandler(HttpHandlerOptions options);
    ~HttpHandler() override;
    HttpHandler(const HttpHandler&) = delete;
    HttpHandler& operator=(const HttpHandler&) = delete;

    void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                postgres::Transaction& transaction) override;
    //! "http POST <url>" with any user:password and query string left out.
    std::string describe() const override;

    const HttpHandlerOptions& options() const noexcept;

private:
    struct State;  //!< options, the display URL and idle connections (http_handler.cpp)
    std::unique_ptr<State> state_;
};

//! Checks the options alone (no network); throws seamq::Error(Errc::config) naming the
//! field and what is wrong, never a header's value.
void check_options(const HttpHandlerOptions& options);

//! What an HTTP exchange brought back, as far as the outcome depends on it; filled by
//! curl's callbacks through read_response_header / read_response_body.
struct HttpResponse {
    long status = 0;                         //!< set once the exchange is over; 0 = no response
    std::string body_start;                  //!< the first 200 bytes of the body, quoted in errors
    std::size_t body_bytes = 0;              //!< body bytes received
    bool body_abandoned = false;             //!< longer than 1 MiB: reading stopped there
    std::optional<std::string> retry_after;  //!< the last response's Retry-After value
};

//! One header line as curl passes it ("HTTP/1.1 503 ...\r\n", "Retry-After: 5\r\n").
void read_response_header(HttpResponse& response, std::string_view line);
//! Body bytes; false once past 1 MiB (the caller stops reading).
bool read_response_body(HttpResponse& response, std::string_view bytes);
//! The outcome of a response that has a status (see HttpHandler): returns on 2xx, else
//! throws TransientHttpFailure or PermanentFailure quoting the start of the body.
void check_response(const HttpResponse& response, std::string_view url, std::int64_t elapsed_ms,
                    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

//! Parses a Retry-After value (RFC 9110 §10.2.3): delta seconds or an HTTP-date relative
//! to `now`; dates in the past give 0, values beyond max_retry_after give
//! max_retry_after, anything else nullopt.
std::optional<std::chrono::seconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace seamq::inbox
