#include "seamq/inbox/sql_function_handler.hpp"

#include <regex>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/postgres/error.hpp"

namespace seamq::inbox {

SqlFunctionHandler::SqlFunctionHandler(std::string function) : function_(std::move(function)) {
    static const std::regex pattern("^([A-Za-z_][A-Za-z0-9_]{0,62})(\\.([A-Za-z_][A-Za-z0-9_]{0,62}))?$");
    std::smatch match;
    if (!std::regex_match(function_, match, pattern))
        raise(Errc::config,
              "handler function '{}' is not a function name: use name or schema.name (letters, digits, _), "
              "e.g. "
              "orders.apply_order_placed",
              function_);
    const std::string qualified = match[2].matched ? postgres::quote_identifier(match[1].str()) + "." +
                                                         postgres::quote_identifier(match[3].str())
                                                   : postgres::quote_identifier(match[1].str());
    sql_ = fmt::format("SELECT {}($1::jsonb)", qualified);
    statement_name_ = "seamq_handler_" + std::to_string(std::hash<std::string>{}(function_));
}

void SqlFunctionHandler::handle(const envelope::Envelope& envelope, const Delivery& /*delivery*/,
                                postgres::Transaction& transaction) {
    try {
        transaction.connection().prepare(statement_name_, sql_);
        transaction.exec_prepared(statement_name_, envelope.to_json());
    } catch (const postgres::SqlError& error) {
        if (error.sqlstate() == permanent_failure_sqlstate)
            throw PermanentFailure(
                fmt::format("{} refused the message for good: {}", function_, error.primary_message()));
        throw;
    }
}

}  // namespace seamq::inbox
