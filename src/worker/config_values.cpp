// Value types and value-level checks of the worker configuration: durations, sizes,
// listen addresses, secrets, names, the environment.
#include <algorithm>
#include <cctype>
#include <charconv>

#include "config_schema.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "seamq/core/error.hpp"
#include "seamq/core/redaction.hpp"
#include "seamq/core/units.hpp"
#include "seamq/edges/webhook_sender.hpp"
#include "seamq/envelope/envelope.hpp"

extern char** environ;  // NOLINT: POSIX

namespace seamq::worker {

namespace {

std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [rest, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || rest != end) return std::nullopt;
    return value;
}

bool matches_name(std::string_view value, bool (*first)(char), bool (*rest)(char)) {
    if (value.empty() || !first(value.front())) return false;
    return std::all_of(value.begin() + 1, value.end(), rest);
}

bool lower_letter(char c) {
    return c >= 'a' && c <= 'z';
}
bool lower_name_char(char c) {
    return lower_letter(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

}  // namespace

// --- durations and sizes -------------------------------------------------------------------

// The syntax is seamq::parse_duration's and seamq::parse_byte_size's (shared with the
// streams file and the CLI); the worker reports its own sentence, so only "malformed" matters.
std::optional<Duration> parse_duration(std::string_view text) {
    try {
        return seamq::parse_duration(text);
    } catch (const seamq::Error&) {
        return std::nullopt;
    }
}

std::string format_duration(Duration duration) {
    return seamq::format_duration(duration);
}

std::optional<std::int64_t> parse_byte_size(std::string_view text) {
    try {
        return seamq::parse_byte_size(text);
    } catch (const seamq::Error&) {
        return std::nullopt;
    }
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
    }
    const auto number = parse_integer(port);
    if (host.empty() || !number || *number < 0 || *number > 65535 || port.starts_with('+'))
        return std::nullopt;
    if (std::any_of(host.begin(), host.end(),
                    [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
        return std::nullopt;
    }
    return ListenAddress{std::string(host), static_cast<int>(*number)};
}

// --- secrets, problems, environment ----------------------------------------------------------

std::string Secret::redacted() const {
    if (value_.empty()) return "";
    return "<secret from " + origin_ + ">";
}

std::string ConfigProblem::to_string() const {
    // A reason may quote the offending value, and a value may be a URL with a password.
    return location + ": " + key + ": " + mask_credentials(reason);
}

namespace {
std::string joined(const std::vector<ConfigProblem>& problems) {
    std::string message;
    for (const auto& problem : problems) {
        if (!message.empty()) message += '\n';
        message += problem.to_string();
    }
    return message;
}
}  // namespace

ConfigError::ConfigError(std::vector<ConfigProblem> problems)
    : seamq::Error(Errc::config, joined(problems)), problems_(std::move(problems)) {}

Environment Environment::process() {
    std::map<std::string, std::string> variables;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto equals = text.find('=');
        if (equals == std::string_view::npos) continue;
        variables.emplace(std::string(text.substr(0, equals)), std::string(text.substr(equals + 1)));
    }
    return Environment(std::move(variables));
}

std::optional<std::string> Environment::get(const std::string& name) const {
    const auto found = variables_.find(name);
    if (found == variables_.end()) return std::nullopt;
    return found->second;
}

std::vector<std::string> Environment::names_with_prefix(std::string_view prefix) const {
    std::vector<std::string> names;
    for (const auto& [name, value] : variables_) {
        if (name.starts_with(prefix)) names.push_back(name);
    }
    return names;
}

const ContextSettings* Config::find_context(std::string_view name) const {
    for (const auto& context : contexts) {
        if (context.name == name) return &context;
    }
    return nullptr;
}

// --- value checks of the schema ----------------------------------------------------------

namespace schema {

std::string tls_version(const std::string& value) {
    return value == "1.2" || value == "1.3" ? ""
                                            : fmt::format("'{}' is not a TLS version (1.2 or 1.3)", value);
}

std::string nats_urls(const std::vector<std::string>& servers) {
    if (servers.empty()) return "must list at least one server URL";
    for (const auto& entry : servers) {
        // An entry may itself be a comma-separated list, as nats.c accepts.
        std::size_t start = 0;
        while (start <= entry.size()) {
            auto end = entry.find(',', start);
            if (end == std::string::npos) end = entry.size();
            auto url = std::string_view(entry).substr(start, end - start);
            while (!url.empty() && url.front() == ' ') url.remove_prefix(1);
            while (!url.empty() && url.back() == ' ') url.remove_suffix(1);
            if (!url.starts_with("nats://") && !url.starts_with("tls://")) {
                return fmt::format("'{}' is not a NATS URL (nats://host:port or tls://host:port)",
                                   mask_url_credentials(url));
            }
            if (url.find(':', url.find("//") + 2) == std::string_view::npos) {
                return fmt::format("'{}' has no port (nats://host:4222)", mask_url_credentials(url));
            }
            start = end + 1;
        }
    }
    return "";
}

std::string context_name(const std::string& value) {
    return matches_name(value, lower_letter, lower_name_char)
               ? ""
               : fmt::format("'{}' is not a context name (lower case letter, then [a-z0-9_-])", value);
}

std::string partner_name(const std::string& value) {
    return value.size() <= 64 && matches_name(value, lower_letter, lower_name_char)
               ? ""
               : fmt::format("'{}' is not a partner name (lower case letter, then [a-z0-9_-], at most 64)",
                             value);
}

std::string json_pointer(const std::string& value) {
    if (value.empty()) return "";
    try {
        (void)nlohmann::json::json_pointer(value);
        return "";
    } catch (const nlohmann::json::exception&) {
        return fmt::format(
            "'{}' is not a JSON pointer (RFC 6901: empty, or /key/0/... with ~0 and ~1 escapes)", value);
    }
}

std::string cidr_blocks(const std::vector<std::string>& value) {
    try {
        edges::AddressPolicy policy(value);
        return "";
    } catch (const seamq::Error& e) {
        return e.what();
    }
}

std::string webhook_url(const std::string& value) {
    return value.starts_with("http://") || value.starts_with("https://")
               ? ""
               : fmt::format("'{}' is not an http:// or https:// URL", mask_url_credentials(value));
}

std::string monitor_urls(const std::vector<std::string>& value) {
    for (const auto& url : value)
        if (!url.starts_with("http://") && !url.starts_with("https://"))
            return fmt::format("'{}' is not an http:// or https:// monitoring URL",
                               mask_url_credentials(url));
    return "";
}

std::string command_type(const std::string& value) {
    if (const auto problem = envelope::subject_problem(value))
        return fmt::format("'{}': {}", value, *problem);
    if (envelope::parse_subject(value).kind != envelope::Kind::command)
        return fmt::format(
            "'{}' is an event type; partners send commands ({{context}}.command.{{name}}.v{{n}})", value);
    return "";
}

std::string consumer_name(const std::string& value) {
    return matches_name(value, name_char, name_char)
               ? ""
               : fmt::format("'{}' is not a consumer name (letters, digits, _ and - only)", value);
}

std::string stream_name(const std::string& value) {
    return matches_name(value, name_char, name_char)
               ? ""
               : fmt::format("'{}' is not a stream name (letters, digits, _ and - only)", value);
}

std::string subject_filter(const std::string& value) {
    if (value.empty()) return "";
    std::size_t start = 0;
    while (true) {
        const auto dot = value.find('.', start);
        const auto token =
            std::string_view(value).substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        const bool last = dot == std::string::npos;
        if (token.empty()) return fmt::format("'{}' has an empty token", value);
        if (token.find_first_of(" \t\r\n") != std::string_view::npos) {
            return fmt::format("'{}' contains white space", value);
        }
        if (token == ">" && !last) return fmt::format("'{}': '>' must be the last token", value);
        if (token != ">" && token != "*" && token.find_first_of("*>") != std::string_view::npos) {
            return fmt::format("'{}': wildcards must be whole tokens", value);
        }
        if (last) return "";
        start = dot + 1;
    }
}

std::string handler_kind(const std::string& value) {
    return value == "sql" || value == "http" || value == "export"
               ? ""
               : fmt::format("'{}' is not a handler kind (sql, http or export)", value);
}

}  // namespace schema
nats::Authentication nats_authentication(const NatsSettings& settings) {
    nats::Authentication auth;
    auth.user = settings.user;
    auth.password = settings.password.reveal();
    auth.token = settings.token.reveal();
    auth.nkey_seed_file = settings.nkey;
    auth.credentials_file = settings.creds;
    return auth;
}

nats::TlsOptions nats_tls(const NatsTlsSettings& settings) {
    nats::TlsOptions tls;
    tls.enabled = settings.enabled;
    tls.ca_file = settings.ca_file;
    tls.certificate_file = settings.cert_file;
    tls.key_file = settings.key_file;
    tls.server_name = settings.server_name;
    tls.min_version = settings.min_version;
    return tls;
}

}  // namespace seamq::worker
