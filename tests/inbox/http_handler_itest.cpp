// The HTTP handler against a real HTTP server (cpp-httplib on 127.0.0.1, in this process) and
// a real PostgreSQL transaction, then behind a real InboxConsumer on nats-server: each kind of
// answer, or no answer, has its documented outcome.

// The definitions cpp-httplib's pkg-config file adds (Debian's libcpp-httplib is built with
// them, and the header must agree with the library); the library itself is linked through
// seamq_testing.
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_OPENSSL_SUPPORT
#endif
#ifndef CPPHTTPLIB_ZLIB_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#endif
#ifndef CPPHTTPLIB_BROTLI_SUPPORT
#define CPPHTTPLIB_BROTLI_SUPPORT
#endif
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include "tests/inbox/inbox_fixture.hpp"
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "seamq/dead_letters/dead_letter_queue.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/inbox/http_handler.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/transaction.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::inbox {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view secret = "Bearer do-not-print-me-4711";

//! What the server saw of one request.
struct SeenRequest {
    std::string method;
    std::string path;
    std::string body;
    httplib::Headers headers;
    int remote_port = -1;

    std::string header(const std::string& name) const {
        const auto found = headers.find(name);  // httplib compares names case-insensitively
        return found == headers.end() ? std::string("(absent)") : found->second;
    }
    std::size_t header_count(const std::string& name) const { return headers.count(name); }
};

//! An HTTP server on 127.0.0.1 in a thread of this process. Routes:
//!   POST /ok                      200 (also /created 201, /no-content 204)
//!   POST /status/<code>           <code> with body "answer <code>";
//!   ?retry_after=<value> adds Retry-After POST /long/<code>             <code>
//!   with a 1000-byte body holding a line break and UTF-8 POST /slow waits
//!   until released (at most 10 s), then 200
class LocalHttpServer {
public:
    //! `port` 0 picks a free one; `keep_alive_timeout` is how long an idle
    //! connection stays open.
    explicit LocalHttpServer(int port = 0, std::chrono::seconds keep_alive_timeout = 5s) {
        server_.set_keep_alive_timeout(keep_alive_timeout.count());
        const auto record = [this](const httplib::Request& request) {
            const std::lock_guard lock(mutex_);
            seen_.push_back(
                {request.method, request.path, request.body, request.headers, request.remote_port});
        };
        server_.Post("/ok", [record](const httplib::Request& request, httplib::Response& response) {
            record(request);
            response.set_content("{\"accepted\":true}", "application/json");
        });
        server_.Post("/created", [record](const httplib::Request& request, httplib::Response& response) {
            record(request);
            response.status = 201;
        });
        server_.Post("/no-content", [record](const httplib::Request& request, httplib::Response& response) {
            record(request);
            response.status = 204;
        });
        server_.Post(R"(/status/(\d+))",
                     [record](const httplib::Request& request, httplib::Response& response) {
                         record(request);
                         response.status = std::stoi(request.matches[1].str());
                         if (request.has_param("retry_after")) {
                             response.set_header("Retry-After", request.get_param_value("retry_after"));
                         }
                         response.set_content("answer " + request.matches[1].str(), "text/plain");
                     });
        server_.Post(R"(/long/(\d+))",
                     [record](const httplib::Request& request, httplib::Response& response) {
                         record(request);
                         response.status = std::stoi(request.matches[1].str());
                         // 199 ASCII bytes with a line break, then "é" (2 bytes) straddling the
                         // 200-byte cut.
                         std::string body = "first line\nsecond line ";
                         body += std::string(199 - body.size(), 'x');
                         body += "\xC3\xA9";
                         body += std::string(1000 - body.size(), 'y');
                         response.set_content(body, "text/plain");
                     });
        server_.Post("/slow", [this, record](const httplib::Request& request, httplib::Response& response) {
            record(request);
            std::unique_lock lock(release_mutex_);
            released_condition_.wait_for(lock, 10s, [this] { return released_; });
            response.status = 200;
        });
        // Behaves by the envelope's data.behaviour, counting earlier posts with the same key:
        // "accept" 200; "reject" 422; "unavailable-twice" 503 twice, then 200; "slow-once"
        // no answer for 2 s the first time, then 200.
        server_.Post(
            "/by-order", [this, record](const httplib::Request& request, httplib::Response& response) {
                const auto key = request.get_header_value("Idempotency-Key");
                std::size_t earlier = 0;
                {
                    const std::lock_guard lock(mutex_);
                    earlier = static_cast<std::size_t>(std::count_if(
                        seen_.begin(), seen_.end(),
                        [&](const auto& seen) { return seen.header("Idempotency-Key") == key; }));
                }
                record(request);
                const auto behaviour =
                    nlohmann::json::parse(request.body).at("data").at("behaviour").get<std::string>();
                if (behaviour == "reject") {
                    response.status = 422;
                    response.set_content("{\"error\":\"unknown customer\"}", "application/json");
                } else if (behaviour == "unavailable-twice" && earlier < 2) {
                    response.status = 503;
                    response.set_content("try later", "text/plain");
                } else if (behaviour == "slow-once" && earlier == 0) {
                    std::unique_lock lock(release_mutex_);
                    released_condition_.wait_for(lock, 2s, [this] { return released_; });
                    response.status = 200;
                } else {
                    response.status = 200;
                }
            });
        if (port == 0) {
            port_ = server_.bind_to_any_port("127.0.0.1");
        } else {
            port_ = server_.bind_to_port("127.0.0.1", port) ? port : -1;
        }
        if (port_ <= 0) throw std::runtime_error(fmt::format("cannot bind 127.0.0.1:{}", port));
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        if (!seamq::testing::wait_until([this] { return server_.is_running(); }, 5s, 5ms)) {
            stop();
            throw std::runtime_error("the local HTTP server did not start within 5 s");
        }
    }
    ~LocalHttpServer() { stop(); }
    LocalHttpServer(const LocalHttpServer&) = delete;
    LocalHttpServer& operator=(const LocalHttpServer&) = delete;

