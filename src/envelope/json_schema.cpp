#include "seamq/envelope/json_schema.hpp"

#include <set>
#include <utility>

#include "pattern.hpp"
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "seamq/core/error.hpp"

namespace seamq::envelope {

namespace {

// `pattern` keywords are renamed to this one before valijson parses the schema, so that
// they are matched by PCRE2 (compiled once, with the schema) rather than by valijson's
// std::regex. The name cannot clash with a draft-07 keyword.
constexpr const char* pattern_keyword = "x-seamq-pattern";
// valijson's sentence for a failed `pattern`, which rule_of() maps back to the keyword.
constexpr const char* pattern_failure = "Failed to match regex specified by 'pattern' constraint.";

class PatternConstraint final : public valijson::constraints::PolyConstraint {
public:
    explicit PatternConstraint(Pattern pattern) : pattern_(std::move(pattern)) {}

    bool validate(const valijson::adapters::Adapter& target, const std::vector<std::string>& context,
                  valijson::ValidationResults* results) const override {
        // Strong types, as valijson's own check: only strings are matched.
        if (!target.isString()) return true;
        if (pattern_.search(target.asString())) return true;
        if (results != nullptr) results->pushError(context, pattern_failure);
        return false;
    }

private:
    valijson::constraints::Constraint* cloneInto(void* memory) const override {
        return new (memory) PatternConstraint(*this);
    }
    std::size_t sizeOf() const override { return sizeof(PatternConstraint); }

    Pattern pattern_;
};

class PatternBuilder final : public valijson::ConstraintBuilder {
public:
    valijson::constraints::Constraint* make(const valijson::adapters::Adapter& value) const override {
        // Syntax errors surface here, while the schema is loaded, as Error(Errc::config).
        return new PatternConstraint(Pattern(value.asString()));
    }
};

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.rfind(prefix, 0) == 0;
}

// valijson reports a failing keyword as a sentence; this maps its sentences (valijson
// 1.0) back to the keyword so that problems name the rule, as ajv does.
std::string rule_of(std::string_view description) {
    static const std::pair<std::string_view, std::string_view> prefixes[] = {
        {"Failed to match regex specified by 'pattern'", "pattern"},
        {"Value type not permitted by 'type'", "type"},
        {"Missing required property", "required"},
        {"Failed to match expected value set by 'const'", "const"},
        {"Failed to match against any enum values", "enum"},
        {"String should be no more than", "maxLength"},
        {"String should be no fewer than", "minLength"},
        {"Expected number less than or equal", "maximum"},
        {"Expected number less than", "exclusiveMaximum"},
        {"Expected number greater than or equal", "minimum"},
        {"Expected number greater than", "exclusiveMinimum"},
        {"Array should contain no more than", "maxItems"},
        {"Array should contain no fewer than", "minItems"},
        {"Object should have no more than", "maxProperties"},
        {"Object should have no fewer than", "minProperties"},
        {"Object contains a property that could not be validated", "additionalProperties"},
        {"Failed to validate against any schemas allowed by anyOf", "anyOf"},
        {"Target should not validate against schema specified in 'not'", "not"},
        {"Failed to validate against any child schemas allowed by oneOf", "oneOf"},
        {"Failed to validate against exactly one child schema", "oneOf"},
        {"Failed to validate against a conditional schema", "if"},
        {"String should be a valid", "format"},
        {"Value should be a multiple of", "multipleOf"},
        {"Value could not be converted", "multipleOf"},
        {"Elements at indexes", "uniqueItems"},
        {"Failed to any values against subschema in 'contains'", "contains"},
        {"Missing dependency", "dependencies"},
        {"Array contains more items than allowed", "additionalItems"},
        {"Cannot validate item #", "additionalItems"},
    };
    for (const auto& [prefix, rule] : prefixes) {
        if (starts_with(description, prefix)) return std::string(rule);
    }
    return {};
}

// Sentences valijson adds for a parent whose child failed; the child's own problem is
// the one worth reporting.
bool is_aggregate(std::string_view description) {
    return starts_with(description, "Failed to validate against schema associated with") ||
           starts_with(description, "Failed to validate against additional properties schema") ||
           starts_with(description, "Failed to validate item #") ||
           starts_with(description, "Failed to validate against child schema #") ||
           starts_with(description, "Failed to validate against dependent schema");
}

// The last 'quoted' word of a valijson sentence: the property it is about.
std::string quoted_name(std::string_view description) {
    const auto last = description.rfind('\'');
    if (last == std::string_view::npos || last == 0) return {};
    const auto first = description.rfind('\'', last - 1);
    if (first == std::string_view::npos) return {};
    return std::string(description.substr(first + 1, last - first - 1));
}

// valijson's context is {"<root>", "[name]", "[0]", ...}.
std::string pointer_of(const std::vector<std::string>& context) {
    std::string pointer;
    for (const auto& token : context) {
        if (token == "<root>") continue;
        std::string_view inner = token;
        if (inner.size() >= 2 && inner.front() == '[' && inner.back() == ']') {
            inner = inner.substr(1, inner.size() - 2);
        }
        pointer += '/';
        pointer += escape_pointer_token(inner);
    }
    return pointer;
}

// valijson's format checks call asString() on any value and throw on numbers; guard each
// `format` with an `if: {type: string}` (or drop it) before compiling. `pattern` becomes
// pattern_keyword.
nlohmann::json rewrite_formats(const nlohmann::json& schema, JsonSchema::Formats formats) {
    if (schema.is_array()) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& item : schema) out.push_back(rewrite_formats(item, formats));
        return out;
    }
    if (!schema.is_object()) return schema;
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : schema.items()) {
        // enum/const/examples/default hold instances, not schemas: copy verbatim.
        if (key == "enum" || key == "const" || key == "examples" || key == "default") {
            out[key] = value;
        } else if (key == "pattern" && value.is_string()) {
            out[pattern_keyword] = value;
        } else if (key != "format" || !value.is_string()) {
            out[key] = rewrite_formats(value, formats);
        }
    }
    const auto format = schema.find("format");
    if (format != schema.end() && format->is_string() && formats == JsonSchema::Formats::check_strings) {
        nlohmann::json guard = {{"if", {{"type", "string"}}}, {"then", {{"format", *format}}}};
        if (!out.contains("allOf")) out["allOf"] = nlohmann::json::array();
        if (out["allOf"].is_array()) out["allOf"].push_back(std::move(guard));
    }
    return out;
}

}  // namespace

