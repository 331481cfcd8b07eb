// The suite's leak check must fail when a test leaks: a live process or a directory.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "seamq/testing/process.hpp"

namespace seamq::testing {
namespace {

using namespace std::chrono_literals;

std::string janitor() {
    return std::string(std::getenv("SEAMQ_BIN_DIR")) + "/../tests/seamq-test-janitor";
}

int run_janitor(const std::string& verb, const std::filesystem::path& root,
                const std::filesystem::path& log) {
    ChildProcess janitor_process(
        ChildProcess::Options{.argv = {janitor(), verb, root.string()}, .log_file = log});
    const auto status = janitor_process.wait_for_exit(30s);
    return status ? ChildProcess::exit_code(*status) : -1;
}

TEST(Janitor, FailsOnALeakedProcessAndOnALeftoverDirectory) {
    TempDir outer("janitor");
    const auto root = outer.path() / "root";
    const auto log = outer.path() / "janitor.log";
    ASSERT_EQ(run_janitor("prepare", root, log), 0);
    EXPECT_EQ(run_janitor("check", root, log), 0) << "an empty root is clean";
    ASSERT_EQ(run_janitor("prepare", root, log), 0);

    std::filesystem::create_directories(root / "pg-leftover");
    EXPECT_EQ(run_janitor("check", root, log), 1) << "a leftover directory is a leak";
    EXPECT_FALSE(std::filesystem::exists(root / "pg-leftover")) << "check removes what it reports";

    std::filesystem::create_directories(root / "nats-n0");
    ChildProcess leaked(
        ChildProcess::Options{.argv = {"sleep", "300"}, .working_directory = root / "nats-n0"});
    EXPECT_EQ(run_janitor("check", root, log), 1) << "a live process under the root is a leak";
    leaked.kill();

    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("LEAK: temporary path left behind"), std::string::npos) << text;
    EXPECT_NE(text.find("LEAK: process " + std::to_string(leaked.pid())), std::string::npos) << text;
}

}  // namespace
}  // namespace seamq::testing
