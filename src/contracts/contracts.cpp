#include "seamq/contracts/contracts.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>

#include <openssl/evp.h>

#include "seamq/core/error.hpp"

namespace seamq::contracts {

namespace fs = std::filesystem;
using envelope::Problem;
using envelope::Subject;

namespace {

constexpr std::string_view schema_suffix = ".schema.json";
constexpr std::string_view draft_07 = "http://json-schema.org/draft-07/schema#";

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) raise(Errc::io, "cannot read {}", file.string());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A file that may be a contract: events/<context>/<file name>.
struct Candidate {
    fs::path path;     // absolute or as given
    std::string file;  // relative to the events directory, with '/'
    std::string context;
};

std::vector<Candidate> discover(const fs::path& events_dir) {
    std::error_code error;
    if (!fs::is_directory(events_dir, error)) {
        raise(Errc::not_found, "contracts directory {} does not exist or is not a directory",
              events_dir.string());
    }
    std::vector<Candidate> candidates;
    for (const auto& context_entry : fs::directory_iterator(events_dir)) {
        if (!context_entry.is_directory()) continue;
        const std::string context = context_entry.path().filename().string();
        if (context == "messaging") continue;  // stored-row schemas, not event contracts
        for (const auto& entry : fs::directory_iterator(context_entry.path())) {
            if (!entry.is_regular_file()) continue;
            candidates.push_back({entry.path(), context + "/" + entry.path().filename().string(), context});
        }
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.file < b.file; });
    return candidates;
}

// `<name>.v<n>.schema.json` → {name, "v<n>"}; the grammar is checked on the full type.
std::optional<std::pair<std::string, std::string>> split_file_name(std::string_view file_name) {
    if (!ends_with(file_name, schema_suffix)) return std::nullopt;
    const auto stem = file_name.substr(0, file_name.size() - schema_suffix.size());
    const auto dot = stem.rfind('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    return std::make_pair(std::string(stem.substr(0, dot)), std::string(stem.substr(dot + 1)));
}

// The result of reading one contract file: the contract, or the findings against it.
struct Loaded {
    std::optional<Contract> contract;
    std::shared_ptr<const envelope::JsonSchema> compiled;
    std::vector<Finding> findings;
};

Loaded load_one(const Candidate& candidate) {
    Loaded loaded;
    auto fail = [&](std::string kind, std::string message) {
        loaded.findings.push_back({candidate.file, std::move(kind), std::move(message), true});
    };
    const auto file_name = candidate.path.filename().string();
    const auto parts = split_file_name(file_name);
    std::optional<std::string> grammar;
    if (parts)
        grammar =
            envelope::subject_problem(candidate.context + ".event." + parts->first + "." + parts->second);
    if (!parts || grammar) {
        fail("file-name",
             fmt::format(
                 "file name does not follow <context>/<name>.v<n>.schema.json with the subject grammar{}; "
                 "rename it, e.g. {}/order-placed.v1.schema.json",
                 grammar ? ": " + *grammar : std::string(" (expected a .v<n>.schema.json suffix)"),
                 candidate.context));
        return loaded;
    }
    nlohmann::json schema;
    try {
        schema = nlohmann::json::parse(read_file(candidate.path));
    } catch (const nlohmann::json::exception& e) {
        fail("json", fmt::format("not valid JSON: {}; fix the syntax", e.what()));
        return loaded;
    }
    if (!schema.is_object() || schema.value("$schema", nlohmann::json()) != draft_07) {
        fail("schema", fmt::format("not a draft-07 JSON Schema: the top level must be an object with "
                                   "\"$schema\": \"{}\"",
                                   draft_07));
        return loaded;
    }
    try {
        loaded.compiled = std::make_shared<const envelope::JsonSchema>(schema, candidate.file);
    } catch (const Error& e) {
        fail("schema", e.what());
        return loaded;
    }
    Contract contract;
    contract.file = candidate.file;
    contract.schema = schema;
    contract.sha256 = content_hash(schema);
    const auto visibility = schema.find("x-sea-visibility");
    if (visibility == schema.end()) {
        fail("visibility",
             "missing annotation \"x-sea-visibility\"; add \"x-sea-visibility\": \"internal\" (stays in its "
             "context) or \"external\" (may leave it) at the top level");
    } else if (*visibility == "internal" || *visibility == "external") {
        contract.visibility =
            *visibility == "external" ? envelope::Visibility::external : envelope::Visibility::internal;
    } else {
        fail("visibility", fmt::format("\"x-sea-visibility\" is {}; it must be \"internal\" or \"external\"",
                                       envelope::describe_value(*visibility)));
    }
    Subject type{candidate.context, envelope::Kind::event, parts->first, 0};
    const auto kind = schema.find("x-sea-kind");
    if (kind != schema.end()) {
        if (*kind == "command") {
            type.kind = envelope::Kind::command;
        } else if (*kind != "event") {
            fail("kind",
                 fmt::format("\"x-sea-kind\" is {}; it must be \"event\" (the default) or \"command\"",
                             envelope::describe_value(*kind)));
        }
    }
    const auto mode = schema.find("x-sea-payload-mode");
    if (mode != schema.end()) {
        if (*mode == "full") {
            contract.payload_mode = PayloadMode::full;
        } else if (*mode != "redacted") {
            fail("payload-mode",
                 fmt::format("\"x-sea-payload-mode\" is {}; it must be \"full\" or \"redacted\" "
                             "(the default)",
                             envelope::describe_value(*mode)));
        }
    }
    type.version =
        envelope::parse_subject(type.context + ".event." + type.name + "." + parts->second).version;
    contract.type = type;
    if (loaded.findings.empty()) loaded.contract = std::move(contract);
    return loaded;
}

struct LockEntry {
    std::string file;
    std::string sha256;
};

std::map<std::string, LockEntry> read_lock(const fs::path& events_dir) {
    std::map<std::string, LockEntry> entries;
    const auto path = lock_file(events_dir);
    if (!fs::exists(path)) return entries;
    nlohmann::json lock;
    try {
        lock = nlohmann::json::parse(read_file(path));
        for (const auto& [type, entry] : lock.at("contracts").items()) {
            entries[type] = {entry.at("file").get<std::string>(), entry.at("sha256").get<std::string>()};
        }
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::contract, "lock file {} is malformed ({}); restore it from version control",
              path.string(), e.what());
    }
    return entries;
}

