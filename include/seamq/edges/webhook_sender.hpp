#pragma once

// The outbound edge's HTTP side: one signed delivery attempt of one event to one
// endpoint, the address guard in front of it, and the retry schedule after a failure.
// What to deliver and when (durable consumers, the endpoints table, disabling) builds on
// these.
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/edges/webhook_signature.hpp"

struct sockaddr;

namespace seamq::edges {

//! The SSRF guard: which resolved addresses a delivery may connect to. Refused unless
//! allow-listed: loopback, private (RFC 1918, fc00::/7), carrier-grade NAT, link-local
//! (169.254.0.0/16 with the cloud metadata address, fe80::/10), "this network", benchmark,
//! multicast and reserved ranges; IPv4-mapped IPv6 is judged by its IPv4 address.
class AddressPolicy {
public:
    //! `allowed`: CIDR blocks that are reachable even though refused above, e.g.
    //! "127.0.0.0/8" for tests, "10.20.0.0/16" for an internal partner. Throws
    //! Error(invalid_argument) for a malformed block.
    explicit AddressPolicy(const std::vector<std::string>& allowed = {});

    //! nullopt when `address` (AF_INET or AF_INET6) may be reached, else why not
    //! ("127.0.0.1 is loopback").
    std::optional<std::string> refusal(const sockaddr& address) const;
    //! The same for a textual IP address; "not an IP address" for anything else.
    std::optional<std::string> refusal(std::string_view ip) const;

private:
    struct Block {
        int family = 0;
        unsigned char bytes[16] = {};
        int prefix = 0;
    };
    std::vector<Block> allowed_;
};

//! One endpoint, as a delivery needs it.
struct WebhookEndpoint {
    std::string name;
    std::string url;  //!< http:// or https://
    std::vector<WebhookSecret> secrets;
    std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

//! How one attempt ended.
enum class AttemptOutcome {
    delivered,  //!< 2xx
    retry,      //!< any other status, a redirect (never followed), a timeout, a refused connection
    gone,       //!< 410: the endpoint asks to be disabled
    refused,    //!< never sent: the URL or its resolved address is not allowed (SSRF guard)
};
std::string_view to_string(AttemptOutcome outcome) noexcept;

//! Why an attempt was not delivered: the `class` label of seamq_webhook_attempts_total
//! and the attempts log's `failure_class`. A fixed set, so the label stays bounded.
enum class FailureClass {
    none,                //!< delivered
    timeout,             //!< no complete answer within the endpoint's timeout
    connection_refused,  //!< nobody listening, or the connection reset
    resolve,             //!< the host name does not resolve (or to no address)
    tls,                 //!< TLS handshake or certificate failure
    redirect,            //!< 3xx: redirects are never followed
    http_4xx,            //!< 4xx other than 410
    http_5xx,            //!< 5xx
    http_other,          //!< 1xx or a status outside 100..599
    gone,                //!< 410
    ssrf_refused,        //!< the address guard refused the resolved address
    invalid_url,         //!< not http(s), no host, does not parse
    other,               //!< any other transport error
};
std::string_view to_string(FailureClass failure) noexcept;
//! Every class, in declaration order (for metrics and documentation).
inline constexpr FailureClass failure_classes[] = {
    FailureClass::none,     FailureClass::timeout,      FailureClass::connection_refused,
    FailureClass::resolve,  FailureClass::tls,          FailureClass::redirect,
    FailureClass::http_4xx, FailureClass::http_5xx,     FailureClass::http_other,
    FailureClass::gone,     FailureClass::ssrf_refused, FailureClass::invalid_url,
    FailureClass::other};

//! What the attempts log records of one attempt.
struct DeliveryAttempt {
    AttemptOutcome outcome = AttemptOutcome::retry;
    FailureClass failure = FailureClass::other;  //!< none when delivered
    int http_status = 0;                         //!< 0: no response
    //! The endpoint's Retry-After (delta seconds or HTTP-date), at most max_retry_after.
    std::optional<std::chrono::seconds> retry_after;
    std::string response;  //!< the first max_response_bytes of the response body
    std::string error;     //!< why it was not delivered, one line; empty when delivered
    std::string address;   //!< the IP address connected to (or refused)
    std::chrono::milliseconds duration{0};
};

inline constexpr std::size_t max_response_bytes = 1024;
inline constexpr std::chrono::seconds max_retry_after{std::chrono::hours(24)};

//! Sends deliveries with libcurl. The host is resolved once per attempt, every address
//! is checked by the policy, and curl is pinned to the checked address (CURLOPT_RESOLVE),
//! so a DNS answer that changes between check and connect (rebinding) cannot bypass the
//! guard. Redirects are not followed. Thread-safe; one attempt per call.
class WebhookSender {
public:
    explicit WebhookSender(AddressPolicy policy);

    //! POSTs `body` (the CloudEvent in structured JSON) with `webhook-id` = `event_id`,
    //! `webhook-timestamp` = `now` and `webhook-signature` signed with every secret of the
    //! endpoint; Content-Type application/cloudevents+json.
    DeliveryAttempt deliver(
        const WebhookEndpoint& endpoint, std::string_view event_id, std::string_view body,
        std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;

private:
    AddressPolicy policy_;
};

//! Delays between attempts: `delays[n-1]` after the n-th failed attempt (the last one
//! repeats), each multiplied by a random factor in [1 - jitter, 1 + jitter] so endpoints
//! that failed together do not retry together, and never shorter than the endpoint's
//! Retry-After.
struct RetrySchedule {
    std::vector<std::chrono::milliseconds> delays{std::chrono::seconds(5),  std::chrono::seconds(30),
                                                  std::chrono::minutes(2),  std::chrono::minutes(10),
                                                  std::chrono::minutes(30), std::chrono::hours(1)};
    double jitter = 0.2;

    std::chrono::milliseconds delay_after(int failed_attempts,
                                          std::optional<std::chrono::seconds> retry_after,
                                          std::mt19937_64& random) const;
};

//! Retry-After as delta seconds or an IMF-fixdate, relative to `now`; nullopt when
//! unparsable; capped at max_retry_after; a date in the past is 0.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace seamq::edges
