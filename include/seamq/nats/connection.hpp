#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nats/nats.h>

#include "seamq/nats/credentials.hpp"
#include "seamq/nats/message.hpp"
#include "seamq/nats/subscription.hpp"

namespace seamq::nats {

//! Something that happened to a connection, reported to ConnectionOptions::on_event
//! from nats.c's callback thread (keep the handler short and non-blocking).
enum class ConnectionEvent {
    connected,     //!< first connect succeeded after retrying (retry_on_failed_connect)
    disconnected,  //!< lost the server; reconnecting unless closed
    reconnected,   //!< connected again (possibly to another server of the list)
    closed,        //!< closed for good (close(), destructor, or nats.c gave up: Connection::closed_reason())
    error,         //!< asynchronous error (slow consumer, permission violation...)
};
std::string_view to_string(ConnectionEvent event) noexcept;

//! Mirrors natsConnStatus.
enum class ConnectionStatus { disconnected, connecting, connected, closed, reconnecting, draining };
std::string_view to_string(ConnectionStatus status) noexcept;

//! How often each event happened since the connection was created.
struct ConnectionCounters {
    std::uint64_t disconnects = 0;
    std::uint64_t reconnects = 0;
    std::uint64_t async_errors = 0;
    std::uint64_t authentication_failures = 0;  //!< servers answering "Authorization Violation" & co.
    bool closed = false;
};

struct ConnectionOptions {
    //! Server URLs; each entry may itself be a comma-separated list ("nats://a:4222,nats://b:4222").
    std::vector<std::string> servers;
    std::string name = "sea-mq";  //!< shown in the server's connz
    std::chrono::milliseconds connect_timeout{2000};
    //! If the first connect fails, keep trying in the background instead of throwing;
    //! the constructor then returns a connection that is not connected yet. A server that
    //! answers and refuses (credentials, TLS) is reported as an error event, and nats.c
    //! 3.4.1 then closes the connection (see closed_reason()).
    bool retry_on_failed_connect = false;
    int max_reconnect = -1;  //!< -1: reconnect forever
    std::chrono::milliseconds reconnect_wait{500};
    std::chrono::milliseconds reconnect_jitter{250};
    //! Bytes published while disconnected are buffered up to this bound; beyond it a
    //! publish fails instead of growing memory.
    int reconnect_buffer_bytes = 8 * 1024 * 1024;
    //! A server that vanishes without a reset (partition, dead VM) is noticed when
    //! max_pings_out pings stay unanswered: within ping_interval x (max_pings_out + 1),
    //! 10-15 s by default (nats.c's own default is 2 minutes x 2).
    std::chrono::milliseconds ping_interval{5000};
    int max_pings_out = 2;
    //! Who the client is (user/password, token, NKey, .creds); none by default.
    Authentication auth;
    //! TLS to the servers; on as soon as configured or a URL says tls://.
    TlsOptions tls;
    //! Subject prefix of every reply inbox (requests, JetStream API calls, PubAcks, pull
    //! batches, ack confirmations); empty: nats.c's "_INBOX". A user's own prefix
    //! ("_INBOX_worker-sea") lets the server's permissions give it only its own replies:
    //! with the shared _INBOX.> any user of the account may overhear the others'.
    std::string inbox_prefix;
    //! Called for every ConnectionEvent with a human-readable detail (URL, error text).
    std::function<void(ConnectionEvent, const std::string& detail)> on_event;

    //! Splits "a,b , c" into {"a","b","c"} (empty entries dropped).
    static std::vector<std::string> split_urls(std::string_view comma_separated);
    //! `url` with "nats://" in front when it has no scheme ("host:4222", "user:pass@host"),
    //! as nats.c reads it: every URL sea-mq holds then has one, so the masking of printed
    //! text (seamq/core/redaction.hpp) finds its password.
    static std::string with_scheme(std::string url);
    //! Why `prefix` cannot be an inbox prefix ("" when it can): NATS subject tokens, no
    //! wildcards, no white space, no empty token.
    static std::string inbox_prefix_problem(std::string_view prefix);
    //! Convenience: options for a comma-separated URL list.
    static ConnectionOptions from_urls(std::string_view comma_separated, std::string name = "sea-mq");
};

//! One NATS connection (RAII over natsConnection). Thread-safe like nats.c itself.
//! Not movable: nats.c callbacks refer to its state.
class Connection {
public:
    //! Connects; throws NatsError when no server is reachable (unless
    //! retry_on_failed_connect), seamq::Error(invalid_argument) when no URL is given,
    //! seamq::Error(config) when a credential or TLS file is missing or malformed.
    explicit Connection(ConnectionOptions options);
    ~Connection();  //!< closes, waits (bounded) for the closed callback
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool is_connected() const;
    ConnectionStatus status() const;
    std::string connected_url() const;  //!< "" when not connected
    ConnectionCounters counters() const;
    //! The last error nats.c recorded ("Authorization Violation", "Connection refused"...).
    std::string last_error() const;
    //! nats.c closed the connection for good because the servers refused its credentials
    //! (it gives up when a server refuses them twice in a row, and at once on the first
    //! connect): no reconnect will happen; a new Connection is needed.
    bool authentication_refused() const;
    //! Why nats.c closed the connection on its own, for good: "" while it is open and when
    //! close(), drain() or the destructor closed it. nats.c 3.4.1 gives up on the server's
    //! refusal of the credentials (the same "Authorization Violation" twice in a row from a
    //! server while reconnecting; at once on a refused first connect with
    //! retry_on_failed_connect) and on any other -ERR of the server that is not about
    //! permissions; reconnecting never stops otherwise (max_reconnect -1).
    std::string closed_reason() const;
    const ConnectionOptions& options() const { return options_; }
    std::int64_t max_payload() const;

    //! Round trip to the server: everything published before is processed.
    void flush(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    //! Core publish (no JetStream ack).
    void publish(const OutgoingMessage& message);
    void publish(std::string_view subject, std::string_view payload);
    //! Request/reply; throws NatsError (timeout, no responders).
    Message request(std::string_view subject, std::string_view payload,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
    Message request(const OutgoingMessage& message,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5));
    //! Callback subscription; `handler` runs on nats.c's delivery thread for this subscription.
    Subscription subscribe(std::string_view subject, MessageHandler handler,
                           std::string_view queue_group = {});
    //! Synchronous subscription: read with Subscription::next().
    Subscription subscribe_sync(std::string_view subject, std::string_view queue_group = {});
    //! A fresh unique inbox subject.
    std::string new_inbox() const;  //!< "<inbox_prefix>.<unique>"

    //! Drains subscriptions and publishes, then closes (bounded by `timeout`).
    void drain(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    void close();

    natsConnection* native() const noexcept { return connection_; }

    struct State;  //!< shared with nats.c callbacks (defined in src/nats)

private:
    ConnectionOptions options_;
    std::shared_ptr<State> state_;
    natsConnection* connection_ = nullptr;
};

}  // namespace seamq::nats
