// Loading the worker configuration: YAML -> Config, with environment overrides,
// secret resolution, unknown-key detection and validation. Every problem is collected
// with its key and line, so one run of --check-config reports them all.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include "config_schema.hpp"
#include "src/worker/admin_tls.hpp"
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "seamq/core/redaction.hpp"
#include "seamq/edges/secret_box.hpp"
#include "seamq/edges/webhook_signature.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/nats/connection.hpp"

#ifdef SEAMQ_WORKER_HAVE_STREAMS
#include "seamq/streams/streams_config.hpp"
#endif

namespace seamq::worker {

namespace {

struct Location {
    std::string text;  // "file:line:column" or "environment variable X"
    int line = 0;
    int column = 0;
};

struct LoadState {
    std::string source;
    std::filesystem::path base_directory;
    const Environment& environment;
    std::vector<ConfigProblem> problems;
    std::set<std::string> consumed_environment;
    std::map<std::string, Location> locations;  // key path -> where its value came from

    Location at(const YAML::Mark& mark) const {
        if (mark.is_null()) return {source, 0, 0};
        return {fmt::format("{}:{}:{}", source, mark.line + 1, mark.column + 1), mark.line + 1,
                mark.column + 1};
    }
    Location of_environment(const std::string& name) const { return {"environment variable " + name, 0, 0}; }

    void problem(std::string key, const Location& location, std::string reason) {
        problems.push_back(
            {std::move(key), location.text, std::move(reason), location.line, location.column});
    }
    //! Where `key` was given, else where its closest given parent was, else the file.
    Location location_of(std::string key) const {
        while (true) {
            if (auto found = locations.find(key); found != locations.end()) return found->second;
            const auto cut = key.find_last_of(".[");
            if (cut == std::string::npos) return {source, 0, 0};
            key.resize(cut);
        }
    }
};

std::string environment_word(std::string_view text) {
    std::string out;
    for (const char c : text) {
        out += std::isalnum(static_cast<unsigned char>(c)) != 0
                   ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                   : '_';
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string node_kind(const YAML::Node& node) {
    if (node.IsSequence()) return "a list";
    if (node.IsMap()) return "a mapping";
    if (node.IsNull()) return "empty";
    return "a single value";
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find(',', start);
        if (end == std::string_view::npos) end = text.size();
        auto item = text.substr(start, end - start);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front())) != 0)
            item.remove_prefix(1);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back())) != 0)
            item.remove_suffix(1);
        if (!item.empty()) items.emplace_back(item);
        start = end + 1;
    }
    return items;
}

// A secret's file: its content without trailing newlines and spaces into `text`; "" on
// success, else the reason.
std::string read_secret_file(const std::filesystem::path& file, std::string& text) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        const std::error_code cause(errno, std::generic_category());
        return fmt::format("cannot read secret file {}: {}", file.string(), cause.message());
    }
    // Bounded: a path to a device or a log file must not read forever.
    constexpr std::size_t max_secret_bytes = std::size_t{64} * 1024;
    text.assign(max_secret_bytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) return fmt::format("cannot read secret file {}", file.string());
    if (text.size() > max_secret_bytes)
        return fmt::format("secret file {} is larger than 64 KiB; is it the right file?", file.string());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    if (text.empty()) return fmt::format("secret file {} is empty", file.string());
    return "";
}

// --- scalar conversions: "" on success, else the reason --------------------------------------

std::string from_text(std::string_view text, std::string& value) {
    value = std::string(text);
    return "";
}

std::string from_text(std::string_view text, bool& value) {
    if (text == "true") {
        value = true;
    } else if (text == "false") {
        value = false;
    } else {
        return fmt::format("'{}' is not a boolean (true or false)", text);
    }
    return "";
}

std::string from_text(std::string_view text, int& value) {
    long long parsed = 0;
    const auto* end = text.data() + text.size();
    const auto [rest, error] = std::from_chars(text.data(), end, parsed);
    if (error != std::errc() || rest != end || parsed < INT_MIN || parsed > INT_MAX) {
        return fmt::format("'{}' is not an integer", text);
    }
    value = static_cast<int>(parsed);
    return "";
}

std::string from_text(std::string_view text, Duration& value) {
    const auto parsed = parse_duration(text);
    if (!parsed) return fmt::format("'{}' is not a duration (e.g. 500ms, 2s, 1m, 1h30m)", text);
    value = *parsed;
    return "";
}

