#include "seamq/core/error.hpp"

namespace seamq {

std::string_view to_string(Errc code) noexcept {
    switch (code) {
        case Errc::invalid_argument: return "invalid_argument";
        case Errc::invalid_envelope: return "invalid_envelope";
        case Errc::contract: return "contract";
        case Errc::config: return "config";
        case Errc::nats: return "nats";
        case Errc::postgres: return "postgres";
        case Errc::http: return "http";
        case Errc::io: return "io";
        case Errc::timeout: return "timeout";
        case Errc::not_found: return "not_found";
        case Errc::too_large: return "too_large";
        case Errc::internal: return "internal";
    }
    return "unknown";
}

}  // namespace seamq