    void stop() {
        {
            const std::lock_guard lock(release_mutex_);
            released_ = true;
        }
        released_condition_.notify_all();
        server_.stop();
        if (thread_.joinable()) thread_.join();
    }

    int port() const { return port_; }
    std::string url(const std::string& path) const {
        return fmt::format("http://127.0.0.1:{}{}", port_, path);
    }
    std::vector<SeenRequest> seen() const {
        const std::lock_guard lock(mutex_);
        return seen_;
    }

private:
    httplib::Server server_;
    int port_ = -1;
    std::thread thread_;
    mutable std::mutex mutex_;
    std::vector<SeenRequest> seen_;
    std::mutex release_mutex_;
    std::condition_variable released_condition_;
    bool released_ = false;
};

envelope::Envelope make_envelope(const std::string& order) {
    return envelope::EnvelopeBuilder("sea.event.order-placed.v1", "/sea/orders", order)
        .data({{"order_id", order}, {"total_cents", 4200}, {"note", "grüße \"quoted\"\n"}})
        .traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .tracestate("congo=t61rcWkgMzE")
        .build();
}

Delivery make_delivery(const envelope::Envelope& envelope) {
    Delivery delivery;
    delivery.consumer = "http-test";
    delivery.stream = "SEA_EVENTS";
    delivery.subject = envelope.type();
    delivery.message_id = envelope.id();
    delivery.stream_sequence = 7;
    delivery.traceparent = envelope.traceparent().value_or("");
    delivery.in_progress = [] {};
    return delivery;
}

HttpHandlerOptions options_for(const std::string& url) {
    HttpHandlerOptions options;
    options.url = url;
    options.timeout = 2s;
    options.connect_timeout = 1s;
    options.headers = {{"Authorization", std::string(secret)}, {"X-Tenant", "sea"}};
    return options;
}

