#include "seamq/worker/admin_server.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>

#include "seamq/core/error.hpp"
#include "seamq/observability/metric_catalog.hpp"

namespace seamq::worker {
namespace {

using observability::CheckOutcome;

observability::Logger quiet_logger() {
    return observability::Logger(observability::make_json_logger(
        "test", spdlog::level::off, std::make_shared<spdlog::sinks::null_sink_mt>()));
}

class AdminServerTest : public ::testing::Test {
protected:
    observability::MetricsRegistry metrics;
    observability::ReadinessChecks readiness;
    AdminServer server{{"127.0.0.1:0", "9.9.9"}, metrics, readiness, quiet_logger()};
};

TEST_F(AdminServerTest, ServesHealthReadinessAndMetrics) {
    bool database_up = true;
    auto nats = readiness.add("nats", [] { return CheckOutcome{true, "connected"}; });
    auto database = readiness.add("database sea", [&] {
        return CheckOutcome{database_up, database_up ? "" : "refused"};
    });
    metrics.family(observability::metric::build_info).with({"9.9.9"}).set(1);
    server.start();
    ASSERT_GT(server.port(), 0);

    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(std::chrono::seconds(5));

    auto health = client.Get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    const auto health_body = nlohmann::json::parse(health->body);
    EXPECT_EQ(health_body["status"], "ok");
    EXPECT_EQ(health_body["version"], "9.9.9");

    auto ready = client.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 200);
    EXPECT_EQ(nlohmann::json::parse(ready->body)["status"], "ready");

    database_up = false;
    ready = client.Get("/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    const auto body = nlohmann::json::parse(ready->body);
    EXPECT_EQ(body["status"], "not ready");
    EXPECT_EQ(body["checks"][0],
              (nlohmann::json{{"name", "database sea"}, {"ok", false}, {"detail", "refused"}}));
    EXPECT_EQ(body["checks"][1]["name"], "nats");

    auto scrape = client.Get("/metrics");
    ASSERT_TRUE(scrape);
    EXPECT_EQ(scrape->status, 200);
    EXPECT_EQ(scrape->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_NE(scrape->body.find("seamq_build_info{version=\"9.9.9\"} 1\n"), std::string::npos)
        << scrape->body;

    auto missing = client.Get("/nope");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    EXPECT_EQ(nlohmann::json::parse(missing->body)["error"], "not found");

    server.stop();
    EXPECT_FALSE(client.Get("/healthz"));
}

TEST_F(AdminServerTest, APortInUseIsAClearError) {
    server.start();
    AdminServer second({"127.0.0.1:" + std::to_string(server.port()), "9.9.9"}, metrics, readiness,
                       quiet_logger());
    try {
        second.start();
        FAIL() << "a second server bound the same port";
    } catch (const seamq::Error& e) {
        EXPECT_EQ(e.code(), Errc::io);
        EXPECT_NE(std::string(e.what()).find("address already in use"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("admin.listen 127.0.0.1:" + std::to_string(server.port())),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace seamq::worker
