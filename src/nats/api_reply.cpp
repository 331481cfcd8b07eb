#include "seamq/nats/api_reply.hpp"

#include <type_traits>

#include <fmt/format.h>
#include <nats/nats.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/nats/error.hpp"

namespace seamq::nats {

namespace {

constexpr int stream_not_found = 10059;

//! The reply as a JSON object; throws Error(nats) for anything else.
nlohmann::json api_object(std::string_view payload, std::string_view what) {
    nlohmann::json response;
    try {
        response = nlohmann::json::parse(payload);
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::nats, "{}: unreadable API response: {}", what, e.what());
    }
    if (!response.is_object()) raise(Errc::nats, "{}: unreadable API response: not a JSON object", what);
    return response;
}

//! The JetStream error code of an API error reply, 0 when there is none; throws NatsError
//! for every error but `tolerated`.
int check_api_error(const nlohmann::json& response, std::string_view what, int tolerated = -1) {
    const auto error = response.find("error");
    if (error == response.end()) return 0;
    int code = 0;
    std::string description = "unknown error";
    if (error->is_object()) {
        if (const auto found = error->find("err_code"); found != error->end() && found->is_number_integer())
            code = found->get<int>();
        if (const auto found = error->find("description"); found != error->end() && found->is_string())
            description = found->get<std::string>();
    }
    if (code == tolerated) return code;
    throw NatsError(fmt::format("{}: {} (JetStream error {})", what, description, code),
                    static_cast<int>(NATS_ERR), code, classify(static_cast<int>(NATS_ERR), code));
}

template <typename T>
T field_or(const nlohmann::json& object, std::string_view key, T fallback, std::string_view what) {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null()) return fallback;
    // Integers only as JSON integers: a huge float cast to one would be undefined.
    if constexpr (std::is_integral_v<T>) {
        if (!found->is_number_integer())
            raise(Errc::nats, "{}: unreadable API response: '{}' is not an integer", what, key);
    }
    try {
        return found->get<T>();
    } catch (const nlohmann::json::exception&) {
        raise(Errc::nats, "{}: unreadable API response: '{}' has the wrong type", what, key);
    }
}

}  // namespace

std::optional<std::string> parse_stream_names_reply(std::string_view payload, std::string_view what) {
    const auto response = api_object(payload, what);
    check_api_error(response, what);
    const auto streams = response.find("streams");
    if (streams == response.end() || !streams->is_array() || streams->empty()) return std::nullopt;
    if (!streams->front().is_string())
        raise(Errc::nats, "{}: unreadable API response: stream names are not strings", what);
    return streams->front().get<std::string>();
}

std::optional<StreamSourcesReply> parse_stream_sources_reply(std::string_view payload,
                                                             std::string_view what) {
    const auto response = api_object(payload, what);
    if (check_api_error(response, what, stream_not_found) == stream_not_found) return std::nullopt;
    StreamSourcesReply reply;
    const auto config = response.find("config");
    if (config == response.end() || !config->is_object())
        raise(Errc::nats, "{}: unreadable API response: no stream config", what);
    reply.name = field_or<std::string>(*config, "name", "", what);
    if (const auto state = response.find("state"); state != response.end() && state->is_object())
        reply.messages = field_or<std::uint64_t>(*state, "messages", 0, what);
    const auto sources = response.find("sources");
    if (sources == response.end() || sources->is_null()) return reply;
    if (!sources->is_array()) raise(Errc::nats, "{}: unreadable API response: 'sources' is not a list", what);
    for (const auto& source : *sources) {
        if (!source.is_object())
            raise(Errc::nats, "{}: unreadable API response: a source is not an object", what);
        StreamSourceInfo info;
        info.name = field_or<std::string>(source, "name", "", what);
        if (const auto external = source.find("external"); external != source.end() && external->is_object())
            info.api_prefix = field_or<std::string>(*external, "api", "", what);
        info.lag = field_or<std::uint64_t>(source, "lag", 0, what);
        // Go's time.Duration in nanoseconds; the server writes -1 (or leaves it out) while
        // there is no source consumer.
        info.active = std::chrono::nanoseconds(field_or<std::int64_t>(source, "active", -1, what));
        if (info.active.count() < 0) info.active = std::chrono::nanoseconds(-1);
        reply.sources.push_back(std::move(info));
    }
    return reply;
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
