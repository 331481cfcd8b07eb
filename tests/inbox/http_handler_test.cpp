// The HTTP handler's configuration checks, URL display and Retry-After parsing
// (no network).

#include "seamq/inbox/http_handler.hpp"

#include <chrono>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace seamq::inbox {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

HttpHandlerOptions with_url(std::string url) {
    HttpHandlerOptions options;
    options.url = std::move(url);
    return options;
}

//! The message of the config error check_options throws ("" when it accepts).
std::string config_problem(const HttpHandlerOptions& options) {
    try {
        check_options(options);
        return "";
    } catch (const Error& error) {
        EXPECT_EQ(error.code(), Errc::config) << error.what();
        return error.what();
    }
}

TEST(HttpHandlerOptions, AcceptsHttpAndHttpsEndpoints) {
    EXPECT_EQ(config_problem(with_url("http://127.0.0.1:8080/hooks/orders")), "");
    EXPECT_EQ(config_problem(with_url("https://orders.example/hooks")), "");
    EXPECT_EQ(config_problem(with_url("HTTP://localhost/")), "");
}

TEST(HttpHandlerOptions, RefusesUnusableUrlsWithoutPrintingCredentials) {
    EXPECT_EQ(config_problem(with_url("")),
              "http handler: url: is required (the endpoint to POST envelopes "
              "to, http://host/path)");
    EXPECT_THAT(
        config_problem(with_url("ftp://files.example/in")),
        AllOf(HasSubstr("http handler: url:"), HasSubstr("\"ftp\""), HasSubstr("use http:// or https://")));
    EXPECT_THAT(config_problem(with_url("file:///etc/passwd")), HasSubstr("use http:// or https://"));
    EXPECT_THAT(config_problem(with_url("not a url")), HasSubstr("is not a valid URL"));
    const auto problem = config_problem(with_url("gopher://user:hunter2@host/"));
    EXPECT_THAT(problem, HasSubstr("gopher://***@host/"));
    EXPECT_THAT(problem, Not(HasSubstr("hunter2")));
}

TEST(HttpHandlerOptions, RefusesNonPositiveTimeouts) {
    auto options = with_url("http://127.0.0.1/");
    options.timeout = 0ms;
    EXPECT_EQ(config_problem(options), "http handler: timeout: must be positive");
    options.timeout = 1s;
    options.connect_timeout = -1ms;
    EXPECT_EQ(config_problem(options), "http handler: connect_timeout: must be positive");
}

TEST(HttpHandlerOptions, RefusesHeadersItSetsItselfAndValuesThatWouldSplitTheRequest) {
    auto options = with_url("http://127.0.0.1/");
    options.headers = {{"Authorization", "Bearer a"}, {"User-Agent", "shop/1"}, {"X-Empty", ""}};
    EXPECT_EQ(config_problem(options), "");

    for (const std::string name : {"Content-Type", "idempotency-key", "TRACEPARENT", "tracestate", "Host",
                                   "Content-Length", "Expect", "Connection", "Transfer-Encoding"}) {
        options.headers = {{"X-Fine", "1"}, {name, "value"}};
        EXPECT_EQ(config_problem(options),
                  "http handler: headers[1]: " + name + " is set by sea-mq itself and cannot be configured");
    }
    options.headers = {{"", "x"}};
    EXPECT_EQ(config_problem(options), "http handler: headers[0]: the header name is empty");
    options.headers = {{"Bad Name", "x"}};
    EXPECT_THAT(config_problem(options), HasSubstr("\"Bad Name\" is not a valid header name"));

    options.headers = {{"Authorization", "Bearer secret-token\r\nX-Injected: 1"}};
    const auto problem = config_problem(options);
    EXPECT_EQ(problem,
              "http handler: headers[0]: the value of Authorization "
              "contains a line break or another control "
              "character");
    EXPECT_THAT(problem, Not(HasSubstr("secret-token")));
}

TEST(HttpHandler, ConstructorChecksOptionsAndDescribeHidesCredentialsAndQuery) {
    EXPECT_THROW(HttpHandler(with_url("ftp://x/")), Error);
    HttpHandler plain(with_url("http://127.0.0.1:9000/hooks/orders"));
    EXPECT_EQ(plain.describe(), "http POST http://127.0.0.1:9000/hooks/orders");
    HttpHandler secret(with_url("https://svc:pa55word@orders.example/hook?token=abc#frag"));
    EXPECT_EQ(secret.describe(), "http POST https://orders.example/hook?...");
    EXPECT_EQ(secret.options().url, "https://svc:pa55word@orders.example/hook?token=abc#frag");
}

TEST(RetryAfter, ReadsDeltaSecondsAndHttpDates) {
    const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
    EXPECT_EQ(parse_retry_after("120", now), 120s);
    EXPECT_EQ(parse_retry_after(" 0 ", now), 0s);
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now), 60s);
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
              10s);  // obsolete RFC 850 form
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
              0s);  // in the past: now
    EXPECT_EQ(parse_retry_after("86400", now), 86400s);
    EXPECT_EQ(parse_retry_after("86401", now), max_retry_after);
    EXPECT_EQ(parse_retry_after("99999999999999999999999", now), max_retry_after);
    EXPECT_EQ(parse_retry_after("Tue, 06 Nov 2094 08:49:37 GMT", now), max_retry_after);
    EXPECT_EQ(parse_retry_after("", now), std::nullopt);
    EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
    EXPECT_EQ(parse_retry_after("1.5", now), std::nullopt);
    EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
}

}  // namespace
}  // namespace seamq::inbox
