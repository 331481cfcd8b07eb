#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "seamq/core/error.hpp"

namespace seamq::postgres {

//! SQLSTATE codes sea-mq code branches on (PostgreSQL Appendix A, plus sea-mq's own
//! class `SQ` raised by the SQL functions in db/migrations/).
namespace sqlstate {
inline constexpr std::string_view unique_violation = "23505";
inline constexpr std::string_view serialization_failure = "40001";
inline constexpr std::string_view deadlock_detected = "40P01";
inline constexpr std::string_view raise_exception = "P0001";
inline constexpr std::string_view query_canceled = "57014";
inline constexpr std::string_view admin_shutdown = "57P01";
inline constexpr std::string_view crash_shutdown = "57P02";
inline constexpr std::string_view cannot_connect_now = "57P03";
//! seamq.enqueue: an envelope attribute is missing, has the wrong JSON type or an invalid
//! value (pattern, format, enum, extension value, a number beyond a double's range).
inline constexpr std::string_view invalid_envelope_attribute = "SQ001";
//! seamq.enqueue: `type` does not follow `{context}.(event|command).{name}.v{n}`.
inline constexpr std::string_view invalid_envelope_type = "SQ002";
//! seamq.enqueue: the envelope carries both `data` and `data_base64`, or neither.
inline constexpr std::string_view invalid_envelope_data = "SQ003";
//! seamq.enqueue: the stored envelope's text (what the relay publishes) is over the size
//! limit, seamq.max_envelope_bytes() = the envelope::Limits default.
inline constexpr std::string_view envelope_too_large = "SQ004";
}  // namespace sqlstate

//! A libpq failure: a server error (with SQLSTATE, message, detail, hint) or a client-side
//! one (connection refused or lost: empty SQLSTATE). Thrown as seamq::Error with
//! Errc::postgres, so code that does not care about the details catches seamq::Error.
class SqlError : public seamq::Error {
public:
    struct Fields {
        std::string operation;        //!< what sea-mq was doing, e.g. "exec INSERT INTO ..."
        std::string sqlstate;         //!< five characters, empty for client-side failures
        std::string primary_message;  //!< the server's (or libpq's) primary message
        std::string detail;
        std::string hint;
        bool connection_lost = false;  //!< the session is unusable after this error
        //! For a statement sent with Connection::queue_prepared(): the ticket that call
        //! returned.
        std::optional<std::uint64_t> queued_ticket{};
    };

    explicit SqlError(Fields fields);

    const std::string& operation() const noexcept { return fields_.operation; }
    const std::string& sqlstate() const noexcept { return fields_.sqlstate; }
    const std::string& primary_message() const noexcept { return fields_.primary_message; }
    const std::string& detail() const noexcept { return fields_.detail; }
    const std::string& hint() const noexcept { return fields_.hint; }
    const std::optional<std::uint64_t>& queued_ticket() const noexcept { return fields_.queued_ticket; }

    //! 23505: a unique or primary-key constraint refused the row (the inbox's duplicate).
    bool is_unique_violation() const noexcept { return fields_.sqlstate == sqlstate::unique_violation; }
    //! 40001 or 40P01: the transaction lost a race; retrying it as a whole may succeed.
    bool is_serialization_failure() const noexcept {
        return fields_.sqlstate == sqlstate::serialization_failure ||
               fields_.sqlstate == sqlstate::deadlock_detected;
    }
    //! P0001: a plain RAISE EXCEPTION from PL/pgSQL.
    bool is_raise_exception() const noexcept { return fields_.sqlstate == sqlstate::raise_exception; }
    //! Class SQ: seamq.enqueue refused the envelope; retrying the same envelope cannot help.
    bool is_invalid_envelope() const noexcept { return fields_.sqlstate.rfind("SQ", 0) == 0; }
    //! The connection is gone (class 08, server shutdown 57P01-57P03, or libpq reports the
    //! connection bad); reconnect before the next statement.
    bool is_connection_lost() const noexcept { return fields_.connection_lost; }

private:
    Fields fields_;
};

//! True for SQLSTATEs that mean the server session ended (class 08, 57P01..57P03).
bool is_connection_sqlstate(std::string_view state) noexcept;

}  // namespace seamq::postgres
