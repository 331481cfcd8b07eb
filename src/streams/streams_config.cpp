#include "seamq/streams/streams_config.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "seamq/core/error.hpp"
#include "seamq/core/units.hpp"

namespace seamq::streams {

using std::chrono::nanoseconds;

std::string event_stream_name(std::string_view context) {
    std::string name;
    for (const char c : context)
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name + "_EVENTS";
}

std::string dead_letter_stream_name(std::string_view context) {
    auto name = event_stream_name(context);
    return name.substr(0, name.size() - std::string_view("_EVENTS").size()) + "_DLQ";
}

std::string event_subjects(std::string_view context) {
    return fmt::format("{}.>", context);
}
std::string dead_letter_subjects(std::string_view context) {
    return fmt::format("dlq.{}.>", context);
}

std::string export_stream_name(std::string_view context) {
    auto name = event_stream_name(context);
    return name.substr(0, name.size() - std::string_view("_EVENTS").size()) + "_EXPORT";
}
std::string export_subjects(std::string_view context) {
    return fmt::format("export.{}.>", context);
}
std::string export_subject(std::string_view event_type) {
    return fmt::format("export.{}", event_type);
}
std::string import_stream_name(std::string_view context) {
    auto name = event_stream_name(context);
    return name.substr(0, name.size() - std::string_view("_EVENTS").size()) + "_IMPORTS";
}
std::string import_replay_subjects(std::string_view context) {
    return fmt::format("import.{}.>", context);
}
std::string domain_api_prefix(std::string_view domain) {
    return fmt::format("$JS.{}.API", domain);
}

std::vector<nats::StreamConfig> StreamsConfig::streams() const {
    std::vector<nats::StreamConfig> result;
    for (const auto& context : contexts) {
        result.push_back(context.events);
        result.push_back(context.dead_letters);
        if (context.exports) result.push_back(*context.exports);
    }
    for (const auto& imported : imports) result.push_back(imported.stream);
    return result;
}

// --- durations and sizes ---------------------------------------------------------------

std::chrono::nanoseconds parse_duration(std::string_view text) {
    const auto duration = seamq::parse_duration(text);
    // JetStream keeps durations in nanoseconds.
    if (duration > std::chrono::duration_cast<std::chrono::milliseconds>(nanoseconds::max()))
        raise(Errc::invalid_argument, "duration '{}' is too long (JetStream holds at most about 292 years)",
              text);
    return duration;
}

std::string format_duration(std::chrono::nanoseconds value) {
    if (value.count() == 0) return "0s";
    auto rest = value;
    std::string out;
    const std::pair<nanoseconds, const char*> units[] = {{std::chrono::hours(24), "d"},
                                                         {std::chrono::hours(1), "h"},
                                                         {std::chrono::minutes(1), "m"},
                                                         {std::chrono::seconds(1), "s"},
                                                         {std::chrono::milliseconds(1), "ms"}};
    for (const auto& [unit, suffix] : units) {
        if (rest >= unit) {
            out += fmt::format("{}{}", rest / unit, suffix);
            rest %= unit;
        }
    }
    if (rest.count() > 0) out += fmt::format("{}ns", rest.count());
    return out;
}

std::int64_t parse_size(std::string_view text) {
    if (text == "-1" || text == "unlimited") return -1;
    return seamq::parse_byte_size(text);
}

// --- the YAML file ------------------------------------------------------------------------

namespace {

//! Settings that may appear in `defaults`, `defaults.events`, a context, or its
//! `events` / `dead_letters` block; unset fields inherit.
struct Settings {
    std::optional<nats::StorageType> storage;
    std::optional<int> replicas;
    std::optional<nanoseconds> duplicate_window;
    std::optional<nanoseconds> max_age;
    std::optional<std::int64_t> max_bytes;
    std::optional<std::int64_t> max_messages;
    std::optional<std::int64_t> max_message_size;
    std::optional<nats::DiscardPolicy> discard;

