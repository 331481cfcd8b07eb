#include "seamq/nats/error.hpp"

#include <mutex>
#include <string>

#include "check.hpp"
#include <fmt/format.h>

#include "seamq/core/redaction.hpp"

namespace seamq::nats {

bool NatsError::no_responders() const noexcept {
    return status_ == NATS_NO_RESPONDERS || js_error_code_ == JSNotEnabledErr;
}

bool NatsError::timed_out() const noexcept {
    return status_ == NATS_TIMEOUT;
}

ErrorKind classify(int status, int js_error_code) noexcept {
    switch (js_error_code) {
        case 0: break;
        // nats.c reports "no responders" during a stream leader election as 10076.
        case JSNotEnabledErr:
        case JSClusterNotAvailErr:
        case JSClusterNotLeaderErr:
        case JSClusterIncompleteErr:
        case JSClusterNoPeersErr:
        case JSRaftGeneralErr:
        case JSStreamStoreFailedErr:
        case JSInsufficientResourcesErr: return ErrorKind::transient;
        default: return ErrorKind::permanent;  // 10060 expected stream, 10054 too large, ...
    }
    switch (status) {
        case NATS_TIMEOUT:
        case NATS_NO_RESPONDERS:
        case NATS_CONNECTION_CLOSED:
        case NATS_CONNECTION_DISCONNECTED:
        case NATS_NO_SERVER:
        case NATS_IO_ERROR:
        case NATS_STALE_CONNECTION:
        case NATS_NOT_YET_CONNECTED:
        case NATS_DRAINING:
        case NATS_SLOW_CONSUMER:
        case NATS_ERR:  // the async publish stall ("too many outstanding") and similar
            return ErrorKind::transient;
        default: return ErrorKind::permanent;
    }
}

namespace detail {

namespace {
std::string hint(natsStatus status, int js_error_code) {
    if (js_error_code == JSNotEnabledErr || status == NATS_NO_RESPONDERS)
        return "; either a stream leader election is under way (retry with the same Nats-Msg-Id) "
               "or no stream captures the subject (check `sea-mq streams status`)";
    if (js_error_code == JSStreamNotMatchErr)
        return "; the subject is captured by another stream than the expected one: check the streams file";
    if (js_error_code == JSStreamMessageExceedsMaximumErr || status == NATS_MAX_PAYLOAD)
        return "; the message exceeds the stream's or server's maximum message size";
    if (status == NATS_TIMEOUT)
        return "; the server did not answer in time (the write may still have been stored)";
    if (status == NATS_NO_SERVER) return "; is nats-server running and is the URL right?";
    return "";
}
}  // namespace

void open_library() {
    static std::once_flag once;
    std::call_once(once, [] { check(nats_Open(-1), "initialising the NATS client library"); });
}

NatsError make_error(natsStatus status, std::string_view what, int js_error_code) {
    // nats.c keeps the last error per thread; use its text only if it is about this status.
    natsStatus last_status = NATS_OK;
    const char* last = nats_GetLastError(&last_status);
    std::string text =
        (last != nullptr && *last != '\0' && last_status == status) ? last : natsStatus_GetText(status);
    // nats.c prefixes its text with the source location, e.g. "(conn.c:2088): ".
    if (text.starts_with("(")) {
        const auto end = text.find("): ");
        if (end != std::string::npos && text.find(".c:") < end) text.erase(0, end + 3);
    }
    std::string message = fmt::format("{}: {}", what, text);
    const std::string status_text = natsStatus_GetText(status);
    if (text != status_text) message += fmt::format(" ({})", status_text);
    if (js_error_code != 0) message += fmt::format(" [JetStream error {}]", js_error_code);
    message += hint(status, js_error_code);
    // `what` may name the servers, nats.c's text a URL it was given: both with user info.
    return NatsError(mask_credentials(message), status, js_error_code, classify(status, js_error_code));
}

}  // namespace detail
}  // namespace seamq::nats
