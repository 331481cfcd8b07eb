#include "seamq/envelope/envelope.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>

#include "embedded_schema.hpp"
#include "formats.hpp"
#include <openssl/rand.h>

#include "seamq/core/build_info.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/timestamp.hpp"
#include "seamq/envelope/json_schema.hpp"

namespace seamq::envelope {

namespace {

constexpr std::string_view envelope_schema_file = "events/envelope-v1.schema.json";

bool is_attribute_name(std::string_view name) {
    if (name == "data_base64") return true;
    if (name.empty() || name.size() > 20) return false;
    return std::all_of(name.begin(), name.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

bool is_known_attribute(std::string_view name) {
    static constexpr std::string_view known[] = {
        "specversion",     "id",          "source",     "type",        "time",
        "datacontenttype", "dataschema",  "subject",    "data_base64", "correlationid",
        "causationid",     "traceparent", "tracestate", "visibility"};
    return std::find(std::begin(known), std::end(known), name) != std::end(known);
}

// Friendlier sentences for the schema keywords that fail most often on envelopes.
std::string explain(const Problem& problem) {
    const auto& path = problem.path;
    const auto& rule = problem.rule;
    if (rule == "const" && path == "/specversion") return "specversion must be \"1.0\" (CloudEvents 1.0)";
    if (rule == "not" && path.empty()) return "data and data_base64 must not both be present";
    if (rule == "anyOf" && path.empty()) return "one of data or data_base64 is required";
    if (rule == "required") return fmt::format("required attribute {} is missing", path.substr(1));
    if (rule == "pattern") {
        if (path == "/traceparent") {
            return "traceparent must be 00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}, lowercase, "
                   "ids not all zeros (W3C Trace Context)";
        }
        if (path == "/time") return "time must be RFC 3339 like 2024-05-01T12:00:00.123Z (with a time zone)";
        if (path == "/id" || path == "/correlationid" || path == "/causationid") {
            return fmt::format("{} must be 1 to 200 visible ASCII characters without spaces", path.substr(1));
        }
        if (path == "/datacontenttype") return "datacontenttype must be a media type like application/json";
        if (path == "/tracestate") return "tracestate must be 1 to 512 printable ASCII characters";
    }
    if (rule == "enum" && path == "/visibility") return "visibility must be \"internal\" or \"external\"";
    if (rule == "type" && path.empty()) return "an envelope is a JSON object";
    if (rule == "type" && path.rfind('/') == 0 && path.find('/', 1) == std::string::npos && path != "/data") {
        const auto name = path.substr(1);
        if (is_known_attribute(name)) return fmt::format("attribute {} must be a string", name);
        return fmt::format("extension attribute {} must be a string, a boolean or a 32-bit integer", name);
    }
    return problem.message;
}

std::string problems_text(const std::vector<Problem>& problems) {
    std::string text;
    for (const auto& problem : problems) {
        text += "\n  ";
        text += to_string(problem);
    }
    return text;
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in)
        raise(Errc::config, "cannot read schema file {}; check the path or $SEAMQ_SCHEMAS_DIR",
              file.string());
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::shared_ptr<const JsonSchema> compile_envelope_schema(std::string_view text, std::string name) {
    nlohmann::json schema;
    try {
        schema = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        raise(Errc::config, "envelope schema {} is not JSON: {}", name, e.what());
    }
    // Formats are checked below with ajv-formats' rules, not valijson's looser ones.
    return std::make_shared<const JsonSchema>(schema, std::move(name), JsonSchema::Formats::leave_to_caller);
}

// Compiled once: immutable, shared by every Validator that uses the built-in schema.
std::shared_ptr<const JsonSchema> embedded_schema() {
    static const auto schema =
        compile_envelope_schema(embedded::envelope_schema, std::string(embedded::envelope_schema_name));
    return schema;
}

std::shared_ptr<const JsonSchema> schema_from_file(const std::filesystem::path& file) {
    return compile_envelope_schema(read_file(file), file.string());
}

// Checks JSON Schema cannot express (or valijson does not): attribute names (valijson's
// propertyNames fails silently), formats as ajv-formats defines them, base64, grammar.
void check_beyond_schema(const nlohmann::json& document, std::vector<Problem>& problems) {
    if (!document.is_object()) {
        // The object-level keywords (allOf/not) say nothing useful about a non-object.
        std::erase_if(problems, [](const Problem& p) { return !(p.path.empty() && p.rule == "type"); });
        for (auto& problem : problems) problem.value.clear();
        return;
    }
    // The document's own value is long and says nothing; the message says what is wrong.
    for (auto& problem : problems) {
        if (problem.path.empty()) problem.value.clear();
    }
    // Branches of "one of data or data_base64": the anyOf problem says it better.
    if (std::any_of(problems.begin(), problems.end(),
                    [](const Problem& p) { return p.path.empty() && p.rule == "anyOf"; })) {
        std::erase_if(problems, [](const Problem& p) {
            return p.rule == "required" && (p.path == "/data" || p.path == "/data_base64");
        });
    }
    auto has = [&](std::string_view path, std::string_view rule) {
        return std::any_of(problems.begin(), problems.end(),
                           [&](const Problem& p) { return p.path == path && p.rule == rule; });
    };
    bool bad_name = false;
    for (const auto& [name, value] : document.items()) {
        if (!is_attribute_name(name)) {
            bad_name = true;
            problems.push_back(
                {"/" + escape_pointer_token(name), "propertyNames", describe_value(name),
                 "attribute names must be 1 to 20 lowercase ASCII letters or digits (CloudEvents)"});
        }
    }
    if (bad_name) {
        // Drop the "does not match" placeholder that valijson's silent failure produced.
        std::erase_if(problems, [](const Problem& p) { return p.path.empty() && p.rule == "schema"; });
    }
    auto string_at = [&](const char* key) -> const std::string* {
        const auto found = document.find(key);
        return found != document.end() && found->is_string() ? &found->get_ref<const std::string&>()
                                                             : nullptr;
    };
    if (const auto* time = string_at("time");
        time && !has("/time", "pattern") && !formats::is_date_time(*time)) {
        problems.push_back({"/time", "format", describe_value(*time),
                            "time is not a real RFC 3339 date-time (day of month, hour, minute or second "
                            "out of range)"});
    }
    if (const auto* source = string_at("source");
        source && !source->empty() && !has("/source", "maxLength") && !formats::is_uri_reference(*source)) {
        problems.push_back({"/source", "format", describe_value(*source),
                            "source must be a URI-reference (RFC 3986), e.g. /sea/orders"});
    }
    if (const auto* schema = string_at("dataschema");
        schema && !schema->empty() && !has("/dataschema", "maxLength") && !formats::is_uri(*schema)) {
        problems.push_back({"/dataschema", "format", describe_value(*schema),
                            "dataschema must be an absolute URI (RFC 3986)"});
    }
    if (const auto* base64 = string_at("data_base64"); base64 && !formats::is_base64(*base64)) {
        problems.push_back({"/data_base64", "contentEncoding", describe_value(*base64),
                            "data_base64 must be RFC 4648 base64 with padding"});
    }
    if (const auto* type = string_at("type")) {
        if (auto problem = subject_problem(*type)) {
            std::erase_if(problems,
                          [](const Problem& p) { return p.path == "/type" && p.rule == "pattern"; });
            problems.push_back({"/type", "subject-grammar", describe_value(*type), *problem});
        }
    }
}

}  // namespace

std::string to_string(const Problem& problem) {
    std::string line = fmt::format("{}: {}: {}", problem.path.empty() ? "(root)" : problem.path, problem.rule,
                                   problem.message);
    if (!problem.value.empty()) line += fmt::format(" (value: {})", problem.value);
    // A key may hold any character ("\u0000", a newline): one problem stays one line.
    std::string printable;
    printable.reserve(line.size());
    for (const char c : line) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) {
            printable += fmt::format("\\u{:04x}", byte);
        } else {
            printable += c;
        }
    }
    return printable;
}

std::filesystem::path schemas_dir(const std::filesystem::path& explicit_dir) {
    if (!explicit_dir.empty()) return explicit_dir;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): sea-mq never changes its environment
    if (const char* from_environment = std::getenv("SEAMQ_SCHEMAS_DIR");
        from_environment && *from_environment) {
        return from_environment;
    }
    return std::filesystem::path(build_info::source_dir) / "schemas";
}