std::string from_text(std::string_view text, ByteSize& value) {
    const auto parsed = parse_byte_size(text);
    if (!parsed) return fmt::format("'{}' is not a byte size (e.g. 1048576, 512KiB, 8MiB)", text);
    value.bytes = *parsed;
    return "";
}

std::string from_text(std::string_view text, std::filesystem::path& value) {
    value = std::filesystem::path(std::string(text));
    return "";
}

template <typename T>
constexpr bool is_scalar_v =
    std::is_same_v<T, std::string> || std::is_same_v<T, bool> || std::is_same_v<T, int> ||
    std::is_same_v<T, Duration> || std::is_same_v<T, ByteSize> || std::is_same_v<T, std::filesystem::path>;

template <typename T>
struct is_vector : std::false_type {};
template <typename T>
struct is_vector<std::vector<T>> : std::true_type {};

struct NoCheck {
    template <typename T>
    std::string operator()(const T& /*value*/) const {
        return "";
    }
};

// --- the loader visitor ----------------------------------------------------------------------

class Loader {
public:
    Loader(LoadState& state, const YAML::Node& node, std::string path, std::string environment_prefix,
           YAML::Mark anchor)
        : state_(state),
          // An absent mapping comes as yaml-cpp's "zombie" node, which throws on most
          // calls (assignment included): replace it by an empty one.
          node_(node.IsDefined() ? node : YAML::Node()),
          path_(std::move(path)),
          environment_prefix_(std::move(environment_prefix)),
          anchor_(anchor) {}

    template <typename T, typename Check = NoCheck>
    void field(std::string_view key, T& value, std::string_view /*doc*/, Check check = {}) {
        read(key, value, check, false);
    }

    template <typename T, typename Check = NoCheck>
    void required(std::string_view key, T& value, std::string_view /*doc*/, Check check = {}) {
        read(key, value, check, true);
    }

    template <typename Check>
    void identifier(std::string_view key, std::string& value, std::string_view /*doc*/, Check check) {
        read(key, value, check, true, false);
    }

    template <typename T>
    void section(std::string_view key, T& value, std::string_view /*doc*/) {
        known_.emplace_back(key);
        const auto path = key_path(key);
        const YAML::Node child = child_node(key);
        YAML::Mark anchor = anchor_;
        if (child.IsDefined() && !child.IsNull()) {
            anchor = child.Mark();
            state_.locations[path] = state_.at(anchor);
            if (!child.IsMap()) {
                state_.problem(path, state_.at(anchor),
                               fmt::format("must be a mapping, not {}", node_kind(child)));
                return;
            }
        }
        Loader nested(state_, child, path, environment_prefix_ + "_" + environment_word(key), anchor);
        schema::visit(nested, value);
        nested.finish();
    }

    template <typename T>
    void list(std::string_view key, std::string_view environment_item, std::vector<T>& items,
              std::string_view /*doc*/) {
        known_.emplace_back(key);
        const auto path = key_path(key);
        const YAML::Node child = child_node(key);
        if (!child.IsDefined() || child.IsNull()) return;
        state_.locations[path] = state_.at(child.Mark());
        if (!child.IsSequence()) {
            state_.problem(path, state_.at(child.Mark()),
                           fmt::format("must be a list, not {}", node_kind(child)));
            return;
        }
        items.clear();
        for (std::size_t i = 0; i < child.size(); ++i) {
            const YAML::Node element = child[i];
            const auto element_path = fmt::format("{}[{}]", path, i);
            state_.locations[element_path] = state_.at(element.Mark());
            if (!element.IsMap()) {
                state_.problem(element_path, state_.at(element.Mark()),
                               fmt::format("must be a mapping, not {}", node_kind(element)));
                continue;
            }
            // Items are addressed by name in the environment: SEAMQ_CONTEXT_SEA_DATABASE_URL.
            std::string name;
            // A missing key of a const node is a "zombie": anything but IsDefined() throws.
            if (const YAML::Node name_node = element["name"]; name_node.IsDefined() && name_node.IsScalar())
                name = name_node.Scalar();
            const auto prefix = fmt::format("{}_{}_{}", environment_prefix_, environment_item,
                                            name.empty() ? std::to_string(i) : environment_word(name));
            T item{};
            Loader nested(state_, element, element_path, prefix, element.Mark());
            schema::visit(nested, item);
            nested.finish();
            items.push_back(std::move(item));
        }
    }

