#include "seamq/nats/api_reply.hpp"

#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/nats/error.hpp"

namespace seamq::nats {

std::optional<std::string> parse_stream_names_reply(std::string_view payload, std::string_view what) {
    nlohmann::json response;
    try {
        response = nlohmann::json::parse(payload);
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::nats, "{}: unreadable API response: {}", what, e.what());
    }
    if (!response.is_object()) raise(Errc::nats, "{}: unreadable API response: not a JSON object", what);
    if (const auto error = response.find("error"); error != response.end()) {
        int code = 0;
        std::string description = "unknown error";
        if (error->is_object()) {
            if (const auto found = error->find("err_code");
                found != error->end() && found->is_number_integer())
                code = found->get<int>();
            if (const auto found = error->find("description"); found != error->end() && found->is_string())
                description = found->get<std::string>();
        }
        throw NatsError(fmt::format("{}: {} (JetStream error {})", what, description, code),
                        static_cast<int>(NATS_ERR), code, classify(static_cast<int>(NATS_ERR), code));
    }
    const auto streams = response.find("streams");
    if (streams == response.end() || !streams->is_array() || streams->empty()) return std::nullopt;
    if (!streams->front().is_string())
        raise(Errc::nats, "{}: unreadable API response: stream names are not strings", what);
    return streams->front().get<std::string>();
}

std::optional<int> parse_status_header(std::string_view value) {
    if (value.size() != 3) return std::nullopt;
    int status = 0;
    for (const char c : value) {
        if (c < '0' || c > '9') return std::nullopt;
        status = status * 10 + (c - '0');
    }
    return status;
}

}  // namespace seamq::nats
