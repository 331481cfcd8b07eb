#include "seamq/streams/stream_manager.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "seamq/core/error.hpp"

namespace seamq::streams {

std::string_view to_string(StreamAction action) noexcept {
    switch (action) {
        case StreamAction::created: return "created";
        case StreamAction::updated: return "updated";
        case StreamAction::unchanged: return "unchanged";
        case StreamAction::refused: return "refused";
    }
    return "unknown";
}

namespace {

std::string limit(std::int64_t value) {
    return value < 0 ? std::string("unlimited") : std::to_string(value);
}
std::string age(std::chrono::nanoseconds value) {
    return value.count() == 0 ? std::string("unlimited") : format_duration(value);
}
std::string flag(bool value) {
    return value ? "true" : "false";
}
//! "SEA_EXPORT@$JS.cell-a.API,..." in the order given (the server keeps it).
std::string describe_sources(const std::vector<nats::StreamSource>& sources) {
    std::string text;
    for (const auto& source : sources) {
        if (!text.empty()) text += ",";
        text += source.name;
        if (!source.api_prefix.empty()) text += "@" + source.api_prefix;
        if (!source.filter_subject.empty()) text += "[" + source.filter_subject + "]";
    }
    return text;
}

}  // namespace

std::vector<FieldChange> diff_stream(const nats::StreamConfig& current, const nats::StreamConfig& desired) {
    std::vector<FieldChange> changes;
    auto compare = [&](const char* field, const std::string& from, const std::string& to) {
        if (from != to) changes.push_back(FieldChange{field, from, to});
    };
    compare("subjects", fmt::format("{}", fmt::join(current.subjects, ",")),
            fmt::format("{}", fmt::join(desired.subjects, ",")));
    compare("description", current.description, desired.description);
    compare("retention", std::string(nats::to_string(current.retention)),
            std::string(nats::to_string(desired.retention)));
    compare("storage", std::string(nats::to_string(current.storage)),
            std::string(nats::to_string(desired.storage)));
    compare("replicas", std::to_string(current.replicas), std::to_string(desired.replicas));
    compare("duplicate_window", format_duration(current.duplicate_window),
            format_duration(desired.duplicate_window));
    compare("max_age", age(current.max_age), age(desired.max_age));
    compare("max_bytes", limit(current.max_bytes), limit(desired.max_bytes));
    compare("max_messages", limit(current.max_messages), limit(desired.max_messages));
    compare("max_messages_per_subject", limit(current.max_messages_per_subject),
            limit(desired.max_messages_per_subject));
    compare("max_message_size", limit(current.max_message_size), limit(desired.max_message_size));
    compare("max_consumers", limit(current.max_consumers), limit(desired.max_consumers));
    compare("discard", std::string(nats::to_string(current.discard)),
            std::string(nats::to_string(desired.discard)));
    compare("deny_delete", flag(current.deny_delete), flag(desired.deny_delete));
    compare("deny_purge", flag(current.deny_purge), flag(desired.deny_purge));
    compare("allow_rollup", flag(current.allow_rollup), flag(desired.allow_rollup));
    compare("sources", describe_sources(current.sources), describe_sources(desired.sources));
    return changes;
}

std::string refusal_reason(const std::string& stream, const std::vector<FieldChange>& changes) {
    // What nats-server 2.9 rejects on a stream update (server/stream.go, checkStreamCfg
    // and the update path); everything else, replicas included in a cluster, changes in place.
    for (const auto& change : changes) {
        if (change.field == "storage")
            return fmt::format(
                "{}: storage cannot change in place ({} -> {}). To change it, create a new stream with the "
                "new "
                "storage and move consumers to it, or delete {} (its messages are lost) and run `streams "
                "apply` again",
                stream, change.from, change.to, stream);
        if (change.field == "retention")
            return fmt::format("{}: retention cannot change in place ({} -> {}); create a new stream instead",
                               stream, change.from, change.to);
        if (change.field == "max_consumers")
            return fmt::format(
                "{}: max_consumers cannot change in place ({} -> {}); create a new stream instead", stream,
                change.from, change.to);
        if ((change.field == "deny_delete" || change.field == "deny_purge") && change.from == "true")
            return fmt::format("{}: {} cannot be turned off once set; create a new stream instead", stream,
                               change.field);
    }
    return "";
}

std::vector<StreamPlan> StreamManager::plan(const StreamsConfig& config) {
    std::vector<StreamPlan> result;
    for (const auto& desired : config.streams()) {
        StreamPlan plan;
        plan.stream = desired.name;
        const auto current = jetstream_.stream_info(desired.name);
        if (!current) {
            plan.action = StreamAction::created;
        } else {
            plan.changes = diff_stream(current->config, desired);
            plan.reason = refusal_reason(desired.name, plan.changes);
            plan.action = plan.changes.empty()  ? StreamAction::unchanged
                          : plan.reason.empty() ? StreamAction::updated
                                                : StreamAction::refused;
        }
        result.push_back(std::move(plan));
    }
    return result;
}

std::vector<StreamPlan> StreamManager::apply(const StreamsConfig& config) {
    auto result = plan(config);
    for (const auto& plan : result)
        if (plan.action == StreamAction::refused) return result;  // all or nothing
    const auto streams = config.streams();
    for (std::size_t i = 0; i < streams.size(); ++i) {
        if (result[i].action == StreamAction::created) jetstream_.add_stream(streams[i]);
        if (result[i].action == StreamAction::updated) {
            const auto after = jetstream_.update_stream(streams[i]);
            // The server may normalise a value we asked for; a later apply must still say unchanged.
            const auto left = diff_stream(after.config, streams[i]);
            if (!left.empty())
                raise(Errc::nats, "stream {}: the server accepted the update but kept {} = {} (wanted {})",
                      streams[i].name, left.front().field, left.front().from, left.front().to);
        }
    }
    return result;
}

std::vector<nats::StreamInfo> StreamManager::status(const std::vector<std::string>& names,
                                                    std::vector<std::string>* missing) {
    std::vector<nats::StreamInfo> result;
    const auto wanted = names.empty() ? jetstream_.stream_names() : names;
    for (const auto& name : wanted) {
        auto info = jetstream_.stream_info(name);
        if (info)
            result.push_back(std::move(*info));
        else if (missing != nullptr)
            missing->push_back(name);
    }
    return result;
}

}  // namespace seamq::streams
