#include "seamq/postgres/transaction.hpp"

#include <libpq-fe.h>

namespace seamq::postgres {

namespace {

std::string_view begin_statement(IsolationLevel isolation) {
    switch (isolation) {
        case IsolationLevel::read_committed: return "BEGIN";
        case IsolationLevel::repeatable_read: return "BEGIN ISOLATION LEVEL REPEATABLE READ";
        case IsolationLevel::serializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    }
    return "BEGIN";
}

}  // namespace

Transaction::Transaction(Connection& connection, IsolationLevel isolation) : connection_(connection) {
    if (connection_.in_transaction()) {
        raise(Errc::invalid_argument,
              "cannot begin a transaction: one is already open on this connection (backend {}); "
              "commit or roll it back first",
              connection_.backend_pid());
    }
    connection_.exec(begin_statement(isolation));
    active_ = true;
}

Transaction::~Transaction() {
    try {
        rollback();
    } catch (const std::exception&) {
        // The session is gone or broken; the server rolls the transaction back itself.
    }
}

void Transaction::commit() {
    if (!active_) raise(Errc::invalid_argument, "commit(): the transaction is already over");
    active_ = false;
    // COMMIT of a failed transaction block "succeeds" with the tag ROLLBACK: catch it
    // here, or the caller would believe work was saved that was not.
    if (connection_.queued() == 0 && PQtransactionStatus(connection_.native_handle()) == PQTRANS_INERROR) {
        connection_.exec("ROLLBACK");
        SqlError::Fields fields;
        fields.operation = "COMMIT";
        fields.sqlstate = "25P02";
        fields.primary_message =
            "the transaction had failed earlier (a statement inside it raised an error), so it was rolled "
            "back";
        fields.hint = "handle or avoid the failing statement, then run the whole transaction again";
        throw SqlError(std::move(fields));
    }
    Result result;
    try {
        result = connection_.flush_queued_with("COMMIT");
    } catch (const SqlError& error) {
        if (!error.is_connection_lost()) {
            // A queued write failed, so COMMIT did not run and the block is failed: end it.
            if (connection_.in_transaction()) connection_.exec("ROLLBACK");
            throw;
        }
        SqlError::Fields fields{"COMMIT (the outcome is unknown: the transaction may have committed)",
                                error.sqlstate(),
                                error.primary_message(),
                                error.detail(),
                                "reconnect and check whether its effects are there before retrying",
                                true};
        throw SqlError(std::move(fields));
    }
    const char* tag = PQcmdStatus(result.native_handle());
    if (tag == nullptr || std::string_view(tag) != "COMMIT") {
        SqlError::Fields fields;
        fields.operation = "COMMIT";
        fields.sqlstate = "25P02";
        fields.primary_message = fmt::format("the server answered '{}' instead of COMMIT: nothing was saved",
                                             tag != nullptr ? tag : "");
        throw SqlError(std::move(fields));
    }
}

void Transaction::rollback() {
    if (!active_) return;
    active_ = false;
    if (!connection_.is_alive()) return;
    if (connection_.queued() > 0) {
        // Queued writes are undone with the rest; their failure, if any, no longer matters.
        try {
            connection_.flush_queued();
        } catch (const SqlError& error) {
            if (error.is_connection_lost()) throw;
        }
    }
    if (connection_.in_transaction()) connection_.exec("ROLLBACK");
}

}  // namespace seamq::postgres
