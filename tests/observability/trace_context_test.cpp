#include "seamq/observability/trace_context.hpp"

#include <set>

#include <gtest/gtest.h>

namespace seamq::observability {
namespace {

constexpr std::string_view example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(TraceContext, ParsesTheSpecExampleAndRoundTrips) {
    const auto context = TraceContext::parse(example);
    ASSERT_TRUE(context.has_value());
    EXPECT_EQ(context->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(context->span_id_hex(), "00f067aa0ba902b7");
    EXPECT_EQ(context->flags(), 0x01);
    EXPECT_TRUE(context->sampled());
    EXPECT_EQ(context->to_string(), example);
    EXPECT_EQ(TraceContext::parse("  " + std::string(example) + "\t")->to_string(), example);
}

TEST(TraceContext, RejectsInvalidValues) {
    const std::vector<std::string> invalid = {
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",         // no flags
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",      // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",      // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",      // zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",      // forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz",  // version 00 is exact
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",      // separators
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",      // not hex
        "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xyz",  // future version needs '-'
    };
    for (const auto& value : invalid) EXPECT_FALSE(TraceContext::parse(value).has_value()) << value;
}

TEST(TraceContext, AcceptsFutureVersionsByTheirKnownFields) {
    const auto context =
        TraceContext::parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever");
    ASSERT_TRUE(context.has_value());
    EXPECT_EQ(context->to_string(), example);  // passed on as version 00
}

TEST(TraceContext, GeneratesValidDistinctIds) {
    std::set<std::string> traces;
    for (int i = 0; i < 100; ++i) {
        const auto context = TraceContext::generate();
        const auto text = context.to_string();
        ASSERT_EQ(text.size(), 55U);
        const auto parsed = TraceContext::parse(text);
        ASSERT_TRUE(parsed.has_value()) << text;
        EXPECT_EQ(*parsed, context);
        EXPECT_TRUE(context.sampled());
        traces.insert(context.trace_id_hex());
    }
    EXPECT_EQ(traces.size(), 100U);
}

TEST(TraceContext, ChildKeepsTheTraceAndFlagsWithANewSpan) {
    const auto parent = *TraceContext::parse(example);
    const auto child = parent.child();
    EXPECT_EQ(child.trace_id(), parent.trace_id());
    EXPECT_EQ(child.flags(), parent.flags());
    EXPECT_NE(child.span_id(), parent.span_id());

    const auto continued = continue_or_start_trace(example);
    EXPECT_EQ(continued.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    const auto fresh = continue_or_start_trace("garbage");
    EXPECT_NE(fresh.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

}  // namespace
}  // namespace seamq::observability
