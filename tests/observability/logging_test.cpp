#include "seamq/observability/logging.hpp"

#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>

namespace seamq::observability {
namespace {

class LoggingTest : public ::testing::Test {
protected:
    std::vector<nlohmann::ordered_json> lines() const {
        std::vector<nlohmann::ordered_json> parsed;
        std::istringstream in(stream_.str());
        std::string line;
        while (std::getline(in, line)) parsed.push_back(nlohmann::ordered_json::parse(line));
        return parsed;
    }

    std::ostringstream stream_;
    spdlog::sink_ptr sink_ = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
};

TEST_F(LoggingTest, WritesOneJsonObjectPerLineWithTheFieldsInOrder) {
    Logger base(make_json_logger("worker", spdlog::level::info, sink_));
    const auto relay = base.with({.component = "relay", .context = "sea"});
    relay
        .with({.subject = "sea.event.order_placed.v1",
               .message_id = "01HZX",
               .correlation_id = "corr-1",
               .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
               .extra = {{"sequence", "42"}}})
        .info("published {} event", 1);

    const auto parsed = lines();
    ASSERT_EQ(parsed.size(), 1U);
    const auto& line = parsed[0];
    std::vector<std::string> keys;
    for (const auto& [key, value] : line.items()) keys.push_back(key);
    EXPECT_EQ(keys,
              (std::vector<std::string>{"time", "level", "component", "context", "subject", "message_id",
                                        "correlation_id", "trace_id", "message", "sequence"}));
    EXPECT_TRUE(std::regex_match(line["time"].get<std::string>(),
                                 std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")))
        << line["time"];
    EXPECT_EQ(line["level"], "info");
    EXPECT_EQ(line["component"], "relay");
    EXPECT_EQ(line["context"], "sea");
    EXPECT_EQ(line["subject"], "sea.event.order_placed.v1");
    EXPECT_EQ(line["message_id"], "01HZX");
    EXPECT_EQ(line["correlation_id"], "corr-1");
    EXPECT_EQ(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(line["message"], "published 1 event");
    EXPECT_EQ(line["sequence"], "42");
}

TEST_F(LoggingTest, FiltersByLevelAndNamesLevels) {
    Logger logger(make_json_logger("worker", spdlog::level::warn, sink_), {.component = "admin"});
    logger.debug("hidden");
    logger.info("hidden too");
    logger.warn("careful");
    logger.error("broken");
    const auto parsed = lines();
    ASSERT_EQ(parsed.size(), 2U);
    EXPECT_EQ(parsed[0]["level"], "warn");
    EXPECT_EQ(parsed[1]["level"], "error");
    EXPECT_EQ(parsed[1]["message"], "broken");
    EXPECT_FALSE(parsed[1].contains("context"));  // unset fields are left out
}

TEST_F(LoggingTest, EscapesAndRepairsText) {
    Logger logger(make_json_logger("worker", spdlog::level::info, sink_));
    logger.info("quote \" backslash \\ newline \n tab \t bad utf8 \xff end");
    const auto parsed = lines();
    ASSERT_EQ(parsed.size(), 1U);
    EXPECT_EQ(parsed[0]["message"], "quote \" backslash \\ newline \n tab \t bad utf8 \xEF\xBF\xBD end");
}

TEST_F(LoggingTest, PlainSpdlogCallsUseTheLoggerNameAsComponent) {
    auto logger = make_json_logger("nats", spdlog::level::info, sink_);
    logger->info("reconnected to {}", "nats://127.0.0.1:4222");
    const auto parsed = lines();
    ASSERT_EQ(parsed.size(), 1U);
    EXPECT_EQ(parsed[0]["component"], "nats");
    EXPECT_EQ(parsed[0]["message"], "reconnected to nats://127.0.0.1:4222");
}

TEST(LogLevels, ParseKnownNamesOnly) {
    EXPECT_EQ(parse_log_level("debug"), spdlog::level::debug);
    EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
    EXPECT_EQ(parse_log_level("error"), spdlog::level::err);
    EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
    EXPECT_FALSE(parse_log_level("verbose").has_value());
    EXPECT_FALSE(parse_log_level("INFO").has_value());
}

TEST(LogFields, MergeKeepsSetFieldsAndAppendsExtras) {
    const LogFields base{.component = "consumer", .context = "sea", .extra = {{"a", "1"}}};
    const auto merged = base.merged({.context = "governance", .subject = "x", .extra = {{"b", "2"}}});
    EXPECT_EQ(merged.component, "consumer");
    EXPECT_EQ(merged.context, "governance");
    EXPECT_EQ(merged.subject, "x");
    EXPECT_EQ(merged.extra.size(), 2U);
}

}  // namespace
}  // namespace seamq::observability