//! What one handle() call ended with.
struct Outcome {
    enum class Kind { success, permanent, transient, other } kind = Kind::other;
    std::string message;
    int status = -1;
    std::optional<std::chrono::seconds> retry_after;
    std::chrono::milliseconds elapsed{0};
};

std::string to_string(Outcome::Kind kind) {
    switch (kind) {
        case Outcome::Kind::success: return "success";
        case Outcome::Kind::permanent: return "permanent";
        case Outcome::Kind::transient: return "transient";
        case Outcome::Kind::other: return "other";
    }
    return "?";
}

class HttpHandlerTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() { postgres_ = std::make_unique<seamq::testing::PostgresServer>(); }
    static void TearDownTestSuite() { postgres_.reset(); }

    void SetUp() override {
        connection_ = std::make_unique<postgres::Connection>(postgres_->connection_string());
    }

    //! Runs the handler inside a fresh transaction and checks it wrote nothing to
    //! it.
    Outcome call(Handler& handler, const envelope::Envelope& envelope) {
        postgres::Transaction transaction(*connection_);
        Outcome outcome;
        const auto started = std::chrono::steady_clock::now();
        try {
            handler.handle(envelope, make_delivery(envelope), transaction);
            outcome.kind = Outcome::Kind::success;
        } catch (const PermanentFailure& failure) {
            outcome.kind = Outcome::Kind::permanent;
            outcome.message = failure.what();
        } catch (const TransientHttpFailure& failure) {
            outcome.kind = Outcome::Kind::transient;
            outcome.message = failure.what();
            outcome.status = failure.status();
            outcome.retry_after = failure.retry_after();
            EXPECT_EQ(failure.code(), Errc::http);
        } catch (const std::exception& error) {
            outcome.message = error.what();
        }
        outcome.elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        // The HTTP call cannot join the transaction, so the handler must not have
        // written in it: no transaction id was ever assigned, and the transaction
        // is still usable.
        EXPECT_TRUE(transaction.active());
        EXPECT_TRUE(transaction.exec("SELECT txid_current_if_assigned() IS NULL").text(0, 0) == "t");
        transaction.rollback();
        // Whatever happened, a configured secret is never part of an error.
        EXPECT_THAT(outcome.message, Not(HasSubstr("do-not-print-me")));
        return outcome;
    }

    static inline std::unique_ptr<seamq::testing::PostgresServer> postgres_;
    std::unique_ptr<postgres::Connection> connection_;
};

