#include "seamq/contracts/contracts.hpp"

#include "tests/envelope/run_command.hpp"
#include <gtest/gtest.h>

#include "seamq/core/error.hpp"
#include "seamq/testing/process.hpp"

namespace fs = std::filesystem;
using namespace seamq;
using namespace seamq::contracts;

namespace {

// A scratch copy of the repository's schemas/events, so tests can break it.
struct EventsCopy {
    seamq::testing::TempDir dir{"contracts"};
    fs::path events = dir.path() / "events";
    EventsCopy() { fs::copy(test::source_dir() / "schemas/events", events, fs::copy_options::recursive); }
    nlohmann::json read(const std::string& file) const {
        return nlohmann::json::parse(test::slurp(events / file));
    }
    void write(const std::string& file, const nlohmann::json& schema, int indent = 2) const {
        fs::create_directories((events / file).parent_path());
        std::ofstream(events / file) << schema.dump(indent) << "\n";
    }
};

std::vector<Finding> errors_of(const std::vector<Finding>& findings) {
    std::vector<Finding> errors;
    for (const auto& finding : findings) {
        if (finding.error) errors.push_back(finding);
    }
    return errors;
}

std::string describe(const std::vector<Finding>& findings) {
    std::string text;
    for (const auto& f : findings) text += "\n  " + f.file + ": " + f.kind + ": " + f.message;
    return text;
}

nlohmann::json order_placed_data() {
    return nlohmann::json::parse(
        test::slurp(test::source_dir() / "tests/envelope/corpus/valid/order-placed-full.json"))["data"];
}

}  // namespace

TEST(ContractsLint, RepositoryContractsAreCleanAndLocked) {
    const auto findings = lint(test::source_dir() / "schemas/events");
    EXPECT_TRUE(findings.empty()) << describe(findings);
    EXPECT_GE(Registry::load(test::source_dir() / "schemas/events").size(), 6u);
}

TEST(ContractsLint, EachFailureKindHasItsOwnMessage) {
    EventsCopy copy;
    // 1. A locked contract changed.
    auto order = copy.read("sea/order-placed.v1.schema.json");
    order["properties"]["coupon"] = {{"type", "string"}};
    copy.write("sea/order-placed.v1.schema.json", order);
    // 2. Bad file names.
    copy.write("sea/OrderShipped.v1.schema.json", copy.read("sea/order-cancelled.v1.schema.json"));
    copy.write("sea/order-returned.schema.json", copy.read("sea/order-cancelled.v1.schema.json"));
    // 3. A missing annotation.
    auto unannotated = copy.read("sea/order-cancelled.v1.schema.json");
    unannotated.erase("x-sea-visibility");
    copy.write("governance/audit-opened.v1.schema.json", unannotated);

    const auto errors = errors_of(lint(copy.events));
    ASSERT_EQ(errors.size(), 4u) << describe(errors);
    std::map<std::string, Finding> by_file;
    for (const auto& e : errors) by_file[e.file] = e;

    const auto& changed = by_file.at("sea/order-placed.v1.schema.json");
    EXPECT_EQ(changed.kind, "changed");
    EXPECT_NE(changed.message.find("changed after it was locked"), std::string::npos) << changed.message;
    EXPECT_NE(changed.message.find("publish the change as a new version, sea/order-placed.v2.schema.json"),
              std::string::npos)
        << changed.message;
    EXPECT_NE(changed.message.find("sea.event.order-placed.v2"), std::string::npos);

    for (const auto* name : {"sea/OrderShipped.v1.schema.json", "sea/order-returned.schema.json"}) {
        const auto& bad_name = by_file.at(name);
        EXPECT_EQ(bad_name.kind, "file-name");
        EXPECT_NE(bad_name.message.find("file name does not follow <context>/<name>.v<n>.schema.json"),
                  std::string::npos)
            << bad_name.message;
    }
    EXPECT_NE(by_file.at("sea/OrderShipped.v1.schema.json").message.find("lowercase letter"),
              std::string::npos);

    const auto& missing = by_file.at("governance/audit-opened.v1.schema.json");
    EXPECT_EQ(missing.kind, "visibility");
    EXPECT_NE(missing.message.find("missing annotation \"x-sea-visibility\""), std::string::npos)
        << missing.message;

    // Three kinds, three different messages.
    EXPECT_NE(changed.message, missing.message);
    EXPECT_NE(changed.message, by_file.at("sea/order-returned.schema.json").message);

    // lock refuses while errors exist, and leaves the lock file as it was.
    const auto lock_before = test::slurp(lock_file(copy.events));
    try {
        lock(copy.events);
        ADD_FAILURE() << "lock accepted a changed contract";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::contract);
        EXPECT_NE(std::string(e.what()).find("refusing to lock"), std::string::npos);
    }
    EXPECT_EQ(test::slurp(lock_file(copy.events)), lock_before);
}

