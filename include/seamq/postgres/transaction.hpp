#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "seamq/postgres/connection.hpp"

namespace seamq::postgres {

enum class IsolationLevel { read_committed, repeatable_read, serializable };

//! A transaction block on a Connection: BEGIN on construction, commit() to make it
//! durable, ROLLBACK on destruction if not committed (also during stack unwinding).
//! Handlers and producers receive this type: everything executed through it belongs to
//! the same unit of work (state + outbox row, or inbox row + handler effects).
class Transaction {
public:
    explicit Transaction(Connection& connection, IsolationLevel isolation = IsolationLevel::read_committed);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    Transaction(Transaction&&) = delete;
    Transaction& operator=(Transaction&&) = delete;

    Result exec(std::string_view sql, std::span<const Param> params) { return connection_.exec(sql, params); }
    Result exec(std::string_view sql, std::initializer_list<Param> params) {
        return connection_.exec(sql, params);
    }
    Result exec(std::string_view sql) { return connection_.exec(sql); }
    template <typename... Args>
    requires(sizeof...(Args) > 0) Result exec(std::string_view sql, Args&&... args) {
        return connection_.exec(sql, std::forward<Args>(args)...);
    }
    template <typename... Args>
    Result exec_prepared(const std::string& name, Args&&... args) {
        return connection_.exec_prepared(name, std::forward<Args>(args)...);
    }

    //! Connection::queue_prepared(): a write sent without waiting for it; it reaches the
    //! server with the next statement or with COMMIT, whose round trip it shares.
    template <typename... Args>
    std::uint64_t queue_prepared(const std::string& name, Args&&... args) {
        return connection_.queue_prepared(name, std::forward<Args>(args)...);
    }
    //! Waits for the queued writes; throws the first that failed (the transaction is then
    //! failed: roll it, or a savepoint, back).
    void flush_queued() { connection_.flush_queued(); }

    //! COMMIT, sent with any queued writes. Throws SqlError when the server refuses (e.g. a
    //! queued write failed, a deferred constraint, a serialization failure); the
    //! transaction is over either way.
    void commit();
    //! ROLLBACK now (idempotent).
    void rollback();
    //! Neither committed nor rolled back yet.
    bool active() const noexcept { return active_; }

    Connection& connection() noexcept { return connection_; }

private:
    Connection& connection_;
    bool active_ = false;
};

}  // namespace seamq::postgres
