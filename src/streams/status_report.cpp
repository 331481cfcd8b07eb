#include "seamq/streams/status_report.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace seamq::streams {

namespace {

std::string replicas_text(const nats::StreamInfo& info) {
    if (!info.cluster) return "-";
    std::string text;
    for (const auto& peer : info.cluster->replicas) {
        if (!text.empty()) text += ", ";
        text += fmt::format("{} ({}{}, lag {})", peer.name, peer.current ? "current" : "not current",
                            peer.offline ? ", offline" : "", peer.lag);
    }
    return text.empty() ? "-" : text;
}

}  // namespace

std::string format_status_table(const std::vector<nats::StreamInfo>& streams) {
    std::size_t width = std::string_view("STREAM").size();
    for (const auto& info : streams) width = std::max(width, info.config.name.size());
    std::string out =
        fmt::format("{:<{}}  {:>10}  {:>12}  {:>10}  {:>10}  {:>9}  {:<8}  {}\n", "STREAM", width, "MESSAGES",
                    "BYTES", "FIRST_SEQ", "LAST_SEQ", "CONSUMERS", "LEADER", "REPLICAS");
    for (const auto& info : streams) {
        const std::string leader =
            info.cluster ? (info.cluster->leader.empty() ? "(none)" : info.cluster->leader) : "-";
        out += fmt::format("{:<{}}  {:>10}  {:>12}  {:>10}  {:>10}  {:>9}  {:<8}  {}\n", info.config.name,
                           width, info.state.messages, info.state.bytes, info.state.first_sequence,
                           info.state.last_sequence, info.state.consumers, leader, replicas_text(info));
    }
    return out;
}

nlohmann::json status_json(const std::vector<nats::StreamInfo>& streams) {
    auto result = nlohmann::json::array();
    for (const auto& info : streams) {
        nlohmann::json stream = {
            {"name", info.config.name},
            {"subjects", info.config.subjects},
            {"storage", std::string(nats::to_string(info.config.storage))},
            {"replicas", info.config.replicas},
            {"messages", info.state.messages},
            {"bytes", info.state.bytes},
            {"first_sequence", info.state.first_sequence},
            {"last_sequence", info.state.last_sequence},
            {"consumers", info.state.consumers},
            {"cluster", nullptr},
        };
        if (info.cluster) {
            auto replicas = nlohmann::json::array();
            for (const auto& peer : info.cluster->replicas)
                replicas.push_back(
                    {{"name", peer.name},
                     {"current", peer.current},
                     {"offline", peer.offline},
                     {"lag", peer.lag},
                     {"active_ms",
                      std::chrono::duration_cast<std::chrono::milliseconds>(peer.active).count()}});
            stream["cluster"] = {
                {"name", info.cluster->name}, {"leader", info.cluster->leader}, {"replicas", replicas}};
        }
        result.push_back(std::move(stream));
    }
    return result;
}

std::string format_plan(const std::vector<StreamPlan>& plan, bool dry_run) {
    std::string out;
    for (const auto& item : plan) {
        std::string action(to_string(item.action));
        if (dry_run && (item.action == StreamAction::created || item.action == StreamAction::updated))
            action.insert(0, "would be ");
        std::string details;
        for (const auto& change : item.changes) {
            if (!details.empty()) details += ", ";
            details += fmt::format("{} {} -> {}", change.field, change.from, change.to);
        }
        out += details.empty() ? fmt::format("{}: {}\n", item.stream, action)
                               : fmt::format("{}: {} ({})\n", item.stream, action, details);
    }
    return out;
}

}  // namespace seamq::streams
