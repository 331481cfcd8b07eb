#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/postgres/error.hpp"
#include "seamq/postgres/param.hpp"
#include "seamq/postgres/result.hpp"

struct pg_conn;  // libpq's PGconn, kept out of this header

namespace seamq::postgres {

//! How to reach the server. `conninfo` is anything libpq accepts: a postgresql:// URL or a
//! `host=... port=... dbname=...` string. Values given there win over the fields below.
struct ConnectOptions {
    std::string conninfo;
    std::chrono::seconds connect_timeout{10};
    std::string application_name = "sea-mq";
    //! Dead-server detection on the client's socket (libpq `keepalives_idle`,
    //! `keepalives_interval`, `keepalives_count`, `tcp_user_timeout`). A server that vanishes
    //! without a reset (partition, dead VM) otherwise goes unnoticed for the OS's hours:
    //! with these a statement or wait on such a session fails within about
    //! `tcp_user_timeout`. Keepalives are always on (unless the conninfo says
    //! `keepalives=0`); ignored on Unix-domain sockets.
    std::chrono::seconds keepalives_idle{10};
    std::chrono::seconds keepalives_interval{5};
    int keepalives_count = 3;
    std::chrono::milliseconds tcp_user_timeout{30000};
    //! The server's side of the same, for sessions whose death must free their locks soon
    //! (leadership, row locks): when set, the session's `tcp_keepalives_idle` = 1 s,
    //! `tcp_keepalives_interval` = 1 s and `tcp_user_timeout` = this are SET after each
    //! connect (not conninfo options, which a user's conninfo would replace), so the server
    //! ends the session, and releases its locks, once the client has been silent this long.
    //! 0: the server's defaults (keepalive after 2 hours on Linux). Ignored on Unix sockets.
    std::chrono::milliseconds server_tcp_user_timeout{0};
    //! `statement_timeout` SET after each connect; 0: the server's default.
    std::chrono::milliseconds statement_timeout{0};
};

//! An asynchronous notification received on a LISTENed channel.
struct Notification {
    std::string channel;
    std::string payload;
    int backend_pid = 0;  //!< the notifying session
};

//! Keys for session/transaction advisory locks. sea-mq uses the two-int4 form
//! (namespace, hashtext(name)), which never collides with an application's
//! single-bigint advisory locks; see db/migrations/README.md for the namespaces taken.
struct AdvisoryKey {
    std::int32_t space = 0;
    std::int32_t key = 0;
};

//! One PostgreSQL session (RAII over PGconn). Not thread-safe: one thread at a time, as
//! libpq. Statements take text parameters ($1, $2, ...) and return a Result, or throw
//! SqlError (a seamq::Error with Errc::postgres). Prepared statements and LISTENed
//! channels are remembered and restored by reconnect(); session advisory locks are not
//! (the server released them with the old session), which is what leader election wants.
class Connection {
public:
    explicit Connection(ConnectOptions options);
    explicit Connection(std::string conninfo) : Connection(ConnectOptions{std::move(conninfo)}) {}
    ~Connection();
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    //! Runs `sql` with no parameters through the simple query protocol: several
    //! statements separated by `;` are allowed (used for migrations). Returns the last
    //! statement's result.
    Result exec_script(std::string_view sql);

    //! Runs one statement with text parameters (extended protocol).
    Result exec(std::string_view sql, std::span<const Param> params);
    Result exec(std::string_view sql, std::initializer_list<Param> params) {
        return exec(sql, std::span<const Param>(params.begin(), params.size()));
    }
    Result exec(std::string_view sql) { return exec(sql, std::span<const Param>{}); }
    template <typename... Args>
    requires(sizeof...(Args) > 0) Result exec(std::string_view sql, Args&&... args) {
        const Param params[] = {Param(std::forward<Args>(args))...};
        return exec(sql, std::span<const Param>(params));
    }

    //! Prepares `sql` under `name` on this session (and again after reconnect()).
    //! Preparing a name twice with the same SQL is a no-op; with different SQL it throws.
    void prepare(const std::string& name, std::string_view sql);
    bool is_prepared(const std::string& name) const { return prepared_.contains(name); }
    Result exec_prepared(const std::string& name, std::span<const Param> params);
    Result exec_prepared(const std::string& name, std::initializer_list<Param> params) {
        return exec_prepared(name, std::span<const Param>(params.begin(), params.size()));
    }
    Result exec_prepared(const std::string& name) { return exec_prepared(name, std::span<const Param>{}); }
    template <typename... Args>
    requires(sizeof...(Args) > 0) Result exec_prepared(const std::string& name, Args&&... args) {
        const Param params[] = {Param(std::forward<Args>(args))...};
        return exec_prepared(name, std::span<const Param>(params));
    }

