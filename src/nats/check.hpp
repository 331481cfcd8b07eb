#pragma once

// Internal to seamq_nats: the one place where natsStatus becomes NatsError.

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <nats/nats.h>

#include "seamq/nats/error.hpp"

namespace seamq::nats::detail {

//! The code nats.c stored in a jsErrCode, as an int. A code this client does not list (one
//! a newer server added) is no valid value of the enum, and loading it as one is undefined
//! behaviour (UBSan caught it): the bytes are read instead.
inline int error_code_of(const jsErrCode& code) noexcept {
    static_assert(sizeof(jsErrCode) == sizeof(int));
    int value = 0;
    std::memcpy(&value, &code, sizeof value);
    return value;
}

//! Builds the NatsError for a failed nats.c call: "<what>: <nats.c last error text>
//! (status <name>[, JetStream error <code>])" plus a hint for well-known cases.
NatsError make_error(natsStatus status, std::string_view what, int js_error_code = 0);

//! Throws make_error(...) unless `status` is NATS_OK.
inline void check(natsStatus status, std::string_view what, int js_error_code = 0) {
    if (status != NATS_OK) throw make_error(status, what, js_error_code);
}

//! Initialises nats.c once per process (natsMsg_Create & co. crash before nats_Open).
void open_library();

//! Milliseconds as nats.c's int64_t, at least 1 for a positive duration.
template <typename Duration>
std::int64_t to_millis(Duration duration) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
    return ms <= 0 && duration.count() > 0 ? 1 : static_cast<std::int64_t>(ms);
}

}  // namespace seamq::nats::detail