std::string next_version_file(const Contract& contract) {
    return fmt::format("{}/{}.v{}.schema.json", contract.type.context, contract.type.name,
                       contract.type.version + 1);
}

const nlohmann::json* resolve_local_ref(const nlohmann::json& schema, const nlohmann::json& root) {
    const auto ref = schema.find("$ref");
    if (ref == schema.end() || !ref->is_string()) return nullptr;
    const auto& text = ref->get_ref<const std::string&>();
    if (text.empty() || text.front() != '#') return nullptr;
    return envelope::find_pointer(root, std::string_view(text).substr(1));
}

bool is_sensitive(const nlohmann::json& schema) {
    const auto found = schema.find("x-sea-sensitive");
    return found != schema.end() && *found == true;
}

nlohmann::json redact_at(const nlohmann::json& data, const nlohmann::json& schema, const nlohmann::json& root,
                         int depth) {
    if (!schema.is_object() || depth > 64) return data;
    if (const auto* target = resolve_local_ref(schema, root))
        return redact_at(data, *target, root, depth + 1);
    nlohmann::json result = data;
    for (const char* combinator : {"allOf", "anyOf", "oneOf"}) {
        const auto branches = schema.find(combinator);
        if (branches == schema.end() || !branches->is_array()) continue;
        // Any branch that marks a field sensitive wins: redaction errs towards dropping.
        for (const auto& branch : *branches) result = redact_at(result, branch, root, depth + 1);
    }
    if (result.is_object()) {
        const auto properties = schema.find("properties");
        const auto additional = schema.find("additionalProperties");
        for (auto it = result.begin(); it != result.end();) {
            const nlohmann::json* field_schema = nullptr;
            if (properties != schema.end() && properties->is_object() && properties->contains(it.key())) {
                field_schema = &(*properties)[it.key()];
            } else if (additional != schema.end() && additional->is_object()) {
                field_schema = &*additional;
            }
            if (field_schema) {
                const nlohmann::json* resolved = resolve_local_ref(*field_schema, root);
                if (is_sensitive(*field_schema) || (resolved && is_sensitive(*resolved))) {
                    it = result.erase(it);
                    continue;
                }
                it.value() = redact_at(it.value(), *field_schema, root, depth + 1);
            }
            ++it;
        }
    } else if (result.is_array()) {
        const auto items = schema.find("items");
        if (items != schema.end()) {
            for (std::size_t i = 0; i < result.size(); ++i) {
                if (items->is_object()) {
                    result[i] = redact_at(result[i], *items, root, depth + 1);
                } else if (items->is_array() && i < items->size()) {
                    result[i] = redact_at(result[i], (*items)[i], root, depth + 1);
                }
            }
        }
    }
    return result;
}

}  // namespace