    void override_with(const Settings& other) {
        if (other.storage) storage = other.storage;
        if (other.replicas) replicas = other.replicas;
        if (other.duplicate_window) duplicate_window = other.duplicate_window;
        if (other.max_age) max_age = other.max_age;
        if (other.max_bytes) max_bytes = other.max_bytes;
        if (other.max_messages) max_messages = other.max_messages;
        if (other.max_message_size) max_message_size = other.max_message_size;
        if (other.discard) discard = other.discard;
    }
};

constexpr std::string_view setting_keys[] = {"storage",   "replicas",     "duplicate_window", "max_age",
                                             "max_bytes", "max_messages", "max_message_size", "discard"};

class Parser {
public:
    explicit Parser(std::string source) : source_(std::move(source)) {}

    [[noreturn]] void fail(const YAML::Node& node, std::string_view key, const std::string& problem) const {
        const auto mark = node.Mark();
        if (mark.is_null()) raise(Errc::config, "{}: {}: {}", source_, key, problem);
        raise(Errc::config, "{}:{}:{}: {}: {}", source_, mark.line + 1, mark.column + 1, key, problem);
    }

    std::string scalar(const YAML::Node& node, std::string_view key) const {
        if (!node.IsScalar()) fail(node, key, "expected a single value");
        return node.Scalar();
    }

    // A YAML key may itself be a list or a mapping ("? [a]: x"); ours are names.
    std::string key_of(const YAML::Node& key, std::string_view where) const {
        if (!key.IsScalar()) fail(key, where, "keys must be plain names, not a list or mapping");
        return key.Scalar();
    }

    void check_keys(const YAML::Node& map, std::string_view where,
                    std::initializer_list<std::string_view> extra, bool settings_allowed) const {
        if (!map.IsMap()) fail(map, where, "expected a mapping (key: value lines)");
        for (const auto& entry : map) {
            const auto key = key_of(entry.first, where);
            const bool known =
                std::find(extra.begin(), extra.end(), key) != extra.end() ||
                (settings_allowed &&
                 std::find(std::begin(setting_keys), std::end(setting_keys), key) != std::end(setting_keys));
            if (!known) {
                std::string allowed;
                for (const auto k : extra)
                    allowed += std::string(allowed.empty() ? "" : ", ") + std::string(k);
                if (settings_allowed)
                    for (const auto k : setting_keys)
                        allowed += std::string(allowed.empty() ? "" : ", ") + std::string(k);
                fail(entry.first, qualified(where, key),
                     fmt::format("unknown key (allowed here: {})", allowed));
            }
        }
    }

    Settings settings(const YAML::Node& map, std::string_view where) const {
        Settings result;
        for (const auto& entry : map) {
            const auto key = key_of(entry.first, where);
            const auto& value = entry.second;
            const auto name = qualified(where, key);
            try {
                if (key == "storage") {
                    const auto text = scalar(value, name);
                    if (text == "file")
                        result.storage = nats::StorageType::file;
                    else if (text == "memory")
                        result.storage = nats::StorageType::memory;
                    else
                        fail(value, name, fmt::format("'{}' is not a storage type (file or memory)", text));
                } else if (key == "replicas") {
                    const auto text = scalar(value, name);
                    int replicas = 0;
                    if (!YAML::convert<int>::decode(value, replicas) || replicas < 1 || replicas > 5)
                        fail(value, name,
                             fmt::format("'{}' is not a replica count (1 to 5; 3 for HA)", text));
                    result.replicas = replicas;
                } else if (key == "duplicate_window" || key == "max_age") {
                    const auto duration = parse_duration(scalar(value, name));
                    if (key == "duplicate_window") {
                        if (duration.count() <= 0) fail(value, name, "must be positive (e.g. 2m)");
                        result.duplicate_window = duration;
                    } else {
                        result.max_age = duration;
                    }
                } else if (key == "max_bytes" || key == "max_messages" || key == "max_message_size") {
                    const auto text = scalar(value, name);
                    const auto size = key == "max_messages" ? parse_count(value, name) : parse_size(text);
                    if (size == 0 || size < -1)
                        fail(value, name, fmt::format("'{}' must be positive or -1 (unlimited)", text));
                    if (key == "max_message_size" && size > std::numeric_limits<std::int32_t>::max())
                        fail(value, name, fmt::format("'{}' exceeds JetStream's limit of 2GiB", text));
                    (key == "max_bytes"      ? result.max_bytes
                     : key == "max_messages" ? result.max_messages
                                             : result.max_message_size) = size;
                } else if (key == "discard") {
                    const auto text = scalar(value, name);
                    if (text == "old")
                        result.discard = nats::DiscardPolicy::old_messages;
                    else if (text == "new")
                        result.discard = nats::DiscardPolicy::new_messages;
                    else
                        fail(value, name, fmt::format("'{}' is not a discard policy (old or new)", text));
                }
            } catch (const seamq::Error& e) {
                if (e.code() == Errc::config) throw;
                fail(value, name, e.what());
            }
        }
        return result;
    }

