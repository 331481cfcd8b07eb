// The JSON output helpers every verb writes through (src/cli/output.hpp): which byte
// strings count as UTF-8, base64 against RFC 4648's test vectors, and payloads kept
// without loss.
#include "src/cli/output.hpp"
#include <gtest/gtest.h>

namespace seamq::cli {
namespace {

TEST(CliOutput, Utf8IsWellFormedUtf8Only) {
    for (const auto& text :
         std::vector<std::string>{"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                  "\xf4\x8f\xbf\xbf", std::string("nul \x00 inside", 12)})
        EXPECT_TRUE(is_utf8(text)) << text;
    for (const std::string text :
         {"\x80", "caf\xe9", "\xc0\x80", "\xc1\xbf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
          "\xf5\x80\x80\x80", "\xff", "\xe2\x82", "\xf0\x9f\x98"})
        EXPECT_FALSE(is_utf8(text)) << ::testing::PrintToString(text);
}

TEST(CliOutput, Base64IsRfc4648) {
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {std::string("\xff\xfe\x00", 3), "//4A"}};
    for (const auto& [bytes, expected] : vectors) EXPECT_EQ(encode_base64(bytes), expected);
}

TEST(CliOutput, PayloadsAreKeptWithoutLossAndDumpingNeverThrows) {
    nlohmann::json object;
    put_payload(object, R"({"a":1})");
    EXPECT_EQ(object, nlohmann::json::parse(R"({"payload":{"a":1}})"));
    object = nlohmann::json::object();
    put_payload(object, "not json");
    EXPECT_EQ(object, nlohmann::json({{"payload_text", "not json"}}));
    object = nlohmann::json::object();
    put_payload(object, std::string("\xff\x00", 2));
    EXPECT_EQ(object, nlohmann::json({{"payload_base64", "/wA="}}));

    const nlohmann::json odd = {{"header", "caf\xe9"}};
    EXPECT_THROW((void)odd.dump(), nlohmann::json::type_error);
    EXPECT_EQ(dump_json(odd), "{\"header\":\"caf\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace seamq::cli