std::string content_hash(const nlohmann::json& schema) {
    // nlohmann::json keeps object keys in a std::map: dump() is already key-sorted.
    const std::string canonical = schema.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(canonical.data(), canonical.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
        raise(Errc::internal, "OpenSSL EVP_Digest(SHA-256) failed");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string text;
    for (unsigned int i = 0; i < length; ++i) {
        text += hex[digest[i] >> 4];
        text += hex[digest[i] & 0x0f];
    }
    return text;
}

fs::path lock_file(const fs::path& events_dir) {
    return events_dir / "contracts.lock";
}

// ---- Registry ----

Registry Registry::load(const fs::path& events_dir) {
    Registry registry;
    for (const auto& candidate : discover(events_dir)) {
        auto loaded = load_one(candidate);
        if (!loaded.findings.empty()) {
            const auto& first = loaded.findings.front();
            raise(Errc::contract, "contract {} in {}: {}: {}", first.file, events_dir.string(), first.kind,
                  first.message);
        }
        const auto type = loaded.contract->type.to_string();
        if (registry.contracts_.count(type)) {
            raise(Errc::contract, "two contracts in {} declare type {}", events_dir.string(), type);
        }
        registry.contracts_.emplace(type, Entry{std::move(*loaded.contract), std::move(loaded.compiled)});
    }
    return registry;
}

const Contract* Registry::find(std::string_view type) const {
    const auto found = contracts_.find(type);
    return found == contracts_.end() ? nullptr : &found->second.contract;
}

std::vector<Problem> Registry::check(const Subject& type, const nlohmann::json& document) const {
    const auto found = contracts_.find(type.to_string());
    if (found == contracts_.end()) return {};
    const auto& [contract, compiled] = found->second;
    std::vector<Problem> problems;
    const auto data = document.find("data");
    if (data == document.end()) {
        problems.push_back({"/data", "contract", "",
                            fmt::format("type {} has a contract ({}); its payload must be JSON in data, not "
                                        "data_base64",
                                        found->first, contract.file.string())});
    } else {
        for (auto& problem : compiled->validate(*data, "/data")) {
            problem.message += fmt::format(" (contract {})", contract.file.string());
            problems.push_back(std::move(problem));
        }
    }
    const auto visibility = document.find("visibility");
    if (visibility != document.end() && *visibility != envelope::to_string(contract.visibility)) {
        problems.push_back({"/visibility", "contract", envelope::describe_value(*visibility),
                            fmt::format("contract {} declares {} visibility", contract.file.string(),
                                        envelope::to_string(contract.visibility))});
    }
    return problems;
}

// ---- lint and lock ----

std::vector<Finding> lint(const fs::path& events_dir) {
    std::vector<Finding> findings;
    std::map<std::string, LockEntry> locked;
    try {
        locked = read_lock(events_dir);
    } catch (const Error& e) {
        findings.push_back({"contracts.lock", "lock-file", e.what(), true});
    }
    std::map<std::string, std::string> seen;  // type -> file
    for (const auto& candidate : discover(events_dir)) {
        auto loaded = load_one(candidate);
        findings.insert(findings.end(), loaded.findings.begin(), loaded.findings.end());
        if (!loaded.contract) continue;
        const auto& contract = *loaded.contract;
        const auto type = contract.type.to_string();
        if (const auto twin = seen.find(type); twin != seen.end()) {
            findings.push_back(
                {candidate.file, "kind",
                 fmt::format("declares type {} like {}; one type has one contract", type, twin->second)});
            continue;
        }
        seen[type] = candidate.file;
        const auto entry = locked.find(type);
        if (entry == locked.end()) {
            findings.push_back({candidate.file, "unlocked",
                                fmt::format("{} is not locked yet; run `sea-mq contracts lock {}` when it is "
                                            "published",
                                            type, events_dir.string()),
                                false});
        } else if (entry->second.sha256 != contract.sha256) {
            findings.push_back(
                {candidate.file, "changed",
                 fmt::format(
                     "contract {} changed after it was locked (contracts.lock has sha256 {}, the file now "
                     "hashes to {}); published versions are immutable (INV-023): restore the locked "
                     "content and publish the change as a new version, {} (type {}.{}.{}.v{})",
                     type, entry->second.sha256.substr(0, 12), contract.sha256.substr(0, 12),
                     next_version_file(contract), contract.type.context,
                     envelope::to_string(contract.type.kind), contract.type.name,
                     contract.type.version + 1)});
        }
    }
    for (const auto& [type, entry] : locked) {
        if (!seen.count(type)) {
            findings.push_back(
                {entry.file, "deleted",
                 fmt::format("locked contract {} is missing; published versions must stay: restore "
                             "{} from version control",
                             type, entry.file)});
        }
    }
    return findings;
}

std::vector<std::string> lock(const fs::path& events_dir) {
    const auto findings = lint(events_dir);
    std::string errors;
    for (const auto& finding : findings) {
        if (finding.error)
            errors += fmt::format("\n  {}: {}: {}", finding.file, finding.kind, finding.message);
    }
    if (!errors.empty()) {
        raise(Errc::contract, "refusing to lock {}: fix these first (see `sea-mq contracts lint`):{}",
              events_dir.string(), errors);
    }
    const auto path = lock_file(events_dir);
    nlohmann::json lock_document = {
        {"comment",
         "Content hashes of published event contracts (sea-mq contracts lock). Entries are never "
         "rewritten: a locked contract is immutable, a change is a new version."},
        {"contracts", nlohmann::json::object()}};
    if (fs::exists(path)) lock_document = nlohmann::json::parse(read_file(path));
    std::vector<std::string> added;
    for (const auto& candidate : discover(events_dir)) {
        auto loaded = load_one(candidate);
        const auto type = loaded.contract->type.to_string();
        if (lock_document["contracts"].contains(type)) continue;
        lock_document["contracts"][type] = {{"file", candidate.file}, {"sha256", loaded.contract->sha256}};
        added.push_back(type);
    }
    if (added.empty()) return added;
    const auto temporary = fs::path(path.string() + ".tmp");
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << lock_document.dump(2) << "\n";
        if (!out) raise(Errc::io, "cannot write {}", temporary.string());
    }
    fs::rename(temporary, path);
    return added;
}

