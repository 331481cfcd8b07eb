// Reading the federation's state: /leafz bodies and stream sources, judged the same way
// for the CLI and the worker.
#include "seamq/federation/status.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"

namespace seamq::federation {

namespace {

using nlohmann::json;

template <typename T>
T value_or(const json& object, std::string_view key, T fallback) {
    const auto found = object.find(key);
    if (found == object.end()) return fallback;
    if constexpr (std::is_same_v<T, std::string>) {
        return found->is_string() ? found->get<std::string>() : fallback;
    } else {
        // Integers only as JSON integers (a huge float cast to one would be undefined).
        return found->is_number_integer() ? found->get<T>() : fallback;
    }
}

}  // namespace

double go_duration_seconds(std::string_view text) {
    // A Go duration: one or more <number><unit>, e.g. "1m2.5s"; "0s" alone for zero.
    if (text.empty() || text.size() > 64) return -1;
    double total = 0;
    std::size_t at = 0;
    while (at < text.size()) {
        const std::size_t number_start = at;
        while (at < text.size() && ((text[at] >= '0' && text[at] <= '9') || text[at] == '.')) ++at;
        if (at == number_start) return -1;
        double value = 0;
        try {
            std::size_t used = 0;
            const std::string number(text.substr(number_start, at - number_start));
            value = std::stod(number, &used);
            if (used != number.size()) return -1;
        } catch (const std::exception&) {
            return -1;
        }
        const std::size_t unit_start = at;
        while (at < text.size() && !((text[at] >= '0' && text[at] <= '9') || text[at] == '.')) ++at;
        const auto unit = text.substr(unit_start, at - unit_start);
        if (unit == "ns")
            total += value / 1e9;
        else if (unit == "µs" || unit == "us")
            total += value / 1e6;
        else if (unit == "ms")
            total += value / 1e3;
        else if (unit == "s")
            total += value;
        else if (unit == "m")
            total += value * 60;
        else if (unit == "h")
            total += value * 3600;
        else
            return -1;
    }
    return total;
}

std::vector<LeafLink> parse_leafz(std::string_view body) {
    const auto document = json::parse(body, nullptr, false);
    if (document.is_discarded()) raise(Errc::http, "/leafz: not JSON");
    if (!document.is_object()) raise(Errc::http, "/leafz: not a JSON object");
    std::vector<LeafLink> links;
    const auto leafs = document.find("leafs");
    if (leafs == document.end() || leafs->is_null()) return links;  // 2.9.10 writes null for none
    if (!leafs->is_array()) raise(Errc::http, "/leafz: 'leafs' is not a list");
    for (const auto& leaf : *leafs) {
        if (!leaf.is_object()) raise(Errc::http, "/leafz: a leafnode entry is not an object");
        LeafLink link;
        link.account = value_or<std::string>(leaf, "account", "");
        link.remote = fmt::format("{}:{}", value_or<std::string>(leaf, "ip", ""),
                                  value_or<std::int64_t>(leaf, "port", 0));
        link.rtt = value_or<std::string>(leaf, "rtt", "");
        link.rtt_seconds = go_duration_seconds(link.rtt);
        link.in_msgs = value_or<std::uint64_t>(leaf, "in_msgs", 0);
        link.out_msgs = value_or<std::uint64_t>(leaf, "out_msgs", 0);
        links.push_back(std::move(link));
    }
    return links;
}

std::optional<double> LinkProbe::worst_rtt_seconds() const {
    std::optional<double> worst;
    for (const auto& link : links)
        if (link.rtt_seconds >= 0 && (!worst || link.rtt_seconds > *worst)) worst = link.rtt_seconds;
    return worst;
}

std::optional<std::string> LinkProbe::problem() const {
    if (!reachable)
        return fmt::format("monitor {}: /leafz unreachable ({}); the server may be down", monitor, error);
    if (links.empty())
        return fmt::format("monitor {}: no leafnode link (docs/runbooks/federation-link-down.md)", monitor);
    return std::nullopt;
}

LinkProbe probe_links(const std::string& monitor, std::chrono::milliseconds timeout) {
    LinkProbe probe;
    probe.monitor = monitor.ends_with('/') ? monitor.substr(0, monitor.size() - 1) : monitor;
    try {
        httplib::Client client(probe.monitor);
        if (!client.is_valid()) {
            probe.error = "not a monitoring URL; give http://host:port";
            return probe;
        }
        client.set_connection_timeout(timeout);
        client.set_read_timeout(timeout);
        client.set_write_timeout(timeout);
        const auto response = client.Get("/leafz");
        if (!response) {
            probe.error = httplib::to_string(response.error());
            return probe;
        }
        if (response->status != 200) {
            probe.error = fmt::format("HTTP {}", response->status);
            return probe;
        }
        probe.links = parse_leafz(response->body);
        probe.reachable = true;
    } catch (const std::exception& e) {
        probe.error = e.what();
    }
    return probe;
}

std::string_view to_string(SourceState state) noexcept {
    switch (state) {
        case SourceState::active: return "active";
        case SourceState::lagging: return "lagging";
        case SourceState::stalled: return "stalled";
        case SourceState::inactive: return "inactive";
    }
    return "unknown";
}

std::string domain_of_api(std::string_view api) {
    if (api.starts_with("$JS.") && api.ends_with(".API") && api.size() > 8)
        return std::string(api.substr(4, api.size() - 8));
    return std::string(api);
}

std::optional<std::string> SourceStatus::problem() const {
    if (state == SourceState::inactive)
        return fmt::format(
            "stream {}: source {} ({}) has no source consumer: the link is down or being set up "
            "(docs/runbooks/federation-source-stalled.md)",
            stream, source, api);
    if (state == SourceState::stalled)
        return fmt::format(
            "stream {}: source {} ({}) last heard from {:.1f}s ago, lag {} "
            "(docs/runbooks/federation-source-stalled.md)",
            stream, source, api, last_seen_seconds.value_or(-1), lag);
    return std::nullopt;
}

std::vector<SourceStatus> judge_sources(const nats::StreamSourcesReply& stream,
                                        std::chrono::seconds max_inactive) {
    std::vector<SourceStatus> result;
    for (const auto& source : stream.sources) {
        SourceStatus status;
        status.stream = stream.name;
        status.source = source.name;
        status.api = source.api_prefix;
        status.domain = domain_of_api(source.api_prefix);
        status.lag = source.lag;
        status.stream_messages = stream.messages;
        if (source.active.count() < 0) {
            status.state = SourceState::inactive;
        } else {
            status.last_seen_seconds = static_cast<double>(source.active.count()) / 1e9;
            if (*status.last_seen_seconds > static_cast<double>(max_inactive.count()))
                status.state = SourceState::stalled;
            else
                status.state = source.lag > 0 ? SourceState::lagging : SourceState::active;
        }
        result.push_back(std::move(status));
    }
    return result;
}

}  // namespace seamq::federation