std::string new_event_id() {
    unsigned char bytes[16];
    if (RAND_bytes(bytes, sizeof bytes) != 1)
        raise(Errc::internal, "OpenSSL RAND_bytes failed to make an event id");
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    id.reserve(36);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) id += '-';
        id += hex[bytes[i] >> 4];
        id += hex[bytes[i] & 0x0f];
    }
    return id;
}

std::string now_rfc3339() {
    return seamq::now_rfc3339(TimePrecision::microseconds);
}

// ---- Validator ----

struct Validator::State {
    std::shared_ptr<const JsonSchema> schema;
    Limits limits;
    const DataContracts* contracts = nullptr;
};

Validator::Validator(Limits limits, const DataContracts* contracts) : state_(std::make_unique<State>()) {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): sea-mq never changes its environment
    const char* from_environment = std::getenv("SEAMQ_SCHEMAS_DIR");
    state_->schema = from_environment && *from_environment
                         ? schema_from_file(std::filesystem::path(from_environment) / envelope_schema_file)
                         : embedded_schema();
    state_->limits = limits;
    state_->contracts = contracts;
}

Validator::Validator(const std::filesystem::path& schema_file, Limits limits, const DataContracts* contracts)
    : state_(std::make_unique<State>()) {
    state_->schema = schema_from_file(schema_file);
    state_->limits = limits;
    state_->contracts = contracts;
}

