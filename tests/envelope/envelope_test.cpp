#include "seamq/envelope/envelope.hpp"

#include <algorithm>
#include <cstring>
#include <regex>

#include "tests/envelope/run_command.hpp"
#include <gtest/gtest.h>

#include "seamq/core/error.hpp"
#include "seamq/envelope/json_schema.hpp"

using namespace seamq;
using namespace seamq::envelope;

namespace {

nlohmann::json minimal() {
    return nlohmann::json::parse(
        test::slurp(test::source_dir() / "tests/envelope/corpus/valid/minimal.json"));
}

template <typename F>
Error error_of(F&& action) {
    try {
        action();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no seamq::Error thrown";
    return Error(Errc::internal, "none");
}

bool has_problem(const std::vector<Problem>& problems, const std::string& path, const std::string& rule) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const Problem& p) { return p.path == path && p.rule == rule; });
}

}  // namespace

TEST(SubjectGrammar, ParsesContextKindNameAndVersion) {
    EXPECT_EQ(parse_subject("sea.event.order-placed.v1"), (Subject{"sea", Kind::event, "order-placed", 1}));
    EXPECT_EQ(parse_subject("vibes_pro.command.generate_scaffold-2.v42"),
              (Subject{"vibes_pro", Kind::command, "generate_scaffold-2", 42}));
    EXPECT_EQ(parse_subject("governance.event.decision-recorded.v999999").to_string(),
              "governance.event.decision-recorded.v999999");
}

TEST(SubjectGrammar, NamesTheProblemOfEachBrokenType) {
    const std::pair<const char*, const char*> cases[] = {
        {"", "empty"},
        {"sea.event.order-placed", "4"},
        {"sea.event.order.placed.v1", "5 dot-separated tokens"},
        {"sea..order-placed.v1", "empty token"},
        {"sea.event.*.v1", "'*'"},
        {"sea.event.>", "'>'"},
        {"sea.event.order placed.v1", "a space"},
        {"Sea.event.order-placed.v1", "lowercase letter"},
        {"1sea.event.x.v1", "lowercase letter"},
        {"sea.fact.order-placed.v1", "'event' or 'command'"},
        {"sea.event.order-.v1", "not followed"},
        {"sea.event.order--placed.v1", "not followed"},
        {"sea.event.order.placed.v01", "5 dot-separated"},
        {"sea.event.order-placed.v01", "leading zeros"},
        {"sea.event.order-placed.v0", "leading zeros"},
        {"sea.event.order-placed.1", "leading zeros"},
        {"sea.event.order-placed.v1000000", "999999"},
        {"dlq.event.order-placed.v1", "reserved"},
        {"sea.event.Order.v1", "name 'Order' must start with a lowercase letter"},
        {"sea.event.orDer.v1", "contains 'D'"},
    };
    for (const auto& [type, fragment] : cases) {
        const auto problem = subject_problem(type);
        ASSERT_TRUE(problem.has_value()) << type;
        EXPECT_NE(problem->find(fragment), std::string::npos) << type << " -> " << *problem;
        EXPECT_EQ(error_of([&] { parse_subject(type); }).code(), Errc::invalid_envelope);
    }
}

// The grammar lives twice: in C++ (for messages) and as the schema's `type` pattern (for
// ajv and any other validator). They must accept exactly the same strings.
TEST(SubjectGrammar, AgreesWithTheSchemaPattern) {
    std::vector<std::string> types = {"sea.event.order-placed.v1", "a.command.b.v1", "a1.event.b2_c3-d4.v10"};
    const std::string alphabet = "az09-_.*> Av";
    // Every one- and two-character edit of a valid type, at every position.
    const std::string seed = "se-a.event.or_der.v12";
    for (std::size_t i = 0; i <= seed.size(); ++i) {
        for (const char c : alphabet) {
            types.push_back(seed.substr(0, i) + c + seed.substr(i));
            if (i < seed.size()) {
                std::string replaced = seed;
                replaced[i] = c;
                types.push_back(replaced);
                types.push_back(seed.substr(0, i) + seed.substr(i + 1));
            }
        }
    }
    types.push_back(std::string(32, 'c') + ".event." + std::string(64, 'n') + ".v1");
    types.push_back(std::string(33, 'c') + ".event.n.v1");
    types.push_back("c.event." + std::string(65, 'n') + ".v1");
    types.push_back("dlq.event.x.v1");
    types.push_back("dlqx.event.x.v1");
    const Validator validator;
    const auto schema =
        nlohmann::json::parse(test::slurp(test::source_dir() / "schemas/events/envelope-v1.schema.json"));
    const JsonSchema type_schema(schema["properties"]["type"], "type");
    for (const auto& type : types) {
        auto document = minimal();
        document["type"] = type;
        const auto problems = validator.validate_document(document);
        const bool grammar_ok = !subject_problem(type).has_value();
        EXPECT_EQ(grammar_ok, !has_problem(problems, "/type", "subject-grammar")) << type;
        // The schema's pattern alone, without the C++ grammar check:
        EXPECT_EQ(grammar_ok, type_schema.validate(type).empty()) << type;
    }
}