    //! Sends a prepared statement without waiting for its outcome (libpq pipeline mode),
    //! for writes whose result the caller does not read, e.g. a handler's INSERT. What is
    //! queued is waited for before anything else runs on the connection: flush_queued(),
    //! any exec*(), prepare(), Transaction::commit() (which sends COMMIT in the same round
    //! trip). So n queued writes and their COMMIT cost one round trip instead of n + 1.
    //! Returns the statement's ticket: queued_tickets() after the call. The first queued
    //! statement that fails is thrown there as a SqlError carrying its queued_ticket();
    //! the statements after it did not run, and an open transaction is left failed (roll
    //! it, or its savepoint, back).
    std::uint64_t queue_prepared(const std::string& name, std::span<const Param> params);
    std::uint64_t queue_prepared(const std::string& name) {
        return queue_prepared(name, std::span<const Param>{});
    }
    template <typename... Args>
    requires(sizeof...(Args) > 0) std::uint64_t queue_prepared(const std::string& name, Args&&... args) {
        const Param params[] = {Param(std::forward<Args>(args))...};
        return queue_prepared(name, std::span<const Param>(params));
    }
    //! Statements queued and not yet flushed.
    std::size_t queued() const noexcept { return queued_.size(); }
    //! Tickets handed out on this connection so far (they start at 1 and never repeat).
    std::uint64_t queued_tickets() const noexcept { return tickets_; }
    //! Waits for every queued statement (see queue_prepared()); returns the last one's
    //! result (empty when nothing was queued).
    Result flush_queued();
    //! Queues `sql` (no parameters, extended protocol) after what is queued, then flushes:
    //! how Transaction::commit() sends COMMIT together with queued writes.
    Result flush_queued_with(std::string_view sql);

    //! LISTEN on `channel` (any string; quoted as an identifier). Remembered for reconnect().
    void listen(std::string_view channel);
    void unlisten(std::string_view channel);
    //! pg_notify(channel, payload): delivered to listeners when the current transaction
    //! commits (at once outside a transaction), never when it rolls back.
    void notify(std::string_view channel, std::string_view payload = {});
    //! Notifications already received, without waiting (reads what the socket holds).
    std::vector<Notification> consume_notifications();
    //! Waits up to `timeout` for one notification (poll on PQsocket). nullopt on timeout.
    //! Throws SqlError with is_connection_lost() when the server goes away meanwhile.
    std::optional<Notification> wait_for_notification(std::chrono::milliseconds timeout);

    //! pg_try_advisory_lock: a session-level lock held until unlock or the session ends.
    bool try_advisory_lock(AdvisoryKey key);
    //! pg_advisory_unlock; false when this session did not hold it.
    bool advisory_unlock(AdvisoryKey key);
    //! The key sea-mq uses for `name` in `space`: (space, hashtext(name)) computed by the
    //! server, so SQL functions and C++ agree on it.
    AdvisoryKey advisory_key(std::int32_t space, std::string_view name);

    //! True when libpq considers the connection good; does not talk to the server.
    bool is_alive() const noexcept;
    //! Round trip `SELECT 1`; false (never throws) when the session is gone.
    bool ping() noexcept;
    //! Drops the session and connects again with the same options, then restores
    //! prepared statements and LISTENs. Throws SqlError when the server is unreachable.
    void reconnect();

    //! Whether a transaction block is open (PQtransactionStatus is INTRANS or INERROR).
    bool in_transaction() const noexcept;
    int backend_pid() const noexcept;
    int server_version() const noexcept;  //!< e.g. 150003
    const ConnectOptions& options() const noexcept { return options_; }
    int socket() const noexcept;
    pg_conn* native_handle() const noexcept { return connection_; }

    //! Wraps the current libpq error of this connection (for callers using
    //! native_handle() directly, e.g. pipeline mode) into a SqlError.
    [[noreturn]] void throw_error(std::string_view operation, pg_result* result = nullptr) const;

private:
    void connect();
    void close() noexcept;
    Result check(pg_result* result, std::string_view operation) const;
    SqlError::Fields error_fields(std::string_view operation, pg_result* result) const;
    void settle_queue();
    void prepare_on_server(const std::string& name, const std::string& sql);
    void read_input(std::string_view operation);
    std::optional<Notification> next_notification();

    ConnectOptions options_;
    pg_conn* connection_ = nullptr;
    std::map<std::string, std::string> prepared_;
    std::set<std::string> channels_;
    struct Queued {
        std::uint64_t ticket = 0;
        std::string operation;  // what it was, for its error
    };
    std::vector<Queued> queued_;
    std::uint64_t tickets_ = 0;
};

//! Quotes `identifier` for SQL (double quotes, embedded quotes doubled).
std::string quote_identifier(std::string_view identifier);

}  // namespace seamq::postgres