Validator::~Validator() = default;
Validator::Validator(Validator&&) noexcept = default;
Validator& Validator::operator=(Validator&&) noexcept = default;

const Limits& Validator::limits() const noexcept {
    return state_->limits;
}

namespace {

std::vector<Problem> size_problems(std::size_t size, const Limits& limits) {
    if (size <= limits.max_bytes) return {};
    return {
        Problem{"", "size", fmt::format("{} bytes", size),
                fmt::format("envelope is {} bytes, more than the limit of {} bytes; send large payloads by "
                            "reference or raise the limit (--max-bytes)",
                            size, limits.max_bytes)}};
}

Problem depth_problem(const Limits& limits) {
    return {"", "depth", "",
            fmt::format("arrays and objects nest more than {} levels deep; no envelope needs that many",
                        limits.max_depth)};
}

// Whether JSON text opens more than `limit` arrays or objects inside one another, counted
// on the brackets outside strings. Runs before parsing: nlohmann's parser is iterative,
// but the schema checks and dump() recurse once per level.
bool text_deeper_than(std::string_view text, std::size_t limit) {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

// The same on a parsed document; recurses at most `limit` levels.
bool deeper_than(const nlohmann::json& value, std::size_t limit) {
    if (!value.is_structured()) return false;
    if (limit == 0) return true;
    return std::any_of(value.begin(), value.end(),
                       [&](const nlohmann::json& child) { return deeper_than(child, limit - 1); });
}

// nlohmann's messages quote the bytes last read, which may be any bytes: keep them ASCII.
std::string printable_ascii(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7f) {
            out += fmt::format("\\x{:02x}", byte);
        } else {
            out += c;
        }
    }
    return out;
}

// Parses JSON text into `document`, or returns why it cannot be an envelope's JSON.
// Every failure is a problem: nothing here throws.
std::optional<Problem> parse_json(std::string_view json_text, const Limits& limits,
                                  nlohmann::json& document) {
    if (text_deeper_than(json_text, limits.max_depth)) return depth_problem(limits);
    try {
        document = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::out_of_range& e) {
        // 406: a number beyond the largest finite double (its text is quoted in the message).
        const std::string_view what = e.what();
        const auto first = what.find('\'');
        const auto last = what.rfind('\'');
        const auto number =
            first != std::string_view::npos && last > first ? what.substr(first + 1, last - first - 1) : "";
        return Problem{"", "number-range", printable_ascii(number.substr(0, 120)),
                       "a number's magnitude is beyond the largest finite double (about 1.8e308)"};
    } catch (const nlohmann::json::exception& e) {
        return Problem{"", "json", "", fmt::format("not valid JSON: {}", printable_ascii(e.what()))};
    }
    return std::nullopt;
}

}  // namespace

Validator::Validator(Unset) : state_(std::make_unique<State>()) {}

Validator Validator::built_in(Limits limits) {
    Validator validator{Unset{}};
    validator.state_->schema = embedded_schema();
    validator.state_->limits = limits;
    return validator;
}

std::vector<Problem> Validator::validate(std::string_view json_text) const {
    if (auto problems = size_problems(json_text.size(), state_->limits); !problems.empty()) return problems;
    nlohmann::json document;
    if (auto problem = parse_json(json_text, state_->limits, document)) return {std::move(*problem)};
    return check(document, json_text.size());
}

std::vector<Problem> Validator::validate_document(const nlohmann::json& document) const {
    // Depth first: dump() recurses too.
    if (deeper_than(document, state_->limits.max_depth)) return {depth_problem(state_->limits)};
    return check(document, document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).size());
}

std::vector<Problem> Validator::check(const nlohmann::json& document, std::size_t size) const {
    if (auto problems = size_problems(size, state_->limits); !problems.empty()) return problems;
    auto problems = state_->schema->validate(document);
    check_beyond_schema(document, problems);
    for (auto& problem : problems) problem.message = explain(problem);
    if (problems.empty() && state_->contracts) {
        auto contract_problems =
            state_->contracts->check(parse_subject(document["type"].get<std::string>()), document);
        problems.insert(problems.end(), std::make_move_iterator(contract_problems.begin()),
                        std::make_move_iterator(contract_problems.end()));
    }
    std::stable_sort(problems.begin(), problems.end(),
                     [](const Problem& a, const Problem& b) { return a.path < b.path; });
    return problems;
}