TEST_F(HttpHandlerTest, StatusCodesLeadToSuccessPermanentOrTransientFailure) {
    LocalHttpServer server;

    // 2xx: success, and the server saw exactly the envelope as a structured
    // CloudEvent.
    {
        HttpHandler handler(options_for(server.url("/ok")));
        EXPECT_EQ(handler.describe(), "http POST " + server.url("/ok"));
        const auto envelope = make_envelope("order-1");
        const auto outcome = call(handler, envelope);
        ASSERT_EQ(to_string(outcome.kind), "success") << outcome.message;
        const auto seen = server.seen();
        ASSERT_EQ(seen.size(), 1u);
        const auto& request = seen[0];
        EXPECT_EQ(request.method, "POST");
        EXPECT_EQ(request.path, "/ok");
        EXPECT_EQ(request.body, envelope.to_json());
        EXPECT_EQ(nlohmann::json::parse(request.body), envelope.json());
        EXPECT_EQ(request.header("Content-Type"), "application/cloudevents+json; charset=utf-8");
        EXPECT_EQ(request.header_count("Content-Type"), 1u);
        EXPECT_EQ(request.header("Idempotency-Key"), envelope.id());
        EXPECT_EQ(request.header("traceparent"), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        EXPECT_EQ(request.header("tracestate"), "congo=t61rcWkgMzE");
        EXPECT_THAT(request.header("User-Agent"), StartsWith("sea-mq/"));
        EXPECT_EQ(request.header("Authorization"), secret);
        EXPECT_EQ(request.header("X-Tenant"), "sea");
        EXPECT_EQ(request.header("Expect"), "(absent)");
        EXPECT_EQ(request.header("Content-Length"), std::to_string(envelope.to_json().size()));
    }
    for (const std::string path : {"/created", "/no-content"}) {
        SCOPED_TRACE(path);
        HttpHandler handler(options_for(server.url(path)));
        const auto envelope = make_envelope("order-2");
        const auto outcome = call(handler, envelope);
        EXPECT_EQ(to_string(outcome.kind), "success") << outcome.message;
        EXPECT_EQ(server.seen().back().header("Idempotency-Key"), envelope.id());
    }

    // 4xx except 408 and 429: permanent, "HTTP <code> from <url>: <start of
    // body>".
    for (const int status : {400, 401, 404, 409, 422}) {
        SCOPED_TRACE(status);
        const auto url = server.url(fmt::format("/status/{}", status));
        HttpHandler handler(options_for(url));
        const auto outcome = call(handler, make_envelope("order-3"));
        EXPECT_EQ(to_string(outcome.kind), "permanent") << outcome.message;
        EXPECT_EQ(outcome.message, fmt::format("HTTP {} from {}: answer {}", status, url, status));
    }
    // A redirect is not followed: configuration has to name the real endpoint.
    {
        const auto url = server.url("/status/308");
        HttpHandler handler(options_for(url));
        const auto before = server.seen().size();
        const auto outcome = call(handler, make_envelope("order-4"));
        EXPECT_EQ(to_string(outcome.kind), "permanent") << outcome.message;
        EXPECT_THAT(outcome.message, StartsWith(fmt::format("HTTP 308 from {}: answer 308", url)));
        EXPECT_EQ(server.seen().size(), before + 1);
    }
    // The quoted body: 200 bytes at most, on one line, no half UTF-8 character,
    // "..." for the rest.
    {
        const auto url = server.url("/long/422");
        HttpHandler handler(options_for(url));
        const auto outcome = call(handler, make_envelope("order-5"));
        EXPECT_EQ(to_string(outcome.kind), "permanent") << outcome.message;
        const std::string quoted = "first line second line " + std::string(199 - 23, 'x') + "...";
        EXPECT_EQ(outcome.message, fmt::format("HTTP 422 from {}: {}", url, quoted));
    }

    // 408, 429 and 5xx: transient, naming status and URL; Retry-After read on 429
    // and 503.
    struct TransientCase {
        int status;
        std::string retry_after_header;
        std::optional<std::chrono::seconds> expected_retry_after;
    };
    const std::vector<TransientCase> transient_cases{
        {408, "", std::nullopt},   {429, "7", 7s},     {429, "soon", std::nullopt},
        {500, "30", std::nullopt},  // Retry-After means something only on 429 and 503
        {502, "", std::nullopt},   {503, "120", 120s}, {503, "999999999999999999999", max_retry_after},
        {504, "", std::nullopt},
    };
    for (const auto& transient_case : transient_cases) {
        SCOPED_TRACE(
            fmt::format("{} Retry-After {}", transient_case.status, transient_case.retry_after_header));
        auto path = fmt::format("/status/{}", transient_case.status);
        if (!transient_case.retry_after_header.empty())
            path += "?retry_after=" + transient_case.retry_after_header;
        HttpHandler handler(options_for(server.url(path)));
        const auto outcome = call(handler, make_envelope("order-6"));
        EXPECT_EQ(to_string(outcome.kind), "transient") << outcome.message;
        EXPECT_EQ(outcome.status, transient_case.status);
        EXPECT_EQ(outcome.retry_after, transient_case.expected_retry_after);
        // The query string is left out of messages (it may carry a token).
        const auto shown_url = server.url(fmt::format("/status/{}", transient_case.status)) +
                               (transient_case.retry_after_header.empty() ? "" : "?...");
        EXPECT_THAT(outcome.message,
                    StartsWith(fmt::format("HTTP {} from {} after ", transient_case.status, shown_url)));
        EXPECT_THAT(outcome.message, HasSubstr(fmt::format("answer {}", transient_case.status)));
        if (transient_case.expected_retry_after) {
            EXPECT_THAT(
                outcome.message,
                HasSubstr(fmt::format("(Retry-After: {} s)", transient_case.expected_retry_after->count())));
        }
    }
    // An HTTP-date Retry-After is turned into the seconds from now.
    {
        const auto in_a_minute = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + 60s);
        std::tm utc{};
        gmtime_r(&in_a_minute, &utc);
        char date[64];
        std::strftime(date, sizeof date, "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", &utc);
        HttpHandler handler(options_for(server.url(std::string("/status/503?retry_after=") + date)));
        const auto outcome = call(handler, make_envelope("order-7"));
        EXPECT_EQ(to_string(outcome.kind), "transient") << outcome.message;
        ASSERT_TRUE(outcome.retry_after.has_value()) << outcome.message;
        EXPECT_GE(outcome.retry_after->count(), 57);
        EXPECT_LE(outcome.retry_after->count(), 60);
        EXPECT_THAT(outcome.message,
                    StartsWith(fmt::format("HTTP 503 from {}?... after ", server.url("/status/503"))));
    }
}

