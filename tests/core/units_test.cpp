#include "seamq/core/units.hpp"

#include <gtest/gtest.h>

#include "seamq/core/error.hpp"

using namespace seamq;
using namespace std::chrono_literals;

namespace {

std::string error_of(std::string_view text, bool size) {
    try {
        if (size) {
            parse_byte_size(text);
        } else {
            parse_duration(text);
        }
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::invalid_argument);
        return e.what();
    }
    ADD_FAILURE() << "accepted '" << text << "'";
    return {};
}

}  // namespace

TEST(Durations, SumsTermsOfMillisecondsToDays) {
    EXPECT_EQ(parse_duration("0"), 0ms);
    EXPECT_EQ(parse_duration("500ms"), 500ms);
    EXPECT_EQ(parse_duration("2s"), 2s);
    EXPECT_EQ(parse_duration("1m30s"), 90s);
    EXPECT_EQ(parse_duration("1h30m"), 90min);
    EXPECT_EQ(parse_duration("7d"), 7 * 24h);
    EXPECT_EQ(parse_duration("0s"), 0ms);
    EXPECT_EQ(parse_duration("1d1h1m1s1ms"), 24h + 1h + 1min + 1s + 1ms);
    EXPECT_EQ(parse_duration("0000000000000000000000000001s"), 1s);  // leading zeros do not overflow
}

TEST(Durations, RefusesMalformedTextWithTheReason) {
    EXPECT_NE(error_of("", false).find("empty duration"), std::string::npos);
    for (const auto* bad :
         {"5", "s", "-1s", "+1s", "1.5s", "1s ", " 1s", "1 s", "2w", "1S", "1sec", "ms", "1s1"}) {
        EXPECT_NE(error_of(bad, false).find("bad duration"), std::string::npos) << bad;
    }
    EXPECT_NE(error_of("2w", false).find("unit 'w'"), std::string::npos);
}

TEST(Durations, RefusesSumsBeyondSixtyFourBitMilliseconds) {
    // int64 milliseconds end at 9223372036854775807 (about 292 million years).
    EXPECT_EQ(parse_duration("9223372036854775807ms"), std::chrono::milliseconds::max());
    EXPECT_NE(error_of("9223372036854775808ms", false).find("too long"), std::string::npos);
    EXPECT_NE(error_of("99999999999999999999s", false).find("too long"), std::string::npos);
    EXPECT_NE(error_of("106751991168d", false).find("too long"), std::string::npos);
    EXPECT_EQ(parse_duration("106751991167d"), std::chrono::days(106751991167));
    // Each term fits but the sum does not.
    EXPECT_NE(error_of("9223372036854775807ms1ms", false).find("too long"), std::string::npos);
    // A malformed rest after an overflow still says what is malformed.
    EXPECT_NE(error_of("99999999999999999999s2w", false).find("unit 'w'"), std::string::npos);
}

TEST(Durations, FormatIsTheCompactInverse) {
    EXPECT_EQ(format_duration(90s), "1m30s");
    EXPECT_EQ(format_duration(500ms), "500ms");
    EXPECT_EQ(format_duration(0ms), "0s");
    EXPECT_EQ(format_duration(-1500ms), "-1s500ms");
    EXPECT_EQ(format_duration(30 * 24h), "30d");
    for (const auto value : {1ms, 61001ms, std::chrono::milliseconds::max()}) {
        EXPECT_EQ(parse_duration(format_duration(value)), value);
    }
    EXPECT_FALSE(format_duration(std::chrono::milliseconds::min()).empty());
}

TEST(ByteSizes, ReadDecimalAndBinaryUnits) {
    EXPECT_EQ(parse_byte_size("0"), 0);
    EXPECT_EQ(parse_byte_size("1048576"), 1048576);
    EXPECT_EQ(parse_byte_size("12B"), 12);
    EXPECT_EQ(parse_byte_size("512KiB"), 512 * 1024);
    EXPECT_EQ(parse_byte_size("8MiB"), 8 * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("8 MiB"), 8 * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("1GiB"), 1024LL * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("2TiB"), 2 * 1024LL * 1024 * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("1KB"), 1000);
    EXPECT_EQ(parse_byte_size("1MB"), 1'000'000);
    EXPECT_EQ(parse_byte_size("5GB"), 5'000'000'000LL);
    EXPECT_EQ(parse_byte_size("3TB"), 3'000'000'000'000LL);
}

TEST(ByteSizes, RefuseMalformedNegativeAndOverflowingSizes) {
    for (const auto* bad :
         {"", "-1", "+1", "MiB", " 1MiB", "1.5GiB", "1 mib", "1kb", "1MiB ", "1 PiB", "1Ki"}) {
        EXPECT_NE(error_of(bad, true).find("bad size"), std::string::npos) << bad;
    }
    EXPECT_EQ(parse_byte_size("9223372036854775807"), INT64_MAX);
    EXPECT_NE(error_of("9223372036854775808", true).find("too large"), std::string::npos);
    EXPECT_NE(error_of("8388608TiB", true).find("too large"), std::string::npos);
    EXPECT_EQ(parse_byte_size("8388607TiB"), 8388607LL << 40);
    EXPECT_NE(error_of("99999999999999999999999GB", true).find("too large"), std::string::npos);
}
