#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace seamq {

//! What kind of failure an Error reports; chosen by the layer that wraps a library's
//! status code, so callers can decide between retrying, reporting and giving up.
enum class Errc {
    invalid_argument,  //!< a caller passed something unusable (usage error)
    invalid_envelope,  //!< an envelope failed parsing, schema or subject-grammar checks
    contract,          //!< an event contract is missing, malformed or changed after locking
    config,            //!< a configuration file or value is wrong
    nats,              //!< nats.c reported a failure (connection, JetStream API, publish)
    postgres,          //!< libpq reported a failure (connection, SQL error)
    http,              //!< an HTTP exchange failed
    io,                //!< a file or process operation failed
    timeout,           //!< something did not happen within its deadline
    not_found,         //!< a named thing (stream, consumer, file) does not exist
    too_large,         //!< a payload exceeds its configured limit
    internal,          //!< a broken invariant inside sea-mq: a bug
};

std::string_view to_string(Errc code) noexcept;

//! The one exception type sea-mq throws across module boundaries. The message names
//! what failed, the input that caused it and, where there is one, what to do.
class Error : public std::runtime_error {
public:
    Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}

    Errc code() const noexcept { return code_; }

private:
    Errc code_;
};

template <typename... Args>
[[noreturn]] void raise(Errc code, fmt::format_string<Args...> format, Args&&... args) {
    throw Error(code, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace seamq