TEST_F(HttpHandlerTest, TimeoutsAndRefusedConnectionsAreTransientAndKeepAliveSurvivesServerRestarts) {
    // A server slower than the timeout: transient, within the timeout and a small
    // margin.
    {
        LocalHttpServer server;
        auto options = options_for(server.url("/slow"));
        options.timeout = 500ms;
        HttpHandler handler(options);
        const auto outcome = call(handler, make_envelope("order-10"));
        EXPECT_EQ(to_string(outcome.kind), "transient") << outcome.message;
        EXPECT_EQ(outcome.status, 0);
        EXPECT_EQ(outcome.retry_after, std::nullopt);
        EXPECT_THAT(outcome.message, StartsWith(fmt::format("POST {} failed after ", server.url("/slow"))));
        EXPECT_THAT(outcome.message, HasSubstr("no complete response within the 500 ms timeout"));
        EXPECT_GE(outcome.elapsed, 490ms);
        EXPECT_LT(outcome.elapsed, 1500ms);
        EXPECT_EQ(server.seen().size(),
                  1u);  // the request did arrive: the endpoint may have acted
    }

    // Nothing listening: connection refused, transient, and fast.
    {
        const auto port = seamq::testing::free_port();
        const auto url = fmt::format("http://127.0.0.1:{}/hook", port);
        HttpHandler handler(options_for(url));
        const auto outcome = call(handler, make_envelope("order-11"));
        EXPECT_EQ(to_string(outcome.kind), "transient") << outcome.message;
        EXPECT_EQ(outcome.status, 0);
        EXPECT_THAT(outcome.message, StartsWith(fmt::format("POST {} failed after ", url)));
        EXPECT_THAT(outcome.message, HasSubstr("connection refused"));
        EXPECT_LT(outcome.elapsed, 1000ms);
    }

    // A peer that accepts the connection and hangs up without answering: transient.
    {
        const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
        ASSERT_GE(listener, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        socklen_t length = sizeof address;
        ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        ASSERT_EQ(::listen(listener, 4), 0);
        ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
        std::thread hang_up([listener] {
            // One connection is expected; the listener is shut down after the call either way.
            const int connection = ::accept(listener, nullptr, nullptr);
            if (connection >= 0) ::close(connection);
        });
        const auto url = fmt::format("http://127.0.0.1:{}/hook", ntohs(address.sin_port));
        HttpHandler handler(options_for(url));
        const auto outcome = call(handler, make_envelope("order-12"));
        ::shutdown(listener, SHUT_RDWR);  // ends a still-waiting accept()
        hang_up.join();
        ::close(listener);
        EXPECT_EQ(to_string(outcome.kind), "transient") << outcome.message;
        EXPECT_EQ(outcome.status, 0);
        EXPECT_THAT(outcome.message, StartsWith(fmt::format("POST {} failed after ", url)));
        EXPECT_LT(outcome.elapsed, 1000ms);
    }

    // Keep-alive: consecutive calls share one connection; when the server goes
    // away and comes back on the same port, or drops the idle connection, the
    // next call still succeeds on a new connection.
    {
        auto server = std::make_unique<LocalHttpServer>(0, 1s);
        const int port = server->port();
        const auto url = server->url("/ok");
        HttpHandler handler(options_for(url));
        ASSERT_EQ(to_string(call(handler, make_envelope("order-12")).kind), "success");
        ASSERT_EQ(to_string(call(handler, make_envelope("order-13")).kind), "success");
        auto seen = server->seen();
        ASSERT_EQ(seen.size(), 2u);
        EXPECT_EQ(seen[0].remote_port, seen[1].remote_port) << "the second call did not reuse the connection";
        const int first_connection = seen[0].remote_port;

        server.reset();  // closes the kept-alive connection
        server = std::make_unique<LocalHttpServer>(port, 1s);
        const auto after_restart = call(handler, make_envelope("order-14"));
        EXPECT_EQ(to_string(after_restart.kind), "success") << after_restart.message;
        seen = server->seen();
        ASSERT_EQ(seen.size(), 1u);
        EXPECT_NE(seen[0].remote_port, first_connection);

        // Past the server's 1 s keep-alive timeout it has closed the idle
        // connection.
        std::this_thread::sleep_for(1500ms);
        const auto after_idle = call(handler, make_envelope("order-15"));
        EXPECT_EQ(to_string(after_idle.kind), "success") << after_idle.message;
        EXPECT_EQ(server->seen().size(), 2u);
    }

    // Calls from several threads at once each get a connection of their own.
    {
        LocalHttpServer server;
        HttpHandler handler(options_for(server.url("/ok")));
        constexpr int threads = 4;
        constexpr int calls_per_thread = 10;
        std::atomic<int> successes{0};
        std::vector<std::thread> callers;
        std::vector<std::string> ids(threads * calls_per_thread);
        for (int thread = 0; thread < threads; ++thread) {
            callers.emplace_back([&, thread] {
                postgres::Connection connection(postgres_->connection_string());
                for (int call_index = 0; call_index < calls_per_thread; ++call_index) {
                    const auto envelope = make_envelope(fmt::format("order-{}-{}", thread, call_index));
                    ids[static_cast<std::size_t>(thread * calls_per_thread + call_index)] = envelope.id();
                    postgres::Transaction transaction(connection);
                    try {
                        handler.handle(envelope, make_delivery(envelope), transaction);
                        ++successes;
                    } catch (const std::exception& error) {
                        ADD_FAILURE() << error.what();
                    }
                }
            });
        }
        for (auto& caller : callers) caller.join();
        EXPECT_EQ(successes.load(), threads * calls_per_thread);
        std::vector<std::string> keys;
        for (const auto& request : server.seen()) keys.push_back(request.header("Idempotency-Key"));
        EXPECT_THAT(keys, ::testing::UnorderedElementsAreArray(ids));
    }
}

}  // namespace
}  // namespace seamq::inbox

