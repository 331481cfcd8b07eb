// The agreement test: every envelope of tests/envelope/corpus (plus two generated at the
// size limit) gets the same verdict from the C++ validator and from an independent one
// (ajv 8 + ajv-formats, tests/node/envelope_agreement.mjs), the verdict its folder
// promises, and every valid envelope is accepted by the CloudEvents SDK in strict mode.
#include <algorithm>
#include <map>

#include "tests/envelope/run_command.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/contracts/contracts.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/testing/process.hpp"

namespace fs = std::filesystem;
using namespace seamq;

namespace {

constexpr std::size_t limit = std::size_t{1} << 20;

// A valid envelope with no contract whose serialized form is exactly `size` bytes.
std::string envelope_of_size(std::size_t size) {
    nlohmann::json document =
        nlohmann::json::parse(test::slurp(test::source_dir() / "tests/envelope/corpus/valid/minimal.json"));
    document["data"] = {{"blob", ""}};
    const std::size_t base = document.dump().size();
    document["data"]["blob"] = std::string(size - base, 'x');
    auto text = document.dump();
    EXPECT_EQ(text.size(), size);
    return text;
}

}  // namespace

TEST(EnvelopeAgreement, CxxValidatorAjvAndCloudEventsSdkAgreeOnTheCorpus) {
    const auto source = test::source_dir();
    ASSERT_FALSE(source.empty()) << "SEAMQ_SOURCE_DIR is not set (run through ctest)";
    seamq::testing::TempDir generated("agreement");
    std::map<std::string, bool> expected;  // file -> valid?
    for (const auto* folder : {"valid", "invalid"}) {
        for (const auto& entry : fs::directory_iterator(source / "tests/envelope/corpus" / folder)) {
            expected[entry.path().string()] = std::string(folder) == "valid";
        }
    }
    const auto at_limit = generated.path() / "at-limit.json";
    const auto oversized = generated.path() / "oversized.json";
    std::ofstream(at_limit) << envelope_of_size(limit);
    std::ofstream(oversized) << envelope_of_size(limit + 1);
    expected[at_limit.string()] = true;
    expected[oversized.string()] = false;
    const auto valid_count =
        std::count_if(expected.begin(), expected.end(), [](const auto& e) { return e.second; });
    ASSERT_GE(valid_count, 15);
    ASSERT_GE(expected.size() - static_cast<std::size_t>(valid_count), 60u);

    std::vector<std::string> argv = {
        "node",        (test::environment_path("SEAMQ_NODE_DIR") / "envelope_agreement.mjs").string(),
        "--schemas",   (source / "schemas").string(),
        "--max-bytes", std::to_string(limit)};
    for (const auto& [file, valid] : expected) argv.push_back(file);
    const auto node = test::run_command(argv);
    ASSERT_EQ(node.exit_code, 0) << "the independent validator failed: " << node.err;
    const auto verdicts = nlohmann::json::parse(node.out);
    ASSERT_EQ(verdicts.size(), expected.size());

    const auto registry = contracts::Registry::load(source / "schemas/events");
    const envelope::Validator validator(envelope::Limits{limit}, &registry);
    std::size_t compared = 0;
    for (const auto& verdict : verdicts) {
        const auto file = verdict.at("file").get<std::string>();
        SCOPED_TRACE(file);
        const bool should_be_valid = expected.at(file);
        const auto problems = validator.validate(test::slurp(file));
        std::string cxx_problems;
        for (const auto& problem : problems) cxx_problems += "\n  " + envelope::to_string(problem);
        const bool cxx_valid = problems.empty();
        const bool ajv_valid = verdict.at("valid").get<bool>();
        EXPECT_EQ(cxx_valid, ajv_valid)
            << "C++ and ajv disagree. C++:" << cxx_problems << "\najv: " << verdict.at("problems").dump();
        EXPECT_EQ(cxx_valid, should_be_valid) << "C++ problems:" << cxx_problems;
        EXPECT_EQ(ajv_valid, should_be_valid) << "ajv problems: " << verdict.at("problems").dump();
        if (should_be_valid) {
            EXPECT_TRUE(verdict.at("cloudevents").at("accepted").get<bool>())
                << "CloudEvents SDK (strict) rejects it: " << verdict.at("cloudevents").dump();
        } else {
            EXPECT_FALSE(problems.empty());
        }
        ++compared;
    }
    EXPECT_EQ(compared, expected.size());
}

// The size limit is configurable and reported as such, on both sides.
TEST(EnvelopeAgreement, ConfiguredSizeLimitIsAppliedByBothValidators) {
    seamq::testing::TempDir dir("size");
    const auto file = dir.path() / "small-limit.json";
    std::ofstream(file) << envelope_of_size(600);
    const auto node = test::run_command(
        {"node", (test::environment_path("SEAMQ_NODE_DIR") / "envelope_agreement.mjs").string(), "--schemas",
         (test::source_dir() / "schemas").string(), "--max-bytes", "599", file.string()});
    ASSERT_EQ(node.exit_code, 0) << node.err;
    const auto verdicts = nlohmann::json::parse(node.out);
    EXPECT_FALSE(verdicts.at(0).at("valid").get<bool>());
    const auto problems = envelope::Validator(envelope::Limits{599}).validate(test::slurp(file));
    ASSERT_EQ(problems.size(), 1u);
    EXPECT_EQ(problems[0].rule, "size");
    EXPECT_TRUE(envelope::Validator(envelope::Limits{600}).validate(test::slurp(file)).empty());
}