    //! Reports keys of this mapping that no setting declares, and keys given twice.
    void finish() {
        if (!node_.IsMap()) return;
        std::set<std::string> seen;
        for (auto it = node_.begin(); it != node_.end(); ++it) {
            const auto key = it->first.as<std::string>("");
            const auto location = state_.at(it->first.Mark());
            if (!seen.insert(key).second) {
                state_.problem(key_path(key), location, "given twice in the same mapping");
                continue;
            }
            if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
            std::string hint;
            for (const auto& known : known_) {
                if (edit_distance(key, known) <= 2) hint = fmt::format(" (did you mean '{}'?)", known);
            }
            if (hint.empty()) hint = fmt::format(" (known keys here: {})", fmt::join(known_, ", "));
            state_.problem(key_path(key), location, "unknown key" + hint);
        }
    }

private:
    std::string key_path(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    // The value of `key`, or an undefined node: test IsDefined() before anything else.
    YAML::Node child_node(std::string_view key) const {
        if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
        const YAML::Node& mapping = node_;
        return mapping[std::string(key)];
    }

    template <typename T, typename Check>
    void read(std::string_view key, T& value, Check& check, bool required, bool overridable = true) {
        known_.emplace_back(key);
        const auto path = key_path(key);
        const auto environment_name = environment_prefix_ + "_" + environment_word(key);
        std::optional<Location> given;

        constexpr bool from_environment = !std::is_same_v<T, std::map<std::string, Secret>>;
        if constexpr (from_environment) {
            if (auto text = overridable ? state_.environment.get(environment_name) : std::nullopt) {
                state_.consumed_environment.insert(environment_name);
                given = state_.of_environment(environment_name);
                const auto reason = environment_value(*text, value, environment_name);
                if (!reason.empty()) {
                    state_.problem(path, *given, reason);
                    return;
                }
            }
        }
        if (!given) {
            const YAML::Node child = child_node(key);
            if (child.IsDefined()) {
                given = state_.at(child.Mark());
                if (child.IsNull()) {
                    state_.problem(path, *given, "has no value (remove the key to use the default)");
                    return;
                }
                if (!node_value(child, value, path)) return;
            }
        }
        if (!given) {
            if (required) state_.problem(path, state_.at(anchor_), "is required");
            return;
        }
        state_.locations[path] = *given;
        const auto reason = check(value);
        if (!reason.empty()) state_.problem(path, *given, reason);
        if constexpr (std::is_same_v<T, Secret>) {
            if (required && value.empty()) state_.problem(path, *given, "must not be empty");
        }
    }

    // Values from the environment: scalars as they are, lists comma-separated, secrets literally.
    template <typename T>
    std::string environment_value(const std::string& text, T& value, const std::string& name) {
        if constexpr (std::is_same_v<T, Secret>) {
            value = Secret(text, "environment variable " + name);
            return "";
        } else if constexpr (is_vector<T>::value) {
            T items;
            for (const auto& part : split_list(text)) {
                typename T::value_type item{};
                if (auto reason = from_text(part, item); !reason.empty()) return reason;
                items.push_back(std::move(item));
            }
            value = std::move(items);
            return "";
        } else {
            auto reason = from_text(text, value);
            if constexpr (std::is_same_v<T, std::filesystem::path>) value = resolve(value);
            return reason;
        }
    }

    // Values from YAML; false (after reporting) when unusable.
    template <typename T>
    bool node_value(const YAML::Node& node, T& value, const std::string& path) {
        const auto location = state_.at(node.Mark());
        if constexpr (std::is_same_v<T, Secret>) {
            auto reason = secret_value(node, value);
            if (!reason.empty()) state_.problem(path, location, reason);
            return reason.empty();
        } else if constexpr (std::is_same_v<T, std::map<std::string, Secret>>) {
            if (!node.IsMap()) {
                state_.problem(path, location, fmt::format("must be a mapping, not {}", node_kind(node)));
                return false;
            }
            T entries;
            bool ok = true;
            for (auto it = node.begin(); it != node.end(); ++it) {
                const auto entry_key = it->first.as<std::string>("");
                const auto entry_path = std::string(path).append(".").append(entry_key);
                if (entries.contains(entry_key)) {
                    state_.problem(entry_path, state_.at(it->first.Mark()),
                                   "given twice in the same mapping");
                    ok = false;
                    continue;
                }
                Secret secret;
                if (node_value(it->second, secret, entry_path)) {
                    entries.emplace(entry_key, std::move(secret));
                } else {
                    ok = false;
                }
            }
            value = std::move(entries);
            return ok;
        } else if constexpr (is_vector<T>::value) {
            if (!node.IsSequence()) {
                state_.problem(path, location, fmt::format("must be a list, not {}", node_kind(node)));
                return false;
            }
            T items;
            bool ok = true;
            for (std::size_t i = 0; i < node.size(); ++i) {
                typename T::value_type item{};
                if (node_value(node[i], item, fmt::format("{}[{}]", path, i))) {
                    items.push_back(std::move(item));
                } else {
                    ok = false;
                }
            }
            if (ok) value = std::move(items);
            return ok;
        } else {
            static_assert(is_scalar_v<T>, "add a conversion for this setting type");
            if (!node.IsScalar()) {
                state_.problem(path, location,
                               fmt::format("must be a single value, not {}", node_kind(node)));
                return false;
            }
            auto reason = from_text(node.Scalar(), value);
            if (!reason.empty()) {
                state_.problem(path, location, reason);
                return false;
            }
            if constexpr (std::is_same_v<T, std::filesystem::path>) value = resolve(value);
            return true;
        }
    }

    std::filesystem::path resolve(const std::filesystem::path& path) const {
        if (path.empty() || path.is_absolute()) return path;
        return (state_.base_directory / path).lexically_normal();
    }

    // A secret is `{file: path}` or a string with ${VAR} / ${VAR:-default} references.
    std::string secret_value(const YAML::Node& node, Secret& value) {
        if (node.IsMap()) {
            if (const YAML::Node file_node = node["file"];
                node.size() != 1 || !file_node.IsDefined() || !file_node.IsScalar()) {
                return "a secret mapping must be exactly {file: PATH}";
            }
            const auto file = resolve(node["file"].Scalar());
            std::string text;
            if (auto reason = read_secret_file(file, text); !reason.empty()) return reason;
            value = Secret(std::move(text), "file " + file.string());
            return "";
        }
        if (!node.IsScalar())
            return fmt::format("must be a string or {{file: PATH}}, not {}", node_kind(node));
        const std::string& raw = node.Scalar();
        std::string resolved;
        std::vector<std::string> references;
        std::size_t i = 0;
        while (i < raw.size()) {
            if (raw.compare(i, 3, "$${") == 0) {  // escaped: a literal ${
                resolved += "${";
                i += 3;
                continue;
            }
            if (raw.compare(i, 2, "${") != 0) {
                resolved += raw[i++];
                continue;
            }
            const auto close = raw.find('}', i);
            if (close == std::string::npos) return "unterminated ${ in secret (write $${ for a literal ${)";
            const auto reference = std::string_view(raw).substr(i + 2, close - i - 2);
            const auto default_at = reference.find(":-");
            const auto name = std::string(reference.substr(0, default_at));
            const bool valid_name = !name.empty() &&
                                    (std::isdigit(static_cast<unsigned char>(name[0])) == 0) &&
                                    std::all_of(name.begin(), name.end(), [](char c) {
                                        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
                                    });
            if (!valid_name)
                return fmt::format("'${{{}}}' is not an environment variable reference", reference);
            state_.consumed_environment.insert(name);
            if (auto variable = state_.environment.get(name)) {
                resolved += *variable;
            } else if (default_at != std::string_view::npos) {
                resolved += reference.substr(default_at + 2);
            } else {
                return fmt::format("environment variable {} is not set (referenced as ${{{}}})", name, name);
            }
            references.push_back("${" + name + "}");
            i = close + 1;
        }
        // The origin names the references only: literal text may be a password.
        value = Secret(std::move(resolved),
                       references.empty() ? "literal" : fmt::format("{}", fmt::join(references, " ")));
        return "";
    }

    LoadState& state_;
    YAML::Node node_;
    std::string path_;
    std::string environment_prefix_;
    YAML::Mark anchor_;
    std::vector<std::string> known_;
};

// --- checks across settings --------------------------------------------------------------------

// Credential and TLS files are read now, so a missing or malformed one stops the worker
// at start with its key, not as an opaque connect error later.
template <typename Problem>
void validate_nats_security(const NatsSettings& nats, const Problem& problem) {
    const auto auth = nats_authentication(nats);
    if (const auto reason = auth.problem(); !reason.empty()) problem("nats.user", reason);
    if (const auto reason = nats::ConnectionOptions::inbox_prefix_problem(nats.inbox_prefix); !reason.empty())
        problem("nats.inbox_prefix", reason);
    const auto check = [&](const char* key, const auto& read) {
        try {
            read();
        } catch (const seamq::Error& e) {
            problem(key, e.what());
        }
    };
    if (!nats.creds.empty()) check("nats.creds", [&] { nats::read_credentials_file(nats.creds); });
    if (!nats.nkey.empty()) check("nats.nkey", [&] { nats::read_nkey_seed_file(nats.nkey); });
    const auto tls = nats_tls(nats.tls);
    if (const auto reason = tls.problem(); !reason.empty()) problem("nats.tls", reason);
    if (!tls.ca_file.empty())
        check("nats.tls.ca_file", [&] { nats::check_readable_file(tls.ca_file, "CA file"); });
    if (!tls.certificate_file.empty())
        check("nats.tls.cert_file",
              [&] { nats::check_readable_file(tls.certificate_file, "certificate file"); });
    if (!tls.key_file.empty())
        check("nats.tls.key_file", [&] { nats::check_readable_file(tls.key_file, "key file"); });
}

// Shorter tokens could be guessed by anyone who reaches the port.
constexpr std::size_t min_admin_token_length = 16;
// A certificate chain is a few KiB.
constexpr std::uintmax_t max_tls_file_bytes = std::uintmax_t{1024} * 1024;

bool loopback_host(std::string_view host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// The admin token is read here, not when the server starts, so --check-config reads it
// too; so are the TLS files, with OpenSSL, as the server will.
void validate_admin(Config& config, LoadState& state) {
    const auto problem = [&](const std::string& key, std::string reason) {
        state.problem(key, state.location_of(key), std::move(reason));
    };
    auto& admin = config.admin;
    if (!admin.token_file.empty()) {
        std::string token;
        auto reason = read_secret_file(admin.token_file, token);
        if (reason.empty()) {
            const auto file = admin.token_file.string();
            // Sent as `Authorization: Bearer TOKEN`: one header value, no spaces.
            if (std::any_of(token.begin(), token.end(), [](char c) { return c < '!' || c > '~'; })) {
                reason = fmt::format(
                    "the token in {} has spaces, line breaks or non-ASCII characters; write one "
                    "line of visible ASCII (e.g. the output of `openssl rand -hex 32`)",
                    file);
            } else if (token.size() < min_admin_token_length) {
                reason = fmt::format(
                    "the token in {} has {} characters, fewer than {} (e.g. `openssl rand "
                    "-hex 32` makes 64)",
                    file, token.size(), min_admin_token_length);
            }
        }
        if (reason.empty()) {
            admin.token = Secret(std::move(token), "file " + admin.token_file.string());
        } else {
            problem("admin.token_file", std::move(reason));
        }
    }

    // Not errors: a private network may be what keeps the port closed. Worth a line though.
    if (const auto address = parse_listen_address(admin.listen); address && !loopback_host(address->host)) {
        if (admin.token_file.empty()) {
            config.warnings.push_back(fmt::format(
                "admin.listen {} is not a loopback address and admin.token_file is not set: whoever reaches "
                "the port reads /metrics and /readyz (see docs/security.md)",
                admin.listen));
        } else if (!admin.tls.enabled()) {
            config.warnings.push_back(fmt::format(
                "admin.listen {} is not a loopback address and admin.tls is not set: the admin token crosses "
                "the network in clear text (see docs/security.md)",
                admin.listen));
        }
    }

    const auto& tls = admin.tls;
    if (!tls.enabled()) return;
    if (tls.certificate_file.empty())
        problem("admin.tls.certificate_file", "is required with admin.tls.key_file");
    if (tls.key_file.empty()) problem("admin.tls.key_file", "is required with admin.tls.certificate_file");
    bool readable = !tls.certificate_file.empty() && !tls.key_file.empty();
    for (const auto& [key, file] : {std::pair{"admin.tls.certificate_file", &tls.certificate_file},
                                    std::pair{"admin.tls.key_file", &tls.key_file}}) {
        if (file->empty()) continue;
        std::error_code error;
        if (!std::filesystem::is_regular_file(*file, error) || !std::ifstream(*file)) {
            problem(key, fmt::format("{} does not exist or is not a readable file", file->string()));
            readable = false;
        } else if (const auto size = std::filesystem::file_size(*file, error);
                   !error && size > max_tls_file_bytes) {
            // OpenSSL would read all of it looking for PEM blocks.
            problem(key, fmt::format("{} is larger than 1 MiB; is it the right file?", file->string()));
            readable = false;
        }
    }
    if (!readable) return;
    if (const auto tls_problem = check_admin_tls(tls)) problem(tls_problem->key, tls_problem->reason);
}

void validate_inbound(const Config& config, const std::map<std::string, std::size_t>& context_index,
                      LoadState& state) {
    const auto problem = [&](const std::string& key, std::string reason) {
        state.problem(key, state.location_of(key), std::move(reason));
    };
    const auto& inbound = config.inbound;
    if (inbound.enabled && inbound.partners.empty())
        problem("inbound.partners", "inbound.enabled is set but no partner is configured");
    if (inbound.enabled && inbound.listen == config.admin.listen)
        problem(
            "inbound.listen",
            fmt::format("{} is also admin.listen; the inbound edge has its own listener", inbound.listen));
    std::map<std::string, std::size_t> partner_index;
    for (std::size_t i = 0; i < inbound.partners.size(); ++i) {
        const auto& partner = inbound.partners[i];
        const auto path = fmt::format("inbound.partners[{}]", i);
        if (!partner.name.empty() && !partner_index.emplace(partner.name, i).second)
            problem(path + ".name", fmt::format("'{}' is already the name of inbound.partners[{}]",
                                                partner.name, partner_index[partner.name]));
        if (!envelope::subject_problem(partner.command)) {
            const auto context = envelope::parse_subject(partner.command).context;
            if (!context_index.contains(context))
                problem(
                    path + ".command",
                    fmt::format("its context '{}' is not one of contexts[]: the intake needs that context's "
                                "database",
                                context));
        }
        if (partner.secrets.empty())
            problem(path + ".secrets", "at least one whsec_ secret is required to verify deliveries");
        // A delivery verifies while now is within tolerance of its timestamp either way, so
        // the same signed delivery can be replayed for twice the tolerance: its dedup row
        // must live at least that long.
        if (inbound.deliveries_retention.count() > 0 && inbound.deliveries_retention < 2 * partner.tolerance)
            problem(
                "inbound.deliveries_retention",
                fmt::format(
                    "{} s is less than twice {}.tolerance ({} s): a replay inside the tolerance "
                    "would be accepted a second time",
                    std::chrono::duration_cast<std::chrono::seconds>(inbound.deliveries_retention).count(),
                    path, std::chrono::duration_cast<std::chrono::seconds>(partner.tolerance).count()));
        for (const auto& [label, secret] : partner.secrets) {
            try {
                (void)edges::WebhookSecret::parse(secret.reveal());
            } catch (const seamq::Error& e) {
                // The message never quotes the secret.
                problem(path + ".secrets." + label, fmt::format("{} ({})", e.what(), secret.origin()));
            }
        }
    }
}

void validate_config(Config& config, LoadState& state) {
    const auto problem = [&](const std::string& key, std::string reason) {
        state.problem(key, state.location_of(key), std::move(reason));
    };

    validate_admin(config, state);

    if (config.contexts.empty()) problem("contexts", "at least one context is required");
    std::map<std::string, std::size_t> context_index;
    for (std::size_t i = 0; i < config.contexts.size(); ++i) {
        const auto& context = config.contexts[i];
        const auto path = fmt::format("contexts[{}]", i);
        if (!context.name.empty() && !context_index.emplace(context.name, i).second) {
            problem(path + ".name", fmt::format("'{}' is already the name of contexts[{}]", context.name,
                                                context_index[context.name]));
        }
        if (context.relay.max_in_flight < context.relay.batch_size) {
            problem(
                path + ".relay.max_in_flight",
                fmt::format("{} is less than relay.batch_size ({}): a batch could never be in flight at once",
                            context.relay.max_in_flight, context.relay.batch_size));
        }
    }

    validate_inbound(config, context_index, state);
    for (std::size_t i = 0; i < config.outbound.endpoints.size(); ++i) {
        const auto& secret = config.outbound.endpoints[i].secret;
        if (secret.empty()) continue;
        try {
            (void)edges::WebhookSecret::parse(secret.reveal());
        } catch (const seamq::Error& e) {
            problem(fmt::format("outbound.endpoints[{}].secret", i),
                    fmt::format("{} ({})", e.what(), secret.origin()));
        }
    }
    if (!config.outbound.secrets_key.empty()) {
        try {
            (void)edges::SecretBox::parse(config.outbound.secrets_key.reveal());
        } catch (const seamq::Error& e) {
            problem("outbound.secrets_key",
                    fmt::format("{} ({})", e.what(), config.outbound.secrets_key.origin()));
        }
    }
    if (config.outbound.enabled && !context_index.contains(config.outbound.context))
        problem("outbound.context",
                fmt::format("'{}' is not one of contexts[]: the outbound edge needs its database "
                            "and stream",
                            config.outbound.context));

    if (config.nats.reconnect_buffer_bytes.bytes > INT_MAX) {
        problem("nats.reconnect_buffer_bytes", "must not exceed 2GiB - 1 (nats.c takes an int)");
    }

    std::map<std::string, std::size_t> consumer_index;
    for (std::size_t i = 0; i < config.consumers.size(); ++i) {
        const auto& consumer = config.consumers[i];
        const auto path = fmt::format("consumers[{}]", i);
        if (!consumer.name.empty() && !consumer_index.emplace(consumer.name, i).second) {
            problem(path + ".name", fmt::format("'{}' is already the name of consumers[{}]", consumer.name,
                                                consumer_index[consumer.name]));
        }
        if (!consumer.context.empty() && !context_index.contains(consumer.context)) {
            std::vector<std::string> names;
            names.reserve(context_index.size());
            for (const auto& [name, index] : context_index) names.push_back(name);
            problem(path + ".context",
                    fmt::format("'{}' is not one of the configured contexts ({})", consumer.context,
                                names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "))));
        }
        if (consumer.max_deliver >= 1 &&
            consumer.retry_delays.size() > static_cast<std::size_t>(consumer.max_deliver - 1)) {
            // Point at whichever of the two the file gave.
            problem(
                state.locations.contains(path + ".retry_delays") ? path + ".retry_delays"
                                                                 : path + ".max_deliver",
                fmt::format("retry_delays has {} delays but max_deliver {} allows only {} retries: raise "
                            "max_deliver or drop "
                            "delays",
                            consumer.retry_delays.size(), consumer.max_deliver, consumer.max_deliver - 1));
        }
        if (consumer.batch_size > consumer.max_ack_pending) {
            problem(path + ".batch_size", fmt::format("{} exceeds max_ack_pending ({})", consumer.batch_size,
                                                      consumer.max_ack_pending));
        }
        const auto& handler = consumer.handler;
        // Handlers may outlive it (the consumer sends in-progress acks); below a second the
        // +WPI every third of it would be a busy loop.
        if (consumer.ack_wait < std::chrono::seconds(1)) {
            problem(path + ".ack_wait",
                    fmt::format("{} is below 1s: in-progress acks go out every third of it",
                                format_duration(consumer.ack_wait)));
        }
        const auto handler_path = path + ".handler";
        if (handler.kind != "export" && !handler.contracts.empty())
            problem(handler_path + ".contracts", "is for kind export");
        if (handler.kind == "export") {
            if (handler.contracts.empty())
                problem(handler_path, "kind export needs `contracts` (schemas/events)");
            if (!handler.function.empty()) problem(handler_path + ".function", "is for kind sql, not export");
            if (!handler.url.empty()) problem(handler_path + ".url", "is for kind http, not export");
            if (!handler.headers.empty()) problem(handler_path + ".headers", "are for kind http, not export");
        } else if (handler.kind == "sql") {
            if (handler.function.empty()) problem(handler_path, "kind sql needs `function`");
            if (!handler.url.empty()) problem(handler_path + ".url", "is for kind http, not sql");
            if (!handler.headers.empty()) problem(handler_path + ".headers", "are for kind http, not sql");
        } else if (handler.kind == "http") {
            if (handler.url.empty()) {
                problem(handler_path, "kind http needs `url`");
            } else if (!handler.url.starts_with("http://") && !handler.url.starts_with("https://")) {
                problem(handler_path + ".url", fmt::format("'{}' is not an http:// or https:// URL",
                                                           mask_url_credentials(handler.url)));
            }
            if (!handler.function.empty()) problem(handler_path + ".function", "is for kind sql, not http");
        }
    }

    validate_nats_security(config.nats, problem);

    if (!config.streams_file.empty()) {
        std::error_code error;
        if (!std::filesystem::is_regular_file(config.streams_file, error)) {
            problem("streams_file",
                    fmt::format("{} does not exist or is not a file", config.streams_file.string()));
        } else {
#ifdef SEAMQ_WORKER_HAVE_STREAMS
            try {
                const auto streams = streams::load_streams_config(config.streams_file);
                std::set<std::string> declared;
                for (const auto& stream : streams.streams()) declared.insert(stream.name);
                for (std::size_t i = 0; i < config.consumers.size(); ++i) {
                    const auto& stream = config.consumers[i].stream;
                    if (!stream.empty() && !declared.contains(stream)) {
                        problem(
                            fmt::format("consumers[{}].stream", i),
                            fmt::format("'{}' is not declared in {} (declared: {})", stream,
                                        config.streams_file.filename().string(), fmt::join(declared, ", ")));
                    }
                }
            } catch (const seamq::Error& e) {
                problem("streams_file", e.what());
            }
#endif
        }
    }
}

// Top-level words of the settings: SEAMQ_ variables starting with one of them are
// meant for the worker, so one that matches nothing is probably a typo.
constexpr std::string_view setting_prefixes[] = {"SEAMQ_NATS_",     "SEAMQ_ADMIN_",    "SEAMQ_LOG_",
                                                 "SEAMQ_STREAMS_",  "SEAMQ_SHUTDOWN_", "SEAMQ_CONTEXT_",
                                                 "SEAMQ_CONSUMER_", "SEAMQ_INBOUND_",  "SEAMQ_OUTBOUND_"};

}  // namespace

Config parse_config(std::string_view yaml_text, std::string source,
                    const std::filesystem::path& base_directory, const Environment& environment) {
    LoadState state{source, base_directory, environment, {}, {}, {}};
    YAML::Node root;
    try {
        root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::Exception& e) {
        state.problem("(document)", state.at(e.mark), "YAML syntax error: " + e.msg);
        throw ConfigError(std::move(state.problems));
    }
    Config config;
    config.source = source;
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
        state.problem("(document)", state.at(root.Mark()),
                      fmt::format("the file must be a mapping of settings, not {}", node_kind(root)));
        throw ConfigError(std::move(state.problems));
    }
    Loader loader(state, root, "", "SEAMQ", root.IsDefined() ? root.Mark() : YAML::Mark::null_mark());
    schema::visit(loader, config);
    loader.finish();
    validate_config(config, state);
    if (!state.problems.empty()) {
        std::stable_sort(state.problems.begin(), state.problems.end(),
                         [](const ConfigProblem& a, const ConfigProblem& b) {
                             return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                         });
        throw ConfigError(std::move(state.problems));
    }
    for (auto& url : config.nats.servers) url = nats::ConnectionOptions::with_scheme(std::move(url));
    for (const auto& [key, secret] :
         {std::pair{"nats.password", &config.nats.password}, std::pair{"nats.token", &config.nats.token}}) {
        if (!secret->empty() && secret->origin() == "literal") {
            config.warnings.push_back(
                fmt::format("{} is written into {} itself: write ${{ENV_VAR}} or {{file: path}} so the "
                            "secret stays out of "
                            "the file",
                            key, source));
        }
    }
    for (const auto& prefix : setting_prefixes) {
        for (const auto& name : environment.names_with_prefix(prefix)) {
            if (!state.consumed_environment.contains(name)) {
                config.warnings.push_back(fmt::format(
                    "environment variable {} matches no setting of {} (see docs/configuration.md)", name,
                    source));
            }
        }
    }
    return config;
}

Config load_config(const std::filesystem::path& file, const Environment& environment) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        throw ConfigError(
            {{"(file)", file.string(), "cannot read the configuration file (does it exist?)", 0, 0}});
    }
    std::ostringstream text;
    text << in.rdbuf();
    const auto directory = std::filesystem::absolute(file).parent_path();
    return parse_config(text.str(), file.string(), directory, environment);
}

}  // namespace seamq::worker
