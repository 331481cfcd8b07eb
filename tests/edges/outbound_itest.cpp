// The outbound edge in the real sea-mq-worker against a real nats-server, PostgreSQL and
// a flaky local HTTP endpoint (cpp-httplib on loopback, allow-listed explicitly): only
// external events leave, redacted; the retry schedule as measured; Retry-After honoured;
// 410, a refused address and a failing period disable; a worker killed mid-retry loses
// nothing; attempts are logged and listed by the CLI.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/envelope/run_command.hpp"
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "seamq/contracts/contracts.hpp"
#include "seamq/edges/webhook_signature.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::edges {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Arrival {
    Clock::time_point at;
    std::string id;
    std::string body;
    int status = 0;
    WebhookHeaders headers;
};

// A partner endpoint whose answers per path are scripted: a queue of statuses (the last
// one repeats), a Retry-After per status 429.
class FlakySink {
public:
    FlakySink() {
        server_.Post(R"(/(.*))", [this](const httplib::Request& request, httplib::Response& response) {
            if (slow_.contains(request.path)) std::this_thread::sleep_for(3s);  // past the 2 s timeout
            std::lock_guard lock(mutex_);
            auto& script = scripts_[request.path];
            int status = script.empty() ? 200 : script.front();
            if (script.size() > 1) script.erase(script.begin());
            // An event scripted to fail: its first n arrivals (at any path) answer 503.
            const auto id = request.get_header_value("webhook-id");
            if (auto failing = failures_.find(request.path + " " + id);
                failing != failures_.end() && failing->second > 0) {
                --failing->second;
                status = 503;
            }
            if (status == 302) response.set_header("Location", "http://127.0.0.1:1/elsewhere");
            response.status = status;
            if (status == 429) response.set_header("Retry-After", "2");
            arrivals_[request.path].push_back(
                {Clock::now(),
                 request.get_header_value("webhook-id"),
                 request.body,
                 status,
                 {request.get_header_value("webhook-id"), request.get_header_value("webhook-timestamp"),
                  request.get_header_value("webhook-signature")}});
        });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
    }
    ~FlakySink() {
        server_.stop();
        thread_.join();
    }
    void script(const std::string& path, std::vector<int> statuses) {
        std::lock_guard lock(mutex_);
        scripts_[path] = std::move(statuses);
    }
    //! The first `times` deliveries of event `id` at `path` answer 503.
    void fail_event(const std::string& path, const std::string& id, int times) {
        std::lock_guard lock(mutex_);
        failures_[path + " " + id] = times;
    }
    //! Set before the endpoint gets traffic: answers after 3 s.
    void slow(const std::string& path) { slow_.insert(path); }
    std::vector<Arrival> arrivals(const std::string& path) {
        std::lock_guard lock(mutex_);
        return arrivals_[path];
    }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

private:
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::map<std::string, std::vector<int>> scripts_;
    std::map<std::string, int> failures_;
    std::set<std::string> slow_;
    std::map<std::string, std::vector<Arrival>> arrivals_;
};