TEST(ContractsLint, FormattingIsNotAChangeButDeletionIs) {
    EventsCopy copy;
    // Re-indented with different whitespace: the canonical form, hence the hash, is the same.
    copy.write("sea/order-placed.v1.schema.json", copy.read("sea/order-placed.v1.schema.json"), 7);
    EXPECT_TRUE(errors_of(lint(copy.events)).empty());
    fs::remove(copy.events / "sea/order-cancelled.v1.schema.json");
    const auto errors = errors_of(lint(copy.events));
    ASSERT_EQ(errors.size(), 1u) << describe(errors);
    EXPECT_EQ(errors[0].kind, "deleted");
    EXPECT_NE(errors[0].message.find("sea.event.order-cancelled.v1"), std::string::npos);
}

TEST(ContractsLint, OtherSchemaProblemsAreReported) {
    EventsCopy copy;
    std::ofstream(copy.events / "sea/broken.v1.schema.json") << "{ not json";
    auto wrong_draft = copy.read("sea/order-cancelled.v1.schema.json");
    wrong_draft["$schema"] = "http://json-schema.org/draft-04/schema#";
    copy.write("sea/old-draft.v1.schema.json", wrong_draft);
    auto bad_mode = copy.read("sea/order-cancelled.v1.schema.json");
    bad_mode["x-sea-payload-mode"] = "partial";
    copy.write("sea/bad-mode.v1.schema.json", bad_mode);
    auto bad_visibility = copy.read("sea/order-cancelled.v1.schema.json");
    bad_visibility["x-sea-visibility"] = "public";
    copy.write("sea/bad-visibility.v1.schema.json", bad_visibility);
    std::map<std::string, std::string> kinds;
    for (const auto& e : errors_of(lint(copy.events))) kinds[e.file] = e.kind;
    EXPECT_EQ(kinds["sea/broken.v1.schema.json"], "json");
    EXPECT_EQ(kinds["sea/old-draft.v1.schema.json"], "schema");
    EXPECT_EQ(kinds["sea/bad-mode.v1.schema.json"], "payload-mode");
    EXPECT_EQ(kinds["sea/bad-visibility.v1.schema.json"], "visibility");
}

TEST(ContractsLock, AddsNewVersionsAndNeverRewritesEntries) {
    EventsCopy copy;
    const auto before = nlohmann::json::parse(test::slurp(lock_file(copy.events)));
    auto v2 = copy.read("sea/order-placed.v1.schema.json");
    v2["properties"]["coupon"] = {{"type", "string"}};
    v2["title"] = "sea.event.order-placed.v2";
    copy.write("sea/order-placed.v2.schema.json", v2);
    const auto notes = lint(copy.events);
    ASSERT_EQ(notes.size(), 1u);
    EXPECT_FALSE(notes[0].error);
    EXPECT_EQ(notes[0].kind, "unlocked");

    EXPECT_EQ(lock(copy.events), std::vector<std::string>{"sea.event.order-placed.v2"});
    const auto after = nlohmann::json::parse(test::slurp(lock_file(copy.events)));
    for (const auto& [type, entry] : before["contracts"].items())
        EXPECT_EQ(after["contracts"][type], entry) << type;
    EXPECT_EQ(after["contracts"]["sea.event.order-placed.v2"]["sha256"], content_hash(v2));
    EXPECT_TRUE(lock(copy.events).empty());
    EXPECT_TRUE(lint(copy.events).empty());
}

TEST(ContractHash, IgnoresKeyOrderAndWhitespaceOnly) {
    const auto a = nlohmann::json::parse(R"({"type": "object", "x-sea-visibility": "internal"})");
    const auto b = nlohmann::json::parse("{\n  \"x-sea-visibility\":\"internal\",\n\"type\":\"object\"}");
    const auto c = nlohmann::json::parse(R"({"type": "object", "x-sea-visibility": "external"})");
    EXPECT_EQ(content_hash(a), content_hash(b));
    EXPECT_NE(content_hash(a), content_hash(c));
    EXPECT_EQ(content_hash(a).size(), 64u);
}

TEST(ContractRegistry, ValidatesDataAndVisibility) {
    const auto registry = Registry::load(test::source_dir() / "schemas/events");
    const auto* order = registry.find("sea.event.order-placed.v1");
    ASSERT_NE(order, nullptr);
    EXPECT_EQ(order->visibility, envelope::Visibility::external);
    EXPECT_EQ(order->payload_mode, PayloadMode::redacted);
    EXPECT_EQ(registry.find("vibespro.command.generate-scaffold.v1")->type.kind, envelope::Kind::command);
    EXPECT_EQ(registry.find("sea.event.unknown.v1"), nullptr);

    const auto type = envelope::parse_subject("sea.event.order-placed.v1");
    nlohmann::json document = {{"data", order_placed_data()}, {"visibility", "external"}};
    EXPECT_TRUE(registry.check(type, document).empty());
    document["data"]["customer"].erase("email");
    document["data"]["lines"][0]["quantity"] = 0;
    document["visibility"] = "internal";
    const auto problems = registry.check(type, document);
    ASSERT_EQ(problems.size(), 3u);
    EXPECT_EQ(problems[0].path, "/data/customer/email");
    EXPECT_EQ(problems[0].rule, "required");
    EXPECT_EQ(problems[1].path, "/data/lines/0/quantity");
    EXPECT_EQ(problems[1].rule, "minimum");
    EXPECT_EQ(problems[2].path, "/visibility");
    EXPECT_EQ(problems[2].rule, "contract");
}

