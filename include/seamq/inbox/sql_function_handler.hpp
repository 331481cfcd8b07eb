#pragma once

#include <string>

#include "seamq/inbox/handler.hpp"

namespace seamq::inbox {

//! SQLSTATE a handler function raises to say "retrying cannot help": the message is
//! dead-lettered at once (`RAISE EXCEPTION '...' USING ERRCODE = 'SQ100'`).
inline constexpr std::string_view permanent_failure_sqlstate = "SQ100";

//! The handler kind "sql": `SELECT <function>($1::jsonb)` with the envelope, inside the
//! inbox transaction, so the function's writes commit exactly once with the inbox row.
//! Any error rolls its writes back and the message is retried; SQLSTATE SQ100 makes it a
//! PermanentFailure. The function's result is ignored.
class SqlFunctionHandler final : public Handler {
public:
    //! `function`: a name or schema.name of letters, digits and `_` (quoted as given).
    //! Throws seamq::Error(Errc::config) for anything else.
    explicit SqlFunctionHandler(std::string function);

    void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                postgres::Transaction& transaction) override;
    std::string describe() const override { return "sql " + function_; }
    //! The function's writes are in the transaction (a function with effects elsewhere,
    //! e.g. through dblink, breaks the exactly-once guarantee anyway).
    bool effects_only_in_transaction() const override { return true; }

private:
    std::string function_;
    std::string statement_name_;
    std::string sql_;
};

}  // namespace seamq::inbox