class OutboundEdge : public ::testing::Test {
protected:
    void SetUp() override {
        postgres.create_database("sea");
        {
            postgres::Connection connection(postgres.url("sea"));
            postgres::migrate(connection, postgres::embedded_migrations());
        }
        std::ofstream(dir.path() / "streams.yaml") << "contexts:\n  - name: sea\n";
        nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "outbound-itest"));
        nats::JetStream jetstream(connection);
        streams::StreamManager(jetstream).apply(streams::load_streams_config(dir.path() / "streams.yaml"));
        std::ofstream(config_file)
            << "nats:\n"
            << "  servers: [" << nats.url() << "]\n"
            << "admin:\n"
            << "  listen: 127.0.0.1:" << admin_port << "\n"
            << "log:\n  level: debug\n"
            << "streams_file: streams.yaml\n"
            << "shutdown_deadline: 5s\n"
            << "contexts:\n"
            << "  - name: sea\n"
            << "    database:\n"
            << "      url: ${SEA_DATABASE_URL}\n"
            << "    relay:\n"
            << "      poll_interval: 200ms\n"
            << "      published_rows: keep\n"  // the operational events' rows are read below
            << "outbound:\n"
            << "  enabled: true\n"
            << "  context: sea\n"
            << "  allow_networks: [127.0.0.0/8]\n"
            << "  retry_delays: [400ms, 800ms]\n"
            << "  failing_period: 3s\n"
            << "  timeout: 2s\n";
    }

    void start_worker() {
        worker = testing::ChildProcess(
            {.argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config", config_file.string()},
             .log_file = log_file,
             .run_as_user = std::nullopt,
             .env = {{"SEA_DATABASE_URL", postgres.url("sea")}},
             .working_directory = {}});
        httplib::Client admin("127.0.0.1", admin_port);
        admin.set_connection_timeout(1s);
        ASSERT_TRUE(testing::wait_until(
            [&] {
                const auto response = admin.Get("/readyz");
                return response && response->status == 200;
            },
            20s))
            << read_file(log_file);
    }

    test::CommandResult sea_mq(std::vector<std::string> arguments) {
        arguments.insert(arguments.begin(), (testing::bin_dir() / "sea-mq").string());
        arguments.push_back("--database");
        arguments.push_back(postgres.url("sea"));
        return test::run_command(arguments);
    }

    void add_endpoint(const std::string& name, const std::string& url, const std::string& subject,
                      bool ordered = false) {
        std::vector<std::string> arguments{"webhooks",  "add",   name,       "--url", url,
                                           "--subject", subject, "--secret", secret};
        if (ordered) arguments.push_back("--ordered");
        const auto result = sea_mq(arguments);
        ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
    }

    //! The value of one series in the worker's /metrics, or -1 when it is absent.
    double metric(const std::string& series) {
        httplib::Client admin("127.0.0.1", admin_port);
        const auto response = admin.Get("/metrics");
        if (!response) return -1;
        const auto at = response->body.find("\n" + series + " ");
        if (at == std::string::npos) return -1;
        return std::stod(response->body.substr(at + series.size() + 2));
    }

    void set_failing_period(const std::string& value) {
        auto text = read_file(config_file);
        text.replace(text.find("failing_period: 3s"), 18, "failing_period: " + value);
        std::ofstream(config_file) << text;
    }

    //! An order-placed event (external) with the customer's e-mail (sensitive); returns its id.
    std::string enqueue_order(const std::string& order, const std::string& subject = "") {
        const auto event =
            envelope::EnvelopeBuilder("sea.event.order-placed.v1", "/sea/orders",
                                      subject.empty() ? order : subject)
                .visibility(envelope::Visibility::external)
                .data({{"order_id", order},
                       {"customer", {{"id", "C-1"}, {"email", "ada@example.com"}}},
                       {"lines", {{{"sku", "SKU-1"}, {"quantity", 1}, {"unit_price_cents", 500}}}},
                       {"total_cents", 500},
                       {"currency", "EUR"}})
                .build();
        postgres.query_value("SELECT seamq.enqueue('" + event.to_json() + "'::jsonb)", "sea");
        return event.id();
    }

    std::string query(const std::string& sql) { return postgres.query_value(sql, "sea"); }

    testing::NatsServer nats;
    testing::PostgresServer postgres;
    testing::TempDir dir{"outbound"};
    fs::path config_file = dir.path() / "worker.yaml";
    fs::path log_file = dir.path() / "worker.log";
    unsigned short admin_port = testing::free_port();
    testing::ChildProcess worker;
    FlakySink sink;
};

