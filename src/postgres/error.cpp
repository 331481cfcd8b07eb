#include "seamq/postgres/error.hpp"

#include <fmt/format.h>

namespace seamq::postgres {

namespace {

std::string compose(const SqlError::Fields& fields) {
    std::string message = fmt::format("PostgreSQL: {} failed: {}", fields.operation, fields.primary_message);
    if (!fields.sqlstate.empty()) message += fmt::format(" [SQLSTATE {}]", fields.sqlstate);
    if (!fields.detail.empty()) message += fmt::format("; detail: {}", fields.detail);
    if (!fields.hint.empty()) message += fmt::format("; hint: {}", fields.hint);
    // A hint already says what to do (e.g. which TLS setting to check).
    if (fields.connection_lost && fields.hint.empty()) {
        message +=
            "; the connection to the server is lost: check that PostgreSQL runs and is reachable, "
            "then reconnect";
    }
    return message;
}

}  // namespace

SqlError::SqlError(Fields fields)
    : seamq::Error(Errc::postgres, compose(fields)), fields_(std::move(fields)) {}

bool is_connection_sqlstate(std::string_view state) noexcept {
    return state.starts_with("08") || state == sqlstate::admin_shutdown ||
           state == sqlstate::crash_shutdown || state == sqlstate::cannot_connect_now;
}

}  // namespace seamq::postgres
