// The dead-letter format without servers: headers survive the round trip, ids are
// deterministic, times parse, subject filters match as NATS does.
#include "seamq/dead_letters/dead_letter.hpp"

#include <gtest/gtest.h>

#include "seamq/dead_letters/dead_letter_queue.hpp"

namespace seamq::dead_letters {
namespace {

using namespace std::chrono_literals;

DeadLetter sample() {
    DeadLetter letter;
    letter.context = "sea";
    letter.consumer = "shipping";
    letter.original_subject = "sea.event.order-placed.v1";
    letter.original_stream = "SEA_EVENTS";
    letter.original_sequence = 42;
    letter.original_message_id = "order-7";
    letter.deliveries = 5;
    letter.error_class = ErrorClass::exhausted;
    letter.error_message = "line one\r\nline two";
    letter.first_failure = std::chrono::sys_days(std::chrono::year(2024) / 5 / 1) + 12h + 1s + 250ms;
    letter.last_failure = letter.first_failure + 90s;
    letter.payload = R"({"id":"order-7"})";
    letter.original_headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
                               {"Nats-Msg-Id", "order-7"}};
    return letter;
}

TEST(DeadLetterTest, MessageCarriesTheDocumentedHeadersAndRoundTrips) {
    const auto message = to_message(sample(), "SEA_DLQ");
    EXPECT_EQ(message.subject, "dlq.sea.shipping");
    EXPECT_EQ(message.message_id, "dlq/shipping/SEA_EVENTS/42");
    EXPECT_EQ(message.expected_stream, "SEA_DLQ");
    EXPECT_EQ(message.payload, R"({"id":"order-7"})");
    auto value = [&](std::string_view name) {
        for (const auto& [key, text] : message.headers) {
            if (key == name) return text;
        }
        return std::string("<missing>");
    };
    EXPECT_EQ(value("Seamq-Original-Subject"), "sea.event.order-placed.v1");
    EXPECT_EQ(value("Seamq-Original-Stream"), "SEA_EVENTS");
    EXPECT_EQ(value("Seamq-Original-Sequence"), "42");
    EXPECT_EQ(value("Seamq-Consumer"), "shipping");
    EXPECT_EQ(value("Seamq-Deliveries"), "5");
    EXPECT_EQ(value("Seamq-Error-Class"), "exhausted");
    EXPECT_EQ(value("Seamq-Error"), "line one  line two") << "header values stay on one line";
    EXPECT_EQ(value("Seamq-First-Failure"), "2024-05-01T12:00:01.250Z");
    EXPECT_EQ(value("Seamq-Last-Failure"), "2024-05-01T12:01:31.250Z");
    EXPECT_EQ(value("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    for (const auto& [key, text] : message.headers)
        EXPECT_NE(key, "Nats-Msg-Id") << "the original's id is not copied";

    const auto back = from_parts(message.subject, message.headers, message.payload);
    EXPECT_EQ(back.consumer, "shipping");
    EXPECT_EQ(back.context, "sea");
    EXPECT_EQ(back.original_sequence, 42U);
    EXPECT_EQ(back.deliveries, 5U);
    EXPECT_EQ(back.error_class, ErrorClass::exhausted);
    EXPECT_EQ(back.first_failure, sample().first_failure);
    EXPECT_EQ(back.last_failure, sample().last_failure);
    ASSERT_EQ(back.original_headers.size(), 1U);
    EXPECT_EQ(back.original_headers[0].first, "traceparent");
}

TEST(DeadLetterTest, SameDeliveryGetsTheSameIdAndOthersDiffer) {
    EXPECT_EQ(dead_letter_message_id("a", "S", 1), dead_letter_message_id("a", "S", 1));
    EXPECT_NE(dead_letter_message_id("a", "S", 1), dead_letter_message_id("a", "S", 2));
    EXPECT_NE(dead_letter_message_id("a", "S", 1), dead_letter_message_id("b", "S", 1));
    EXPECT_EQ(dead_letter_stream_name("vibe-pro"), "VIBE_PRO_DLQ");
}

TEST(DeadLetterTest, MessagesWithoutDeadLetterHeadersAreRefused) {
    EXPECT_THROW(from_parts("dlq.sea.x", {{"Seamq-Consumer", "x"}}, "{}"), seamq::Error);
}

TEST(DeadLetterTest, TimesParseInTheFormsServersAndOperatorsUse) {
    const auto base = std::chrono::sys_days(std::chrono::year(2024) / 5 / 1) + 12h;
    EXPECT_EQ(parse_time("2024-05-01T12:00:00Z"), base);
    EXPECT_EQ(parse_time("2024-05-01T12:00:00.123456789Z"), base + 123456789ns);
    EXPECT_EQ(parse_time("2024-05-01T14:00:00+02:00"), base);
    EXPECT_FALSE(parse_time("2024-05-01 12:00"));
    EXPECT_FALSE(parse_time("2024-13-01T12:00:00Z"));
}

TEST(DeadLetterTest, HostileHeaderValuesReadAsUnknownNotAsGarbage) {
    const nats::Headers headers = {{"Seamq-Consumer", "billing"},
                                   {"Seamq-Original-Subject", "sea.event.x.v1"},
                                   // Beyond system_clock's nanoseconds (2262): overflowed before.
                                   {"Seamq-First-Failure", "9999-12-31T23:59:59Z"},
                                   {"Seamq-Last-Failure", "2024-05-01T12:00:00+"},
                                   {"Seamq-Original-Sequence", "18446744073709551616"},
                                   {"Seamq-Deliveries", "-1"}};
    const auto letter = from_parts("dlq.sea.billing", headers, "{}");
    EXPECT_EQ(letter.first_failure, std::chrono::system_clock::time_point{});
    EXPECT_EQ(letter.last_failure, std::chrono::system_clock::time_point{});
    EXPECT_EQ(letter.original_sequence, 0U);
    EXPECT_EQ(letter.deliveries, 0U);
    EXPECT_FALSE(parse_time("2024-05-01T12:00:00+01"));
    EXPECT_FALSE(parse_time("-024-05-01T12:00:00Z"));
    // Times before 1970 print a real fraction (it was "1970-01-01T00:00:00.-01Z").
    EXPECT_EQ(format_time(std::chrono::system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
}

// A dead letter of an imported event goes back to its import stream's own subject
// (docs/federation.md); every other one to the subject it came on.
TEST(DeadLetterTest, ImportedEventsReplayToTheImportStreamsOwnSubject) {
    EXPECT_EQ(replay_subject("SEA_IMPORTS", "export.sea.event.order-placed.v1"),
              "import.sea.event.order-placed.v1");
    EXPECT_EQ(replay_subject("SEA_EVENTS", "sea.event.order-placed.v1"), "sea.event.order-placed.v1");
    EXPECT_EQ(replay_subject("SEA_EXPORT", "export.sea.event.order-placed.v1"),
              "export.sea.event.order-placed.v1");
    EXPECT_EQ(replay_subject("SEA_IMPORTS", "import.sea.event.order-placed.v1"),
              "import.sea.event.order-placed.v1");
}

TEST(DeadLetterTest, SubjectFiltersMatchLikeNats) {
    EXPECT_TRUE(subject_matches("sea.event.>", "sea.event.order-placed.v1"));
    EXPECT_TRUE(subject_matches("sea.*.order-placed.v1", "sea.event.order-placed.v1"));
    EXPECT_FALSE(subject_matches("sea.event.>", "sea.event"));
    EXPECT_FALSE(subject_matches("sea.*", "sea.event.x"));
    EXPECT_TRUE(subject_matches("sea.event.x", "sea.event.x"));
    Filter filter;
    filter.consumer = "shipping";
    auto letter = sample();
    letter.dead_letter_sequence = 10;
    EXPECT_TRUE(filter.matches(letter));
    filter.from_sequence = 11;
    EXPECT_FALSE(filter.matches(letter));
}

}  // namespace
}  // namespace seamq::dead_letters
