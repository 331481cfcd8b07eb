// docs/cli.md is the CLI reference: it must equal what `sea-mq help-reference` prints,
// and each of its sections must equal what the real `sea-mq ... --help` prints, so the
// file cannot drift from the binary. Also: usage errors of the newer verbs exit 2, and a
// word that names no command is one, with or without --help.
#include <set>
#include <string>
#include <vector>

#include "tests/cli/run_sea_mq.hpp"
#include <gtest/gtest.h>

namespace seamq::cli::test {
namespace {

struct Section {
    std::string path;  //!< "sea-mq db migrate"
    std::string help;  //!< the code block
};

std::vector<Section> sections_of(const std::string& markdown) {
    std::vector<Section> sections;
    const auto lines = lines_of(markdown);
    for (std::size_t index = 0; index < lines.size(); ++index) {
        if (lines[index].rfind("## ", 0) != 0) continue;
        Section section{lines[index].substr(3), {}};
        std::size_t line = index + 1;
        while (line < lines.size() && lines[line] != "```text") ++line;
        for (++line; line < lines.size() && lines[line] != "```"; ++line) section.help += lines[line] + "\n";
        sections.push_back(std::move(section));
    }
    return sections;
}

std::string first_difference(const std::string& expected, const std::string& actual) {
    const auto expected_lines = lines_of(expected);
    const auto actual_lines = lines_of(actual);
    for (std::size_t line = 0; line < std::max(expected_lines.size(), actual_lines.size()); ++line) {
        const auto left = line < expected_lines.size() ? expected_lines[line] : "(end of file)";
        const auto right = line < actual_lines.size() ? actual_lines[line] : "(end of output)";
        if (left != right)
            return "line " + std::to_string(line + 1) + ":\n  docs/cli.md: " + left +
                   "\n  sea-mq:      " + right;
    }
    return "(equal)";
}

TEST(CliReference, DocsFileIsWhatTheBinaryGenerates) {
    const auto file = slurp(seamq::testing::source_dir() / "docs" / "cli.md");
    ASSERT_FALSE(file.empty()) << "docs/cli.md is missing";
    const auto generated = sea_mq({"help-reference"});
    ASSERT_EQ(generated.exit_code, 0) << generated.err;
    EXPECT_EQ(file, generated.out) << "docs/cli.md is stale; regenerate it with `" << sea_mq_binary().string()
                                   << " help-reference > docs/cli.md`. First difference at "
                                   << first_difference(file, generated.out);
}

TEST(CliReference, EverySectionIsTheRealHelpOutputOfItsCommand) {
    const auto sections = sections_of(slurp(seamq::testing::source_dir() / "docs" / "cli.md"));
    std::set<std::string> paths;
    for (const auto& section : sections) {
        paths.insert(section.path);
        std::vector<std::string> arguments;
        std::size_t start = section.path.find(' ');  // skip "sea-mq"
        while (start != std::string::npos) {
            const auto end = section.path.find(' ', start + 1);
            arguments.push_back(
                section.path.substr(start + 1, end == std::string::npos ? end : end - start - 1));
            start = end;
        }
        arguments.push_back("--help");
        const auto help = sea_mq(arguments);
        EXPECT_EQ(help.exit_code, 0) << section.path << " --help: " << help.err;
        EXPECT_EQ(help.out, section.help) << section.path << " --help differs from docs/cli.md at "
                                          << first_difference(section.help, help.out);
    }
    for (const char* expected :
         {"sea-mq", "sea-mq publish", "sea-mq tail", "sea-mq status", "sea-mq db migrate",
          "sea-mq streams apply", "sea-mq relay run", "sea-mq envelope validate"})
        EXPECT_TRUE(paths.contains(expected)) << expected << " has no section in docs/cli.md";
    EXPECT_FALSE(paths.contains("sea-mq help-reference")) << "the hidden verb is not part of the reference";
}

TEST(CliReference, UsageErrorsExitTwoWithAMessage) {
    struct Case {
        std::vector<std::string> arguments;
        std::string expected;  //!< in standard error
    };
    const std::vector<Case> cases = {
        {{"publish", "--database", "postgresql://127.0.0.1:1/x", "--type", "sea.event.a.v1"}, "--subject"},
        {{"publish", "--database", "postgresql://127.0.0.1:1/x", "--type", "sea.event.a.v1", "--subject", "s",
          "--data", "{not json"},
         "--data is not JSON"},
        {{"publish", "--database", "postgresql://127.0.0.1:1/x", "--file", "e.json", "--type",
          "sea.event.a.v1"},
         "either --file"},
        {{"publish", "--database", "postgresql://127.0.0.1:1/x", "--file", "e.json", "--bogus"}, "--bogus"},
        {{"tail"}, "subject"},
        {{"tail", "sea.>", "--nats", "nats://127.0.0.1:1", "--timeout", "soon"}, "soon"},
        {{"tail", "sea.>", "--nats", "nats://127.0.0.1:1", "--output", "yaml"}, "yaml"},
        {{"status"}, "--nats"},
        {{"status", "--nats", "nats://127.0.0.1:1", "--context", "Bad Name=x"}, "not a context name"},
        {{"status", "--nats", "nats://127.0.0.1:1", "--context", "sea="}, "empty"},
        {{"status", "--nats", "nats://127.0.0.1:1", "--streams-file", "/nonexistent/streams.yaml"},
         "streams.yaml"},
    };
    for (const auto& usage : cases) {
        const auto result = sea_mq(usage.arguments);
        std::string line;
        for (const auto& argument : usage.arguments) line += argument + " ";
        EXPECT_EQ(result.exit_code, 2) << line << "\n" << result.out << result.err;
        EXPECT_NE(result.err.find(usage.expected), std::string::npos)
            << line << ": expected '" << usage.expected << "' in: " << result.err;
    }
}

//! The groups of the command tree: every command with commands of its own, from the
//! reference's sections ("sea-mq db" has "sea-mq db migrate").
std::vector<std::vector<std::string>> command_groups() {
    std::set<std::string> paths;
    for (const auto& section : sections_of(slurp(seamq::testing::source_dir() / "docs" / "cli.md")))
        paths.insert(section.path);
    std::vector<std::vector<std::string>> groups;
    for (const auto& path : paths) {
        bool has_commands = false;
        for (const auto& other : paths) has_commands = has_commands || other.rfind(path + " ", 0) == 0;
        if (!has_commands) continue;
        std::vector<std::string> words;
        std::size_t start = path.find(' ');
        while (start != std::string::npos) {
            const auto end = path.find(' ', start + 1);
            words.push_back(path.substr(start + 1, end == std::string::npos ? end : end - start - 1));
            start = end;
        }
        groups.push_back(std::move(words));
    }
    return groups;
}

TEST(CliUnknownWords, AnUnknownCommandIsAUsageErrorNamingItWithOrWithoutHelp) {
    const auto groups = command_groups();
    std::set<std::string> found;
    for (const auto& group : groups) {
        std::string joined;
        for (const auto& word : group) joined += (joined.empty() ? "" : " ") + word;
        found.insert(joined);
    }
    for (const char* expected : {"", "db", "streams", "dlq", "relay", "contracts", "envelope", "consume"})
        EXPECT_TRUE(found.contains(expected)) << "'sea-mq " << expected << "' is not a group in docs/cli.md";

    for (const auto& group : groups) {
        for (const auto& tail : std::vector<std::vector<std::string>>{
                 {"nosuchverb"}, {"nosuchverb", "--help"}, {"--help", "nosuchverb"}, {"nosuchverb", "-h"}}) {
            auto arguments = group;
            arguments.insert(arguments.end(), tail.begin(), tail.end());
            std::string line = "sea-mq";
            for (const auto& argument : arguments) line += " " + argument;
            const auto result = sea_mq(arguments);
            EXPECT_EQ(result.exit_code, 2) << line << "\n" << result.out << result.err;
            EXPECT_TRUE(result.out.empty()) << line << ": no help for another command:\n" << result.out;
            EXPECT_NE(result.err.find("unknown command 'nosuchverb'"), std::string::npos)
                << line << ": " << result.err;
        }
    }

    // An unknown group in front of a real command does not run or explain that command.
    for (const auto& arguments : std::vector<std::vector<std::string>>{
             {"galaxy", "status", "--help"}, {"galaxy", "status"}, {"dlq", "galaxy", "list", "--help"}}) {
        const auto result = sea_mq(arguments);
        EXPECT_EQ(result.exit_code, 2) << arguments[0] << " " << arguments[1] << "\n"
                                       << result.out << result.err;
        EXPECT_TRUE(result.out.empty()) << result.out;
        EXPECT_NE(result.err.find("unknown command 'galaxy'"), std::string::npos) << result.err;
    }
}

TEST(CliUnknownWords, AStrayWordAfterACommandIsAUsageErrorEvenWithHelp) {
    for (const auto& arguments :
         std::vector<std::vector<std::string>>{{"version", "extra"},
                                               {"version", "extra", "--help"},
                                               {"db", "migrate", "status", "--help"},
                                               {"tail", "sea.>", "extra", "--help"},
                                               {"streams", "apply", "--help", "extra"}}) {
        std::string line = "sea-mq";
        for (const auto& argument : arguments) line += " " + argument;
        const auto result = sea_mq(arguments);
        EXPECT_EQ(result.exit_code, 2) << line << "\n" << result.out << result.err;
        EXPECT_TRUE(result.out.empty()) << line << "\n" << result.out;
        const auto& stray =
            arguments[arguments.size() - 1] == "--help" ? arguments[arguments.size() - 2] : arguments.back();
        EXPECT_NE(result.err.find(stray), std::string::npos) << line << ": " << result.err;
    }
}

}  // namespace
}  // namespace seamq::cli::test