TEST(Redaction, DropsSensitiveFieldsAtAnyDepth) {
    const auto schema = nlohmann::json::parse(R"({
      "type": "object",
      "definitions": {"person": {"type": "object", "properties": {
          "name": {"type": "string"}, "phone": {"type": "string", "x-sea-sensitive": true}}}},
      "properties": {
        "id": {"type": "string"},
        "secret": {"type": "string", "x-sea-sensitive": true},
        "owner": {"$ref": "#/definitions/person"},
        "contacts": {"type": "array", "items": {"$ref": "#/definitions/person"}},
        "tags": {"type": "object", "additionalProperties": {"type": "object",
                 "properties": {"token": {"x-sea-sensitive": true}, "label": {}}}},
        "either": {"anyOf": [{"type": "object", "properties": {"pin": {"x-sea-sensitive": true}}}]}
      }
    })");
    const auto data = nlohmann::json::parse(R"({
      "id": "1", "secret": "s", "unknown": "kept",
      "owner": {"name": "Ada", "phone": "+1"},
      "contacts": [{"name": "Bob", "phone": "+2"}, {"name": "Cy"}],
      "tags": {"a": {"token": "t", "label": "l"}},
      "either": {"pin": "1234", "other": 1}
    })");
    const auto expected = nlohmann::json::parse(R"({
      "id": "1", "unknown": "kept",
      "owner": {"name": "Ada"},
      "contacts": [{"name": "Bob"}, {"name": "Cy"}],
      "tags": {"a": {"label": "l"}},
      "either": {"other": 1}
    })");
    EXPECT_EQ(redact(data, schema), expected);
}

TEST(Redaction, ExternalCopyFollowsTheContractsPayloadMode) {
    const auto registry = Registry::load(test::source_dir() / "schemas/events");
    const auto order = envelope::Envelope::parse(
        test::slurp(test::source_dir() / "tests/envelope/corpus/valid/order-placed-full.json"));
    const auto external = external_copy(order, registry);
    EXPECT_EQ(external.id(), order.id());
    EXPECT_EQ(external.visibility(), envelope::Visibility::external);
    const auto& customer = (*external.data())["customer"];
    EXPECT_EQ(customer, (nlohmann::json{{"id", "cust-42"}}));
    EXPECT_EQ((*external.data())["lines"], (*order.data())["lines"]);
    EXPECT_EQ((*order.data())["customer"]["email"], "ada@example.com");  // the original is untouched

    // Payload mode full: the sensitive approver stays.
    const auto decision = envelope::Envelope::parse(
        test::slurp(test::source_dir() / "tests/envelope/corpus/valid/governance-decision.json"));
    EXPECT_EQ((*external_copy(decision, registry).data())["approver_email"], "board@example.org");

    auto expect_refused = [&](const std::string& corpus_file, const std::string& fragment) {
        const auto event = envelope::Envelope::parse(
            test::slurp(test::source_dir() / "tests/envelope/corpus" / corpus_file));
        try {
            external_copy(event, registry);
            ADD_FAILURE() << corpus_file << " left its context";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::contract);
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    expect_refused("valid/internal-visibility.json", "is internal");
    expect_refused("valid/minimal.json", "has no contract");
}

TEST(ContractsCommand, LintExitCodesAndMessages) {
    EventsCopy copy;
    const auto clean =
        test::run_command({test::sea_mq_binary().string(), "contracts", "lint", copy.events.string()});
    EXPECT_EQ(clean.exit_code, 0) << clean.err;
    EXPECT_NE(clean.out.find("0 error(s)"), std::string::npos) << clean.out;

    auto order = copy.read("sea/order-placed.v1.schema.json");
    order["required"].push_back("currency_symbol");
    copy.write("sea/order-placed.v1.schema.json", order);
    const auto changed =
        test::run_command({test::sea_mq_binary().string(), "contracts", "lint", copy.events.string()});
    EXPECT_EQ(changed.exit_code, 1);
    EXPECT_NE(changed.err.find("order-placed.v1.schema.json: changed: "), std::string::npos) << changed.err;
    EXPECT_NE(changed.err.find("sea/order-placed.v2.schema.json"), std::string::npos) << changed.err;
    const auto refused =
        test::run_command({test::sea_mq_binary().string(), "contracts", "lock", copy.events.string()});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("refusing to lock"), std::string::npos) << refused.err;

    const auto missing =
        test::run_command({test::sea_mq_binary().string(), "contracts", "lint", "/nonexistent/events"});
    EXPECT_EQ(missing.exit_code, 2);
}