    std::int64_t parse_count(const YAML::Node& value, std::string_view name) const {
        long long count = 0;
        if (!YAML::convert<long long>::decode(value, count))
            fail(value, name, fmt::format("'{}' is not a whole number", value.Scalar()));
        return count;
    }

    static std::string qualified(std::string_view where, std::string_view key) {
        return where.empty() ? std::string(key) : fmt::format("{}.{}", where, key);
    }

    StreamsConfig parse(std::string_view text) {
        YAML::Node root;
        try {
            root = YAML::Load(std::string(text));
        } catch (const YAML::Exception& e) {
            raise(Errc::config, "{}:{}:{}: not valid YAML: {}", source_, e.mark.line + 1, e.mark.column + 1,
                  e.msg);
        }
        if (!root || root.IsNull())
            raise(Errc::config, "{}: the file is empty (expected `contexts:`)", source_);
        check_keys(root, "", {"defaults", "contexts", "imports"}, false);

        Settings base;
        base.storage = nats::StorageType::file;
        base.replicas = 1;
        base.duplicate_window = std::chrono::minutes(2);
        Settings base_events;
        Settings base_dead_letters;
        if (const auto defaults = root["defaults"]) {
            check_keys(defaults, "defaults", {"events", "dead_letters"}, true);
            base.override_with(settings(defaults, "defaults"));
            if (const auto events = defaults["events"]) {
                check_keys(events, "defaults.events", {}, true);
                base_events = settings(events, "defaults.events");
            }
            if (const auto dead_letters = defaults["dead_letters"]) {
                check_keys(dead_letters, "defaults.dead_letters", {}, true);
                base_dead_letters = settings(dead_letters, "defaults.dead_letters");
            }
        }

        const auto contexts = root["contexts"];
        if (!contexts)
            raise(Errc::config, "{}: contexts: missing (expected a list of `- name: <context>`)", source_);
        if (!contexts.IsSequence() || contexts.size() == 0)
            fail(contexts, "contexts", "expected a non-empty list of `- name: <context>`");

        StreamsConfig config;
        config.source = source_;
        std::set<std::string> stream_names;
        for (std::size_t i = 0; i < contexts.size(); ++i) {
            const auto entry = contexts[i];
            const auto where = fmt::format("contexts[{}]", i);
            check_keys(entry, where, {"name", "events", "dead_letters", "export"}, true);
            if (!entry["name"]) fail(entry, where + ".name", "missing");
            const auto name = scalar(entry["name"], where + ".name");
            validate_context_name(entry["name"], where + ".name", name);

            Settings context_settings = settings(entry, where);
            Settings events = base;
            events.override_with(base_events);
            events.override_with(context_settings);
            Settings dead_letters = base;
            dead_letters.override_with(base_dead_letters);
            dead_letters.override_with(context_settings);
            if (const auto block = entry["events"]) {
                check_keys(block, where + ".events", {}, true);
                events.override_with(settings(block, where + ".events"));
            }
            if (const auto block = entry["dead_letters"]) {
                check_keys(block, where + ".dead_letters", {}, true);
                dead_letters.override_with(settings(block, where + ".dead_letters"));
            }

            ContextStreams streams;
            streams.context = name;
            streams.events =
                to_stream(event_stream_name(name), event_subjects(name),
                          fmt::format("sea-mq events of context {}", name), events, entry, where);
            streams.dead_letters =
                to_stream(dead_letter_stream_name(name), dead_letter_subjects(name),
                          fmt::format("sea-mq dead letters of context {}", name), dead_letters, entry, where);
            if (const auto exports = entry["export"]) {
                bool on = false;
                if (!YAML::convert<bool>::decode(exports, on))
                    fail(
                        exports, where + ".export",
                        fmt::format("'{}' is not true or false", exports.IsScalar() ? exports.Scalar() : ""));
                // The events' settings: an export stream holds (redacted) copies of them.
                if (on)
                    streams.exports =
                        to_stream(export_stream_name(name), export_subjects(name),
                                  fmt::format("sea-mq external copies of context {} for other cells", name),
                                  events, entry, where);
            }
            std::vector<const nats::StreamConfig*> own = {&streams.events, &streams.dead_letters};
            if (streams.exports) own.push_back(&*streams.exports);
            for (const auto* stream : own)
                if (!stream_names.insert(stream->name).second)
                    fail(entry["name"], where + ".name",
                         fmt::format("context '{}' maps to stream {} which another context already uses",
                                     name, stream->name));
            config.contexts.push_back(std::move(streams));
        }

        if (const auto imports = root["imports"]) {
            if (!imports.IsSequence())
                fail(imports, "imports",
                     "expected a list of `- context: <name>` with `cells: [<domain>, ...]`");
            std::set<std::string> imported_contexts;
            for (std::size_t i = 0; i < imports.size(); ++i) {
                const auto entry = imports[i];
                const auto where = fmt::format("imports[{}]", i);
                check_keys(entry, where, {"context", "cells"}, true);
                for (const char* key : {"context", "cells"})
                    if (!entry[key]) fail(entry, where + "." + key, "missing");
                ImportedStream imported;
                imported.context = scalar(entry["context"], where + ".context");
                validate_context_name(entry["context"], where + ".context", imported.context);
                if (!imported_contexts.insert(imported.context).second)
                    fail(entry["context"], where + ".context",
                         fmt::format("context '{}' is imported twice; list every cell in one entry",
                                     imported.context));
                const auto cells = entry["cells"];
                if (!cells.IsSequence() || cells.size() == 0)
                    fail(cells, where + ".cells", "expected a non-empty list of cells' JetStream domains");
                for (std::size_t c = 0; c < cells.size(); ++c) {
                    const auto key = fmt::format("{}.cells[{}]", where, c);
                    const auto cell = scalar(cells[c], key);
                    validate_domain(cells[c], key, cell);
                    if (std::find(imported.cells.begin(), imported.cells.end(), cell) != imported.cells.end())
                        fail(cells[c], key, fmt::format("cell '{}' is listed twice", cell));
                    imported.cells.push_back(cell);
                }
                // Like an events stream (it holds events), with the entry's own overrides.
                Settings import_settings = base;
                import_settings.override_with(base_events);
                import_settings.override_with(settings(entry, where));
                imported.stream = to_stream(import_stream_name(imported.context), "",
                                            fmt::format("sea-mq external events of context {} from cells {}",
                                                        imported.context, fmt::join(imported.cells, ", ")),
                                            import_settings, entry, where);
                // Filled by its sources; its one subject of its own takes replayed dead letters
                // (`sea-mq dlq replay`: export.<context>.<rest> -> import.<context>.<rest>).
                imported.stream.subjects = {import_replay_subjects(imported.context)};
                for (const auto& cell : imported.cells)
                    imported.stream.sources.push_back(nats::StreamSource{export_stream_name(imported.context),
                                                                         domain_api_prefix(cell), ""});
                if (!stream_names.insert(imported.stream.name).second)
                    fail(entry, where, fmt::format("{} is declared twice", imported.stream.name));
                config.imports.push_back(std::move(imported));
            }
        }
        return config;
    }