// ---- redaction ----

nlohmann::json redact(const nlohmann::json& data, const nlohmann::json& schema) {
    return redact_at(data, schema, schema, 0);
}

envelope::Envelope external_copy(const envelope::Envelope& event, const Registry& registry) {
    const auto* contract = registry.find(event.type());
    if (!contract) {
        raise(Errc::contract,
              "event {} (type {}) has no contract, so its sensitive fields are unknown; it cannot "
              "leave its context: add schemas/events/{}/{}.v{}.schema.json",
              event.id(), event.type(), event.parsed_type().context, event.parsed_type().name,
              event.parsed_type().version);
    }
    if (contract->visibility != envelope::Visibility::external) {
        raise(Errc::contract,
              "event {} (type {}) is internal per {}; only external events leave their context", event.id(),
              event.type(), contract->file.string());
    }
    nlohmann::json copy = event.json();
    copy["visibility"] = "external";
    if (contract->payload_mode == PayloadMode::redacted) {
        const auto* data = event.data();
        if (!data) {
            raise(Errc::contract,
                  "event {} (type {}) carries data_base64, which cannot be redacted; its contract {} "
                  "must say \"x-sea-payload-mode\": \"full\" to send it out",
                  event.id(), event.type(), contract->file.string());
        }
        copy["data"] = redact(*data, contract->schema);
    }
    return envelope::Envelope::from_json(std::move(copy));
}

}  // namespace seamq::contracts
