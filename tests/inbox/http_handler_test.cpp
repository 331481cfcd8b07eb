// The HTTP handler's configuration checks, URL display and Retry-After parsing
// (no network).

#include "seamq/inbox/http_handler.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

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
    EXPECT_THAT(problem, HasSubstr("gopher://user:***@host/"));
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

TEST(RetryAfter, DatesFarInTheFutureAreCappedNotWrappedAround) {
    const auto now = std::chrono::system_clock::from_time_t(784111717);
    // Nanoseconds since 1970 end in 2262: converting the date itself overflowed to the past (0 s).
    EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), max_retry_after);
    EXPECT_EQ(parse_retry_after("Sat, 12 Apr 2262 00:00:00 GMT", now), max_retry_after);
}

//! The response a server sends, fed the way curl feeds it: header lines, then body chunks.
HttpResponse response(long status, std::vector<std::string> headers, std::string body) {
    HttpResponse result;
    for (const auto& line : headers) read_response_header(result, line);
    read_response_body(result, body);
    result.status = status;
    return result;
}

//! What check_response makes of it: "ok", "transient: <message>" or "permanent: <message>".
std::string outcome(const HttpResponse& response,
                    std::optional<std::chrono::seconds>* retry_after = nullptr) {
    const auto now = std::chrono::system_clock::from_time_t(784111717);
    try {
        check_response(response, "http://127.0.0.1:1/x", 7, now);
        return "ok";
    } catch (const TransientHttpFailure& e) {
        if (retry_after != nullptr) *retry_after = e.retry_after();
        EXPECT_EQ(e.status(), response.status);
        return std::string("transient: ") + e.what();
    } catch (const PermanentFailure& e) {
        return std::string("permanent: ") + e.what();
    }
}

TEST(HttpResponse, StatusDecidesTheOutcome) {
    EXPECT_EQ(outcome(response(200, {}, "")), "ok");
    EXPECT_EQ(outcome(response(204, {}, "")), "ok");
    EXPECT_THAT(outcome(response(500, {}, "")),
                AllOf(HasSubstr("transient: HTTP 500 from http://127.0.0.1:1/x after 7 ms: (empty body)"),
                      HasSubstr("retryable")));
    EXPECT_THAT(outcome(response(408, {}, "slow")), HasSubstr("transient: HTTP 408"));
    EXPECT_THAT(outcome(response(301, {"Location: /y\r\n"}, "")), HasSubstr("redirects are not followed"));
    EXPECT_THAT(outcome(response(422, {}, "bad field")),
                HasSubstr("permanent: HTTP 422 from http://127.0.0.1:1/x: bad field"));
    EXPECT_THAT(outcome(response(100, {}, "")), HasSubstr("permanent: HTTP 100"));
}

TEST(HttpResponse, RetryAfterCountsOnlyOnTheLastResponseOf429And503) {
    std::optional<std::chrono::seconds> retry_after;
    outcome(response(503, {"HTTP/1.1 503 Busy\r\n", "retry-AFTER:  30 \r\n"}, ""), &retry_after);
    EXPECT_EQ(retry_after, 30s);
    outcome(
        response(429, {"HTTP/1.1 429 Slow down\r\n", "Retry-After: Sun, 06 Nov 1994 08:50:37 GMT\r\n"}, ""),
        &retry_after);
    EXPECT_EQ(retry_after, 120s);
    // A 500's Retry-After is ignored; so is one from a 100 Continue before the real response.
    outcome(response(500, {"Retry-After: 30\r\n"}, ""), &retry_after);
    EXPECT_EQ(retry_after, std::nullopt);
    outcome(response(503, {"HTTP/1.1 100 Continue\r\n", "Retry-After: 30\r\n", "HTTP/1.1 503 Busy\r\n"}, ""),
            &retry_after);
    EXPECT_EQ(retry_after, std::nullopt);
    EXPECT_THAT(outcome(response(503, {"Retry-After: 99999999999999999999\r\n"}, "")),
                HasSubstr("(Retry-After: 86400 s)"));
}

TEST(HttpResponse, QuotesTheStartOfTheBodyOnOneLine) {
    EXPECT_THAT(outcome(response(400, {}, "line one\r\nline\ttwo\x7f")), HasSubstr(": line one  line two "));
    // Long bodies: 200 bytes, a UTF-8 character cut at the end dropped, "..." for the rest.
    const std::string long_body = std::string(199, 'a') + "\xc3\xa9" + std::string(100, 'b');
    const auto text = outcome(response(400, {}, long_body));
    EXPECT_THAT(text, HasSubstr(std::string(199, 'a') + "..."));
    EXPECT_THAT(text, Not(HasSubstr("\xc3")));
    // Past 1 MiB reading stops.
    HttpResponse big;
    EXPECT_TRUE(read_response_body(big, std::string(std::size_t{1} << 20, 'x')));
    EXPECT_FALSE(read_response_body(big, "y"));
    EXPECT_TRUE(big.body_abandoned);
    EXPECT_EQ(big.body_start.size(), 200u);
}

}  // namespace
}  // namespace seamq::inbox