namespace seamq::inbox::testing {
namespace {

//! The HTTP handler behind a real InboxConsumer on real nats-server and PostgreSQL.
class HttpThroughConsumerTest : public InboxTest {};

std::string envelope_with_behaviour(const std::string& id, const std::string& behaviour) {
    return envelope::EnvelopeBuilder(event_type, "/tests/inbox", id)
        .id(id)
        .data({{"behaviour", behaviour}})
        .traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        .build()
        .to_json();
}

TEST_F(HttpThroughConsumerTest, EachAnswerHasItsOutcomeAndARedeliveryAfterSuccessIsNotPostedAgain) {
    LocalHttpServer server;
    const auto url = server.url("/by-order");
    HttpHandlerOptions handler_options;
    handler_options.url = url;
    handler_options.timeout = 500ms;
    handler_options.headers = {{"Authorization", std::string(secret)}};
    auto handler = std::make_shared<HttpHandler>(handler_options);

    const auto accepted = publish(envelope_with_behaviour("order-accept", "accept"), "order-accept");
    const auto rejected = publish(envelope_with_behaviour("order-reject", "reject"), "order-reject");
    publish(envelope_with_behaviour("order-unavailable", "unavailable-twice"), "order-unavailable");
    publish(envelope_with_behaviour("order-slow", "slow-once"), "order-slow");

    auto options = consumer_options("partner-api");
    options.retry_delays = {200ms, 300ms};
    InboxConsumer consumer(options, *connection, handler);
    consumer.start();
    ASSERT_TRUE(wait_until(
        [&] { return consumer.statistics().processed == 3 && consumer.statistics().dead_lettered == 1; },
        30s))
        << "processed " << consumer.statistics().processed << ", dead-lettered "
        << consumer.statistics().dead_lettered;

    // The accepted envelope arrives again as another stream message (a republish): the
    // inbox row recorded the success, so it is acknowledged without a second POST.
    publish(envelope_with_behaviour("order-accept", "accept"), "order-accept/republished");
    ASSERT_TRUE(wait_until([&] { return consumer.statistics().duplicates == 1; }, 10s));
    consumer.stop();

    std::map<std::string, int> posts;
    for (const auto& request : server.seen()) {
        const auto key = request.header("Idempotency-Key");
        ++posts[key];
        EXPECT_EQ(nlohmann::json::parse(request.body).at("id"), key) << "the key is the envelope id";
        EXPECT_EQ(request.header("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        EXPECT_EQ(request.header("Content-Type"), "application/cloudevents+json; charset=utf-8");
    }
    EXPECT_EQ(posts,
              (std::map<std::string, int>{
                  {"order-accept", 1}, {"order-reject", 1}, {"order-unavailable", 3}, {"order-slow", 2}}));

    const auto statistics = consumer.statistics();
    EXPECT_EQ(statistics.processed, 3U);
    EXPECT_EQ(statistics.retried, 3U) << "two 503s and one timeout";
    EXPECT_EQ(statistics.dead_lettered, 1U);
    EXPECT_EQ(statistics.duplicates, 1U);
    EXPECT_EQ(
        query_count("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = 'partner-api' AND status = "
                    "'processed' AND message_id IN ('order-accept', 'order-unavailable', 'order-slow')"),
        3);
    EXPECT_EQ(query_count("SELECT attempts FROM seamq.inbox_messages WHERE consumer = 'partner-api' AND "
                          "message_id = 'order-unavailable'"),
              3);

    // The 422 went to the dead-letter queue at once, with the partner's answer.
    dead_letters::DeadLetterQueue queue(*jetstream, "sea");
    const auto letters = queue.list({});
    ASSERT_EQ(letters.size(), 1U);
    EXPECT_EQ(letters[0].original_sequence, rejected.sequence);
    EXPECT_EQ(letters[0].error_class, dead_letters::ErrorClass::permanent);
    EXPECT_EQ(letters[0].deliveries, 1U);
    EXPECT_EQ(letters[0].error_message, "HTTP 422 from " + url + ": {\"error\":\"unknown customer\"}");
    EXPECT_EQ(letters[0].error_message.find("do-not-print-me"), std::string::npos);
    EXPECT_NE(accepted.sequence, rejected.sequence);
}

}  // namespace
}  // namespace seamq::inbox::testing