    void validate_context_name(const YAML::Node& node, const std::string& key,
                               const std::string& name) const {
        const bool well_formed =
            !name.empty() && name.size() <= 32 && std::islower(static_cast<unsigned char>(name[0])) != 0 &&
            std::all_of(name.begin(), name.end(), [](char c) {
                return std::islower(static_cast<unsigned char>(c)) != 0 ||
                       std::isdigit(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
            });
        if (!well_formed)
            fail(node, key,
                 fmt::format(
                     "'{}' is not a context name (lowercase letter, then lowercase letters, digits, _ or -; "
                     "at most 32)",
                     name));
        if (name == "dlq")
            fail(node, key,
                 "'dlq' is reserved: its events `dlq.>` would overlap every context's dead letters "
                 "`dlq.<context>.>`");
        if (name == "export" || name == "import")
            fail(node, key,
                 fmt::format("'{0}' is reserved: its events `{0}.>` would overlap the federation's {0} "
                             "streams `{0}.<context>.>`",
                             name));
    }

    //! A JetStream domain as nats-server accepts it and as a subject token.
    void validate_domain(const YAML::Node& node, const std::string& key, const std::string& domain) const {
        const bool well_formed =
            !domain.empty() && domain.size() <= 64 && std::all_of(domain.begin(), domain.end(), [](char c) {
                return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
            });
        if (!well_formed)
            fail(node, key,
                 fmt::format("'{}' is not a JetStream domain (letters, digits, _ or -; at most 64)", domain));
    }

    nats::StreamConfig to_stream(std::string name, std::string subjects, std::string description,
                                 const Settings& settings, const YAML::Node& node,
                                 const std::string& where) const {
        nats::StreamConfig stream;
        stream.name = std::move(name);
        stream.description = std::move(description);
        stream.subjects = {std::move(subjects)};
        stream.retention = nats::RetentionPolicy::limits;
        stream.storage = settings.storage.value_or(nats::StorageType::file);
        stream.replicas = settings.replicas.value_or(1);
        stream.duplicate_window = settings.duplicate_window.value_or(std::chrono::minutes(2));
        stream.max_age = settings.max_age.value_or(nanoseconds(0));
        stream.max_bytes = settings.max_bytes.value_or(-1);
        stream.max_messages = settings.max_messages.value_or(-1);
        stream.max_message_size = static_cast<std::int32_t>(settings.max_message_size.value_or(-1));
        stream.discard = settings.discard.value_or(nats::DiscardPolicy::old_messages);
        if (stream.max_age.count() > 0 && stream.duplicate_window > stream.max_age)
            fail(node, where,
                 fmt::format(
                     "stream {}: duplicate_window {} is longer than max_age {} (JetStream refuses that)",
                     stream.name, format_duration(stream.duplicate_window), format_duration(stream.max_age)));
        return stream;
    }

private:
    std::string source_;
};

}  // namespace

StreamsConfig parse_streams_config(std::string_view yaml_text, std::string source) {
    return Parser(std::move(source)).parse(yaml_text);
}

StreamsConfig load_streams_config(const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in)
        raise(Errc::config, "cannot read streams file '{}': no such file or not readable", file.string());
    std::stringstream text;
    text << in.rdbuf();
    return parse_streams_config(text.str(), file.string());
}

}  // namespace seamq::streams