Envelope Validator::accept(nlohmann::json document, const std::vector<Problem>& problems,
                           std::string_view action) {
    if (problems.empty()) return Envelope(std::move(document));
    if (problems.size() == 1 && problems.front().rule == "size") {
        raise(Errc::too_large, "{}: {}", action, problems.front().message);
    }
    raise(Errc::invalid_envelope, "{}: {} problem{}:{}", action, problems.size(),
          problems.size() == 1 ? "" : "s", problems_text(problems));
}

Envelope Validator::parse(std::string_view json_text) const {
    if (auto problems = size_problems(json_text.size(), state_->limits); !problems.empty()) {
        return accept({}, problems, "envelope rejected");
    }
    nlohmann::json document;
    if (auto problem = parse_json(json_text, state_->limits, document)) {
        return accept({}, {std::move(*problem)}, "invalid envelope");
    }
    auto problems = check(document, json_text.size());
    return accept(std::move(document), problems, "invalid envelope");
}

// ---- Envelope ----

Envelope Envelope::parse(std::string_view json_text, const Limits& limits) {
    return Validator::built_in(limits).parse(json_text);
}

Envelope Envelope::from_json(nlohmann::json document, const Limits& limits) {
    auto problems = Validator::built_in(limits).validate_document(document);
    return Validator::accept(std::move(document), problems, "invalid envelope");
}

namespace {
std::optional<std::string> optional_string(const nlohmann::json& document, const char* key) {
    const auto found = document.find(key);
    if (found == document.end() || !found->is_string()) return std::nullopt;
    return found->get<std::string>();
}
}  // namespace

const std::string& Envelope::id() const {
    return document_.at("id").get_ref<const std::string&>();
}
const std::string& Envelope::type() const {
    return document_.at("type").get_ref<const std::string&>();
}
const std::string& Envelope::source() const {
    return document_.at("source").get_ref<const std::string&>();
}
const std::string& Envelope::subject() const {
    return document_.at("subject").get_ref<const std::string&>();
}
const std::string& Envelope::time() const {
    return document_.at("time").get_ref<const std::string&>();
}
const std::string& Envelope::datacontenttype() const {
    return document_.at("datacontenttype").get_ref<const std::string&>();
}
Subject Envelope::parsed_type() const {
    return parse_subject(type());
}
std::string Envelope::context() const {
    return parsed_type().context;
}
std::optional<std::string> Envelope::correlation_id() const {
    return optional_string(document_, "correlationid");
}
std::optional<std::string> Envelope::causation_id() const {
    return optional_string(document_, "causationid");
}
std::optional<std::string> Envelope::traceparent() const {
    return optional_string(document_, "traceparent");
}
std::optional<std::string> Envelope::tracestate() const {
    return optional_string(document_, "tracestate");
}
Visibility Envelope::visibility() const {
    return optional_string(document_, "visibility") == "external" ? Visibility::external
                                                                  : Visibility::internal;
}
const nlohmann::json* Envelope::data() const {
    const auto found = document_.find("data");
    return found == document_.end() ? nullptr : &*found;
}
std::string Envelope::to_json() const {
    return document_.dump();
}

// ---- EnvelopeBuilder ----

EnvelopeBuilder::EnvelopeBuilder(std::string type, std::string source, std::string subject) {
    document_ = {{"specversion", std::string(spec_version)},
                 {"id", new_event_id()},
                 {"source", std::move(source)},
                 {"type", std::move(type)},
                 {"subject", std::move(subject)},
                 {"time", now_rfc3339()},
                 {"datacontenttype", std::string(json_content_type)}};
}

EnvelopeBuilder& EnvelopeBuilder::id(std::string value) {
    document_["id"] = std::move(value);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::time(std::string rfc3339) {
    document_["time"] = std::move(rfc3339);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::data(nlohmann::json value) {
    document_.erase("data_base64");
    document_["data"] = std::move(value);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::data_base64(std::string base64, std::string content_type) {
    document_.erase("data");
    document_["data_base64"] = std::move(base64);
    document_["datacontenttype"] = std::move(content_type);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::dataschema(std::string uri) {
    document_["dataschema"] = std::move(uri);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::correlation_id(std::string value) {
    document_["correlationid"] = std::move(value);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::causation_id(std::string value) {
    document_["causationid"] = std::move(value);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::traceparent(std::string value) {
    document_["traceparent"] = std::move(value);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::tracestate(std::string value) {
    document_["tracestate"] = std::move(value);
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::visibility(Visibility value) {
    document_["visibility"] = std::string(to_string(value));
    return *this;
}
EnvelopeBuilder& EnvelopeBuilder::extension(std::string name, nlohmann::json value) {
    document_[std::move(name)] = std::move(value);
    return *this;
}

Envelope EnvelopeBuilder::build(const Validator& validator) const {
    return Validator::accept(document_, validator.validate_document(document_), "cannot build envelope");
}

Envelope EnvelopeBuilder::build(const Limits& limits) const {
    return build(Validator::built_in(limits));
}

}  // namespace seamq::envelope
