// `sea-mq envelope validate`, run as a real process: exit codes and one line per problem.
#include <fstream>

#include "tests/envelope/run_command.hpp"
#include <gtest/gtest.h>

#include "seamq/testing/process.hpp"

using namespace seamq;

namespace {
std::string corpus(const std::string& name) {
    return (test::source_dir() / "tests/envelope/corpus" / name).string();
}
std::size_t lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}
}  // namespace

TEST(EnvelopeValidateCommand, ExitsZeroWhenAllAreValid) {
    const auto result =
        test::run_command({test::sea_mq_binary().string(), "envelope", "validate",
                           corpus("valid/minimal.json"), corpus("valid/order-placed-full.json")});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.err, "");
    EXPECT_EQ(lines(result.out), 2u) << result.out;
}

TEST(EnvelopeValidateCommand, ExitsOneWithOneLinePerProblem) {
    const auto result = test::run_command(
        {test::sea_mq_binary().string(), "envelope", "validate", corpus("valid/minimal.json"),
         corpus("invalid/traceparent-short.json"), corpus("invalid/missing-data.json"),
         corpus("invalid/contract-missing-email.json")});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_EQ(lines(result.err), 3u) << result.err;
    EXPECT_NE(result.err.find(corpus("invalid/traceparent-short.json") + ": /traceparent: pattern: "),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("(value: \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7\")"),
              std::string::npos);
    EXPECT_NE(
        result.err.find(corpus("invalid/contract-missing-email.json") + ": /data/customer/email: required: "),
        std::string::npos)
        << result.err;
}

TEST(EnvelopeValidateCommand, ReadsStandardInputAndAppliesMaxBytes) {
    const auto ok = test::run_command({test::sea_mq_binary().string(), "envelope", "validate", "-"},
                                      corpus("valid/minimal.json"));
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    const auto too_large = test::run_command({test::sea_mq_binary().string(), "envelope", "validate",
                                              "--max-bytes", "100", corpus("valid/minimal.json")});
    EXPECT_EQ(too_large.exit_code, 1);
    EXPECT_NE(too_large.err.find("(root): size: envelope is"), std::string::npos) << too_large.err;
    EXPECT_NE(too_large.err.find("limit of 100 bytes"), std::string::npos) << too_large.err;
}

TEST(EnvelopeValidateCommand, UsageErrorsExitTwoAndMissingFilesExitOne) {
    const auto no_files = test::run_command({test::sea_mq_binary().string(), "envelope", "validate"});
    EXPECT_EQ(no_files.exit_code, 2);
    const auto bad_limit = test::run_command({test::sea_mq_binary().string(), "envelope", "validate",
                                              "--max-bytes", "0", corpus("valid/minimal.json")});
    EXPECT_EQ(bad_limit.exit_code, 2);
    const auto bad_schemas = test::run_command({test::sea_mq_binary().string(), "envelope", "validate",
                                                "--schemas", "/nonexistent", corpus("valid/minimal.json")});
    EXPECT_EQ(bad_schemas.exit_code, 2);
    const auto missing = test::run_command({test::sea_mq_binary().string(), "envelope", "validate",
                                            "/nonexistent/event.json", corpus("valid/minimal.json")});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("/nonexistent/event.json: (root): io: cannot open the file"),
              std::string::npos)
        << missing.err;
    EXPECT_NE(missing.out.find("minimal.json: valid"), std::string::npos);
}

TEST(EnvelopeValidateCommand, HostileBytesGiveAProblemLineNotALibraryMessage) {
    // 15 bytes the fuzzer found: a number beyond a double ended the command with nlohmann's
    // out_of_range text; invalid UTF-8 and deep nesting are problems too.
    for (const auto& [input, expected] :
         {std::pair<std::string, std::string>{"111111111e1111s", "<stdin>: (root): number-range: "},
          {"{\"a\":\"\xff\"}", "<stdin>: (root): json: not valid JSON: "},
          {std::string(100'000, '['), "<stdin>: (root): depth: "}}) {
        seamq::testing::TempDir dir("hostile");
        const auto file = dir.path() / "input";
        std::ofstream(file, std::ios::binary) << input;
        const auto result =
            test::run_command({test::sea_mq_binary().string(), "envelope", "validate", "-"}, file.string());
        EXPECT_EQ(result.exit_code, 1) << result.err;
        EXPECT_EQ(result.err.rfind(expected, 0), 0u) << result.err;
        EXPECT_EQ(lines(result.err), 1u) << result.err;
    }
}