TEST(EnvelopeBuilder, BuildsAValidCloudEventWithGeneratedIdAndTime) {
    const auto event = EnvelopeBuilder("sea.event.order-cancelled.v1", "/sea/orders", "order-7")
                           .data({{"order_id", "order-7"}, {"reason", "out-of-stock"}})
                           .correlation_id("checkout-1")
                           .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                           .build();
    EXPECT_TRUE(std::regex_match(
        event.id(), std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << event.id();
    EXPECT_TRUE(std::regex_match(event.time(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
        << event.time();
    EXPECT_EQ(event.json()["specversion"], "1.0");
    EXPECT_EQ(event.datacontenttype(), "application/json");
    EXPECT_EQ(event.type(), "sea.event.order-cancelled.v1");
    EXPECT_EQ(event.context(), "sea");
    EXPECT_EQ(event.subject(), "order-7");
    EXPECT_EQ(event.source(), "/sea/orders");
    EXPECT_EQ(event.correlation_id(), "checkout-1");
    EXPECT_EQ(event.causation_id(), std::nullopt);
    EXPECT_EQ(event.visibility(), Visibility::internal);
    ASSERT_NE(event.data(), nullptr);
    EXPECT_EQ((*event.data())["reason"], "out-of-stock");
    // Serialize and parse back: the same document.
    const auto again = Envelope::parse(event.to_json());
    EXPECT_EQ(again.json(), event.json());
    // Ids are fresh per envelope.
    EXPECT_NE(new_event_id(), new_event_id());
}

TEST(EnvelopeBuilder, RefusesAnInvalidEnvelopeListingEveryProblem) {
    const auto error = error_of([] {
        EnvelopeBuilder("sea.event.Order.v1", "/sea orders", "order-7")
            .data(nlohmann::json::object())
            .traceparent("00-abc-01")
            .extension("Bad_Name", "x")
            .build();
    });
    EXPECT_EQ(error.code(), Errc::invalid_envelope);
    const std::string message = error.what();
    for (const char* fragment :
         {"4 problems", "/type: subject-grammar", "/source: format", "/traceparent: pattern",
          "/Bad_Name: propertyNames", "(value: \"00-abc-01\")"}) {
        EXPECT_NE(message.find(fragment), std::string::npos) << fragment << " not in: " << message;
    }
}

TEST(EnvelopeParse, SizeLimitIsConfigurableAndReportedNotTruncated) {
    auto document = minimal();
    document["data"] = {{"blob", std::string(500, 'x')}};
    const auto text = document.dump();
    EXPECT_NO_THROW(Envelope::parse(text));
    const auto error = error_of([&] { Envelope::parse(text, Limits{200}); });
    EXPECT_EQ(error.code(), Errc::too_large);
    EXPECT_NE(std::string(error.what())
                  .find(std::to_string(text.size()) + " bytes, more than the limit of 200 bytes"),
              std::string::npos)
        << error.what();
    EXPECT_EQ(error_of([&] {
                  EnvelopeBuilder("sea.event.x.v1", "/s", "k").data(document["data"]).build(Limits{200});
              }).code(),
              Errc::too_large);
}

TEST(EnvelopeParse, ProblemsNamePathRuleAndValue) {
    auto document = minimal();
    document.erase("source");
    document["specversion"] = "0.3";
    document["time"] = "2023-02-29T10:00:00Z";
    const auto problems = Validator().validate(document.dump());
    ASSERT_EQ(problems.size(), 3u);
    EXPECT_EQ(to_string(problems[0]), "/source: required: required attribute source is missing");
    EXPECT_EQ(problems[1].path, "/specversion");
    EXPECT_EQ(problems[1].rule, "const");
    EXPECT_EQ(problems[1].value, "\"0.3\"");
    EXPECT_EQ(problems[2].path, "/time");
    EXPECT_EQ(problems[2].rule, "format");
    EXPECT_EQ(error_of([] { Envelope::parse("{\"id\": "); }).code(), Errc::invalid_envelope);
}

// Huge attribute values within the size limit are rejected, without crashing the process
// (std::regex, used for patterns before PCRE2, recursed per character).
TEST(EnvelopeParse, HugeAttributeValuesAreRejectedWithoutCrashing) {
    const std::string huge(900 * 1024, 'a');
    for (const char* attribute : {"type", "source", "id", "time", "traceparent", "tracestate",
                                  "correlationid", "dataschema", "datacontenttype", "subject"}) {
        auto document = minimal();
        document[attribute] = huge;
        const auto problems = Validator().validate(document.dump());
        EXPECT_FALSE(problems.empty()) << attribute;
    }
    auto document = minimal();
    document[std::string(100 * 1024, 'a')] = "long extension name";
    EXPECT_TRUE(has_problem(Validator().validate(document.dump()), "/" + std::string(100 * 1024, 'a'),
                            "propertyNames"));
    document = minimal();
    document.erase("data");
    document["data_base64"] = std::string(700 * 1024, 'A');
    EXPECT_TRUE(Validator().validate(document.dump()).empty());
}

TEST(EnvelopeParse, AccessorsReadTheDocument) {
    const auto event = Envelope::parse(
        test::slurp(test::source_dir() / "tests/envelope/corpus/valid/order-placed-full.json"));
    EXPECT_EQ(event.id(), "0b5d6a43-7c2e-4f8a-b1d9-3e6f4a2c8b11");
    EXPECT_EQ(event.parsed_type(), (Subject{"sea", Kind::event, "order-placed", 1}));
    EXPECT_EQ(event.visibility(), Visibility::external);
    EXPECT_EQ(event.causation_id(), "a7e3c1d2-0000-4000-8000-000000000001");
    EXPECT_EQ(event.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    EXPECT_EQ(event.tracestate(), "sea=t61rcWkgMzE,congo=t61rcWkgMzE");
    const auto binary =
        Envelope::parse(test::slurp(test::source_dir() / "tests/envelope/corpus/valid/command-base64.json"));
    EXPECT_EQ(binary.data(), nullptr);
    EXPECT_EQ(binary.parsed_type().kind, Kind::command);
}

// `pattern` is matched by PCRE2 set up for ECMA-262 with the 'u' flag, as ajv matches it.
// Each case is one where PCRE2's defaults (or byte-wise matching) would decide otherwise.
TEST(JsonSchemaPattern, MatchesAsJavaScriptRegularExpressionsDo) {
    const auto verdict = [](const std::string& pattern, const nlohmann::json& value) {
        const JsonSchema schema(nlohmann::json{{"pattern", pattern}}, "test");
        return schema.validate(value).empty();
    };
    EXPECT_TRUE(verdict("b", "abc"));       // found anywhere unless anchored
    EXPECT_FALSE(verdict("^a$", "a\n"));    // '$' is the end only, not before a final newline
    EXPECT_FALSE(verdict("^.$", "\r"));     // '.' matches neither CR ...
    EXPECT_FALSE(verdict("^.$", "\n"));     // ... nor LF
    EXPECT_TRUE(verdict("^.$", "\u00e9"));  // one code point, two bytes
    EXPECT_TRUE(verdict("^.{3}$", "\u00e9t\u00e9"));
    EXPECT_TRUE(verdict("^\\u00e9$", "\u00e9"));         // \uXXXX escape
    EXPECT_TRUE(verdict("^\\u{1F600}$", "\U0001F600"));  // \u{...} escape
    EXPECT_TRUE(verdict("^(?=.{2}$)(?!ab)[a-z]+$", "ba"));
    EXPECT_FALSE(verdict("^(?=.{2}$)(?!ab)[a-z]+$", "ab"));
    EXPECT_FALSE(verdict("^[a-z]+$", "ABC"));  // case matters
    EXPECT_TRUE(verdict("^[a-z]+$", 5));       // only strings are matched
}

TEST(JsonSchemaPattern, FailuresNameThePathAndOnlyTheKeywordIsRewritten) {
    // A property called "pattern" is a property, not the keyword.
    const JsonSchema schema(nlohmann::json::parse(R"({
        "type": "object",
        "propertyNames": {"pattern": "^[a-z]+$"},
        "properties": {"pattern": {"type": "integer"}, "id": {"type": "string", "pattern": "^[0-9]+$"}}
    })"),
                            "test");
    EXPECT_TRUE(schema.validate(nlohmann::json{{"pattern", 1}, {"id", "42"}}).empty());
    const auto problems = schema.validate(nlohmann::json{{"pattern", "x"}, {"id", "4x"}, {"Bad", 1}});
    EXPECT_TRUE(has_problem(problems, "/pattern", "type"));
    EXPECT_TRUE(has_problem(problems, "/id", "pattern"));
    // valijson's propertyNames fails without naming the property (the envelope's own check
    // does, in check_beyond_schema).
    EXPECT_FALSE(schema.validate(nlohmann::json{{"Bad", 1}}).empty());
    EXPECT_TRUE(schema.validate(nlohmann::json{{"good", 1}}).empty());
}

TEST(JsonSchemaPattern, AnInvalidPatternIsAConfigurationErrorWhenTheSchemaLoads) {
    const auto error =
        error_of([] { JsonSchema(nlohmann::json::parse(R"({"pattern": "^(a$"})"), "broken.json"); });
    EXPECT_EQ(error.code(), Errc::config);
    EXPECT_NE(std::string(error.what()).find("broken.json"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("/^(a$/ is not valid at offset 4"), std::string::npos)
        << error.what();
}

TEST(Validator, SchemaFileErrorsAreConfigurationErrors) {
    EXPECT_EQ(error_of([] { Validator(std::filesystem::path("/nonexistent/envelope.json")); }).code(),
              Errc::config);
    seamq::testing::TempDir dir("schema");
    std::ofstream(dir.path() / "bad.json") << R"({"$schema": "http://json-schema.org/draft-04/schema#"})";
    EXPECT_EQ(error_of([&] { Validator(dir.path() / "bad.json"); }).code(), Errc::config);
    // The repository's file and the built-in copy are the same schema.
    const Validator from_file(test::source_dir() / "schemas/events/envelope-v1.schema.json");
    EXPECT_TRUE(from_file.validate(minimal().dump()).empty());
    EXPECT_EQ(schemas_dir("/x"), std::filesystem::path("/x"));
}

// ---- hostile input: every input gives problems, never an exception ----

namespace {

// The minimal envelope's text with `data` replaced by the JSON text `data`.
std::string with_data(const std::string& data) {
    auto document = minimal();
    document["data"] = nullptr;
    auto text = document.dump();
    const auto at = text.find("\"data\":null");
    return text.replace(at, std::strlen("\"data\":null"), "\"data\":" + data);
}

bool printable_ascii(const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte >= 0x20 && byte < 0x7f;
    });
}

}  // namespace

TEST(HostileInput, NumberBeyondTheLargestDoubleIsANumberRangeProblem) {
    const Validator validator;
    // The fuzzer's first find: 15 bytes that made nlohmann throw out_of_range.
    auto problems = validator.validate(std::string_view("111111111e1111s"));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "number-range");
    EXPECT_EQ(problems[0].value, "111111111e1111");

    problems = validator.validate(with_data("{\"amount\": -1e400}"));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "number-range");
    // Underflow is read as 0: the envelope is valid.
    EXPECT_TRUE(validator.validate(with_data("{\"amount\": 1e-400}")).empty());
    EXPECT_TRUE(validator.validate(with_data("{\"amount\": 1.7976931348623157e308}")).empty());

    const auto error = error_of([&] { validator.parse(with_data("[1e999]")); });
    EXPECT_EQ(error.code(), Errc::invalid_envelope);
    EXPECT_NE(std::string(error.what()).find("number-range"), std::string::npos) << error.what();
}

TEST(HostileInput, InvalidUtf8AndLoneSurrogatesAreJsonProblemsInPrintableText) {
    const Validator validator;
    for (const std::string data : {"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\\ud800\"", "\"\\udc00\"",
                                   "\"\\ud800\\u0041\"", "\"a\x01\""}) {
        const auto problems = validator.validate(with_data(data));
        ASSERT_EQ(problems.size(), 1u) << data;
        EXPECT_EQ(problems[0].rule, "json") << data;
        EXPECT_TRUE(printable_ascii(to_string(problems[0]))) << to_string(problems[0]);
        EXPECT_EQ(error_of([&] { validator.parse(with_data(data)); }).code(), Errc::invalid_envelope);
    }
    // A proper pair is fine.
    EXPECT_TRUE(validator.validate(with_data("\"\\ud83d\\ude00\"")).empty());
}

TEST(HostileInput, NestingBeyondTheDepthLimitIsADepthProblem) {
    const Validator validator;
    // The envelope object is level 1: 63 more levels in data is the most allowed.
    EXPECT_TRUE(validator.validate(with_data(std::string(63, '[') + std::string(63, ']'))).empty());
    auto problems = validator.validate(with_data(std::string(64, '[') + std::string(64, ']')));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "depth");
    // Brackets inside strings do not count.
    EXPECT_TRUE(validator.validate(with_data("\"" + std::string(500, '[') + "\\\"{{\"")).empty());
    // Far deeper than a stack could take recursively, within the size limit.
    problems = validator.validate(std::string(500'000, '[') + std::string(500'000, ']'));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "depth");
    problems = validator.validate(std::string(500'000, '['));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "depth");
    EXPECT_EQ(error_of([&] { validator.parse(std::string(100'000, '{')); }).code(), Errc::invalid_envelope);

    // An already parsed document: checked before dump() or the schema recurse into it.
    // Built in place: copying a document this deep would itself recurse once per level.
    nlohmann::json deep = nlohmann::json::array();
    nlohmann::json* innermost = &deep;
    for (int i = 0; i < 100'000; ++i) {
        innermost->push_back(nlohmann::json::array());
        innermost = &innermost->back();
    }
    auto document = minimal();
    document["data"] = std::move(deep);
    problems = validator.validate(document);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "depth");
    EXPECT_EQ(error_of([&] { Envelope::from_json(std::move(document)); }).code(), Errc::invalid_envelope);
    // A lower limit applies as set.
    EXPECT_EQ(Validator(Limits{.max_depth = 2}).validate(with_data("[[1]]"))[0].rule, "depth");
}

TEST(HostileInput, DuplicateKeysKeepTheLastValueAsJsonbDoes) {
    auto text = minimal().dump();
    text.insert(1, "\"subject\":\"first\",");
    EXPECT_EQ(Envelope::parse(text).subject(), "order-1001");
    text.insert(text.size() - 1, ",\"subject\":\"last\"");
    EXPECT_EQ(Envelope::parse(text).subject(), "last");
    // The last value is the one checked.
    text.insert(text.size() - 1, ",\"subject\":\"\"");
    EXPECT_TRUE(has_problem(Validator().validate(text), "/subject", "minLength"));
}

TEST(HostileInput, NulBytesAndControlCharactersStayOnOneLine) {
    const Validator validator;
    // An escaped NUL is a character like any other.
    auto document = minimal();
    document["subject"] = std::string("a\0b", 3);
    EXPECT_TRUE(validator.validate(document.dump()).empty());
    // A raw NUL or newline inside a string is not JSON.
    auto text = minimal().dump();
    text.replace(text.find("order-1001"), 1, std::string(1, '\0'));
    auto problems = validator.validate(text);
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "json");
    EXPECT_TRUE(printable_ascii(to_string(problems[0]))) << to_string(problems[0]);
    // Keys with control characters are reported, and the line stays one line.
    document = minimal();
    document[std::string("x\0\n", 3)] = "y";
    problems = validator.validate(document.dump());
    ASSERT_TRUE(has_problem(problems, std::string("/x\0\n", 4), "propertyNames"));
    for (const auto& problem : problems)
        EXPECT_TRUE(printable_ascii(to_string(problem))) << to_string(problem);
}

TEST(HostileInput, HugeStringsAreCheckedWithinTheSizeLimit) {
    const Validator validator;
    const std::string huge(Limits{}.max_bytes - 400, 'x');
    EXPECT_TRUE(validator.validate(with_data("\"" + huge + "\"")).empty());
    auto document = minimal();
    document["id"] = huge;
    auto problems = validator.validate(document.dump());
    ASSERT_TRUE(has_problem(problems, "/id", "maxLength") || has_problem(problems, "/id", "pattern"));
    for (const auto& problem : problems) EXPECT_LT(problem.value.size(), 1000u);
    document["id"] = huge + huge;
    problems = validator.validate(document.dump());
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "size");
}
