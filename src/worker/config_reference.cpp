// The configuration described (docs/configuration.md) and printed (--print-config), both
// walking the same schema as the loader.
#include "config_schema.hpp"
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "seamq/core/redaction.hpp"

namespace seamq::worker {

namespace {

std::string type_name(const std::string&) {
    return "string";
}
std::string type_name(const bool&) {
    return "boolean";
}
std::string type_name(const int&) {
    return "integer";
}
std::string type_name(const Duration&) {
    return "duration";
}
std::string type_name(const ByteSize&) {
    return "byte size";
}
std::string type_name(const Secret&) {
    return "secret";
}
std::string type_name(const std::filesystem::path&) {
    return "path";
}
std::string type_name(const std::map<std::string, Secret>&) {
    return "mapping of secret";
}
template <typename T>
std::string type_name(const std::vector<T>&) {
    return "list of " + type_name(T{});
}

std::string format_bytes(std::int64_t bytes) {
    const std::pair<std::int64_t, const char*> units[] = {
        {1024 * 1024 * 1024, "GiB"}, {1024 * 1024, "MiB"}, {1024, "KiB"}};
    for (const auto& [scale, unit] : units) {
        if (bytes != 0 && bytes % scale == 0) return fmt::format("{}{}", bytes / scale, unit);
    }
    return std::to_string(bytes);
}

// Plain strings too may carry credentials: a NATS server URL with user info, an HTTP
// handler URL.
std::string text_of(const std::string& value) {
    return mask_credentials(value);
}
std::string text_of(const bool& value) {
    return value ? "true" : "false";
}
std::string text_of(const int& value) {
    return std::to_string(value);
}
std::string text_of(const Duration& value) {
    return format_duration(value);
}
std::string text_of(const ByteSize& value) {
    return format_bytes(value.bytes);
}
std::string text_of(const Secret& value) {
    return value.redacted();
}
std::string text_of(const std::filesystem::path& value) {
    return value.string();
}
std::string text_of(const std::map<std::string, Secret>& value) {
    return value.empty() ? "" : "{...}";
}
template <typename T>
std::string text_of(const std::vector<T>& values) {
    if (values.empty()) return "";
    std::string out = "[";
    for (const auto& value : values) out += (out.size() > 1 ? ", " : "") + text_of(value);
    return out + "]";
}

std::string environment_word(std::string_view text) {
    std::string out;
    for (const char c : text) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

struct NoCheck {
    template <typename T>
    std::string operator()(const T& /*value*/) const {
        return "";
    }
};

class Describer {
public:
    Describer(std::vector<SettingDescription>& out, std::string path, std::string environment_prefix)
        : out_(out), path_(std::move(path)), environment_prefix_(std::move(environment_prefix)) {}

    template <typename T, typename Check = NoCheck>
    void field(std::string_view key, T& value, std::string_view doc, Check /*check*/ = {}) {
        add(key, value, doc, false);
    }
    template <typename T, typename Check = NoCheck>
    void required(std::string_view key, T& value, std::string_view doc, Check /*check*/ = {}) {
        add(key, value, doc, true);
    }
    template <typename Check>
    void identifier(std::string_view key, std::string& value, std::string_view doc, Check /*check*/) {
        add(key, value, doc, true, false);
    }
    template <typename T>
    void section(std::string_view key, T& value, std::string_view /*doc*/) {
        Describer nested(out_, key_path(key), environment_prefix_ + "_" + environment_word(key));
        schema::visit(nested, value);
    }
    template <typename T>
    void list(std::string_view key, std::string_view environment_item, std::vector<T>& /*items*/,
              std::string_view doc) {
        out_.push_back({key_path(key), "list of mappings", "", false, "", std::string(doc)});
        T example{};
        Describer nested(out_, key_path(key) + "[]",
                         fmt::format("{}_{}_<NAME>", environment_prefix_, environment_item));
        schema::visit(nested, example);
    }

private:
    std::string key_path(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    template <typename T>
    void add(std::string_view key, const T& value, std::string_view doc, bool required,
             bool overridable = true) {
        const bool from_environment = overridable && !std::is_same_v<T, std::map<std::string, Secret>>;
        out_.push_back({key_path(key), type_name(value), required ? "" : text_of(value), required,
                        from_environment ? environment_prefix_ + "_" + environment_word(key) : "",
                        std::string(doc)});
    }

    std::vector<SettingDescription>& out_;
    std::string path_;
    std::string environment_prefix_;
};

class Dumper {
public:
    explicit Dumper(YAML::Emitter& out) : out_(out) {}

    template <typename T, typename Check = NoCheck>
    void field(std::string_view key, T& value, std::string_view /*doc*/, Check /*check*/ = {}) {
        emit(key, value);
    }
    template <typename T, typename Check = NoCheck>
    void required(std::string_view key, T& value, std::string_view /*doc*/, Check /*check*/ = {}) {
        emit(key, value);
    }
    template <typename Check>
    void identifier(std::string_view key, std::string& value, std::string_view /*doc*/, Check /*check*/) {
        emit(key, value);
    }
    template <typename T>
    void section(std::string_view key, T& value, std::string_view /*doc*/) {
        out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginMap;
        schema::visit(*this, value);
        out_ << YAML::EndMap;
    }
    template <typename T>
    void list(std::string_view key, std::string_view /*environment_item*/, std::vector<T>& items,
              std::string_view /*doc*/) {
        out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginSeq;
        for (auto& item : items) {
            out_ << YAML::BeginMap;
            schema::visit(*this, item);
            out_ << YAML::EndMap;
        }
        out_ << YAML::EndSeq;
    }

private:
    template <typename T>
    void emit(std::string_view key, const T& value) {
        out_ << YAML::Key << std::string(key) << YAML::Value;
        if constexpr (std::is_same_v<T, std::map<std::string, Secret>>) {
            out_ << YAML::BeginMap;
            for (const auto& [name, secret] : value)
                out_ << YAML::Key << name << YAML::Value << secret.redacted();
            out_ << YAML::EndMap;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>> ||
                             std::is_same_v<T, std::vector<Duration>>) {
            out_ << YAML::Flow << YAML::BeginSeq;
            // nats.servers may carry user:password (nats://user:secret@host:4222).
            for (const auto& item : value)
                out_ << (key == "servers" ? mask_url_credentials(text_of(item)) : text_of(item));
            out_ << YAML::EndSeq;
        } else {
            out_ << text_of(value);
        }
    }

    YAML::Emitter& out_;
};

std::string markdown_cell(const std::string& text) {
    std::string out;
    for (const char c : text) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::vector<SettingDescription> describe_settings() {
    std::vector<SettingDescription> settings;
    Config defaults;
    Describer describer(settings, "", "SEAMQ");
    schema::visit(describer, defaults);
    return settings;
}

std::string configuration_reference_markdown() {
    std::string out =
        "| Key | Type | Default | Environment | Meaning |\n"
        "|---|---|---|---|---|\n";
    for (const auto& setting : describe_settings()) {
        const auto default_text = setting.required ? "**required**"
                                  : setting.default_value.empty()
                                      ? "-"
                                      : fmt::format("`{}`", setting.default_value);
        out += fmt::format("| `{}` | {} | {} | {} | {} |\n", setting.key, setting.type,
                           markdown_cell(default_text),
                           setting.environment.empty() ? "-" : fmt::format("`{}`", setting.environment),
                           markdown_cell(setting.description));
    }
    return out;
}

std::string dump_config(const Config& config) {
    YAML::Emitter out;
    out << YAML::BeginMap;
    Config copy = config;  // the visitors take mutable references (the loader writes through them)
    Dumper dumper(out);
    schema::visit(dumper, copy);
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

}  // namespace seamq::worker