std::string escape_pointer_token(std::string_view token) {
    std::string escaped;
    escaped.reserve(token.size());
    for (const char c : token) {
        if (c == '~') {
            escaped += "~0";
        } else if (c == '/') {
            escaped += "~1";
        } else {
            escaped += c;
        }
    }
    return escaped;
}

std::string describe_value(const nlohmann::json& value, std::size_t max_chars) {
    std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (text.size() > max_chars) {
        const std::size_t total = text.size();
        text.resize(max_chars);
        text += "... (" + std::to_string(total) + " characters)";
    }
    return text;
}

const nlohmann::json* find_pointer(const nlohmann::json& document, std::string_view path) {
    try {
        const nlohmann::json::json_pointer pointer{std::string(path)};
        if (!document.contains(pointer)) return nullptr;
        return &document.at(pointer);
    } catch (const nlohmann::json::exception&) {
        return nullptr;
    }
}

struct JsonSchema::State {
    std::string name;
    nlohmann::json source;  // valijson's adapters refer to it while parsing only
    valijson::Schema schema;
};

JsonSchema::JsonSchema(const nlohmann::json& schema, std::string name, Formats formats)
    : state_(std::make_unique<State>()) {
    state_->name = std::move(name);
    if (!schema.is_object()) {
        raise(Errc::config, "schema {} is not a JSON object; a draft-07 schema is an object", state_->name);
    }
    const auto declared = schema.find("$schema");
    if (declared != schema.end() &&
        (!declared->is_string() || declared->get<std::string>().find("draft-07") == std::string::npos)) {
        raise(Errc::config, "schema {} declares $schema {}; sea-mq schemas use draft-07 (\"{}\")",
              state_->name, describe_value(*declared), "http://json-schema.org/draft-07/schema#");
    }
    state_->source = rewrite_formats(schema, formats);
    try {
        valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
        parser.addConstraintBuilder(pattern_keyword, new PatternBuilder());  // the parser owns it
        valijson::adapters::NlohmannJsonAdapter adapter(state_->source);
        parser.populateSchema(adapter, state_->schema);
    } catch (const std::exception& e) {  // also a pattern that does not compile (Error)
        raise(Errc::config, "schema {} is not a valid draft-07 schema: {}", state_->name, e.what());
    }
}

JsonSchema::~JsonSchema() = default;
JsonSchema::JsonSchema(JsonSchema&&) noexcept = default;
JsonSchema& JsonSchema::operator=(JsonSchema&&) noexcept = default;

const std::string& JsonSchema::name() const noexcept {
    return state_->name;
}

std::vector<Problem> JsonSchema::validate(const nlohmann::json& instance,
                                          std::string_view path_prefix) const {
    // A valijson Validator's only state is its std::regex cache, which `pattern` no longer
    // uses (PatternConstraint holds compiled PCRE2 code): one per call costs nothing.
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(instance);
    bool valid = false;
    try {
        valid = validator.validate(state_->schema, target, &results);
    } catch (const std::exception& e) {
        return {Problem{std::string(path_prefix), "schema", describe_value(instance),
                        fmt::format("schema {} could not be evaluated: {}", state_->name, e.what())}};
    }
    std::vector<Problem> problems;
    std::set<std::pair<std::string, std::string>> seen;
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
        if (is_aggregate(error.description)) continue;
        std::string rule = rule_of(error.description);
        if (rule.empty()) rule = "schema";
        std::string path = pointer_of(error.context);
        std::string value;
        std::string message = error.description;
        if (rule == "required") {
            path += "/" + escape_pointer_token(quoted_name(error.description));
            message = "required attribute is missing";
        } else if (rule == "additionalProperties") {
            path += "/" + escape_pointer_token(quoted_name(error.description));
            message = "property is not allowed by the schema";
        }
        if (rule != "required") {
            if (const auto* found = find_pointer(instance, path)) value = describe_value(*found);
        }
        if (!seen.emplace(path, rule).second) continue;
        problems.push_back(
            Problem{std::string(path_prefix) + path, std::move(rule), std::move(value), std::move(message)});
    }
    // Some keywords (propertyNames) fail without saying why; never report "valid" then.
    if (!valid && problems.empty()) {
        problems.push_back(Problem{std::string(path_prefix), "schema", describe_value(instance),
                                   fmt::format("does not match schema {}", state_->name)});
    }
    return problems;
}

}  // namespace seamq::envelope
