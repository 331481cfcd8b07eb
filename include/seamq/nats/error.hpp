#pragma once

#include <string>

#include "seamq/core/error.hpp"

namespace seamq::nats {

//! Whether retrying the same operation (with the same Nats-Msg-Id) can succeed.
enum class ErrorKind {
    transient,  //!< timeout, no responders during an election, disconnected: retry later
    permanent,  //!< the request itself is wrong (too large, wrong expected stream, bad config)
};

//! A failure reported by nats.c or by the JetStream API, wrapped once at the boundary.
//! `code()` is Errc::nats; the nats.c status, the JetStream error code (0 if none) and
//! the retry classification travel with it so callers can decide without parsing text.
class NatsError : public seamq::Error {
public:
    NatsError(const std::string& message, int status, int js_error_code, ErrorKind kind)
        : seamq::Error(Errc::nats, message), status_(status), js_error_code_(js_error_code), kind_(kind) {}

    int status() const noexcept { return status_; }                //!< natsStatus value
    int js_error_code() const noexcept { return js_error_code_; }  //!< jsErrCode (10xxx) or 0
    ErrorKind kind() const noexcept { return kind_; }
    bool transient() const noexcept { return kind_ == ErrorKind::transient; }
    //! "no responders" (natsStatus NATS_NO_RESPONDERS or JetStream 10076): either a stream
    //! leader election is under way or no stream captures the subject at all. Ambiguous:
    //! see JetStream::stream_for_subject() to tell the two apart.
    bool no_responders() const noexcept;
    //! The publish (or ack) timed out: the write may have been stored anyway.
    bool timed_out() const noexcept;

private:
    int status_;
    int js_error_code_;
    ErrorKind kind_;
};

//! Classification used everywhere in seamq_nats (exposed for callers that get a raw
//! status/JetStream code, e.g. in an async publish result).
ErrorKind classify(int status, int js_error_code) noexcept;

}  // namespace seamq::nats