TEST_F(OutboundEdge, RetriesOnTheScheduleHonoursRetryAfterAndSendsOnlyRedactedExternalEvents) {
    sink.script("/flaky", {500, 502, 200});
    sink.script("/busy", {429, 200});
    // One endpoint declared in the worker's configuration, the others added with the CLI.
    std::ofstream(config_file, std::ios::app) << "  endpoints:\n"
                                              << "    - name: declared\n"
                                              << "      url: " << sink.url("/declared") << "\n"
                                              << "      subject_filter: sea.event.order-placed.v1\n"
                                              << "      secret: " << secret << "\n";
    add_endpoint("flaky", sink.url("/flaky"), "sea.event.>");
    add_endpoint("busy", sink.url("/busy"), "sea.event.order-placed.v1");
    start_worker();
    const auto order = enqueue_order("O-1");
    // Internal: never leaves the context.
    postgres.query_value(
        "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', gen_random_uuid()::text, "
        "'type', "
        "'sea.event.order-cancelled.v1', 'source', '/sea/orders', 'subject', 'O-1', 'time', "
        "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'data', "
        "jsonb_build_object('order_id', 'O-1', 'reason', 'customer_request')))",
        "sea");

    ASSERT_TRUE(testing::wait_until([&] { return sink.arrivals("/flaky").size() >= 3; }, 20s))
        << read_file(log_file);
    ASSERT_TRUE(testing::wait_until([&] { return sink.arrivals("/busy").size() >= 2; }, 20s))
        << read_file(log_file);
    std::this_thread::sleep_for(1500ms);  // nothing more may arrive

    const auto flaky = sink.arrivals("/flaky");
    ASSERT_EQ(flaky.size(), 3u);
    for (const auto& arrival : flaky) EXPECT_EQ(arrival.id, order);
    // The schedule: 400 ms then 800 ms, each x 0.8..1.2, plus at most one fetch wait (500 ms).
    const auto gap1 = std::chrono::duration_cast<std::chrono::milliseconds>(flaky[1].at - flaky[0].at);
    const auto gap2 = std::chrono::duration_cast<std::chrono::milliseconds>(flaky[2].at - flaky[1].at);
    std::cout << "measured retry gaps: " << gap1.count() << " ms, " << gap2.count() << " ms\n";
    EXPECT_GE(gap1, 320ms);
    EXPECT_LE(gap1, 1200ms);
    EXPECT_GE(gap2, 640ms);
    EXPECT_LE(gap2, 1600ms);

    ASSERT_EQ(sink.arrivals("/declared").size(), 1u);
    EXPECT_EQ(sink.arrivals("/declared")[0].id, order);
    const auto busy = sink.arrivals("/busy");
    ASSERT_EQ(busy.size(), 2u);
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(busy[1].at - busy[0].at);
    std::cout << "measured wait after Retry-After: 2: " << waited.count() << " ms\n";
    EXPECT_GE(waited, 2000ms) << "Retry-After: 2 was not honoured";

    // The body: the redacted external copy, as a CloudEvent.
    const auto body = nlohmann::json::parse(flaky[2].body);
    EXPECT_EQ(body["id"], order);
    EXPECT_EQ(body["type"], "sea.event.order-placed.v1");
    EXPECT_EQ(body["data"]["customer"]["id"], "C-1");
    EXPECT_FALSE(body["data"]["customer"].contains("email")) << flaky[2].body;
    EXPECT_EQ(flaky[2].body.find("ada@example.com"), std::string::npos);

    // The attempts log, through the CLI.
    const auto attempts = sea_mq({"webhooks", "attempts", "flaky", "--output", "json"});
    ASSERT_EQ(attempts.exit_code, 0) << attempts.err;
    const auto rows = nlohmann::json::parse(attempts.out);
    ASSERT_EQ(rows.size(), 3u) << attempts.out;
    EXPECT_EQ(rows[0]["outcome"], "delivered");
    EXPECT_EQ(rows[0]["attempt"], 3);
    EXPECT_EQ(rows[1]["http_status"], 502);
    EXPECT_EQ(rows[2]["outcome"], "retry");
    EXPECT_EQ(query("SELECT count(*) FROM seamq.webhook_attempts WHERE endpoint = 'busy'"), "2");
}

