// The outbound edge's HTTP side against a real local HTTP server (cpp-httplib, loopback):
// what a delivery looks like (and that the npm reference verifier accepts it), how each
// answer is classified (2xx, 410, redirects, 4xx/5xx, Retry-After, timeouts, refused
// connections), the SSRF guard, and the retry schedule's jitter and floor.
#include <atomic>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <set>
#include <thread>

#include "tests/envelope/run_command.hpp"
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/edges/webhook_sender.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::edges {
namespace {

using namespace std::chrono_literals;

const std::string secret_text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Received {
    std::string path;
    std::string id;
    std::string timestamp;
    std::string signature;
    std::string content_type;
    std::string body;
};

// A partner endpoint on loopback whose answer per path the test scripts.
class Sink {
public:
    Sink() {
        server_.Post(R"(/(.*))", [this](const httplib::Request& request, httplib::Response& response) {
            {
                std::lock_guard lock(mutex_);
                received_.push_back({request.path, request.get_header_value("webhook-id"),
                                     request.get_header_value("webhook-timestamp"),
                                     request.get_header_value("webhook-signature"),
                                     request.get_header_value("Content-Type"), request.body});
            }
            const auto& path = request.path;
            if (path == "/ok") {
                response.set_content("thanks", "text/plain");
            } else if (path == "/gone") {
                response.status = 410;
            } else if (path == "/moved") {
                response.status = 301;
                response.set_header("Location", "/ok");
            } else if (path == "/busy") {
                response.status = 429;
                response.set_header("Retry-After", "7");
            } else if (path == "/maintenance") {
                response.status = 503;
                response.set_header("Retry-After", "Fri, 31 Dec 2100 23:59:59 GMT");
            } else if (path == "/broken") {
                response.status = 500;
                response.set_content(std::string(5000, 'e'), "text/plain");
            } else if (path == "/bad-request") {
                response.status = 400;
            } else if (path == "/slow") {
                std::this_thread::sleep_for(1500ms);
            }
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
    }
    ~Sink() {
        server_.stop();
        thread_.join();
    }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    std::vector<Received> received() {
        std::lock_guard lock(mutex_);
        return received_;
    }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::vector<Received> received_;
};

WebhookEndpoint endpoint(const std::string& url, std::chrono::milliseconds timeout = 1s) {
    return {"partner", url, {WebhookSecret::parse(secret_text)}, timeout};
}

const WebhookSender loopback_allowed(AddressPolicy({"127.0.0.0/8"}));

}  // namespace

TEST(WebhookSender, DeliversASignedCloudEventThatTheReferenceVerifierAccepts) {
    Sink sink;
    const std::string body =
        R"({"specversion":"1.0","id":"0b5f4c3e-1a7d-4f7e-9a55-3f1f2b9e2a10","type":"sea.event.order-placed.v1","source":"/sea/orders","data":{"total":12}})";
    const auto attempt =
        loopback_allowed.deliver(endpoint(sink.url("/ok")), "0b5f4c3e-1a7d-4f7e-9a55-3f1f2b9e2a10", body);
    EXPECT_EQ(attempt.outcome, AttemptOutcome::delivered) << attempt.error;
    EXPECT_EQ(attempt.http_status, 200);
    EXPECT_EQ(attempt.response, "thanks");
    EXPECT_EQ(attempt.address, "127.0.0.1");
    const auto received = sink.received();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].id, "0b5f4c3e-1a7d-4f7e-9a55-3f1f2b9e2a10");
    EXPECT_EQ(received[0].content_type, "application/cloudevents+json; charset=utf-8");
    EXPECT_EQ(received[0].body, body);

    // The npm reference library verifies exactly what arrived.
    nlohmann::json cases = {{"verify",
                             {{{"secret", secret_text},
                               {"id", received[0].id},
                               {"timestamp", std::stoll(received[0].timestamp)},
                               {"signature", received[0].signature},
                               {"body", received[0].body}}}}};
    seamq::testing::TempDir work("sender");
    std::ofstream(work.path() / "cases.json") << cases.dump();
    const auto node = test::run_command(
        {"node", (test::environment_path("SEAMQ_NODE_DIR") / "standard_webhooks_peer.mjs").string(),
         (work.path() / "cases.json").string()});
    ASSERT_EQ(node.exit_code, 0) << node.err;
    const auto answer = nlohmann::json::parse(node.out);
    EXPECT_TRUE(answer["verified"][0]["ok"].get<bool>()) << answer.dump();
}

TEST(WebhookSender, ClassifiesEachAnswer) {
    Sink sink;
    const auto send = [&](const std::string& path) {
        return loopback_allowed.deliver(endpoint(sink.url(path)), "evt-1", "{}");
    };
    const auto gone = send("/gone");
    EXPECT_EQ(gone.outcome, AttemptOutcome::gone);
    EXPECT_EQ(gone.http_status, 410);

    // A redirect is a failure, and the target it names is never called.
    const auto moved = send("/moved");
    EXPECT_EQ(moved.outcome, AttemptOutcome::retry);
    EXPECT_EQ(moved.http_status, 301);
    EXPECT_NE(moved.error.find("redirect"), std::string::npos) << moved.error;

    const auto busy = send("/busy");
    EXPECT_EQ(busy.outcome, AttemptOutcome::retry);
    EXPECT_EQ(busy.retry_after, std::chrono::seconds(7));
    const auto maintenance = send("/maintenance");
    EXPECT_EQ(maintenance.outcome, AttemptOutcome::retry);
    EXPECT_EQ(maintenance.retry_after, max_retry_after);  // a date in 2100, capped

    const auto broken = send("/broken");
    EXPECT_EQ(broken.outcome, AttemptOutcome::retry);
    EXPECT_EQ(broken.http_status, 500);
    EXPECT_EQ(broken.response.size(), max_response_bytes);  // truncated for the attempts log
    EXPECT_EQ(send("/bad-request").outcome, AttemptOutcome::retry);

    const auto slow = loopback_allowed.deliver(endpoint(sink.url("/slow"), 300ms), "evt-1", "{}");
    EXPECT_EQ(slow.outcome, AttemptOutcome::retry);
    EXPECT_EQ(slow.http_status, 0);
    EXPECT_GE(slow.duration, 250ms);
    EXPECT_LT(slow.duration, 1400ms);

    std::vector<std::string> paths;
    for (const auto& request : sink.received()) paths.push_back(request.path);
    EXPECT_EQ(paths, (std::vector<std::string>{"/gone", "/moved", "/busy", "/maintenance", "/broken",
                                               "/bad-request", "/slow"}));

    const auto refused_port = seamq::testing::free_port();
    const auto closed = loopback_allowed.deliver(
        endpoint("http://127.0.0.1:" + std::to_string(refused_port) + "/x"), "evt-1", "{}");
    EXPECT_EQ(closed.outcome, AttemptOutcome::retry);
    EXPECT_EQ(closed.http_status, 0);
    EXPECT_FALSE(closed.error.empty());
}

TEST(WebhookSender, TheAddressGuardRefusesInternalTargetsUnlessAllowListed) {
    Sink sink;
    const WebhookSender guarded{AddressPolicy{}};
    for (const auto& url :
         {sink.url("/ok"), std::string("http://localhost:1/ok"), std::string("http://[::1]:1/ok"),
          std::string("http://169.254.169.254/latest/meta-data/"), std::string("http://10.1.2.3/x"),
          std::string("http://192.168.1.1/x"), std::string("http://[::ffff:127.0.0.1]:1/x"),
          std::string("http://0.0.0.0:1/x"), std::string("http://2130706433:1/x")}) {
        const auto attempt = guarded.deliver(endpoint(url), "evt-1", "{}");
        EXPECT_EQ(attempt.outcome, AttemptOutcome::refused) << url << ": " << attempt.error;
        EXPECT_NE(attempt.error.find("address refused"), std::string::npos) << url << ": " << attempt.error;
    }
    EXPECT_NE(guarded.deliver(endpoint("http://169.254.169.254/"), "e", "{}").error.find("metadata"),
              std::string::npos);
    for (const char* url :
         {"file:///etc/passwd", "gopher://127.0.0.1/", "ftp://example.com/x", "not a url"}) {
        EXPECT_EQ(guarded.deliver(endpoint(url), "evt-1", "{}").outcome, AttemptOutcome::refused) << url;
    }
    EXPECT_TRUE(sink.received().empty());

    // Allow-listed explicitly, the same loopback sink is reached.
    EXPECT_EQ(loopback_allowed.deliver(endpoint(sink.url("/ok")), "evt-1", "{}").outcome,
              AttemptOutcome::delivered);
    EXPECT_EQ(sink.received().size(), 1u);
}

TEST(AddressPolicy, RangesAndAllowList) {
    const AddressPolicy strict;
    EXPECT_FALSE(strict.refusal("93.184.216.34").has_value());
    EXPECT_FALSE(strict.refusal("2606:2800:220:1::1").has_value());
    for (const char* address : {"127.0.0.1",
                                "127.255.0.9",
                                "10.0.0.1",
                                "172.16.0.1",
                                "172.31.255.255",
                                "192.168.0.1",
                                "169.254.169.254",
                                "169.254.1.1",
                                "100.64.0.1",
                                "0.0.0.0",
                                "224.0.0.1",
                                "255.255.255.255",
                                "::1",
                                "::",
                                "fc00::1",
                                "fd12::1",
                                "fe80::1",
                                "ff02::1",
                                "::ffff:10.0.0.1",
                                "fd00:ec2::254"}) {
        EXPECT_TRUE(strict.refusal(address).has_value()) << address;
    }
    EXPECT_FALSE(strict.refusal("172.32.0.1").has_value());
    EXPECT_FALSE(strict.refusal("100.128.0.1").has_value());
    const AddressPolicy allowing({"127.0.0.0/8", "10.20.0.0/16", "fd00::/8"});
    EXPECT_FALSE(allowing.refusal("127.0.0.1").has_value());
    EXPECT_FALSE(allowing.refusal("10.20.3.4").has_value());
    EXPECT_TRUE(allowing.refusal("10.21.3.4").has_value());
    EXPECT_FALSE(allowing.refusal("fd12::1").has_value());
    EXPECT_TRUE(allowing.refusal("169.254.169.254").has_value());
    for (const char* bad : {"127.0.0.0/33", "10.0.0.0/", "nonsense", "fd00::/129"}) {
        EXPECT_THROW(AddressPolicy({bad}), Error) << bad;
    }
}

TEST(RetrySchedule, JitterStaysInBoundsSpreadsAndRetryAfterIsAFloor) {
    RetrySchedule schedule;
    schedule.delays = {1s, 10s, 60s};
    schedule.jitter = 0.2;
    std::mt19937_64 random(7);
    std::set<std::int64_t> distinct;
    for (int i = 0; i < 1000; ++i) {
        const auto first = schedule.delay_after(1, std::nullopt, random);
        EXPECT_GE(first, 800ms);
        EXPECT_LE(first, 1200ms);
        distinct.insert(first.count());
        const auto later = schedule.delay_after(9, std::nullopt, random);  // the last delay repeats
        EXPECT_GE(later, 48s);
        EXPECT_LE(later, 72s);
    }
    EXPECT_GT(distinct.size(), 300u) << "jitter spreads retries";
    EXPECT_EQ(schedule.delay_after(1, 30s, random), 30s);
    EXPECT_GE(schedule.delay_after(2, 1s, random), 8s);
    EXPECT_EQ(parse_retry_after("120", std::chrono::system_clock::now()), 120s);
    EXPECT_EQ(parse_retry_after("99999999999", std::chrono::system_clock::now()), max_retry_after);
    EXPECT_EQ(parse_retry_after("soon", std::chrono::system_clock::now()), std::nullopt);
    EXPECT_EQ(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", std::chrono::system_clock::from_time_t(0)),
              10s);
    EXPECT_EQ(parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", std::chrono::system_clock::from_time_t(100)),
              0s);
}

}  // namespace seamq::edges
