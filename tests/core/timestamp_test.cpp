#include "seamq/core/timestamp.hpp"

#include <gtest/gtest.h>

using namespace seamq;
using namespace std::chrono;

namespace {

system_clock::time_point at(sys_days day, system_clock::duration time_of_day = {}) {
    return system_clock::time_point(day) + time_of_day;
}

}  // namespace

TEST(Rfc3339, FormatsUtcAtTheGivenPrecision) {
    const auto time = at(2024y / May / 1, 12h + 3min + 4s + 123456789ns);
    EXPECT_EQ(format_rfc3339(time, TimePrecision::seconds), "2024-05-01T12:03:04Z");
    EXPECT_EQ(format_rfc3339(time, TimePrecision::milliseconds), "2024-05-01T12:03:04.123Z");
    EXPECT_EQ(format_rfc3339(time, TimePrecision::microseconds), "2024-05-01T12:03:04.123456Z");
    EXPECT_EQ(format_rfc3339(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
    // Before 1970 the fraction still counts forward from the second (gmtime-based code
    // printed a negative remainder).
    EXPECT_EQ(format_rfc3339(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(now_rfc3339(TimePrecision::microseconds).size(),
              std::string("2024-05-01T12:00:00.123456Z").size());
}

TEST(Rfc3339, ParsesWhatItFormatsAndOffsets) {
    const auto time = at(2024y / February / 29, 23h + 59min + 58s + 7ms);
    EXPECT_EQ(parse_rfc3339(format_rfc3339(time)), time);
    EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00Z"), at(2024y / May / 1, 12h));
    EXPECT_EQ(parse_rfc3339("2024-05-01t12:00:00z"), at(2024y / May / 1, 12h));
    EXPECT_EQ(parse_rfc3339("2024-05-01T14:30:00+02:30"), at(2024y / May / 1, 12h));
    EXPECT_EQ(parse_rfc3339("2024-05-01T00:00:00-01:00"), at(2024y / May / 1, 1h));
    EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00.5Z"), at(2024y / May / 1, 12h + 500ms));
    EXPECT_EQ(parse_rfc3339("2024-05-01T12:00:00.123456789123Z"), at(2024y / May / 1, 12h + 123456789ns));
    // A leap second is the next minute's first second.
    EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z"), at(2017y / January / 1));
}

TEST(Rfc3339, RefusesMalformedAndUnrepresentableTimes) {
    for (const auto* bad : {"",
                            "2024-05-01",
                            "2024-05-01T12:00:00",
                            "2024-05-01 12:00:00Z",
                            "2024-02-30T00:00:00Z",
                            "2023-02-29T00:00:00Z",
                            "2024-13-01T00:00:00Z",
                            "2024-00-01T00:00:00Z",
                            "2024-05-00T00:00:00Z",
                            "2024-05-01T24:00:00Z",
                            "2024-05-01T12:60:00Z",
                            "2024-05-01T12:00:61Z",
                            "2024-05-01T12:00:00.Z",
                            "2024-05-01T12:00:00+",
                            "2024-05-01T12:00:00+01",
                            "2024-05-01T12:00:00+0100",
                            "2024-05-01T12:00:00+24:00",
                            "2024-05-01T12:00:00+01:60",
                            "2024-05-01T12:00:00ZZ",
                            "-024-05-01T12:00:00Z",
                            "2024-+5-01T12:00:00Z",
                            "2024-05-01T12:00:00+-1:00",
                            " 2024-05-01T12:00:00Z",
                            "2024-05-01T12:00:00Z "}) {
        EXPECT_FALSE(parse_rfc3339(bad).has_value()) << bad;
    }
    // system_clock counts nanoseconds in 64 bits: about 1677-09-21 to 2262-04-11.
    EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59Z").has_value());
    EXPECT_FALSE(parse_rfc3339("0001-01-01T00:00:00Z").has_value());
    EXPECT_TRUE(parse_rfc3339("2262-01-01T00:00:00Z").has_value());
    EXPECT_TRUE(parse_rfc3339("1678-01-01T00:00:00Z").has_value());
    // Cut anywhere, no read beyond the text (ASan would say so).
    const std::string full = "2024-05-01T12:00:00.123+01:00";
    for (std::size_t length = 0; length < full.size(); ++length) {
        EXPECT_FALSE(parse_rfc3339(std::string_view(full).substr(0, length)).has_value()) << length;
    }
}