TEST_F(OutboundEdge, GoneARefusedAddressAndAFailingPeriodDisableTheEndpoint) {
    sink.script("/gone", {410});
    sink.script("/down", {500});
    add_endpoint("gone", sink.url("/gone"), "sea.event.>");
    add_endpoint("down", sink.url("/down"), "sea.event.>");
    add_endpoint("metadata", "http://169.254.169.254/latest/meta-data/", "sea.event.>");
    add_endpoint("healthy", sink.url("/ok"), "sea.event.>");
    start_worker();
    const auto started = Clock::now();
    enqueue_order("O-2");

    ASSERT_TRUE(testing::wait_until(
        [&] { return query("SELECT count(*) FROM seamq.webhook_endpoints WHERE NOT enabled") == "3"; }, 20s))
        << query("SELECT string_agg(name || ':' || enabled, ',') FROM seamq.webhook_endpoints")
        << read_file(log_file);
    EXPECT_EQ(sink.arrivals("/gone").size(), 1u);
    EXPECT_GE(Clock::now() - started, 3s) << "disabled before its failing period";
    EXPECT_NE(query("SELECT disabled_reason FROM seamq.webhook_endpoints WHERE name = 'gone'").find("410"),
              std::string::npos);
    EXPECT_NE(
        query("SELECT disabled_reason FROM seamq.webhook_endpoints WHERE name = 'metadata'").find("metadata"),
        std::string::npos);
    EXPECT_NE(
        query("SELECT disabled_reason FROM seamq.webhook_endpoints WHERE name = 'down'").find("no delivery"),
        std::string::npos);
    // The operational events, one per disabled endpoint, relayed to the stream.
    EXPECT_TRUE(testing::wait_until(
        [&] {
            return query(
                       "SELECT count(*) FROM seamq.outbox_events WHERE type = "
                       "'sea.event.webhook-endpoint-disabled.v1' AND status = 'published'") == "3";
        },
        10s))
        << query("SELECT string_agg(envelope::text, ' ') FROM seamq.outbox_events");
    EXPECT_NE(
        query("SELECT envelope->'data'->>'reason' FROM seamq.outbox_events WHERE subject = 'gone' AND type = "
              "'sea.event.webhook-endpoint-disabled.v1'")
            .find("410"),
        std::string::npos);
    // One slow partner never delays another: the healthy one got its event at once.
    ASSERT_EQ(sink.arrivals("/ok").size(), 1u);
    EXPECT_LT(sink.arrivals("/ok")[0].at - started, 3s);

    const auto list = sea_mq({"webhooks", "list", "--output", "json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    EXPECT_EQ(list.out.find("whsec_"), std::string::npos) << "list never shows secrets";
    const auto log = read_file(log_file);
    EXPECT_NE(log.find("endpoint gone disabled"), std::string::npos) << log;
    httplib::Client admin("127.0.0.1", admin_port);
    const auto metrics = admin.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(metrics->body.find(R"(seamq_webhook_endpoints_disabled_total{endpoint="gone"} 1)"),
              std::string::npos)
        << metrics->body;
    EXPECT_NE(
        metrics->body.find(
            R"(seamq_webhook_attempts_total{endpoint="metadata",outcome="refused",class="ssrf_refused"} 1)"),
        std::string::npos)
        << metrics->body;
    EXPECT_NE(
        metrics->body.find(R"(seamq_webhook_attempts_total{endpoint="gone",outcome="gone",class="gone"} 1)"),
        std::string::npos);

    // The operational event validates against its contract, like any other event.
    const auto registry = contracts::Registry::load(testing::source_dir() / "schemas/events");
    const auto* contract = registry.find("sea.event.webhook-endpoint-disabled.v1");
    ASSERT_NE(contract, nullptr) << "no contract for the operational event";
    EXPECT_EQ(contract->visibility, envelope::Visibility::internal);
    const envelope::Validator validator(envelope::Limits{}, &registry);
    for (const auto& name : {"gone", "metadata", "down"}) {
        const auto text = query(
            "SELECT envelope::text FROM seamq.outbox_events WHERE type = "
            "'sea.event.webhook-endpoint-disabled.v1' AND subject = '" +
            std::string(name) + "'");
        EXPECT_TRUE(validator.validate(text).empty()) << text;
        const auto event = validator.parse(text);
        EXPECT_EQ(event.subject(), name);
    }

    // Enabled again, the disabled endpoint gets the event it missed.
    sink.script("/gone", {200});
    ASSERT_EQ(sea_mq({"webhooks", "enable", "gone"}).exit_code, 0);
    EXPECT_TRUE(testing::wait_until([&] { return sink.arrivals("/gone").size() == 2u; }, 15s))
        << read_file(log_file);
    EXPECT_EQ(sink.arrivals("/gone").back().status, 200);
}

TEST_F(OutboundEdge, AWorkerKilledMidRetryLosesNothingAndDeliversOnce) {
    sink.script("/later", {503});
    add_endpoint("later", sink.url("/later"), "sea.event.>");
    // Long enough not to disable during the test.
    {
        auto text = read_file(config_file);
        text.replace(text.find("failing_period: 3s"), 18, "failing_period: 1h");
        std::ofstream(config_file) << text;
    }
    start_worker();
    const auto order = enqueue_order("O-3");
    ASSERT_TRUE(testing::wait_until([&] { return sink.arrivals("/later").size() >= 2; }, 20s))
        << read_file(log_file);
    worker.kill();  // SIGKILL between retries: the message is nak'd, not acked
    sink.script("/later", {200});
    start_worker();
    ASSERT_TRUE(testing::wait_until(
        [&] {
            const auto arrivals = sink.arrivals("/later");
            return !arrivals.empty() && arrivals.back().status == 200;
        },
        60s))
        << read_file(log_file);
    std::this_thread::sleep_for(1500ms);
    int delivered = 0;
    for (const auto& arrival : sink.arrivals("/later")) {
        EXPECT_EQ(arrival.id, order);
        delivered += arrival.status == 200;
    }
    EXPECT_EQ(delivered, 1);
}

// The option's test: four events of two ordering keys, the first of key O-A failing
// twice. An ordered endpoint receives nothing else while it is retried, then the rest in
// stream order; an unordered one (the control) lets the later events pass it.
TEST_F(OutboundEdge, AnOrderedEndpointHoldsBackLaterEventsWhileOneIsRetried) {
    set_failing_period("1h");
    add_endpoint("ordered", sink.url("/ordered"), "sea.event.>", /*ordered=*/true);
    add_endpoint("unordered", sink.url("/unordered"), "sea.event.>");
    const auto list = sea_mq({"webhooks", "list", "--output", "json"});
    ASSERT_EQ(list.exit_code, 0) << list.err;
    const auto endpoints = nlohmann::json::parse(list.out);
    ASSERT_EQ(endpoints.size(), 2u);
    EXPECT_EQ(endpoints[0]["name"], "ordered");
    EXPECT_EQ(endpoints[0]["ordered"], true);
    EXPECT_EQ(endpoints[1]["ordered"], false);

    // Enqueued one by one: the relay publishes them in this order.
    const auto a1 = enqueue_order("A1", "O-A");
    sink.fail_event("/ordered", a1, 2);
    sink.fail_event("/unordered", a1, 2);
    const auto a2 = enqueue_order("A2", "O-A");
    const auto b1 = enqueue_order("B1", "O-B");
    const auto a3 = enqueue_order("A3", "O-A");
    start_worker();

    const auto delivered = [&](const std::string& path) {
        std::vector<std::string> ids;
        for (const auto& arrival : sink.arrivals(path))
            if (arrival.status == 200) ids.push_back(arrival.id);
        return ids;
    };
    ASSERT_TRUE(testing::wait_until(
        [&] { return delivered("/ordered").size() >= 4 && delivered("/unordered").size() >= 4; }, 30s))
        << read_file(log_file);
    std::this_thread::sleep_for(1s);  // nothing more may arrive

    // The relay keeps each ordering key's order, not the order across keys: the stream's
    // order is what an ordered endpoint follows.
    std::vector<std::string> stream_order;
    {
        const auto text = query(
            "SELECT string_agg(id, ',' ORDER BY stream_sequence) FROM seamq.outbox_events WHERE type = "
            "'sea.event.order-placed.v1'");
        for (std::size_t start = 0; start <= text.size();) {
            const auto comma = std::min(text.find(',', start), text.size());
            stream_order.push_back(text.substr(start, comma - start));
            start = comma + 1;
        }
    }
    ASSERT_EQ(stream_order.size(), 4u);
    const auto ordered = sink.arrivals("/ordered");
    std::vector<std::string> ordered_arrivals;
    for (const auto& arrival : ordered) {
        ordered_arrivals.push_back(arrival.id);
        const auto subject = nlohmann::json::parse(arrival.body)["subject"].get<std::string>();
        EXPECT_EQ(subject, arrival.id == b1 ? "O-B" : "O-A");
        std::cout << "ordered: +"
                  << std::chrono::duration_cast<std::chrono::milliseconds>(arrival.at - ordered[0].at).count()
                  << " ms "
                  << (arrival.id == a1   ? "A1"
                      : arrival.id == a2 ? "A2"
                      : arrival.id == b1 ? "B1"
                                         : "A3")
                  << " " << arrival.status << "\n";
    }
    // Ordered: the stream's order, A1 three times (503, 503, 200) where it stands, nothing
    // after it before its 200.
    std::vector<std::string> expected_ordered;
    for (const auto& id : stream_order) {
        expected_ordered.push_back(id);
        if (id == a1) expected_ordered.insert(expected_ordered.end(), {a1, a1});
    }
    EXPECT_EQ(ordered_arrivals, expected_ordered);
    // The retries keep the schedule (400 ms, 800 ms x 0.8..1.2, plus a fetch wait): holding
    // back costs no extra delay.
    ASSERT_EQ(ordered.size(), 6u);
    std::size_t first = 0;
    while (first < ordered.size() && ordered[first].id != a1) ++first;
    ASSERT_LE(first + 2, ordered.size() - 1);
    EXPECT_EQ(ordered[first].status, 503);
    EXPECT_EQ(ordered[first + 1].status, 503);
    EXPECT_EQ(ordered[first + 2].status, 200);
    EXPECT_LE(ordered[first + 1].at - ordered[first].at, 1200ms);
    EXPECT_LE(ordered[first + 2].at - ordered[first + 1].at, 1600ms);
    // Unordered (control): the later events went while A1 waited for its retries.
    std::vector<std::string> expected_unordered;
    for (const auto& id : stream_order)
        if (id != a1) expected_unordered.push_back(id);
    expected_unordered.push_back(a1);
    EXPECT_EQ(delivered("/unordered"), expected_unordered);

    // Per ordering key, the order of delivery at the ordered endpoint is the stream's.
    std::map<std::string, std::vector<std::string>> by_key;
    for (const auto& arrival : ordered)
        if (arrival.status == 200)
            by_key[nlohmann::json::parse(arrival.body)["subject"].get<std::string>()].push_back(arrival.id);
    EXPECT_EQ(by_key["O-A"], (std::vector<std::string>{a1, a2, a3}));
    EXPECT_EQ(by_key["O-B"], (std::vector<std::string>{b1}));
    EXPECT_EQ(metric(R"(seamq_webhook_attempts_total{endpoint="ordered",outcome="retry",class="http_5xx"})"),
              2);
}

// Real failures of each kind, counted by failure class in the metrics and the attempts log.
TEST_F(OutboundEdge, FailuresAreCountedByClass) {
    set_failing_period("1h");
    sink.script("/bad", {400});
    sink.script("/broken", {500});
    sink.script("/moved", {302});
    sink.slow("/slow");
    add_endpoint("bad", sink.url("/bad"), "sea.event.>");
    add_endpoint("broken", sink.url("/broken"), "sea.event.>");
    add_endpoint("moved", sink.url("/moved"), "sea.event.>");
    add_endpoint("slow", sink.url("/slow"), "sea.event.>");
    add_endpoint("closed", "http://127.0.0.1:" + std::to_string(testing::free_port()) + "/", "sea.event.>");
    add_endpoint("ok", sink.url("/ok"), "sea.event.>");
    add_endpoint("metadata", "http://169.254.169.254/latest/meta-data/", "sea.event.>");
    start_worker();
    enqueue_order("O-9");

    const std::map<std::string, std::pair<std::string, std::string>> expected{
        {"bad", {"retry", "http_4xx"}},
        {"broken", {"retry", "http_5xx"}},
        {"moved", {"retry", "redirect"}},
        {"slow", {"retry", "timeout"}},
        {"closed", {"retry", "connection_refused"}},
        {"ok", {"delivered", "none"}},
        {"metadata", {"refused", "ssrf_refused"}}};
    const auto series = [](const std::string& endpoint, const std::pair<std::string, std::string>& labels) {
        return fmt::format(R"(seamq_webhook_attempts_total{{endpoint="{}",outcome="{}",class="{}"}})",
                           endpoint, labels.first, labels.second);
    };
    ASSERT_TRUE(testing::wait_until(
        [&] {
            for (const auto& [endpoint, labels] : expected)
                if (metric(series(endpoint, labels)) < 1) return false;
            return true;
        },
        30s))
        << read_file(log_file);
    EXPECT_EQ(metric(series("ok", expected.at("ok"))), 1);
    EXPECT_EQ(metric(series("metadata", expected.at("metadata"))), 1);
    // Each endpoint's attempts carry its class, and only that one.
    for (const auto& [endpoint, labels] : expected) {
        EXPECT_EQ(query("SELECT string_agg(DISTINCT failure_class, ',') FROM seamq.webhook_attempts WHERE "
                        "endpoint = '" +
                        endpoint + "'"),
                  labels.second)
            << endpoint;
    }
    const auto attempts = sea_mq({"webhooks", "attempts", "moved", "--output", "json"});
    ASSERT_EQ(attempts.exit_code, 0) << attempts.err;
    EXPECT_EQ(nlohmann::json::parse(attempts.out)[0]["failure_class"], "redirect");
}

// The attempts log keeps what is younger than outbound.attempts_retention and loses the rest.
TEST_F(OutboundEdge, RetentionDeletesOldAttemptsAndKeepsRecentOnes) {
    std::ofstream(config_file, std::ios::app) << "  attempts_retention: 1h\n"
                                              << "  retention_interval: 300ms\n";
    query(
        "INSERT INTO seamq.webhook_attempts (endpoint, event_id, attempt, outcome, duration_ms, "
        "attempted_at) "
        "SELECT 'old', 'e-' || n, 1, 'retry', 5, now() - interval '2 hours' - n * interval '1 second' "
        "FROM generate_series(1, 2500) AS n");
    query(
        "INSERT INTO seamq.webhook_attempts (endpoint, event_id, attempt, outcome, duration_ms, "
        "attempted_at) "
        "SELECT 'recent', 'r-' || n, 1, 'delivered', 5, now() - interval '50 minutes' "
        "FROM generate_series(1, 10) AS n");
    start_worker();
    ASSERT_TRUE(testing::wait_until(
        [&] { return query("SELECT count(*) FROM seamq.webhook_attempts WHERE endpoint = 'old'") == "0"; },
        20s))
        << read_file(log_file);
    EXPECT_EQ(query("SELECT count(*) FROM seamq.webhook_attempts WHERE endpoint = 'recent'"), "10");
    EXPECT_EQ(metric(R"(seamq_edge_retention_deleted_total{context="sea",table="webhook_attempts"})"), 2500);
    // Rows that age past the horizon later go at a later pass.
    query(
        "UPDATE seamq.webhook_attempts SET attempted_at = now() - interval '61 minutes' WHERE event_id = "
        "'r-1'");
    EXPECT_TRUE(testing::wait_until(
        [&] { return query("SELECT count(*) FROM seamq.webhook_attempts WHERE endpoint = 'recent'") == "9"; },
        10s));
}

// A refused endpoint row must not print its secret: PostgreSQL's constraint errors quote
// the failing row, secret included, in their detail.
TEST_F(OutboundEdge, SecretsAreNeverPrintedNorLogged) {
    const std::string declared_secret = WebhookSecret::generate().to_string();
    // Passes the configuration's name check, refused by the table's (at most 64 characters).
    std::ofstream(config_file, std::ios::app) << "  endpoints:\n"
                                              << "    - name: " << std::string(65, 'n') << "\n"
                                              << "      url: " << sink.url("/declared") << "\n"
                                              << "      subject_filter: sea.event.>\n"
                                              << "      secret: " << declared_secret << "\n";
    const auto refused = sea_mq({"webhooks", "add", "no spaces allowed", "--url", sink.url("/x"), "--subject",
                                 "sea.event.>", "--secret", secret});
    EXPECT_NE(refused.exit_code, 0);
    EXPECT_EQ((refused.out + refused.err).find(secret.substr(6)), std::string::npos)
        << refused.out << refused.err;
    EXPECT_NE((refused.out + refused.err).find("webhook_endpoints"), std::string::npos) << refused.err;

    add_endpoint("listed", sink.url("/listed"), "sea.event.>");
    for (const auto& output : {"text", "json"}) {
        const auto list = sea_mq({"webhooks", "list", "--output", output});
        ASSERT_EQ(list.exit_code, 0) << list.err;
        EXPECT_EQ(list.out.find("whsec_"), std::string::npos) << list.out;
        EXPECT_NE(list.out.find("listed"), std::string::npos) << list.out;
    }
    start_worker();
    const auto log = [&] { return read_file(log_file); };
    ASSERT_TRUE(
        testing::wait_until([&] { return log().find("webhook_endpoints") != std::string::npos; }, 10s))
        << log();
    EXPECT_EQ(log().find(declared_secret.substr(6)), std::string::npos) << log();
}

// With outbound.secrets_key, secrets are sealed in the table (by the CLI and for declared
// endpoints) and deliveries are still signed with the plain secret; without the key the
// CLI cannot use a sealed one.
TEST_F(OutboundEdge, SealedSecretsStayUnreadableInTheTableAndStillSign) {
    const std::string key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const std::string declared_secret = WebhookSecret::generate().to_string();
    std::ofstream(dir.path() / "secrets.key") << key << "\n";
    std::ofstream(config_file, std::ios::app) << "  secrets_key: {file: secrets.key}\n"
                                              << "  endpoints:\n"
                                              << "    - name: declared\n"
                                              << "      url: " << sink.url("/declared") << "\n"
                                              << "      subject_filter: sea.event.>\n"
                                              << "      secret: " << declared_secret << "\n";
    ASSERT_EQ(sea_mq({"webhooks", "add", "sealed", "--url", sink.url("/sealed"), "--subject", "sea.event.>",
                      "--secret", secret, "--secrets-key", key})
                  .exit_code,
              0);
    start_worker();
    enqueue_order("O-S");
    ASSERT_TRUE(testing::wait_until(
        [&] { return sink.arrivals("/sealed").size() == 1 && sink.arrivals("/declared").size() == 1; }, 20s))
        << read_file(log_file);

    for (const auto& [name, plain] :
         {std::pair{std::string("sealed"), secret}, {"declared", declared_secret}}) {
        const auto stored = query("SELECT secret FROM seamq.webhook_endpoints WHERE name = '" + name + "'");
        EXPECT_TRUE(stored.starts_with("enc:v1:")) << name;
        EXPECT_EQ(stored.find(plain.substr(6)), std::string::npos) << name;
        const auto arrival = sink.arrivals("/" + name)[0];
        const auto now = std::chrono::system_clock::now();
        EXPECT_EQ(verify({WebhookSecret::parse(plain)}, arrival.headers, arrival.body, now), Verdict::valid)
            << name;
    }
    EXPECT_EQ(read_file(log_file).find(declared_secret.substr(6)), std::string::npos);
    EXPECT_EQ(read_file(log_file).find(key), std::string::npos);

    const auto without_key = sea_mq({"webhooks", "test", "sealed", "--allow-network", "127.0.0.0/8"});
    EXPECT_NE(without_key.exit_code, 0);
    EXPECT_NE(without_key.err.find("sealed"), std::string::npos) << without_key.err;
    const auto with_key =
        sea_mq({"webhooks", "test", "sealed", "--allow-network", "127.0.0.0/8", "--secrets-key", key});
    EXPECT_EQ(with_key.exit_code, 0) << with_key.out << with_key.err;
    EXPECT_EQ(sink.arrivals("/sealed").size(), 2u);
}

}  // namespace
}  // namespace seamq::edges
