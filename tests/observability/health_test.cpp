#include "seamq/observability/health.hpp"

#include <gtest/gtest.h>

namespace seamq::observability {
namespace {

TEST(ReadinessChecks, NotReadyWithoutChecks) {
    ReadinessChecks checks;
    const auto report = checks.evaluate();
    EXPECT_FALSE(report.ready);
    EXPECT_EQ(report.to_json()["status"], "not ready");
}

TEST(ReadinessChecks, ReadyOnlyWhenEveryCheckPasses) {
    ReadinessChecks checks;
    bool database_up = true;
    auto nats = checks.add("nats", [] { return CheckOutcome{true, "connected to nats://127.0.0.1:4222"}; });
    auto database = checks.add("database sea", [&] {
        return CheckOutcome{database_up, database_up ? "" : "refused"};
    });
    auto report = checks.evaluate();
    EXPECT_TRUE(report.ready);
    ASSERT_EQ(report.checks.size(), 2U);
    EXPECT_EQ(report.checks[0].name, "database sea");  // sorted by name
    EXPECT_EQ(report.checks[1].detail, "connected to nats://127.0.0.1:4222");

    database_up = false;
    report = checks.evaluate();
    EXPECT_FALSE(report.ready);
    const auto json = report.to_json();
    EXPECT_EQ(json["status"], "not ready");
    EXPECT_EQ(json["checks"][0],
              (nlohmann::json{{"name", "database sea"}, {"ok", false}, {"detail", "refused"}}));

    database.reset();  // its owner went away: the check goes with it
    EXPECT_TRUE(checks.evaluate().ready);
}

TEST(ReadinessChecks, AFailingAdvisoryCheckDegradesWithoutMakingUnready) {
    ReadinessChecks checks;
    bool link_up = true;
    auto nats = checks.add("nats", [] { return CheckOutcome{true, "connected"}; });
    auto federation = checks.add_advisory("federation", [&] {
        return CheckOutcome{link_up,
                            link_up ? "1 link up" : "monitor http://127.0.0.1:8222: no leafnode link"};
    });
    auto report = checks.evaluate();
    EXPECT_TRUE(report.ready);
    EXPECT_FALSE(report.degraded);
    EXPECT_EQ(report.to_json()["degraded_reasons"], nlohmann::json::array());

    link_up = false;
    report = checks.evaluate();
    EXPECT_TRUE(report.ready);
    EXPECT_TRUE(report.degraded);
    const auto json = report.to_json();
    EXPECT_EQ(json["status"], "ready");
    EXPECT_EQ(json["degraded"], true);
    EXPECT_EQ(json["degraded_reasons"],
              nlohmann::json::array({"federation: monitor http://127.0.0.1:8222: no leafnode link"}));
    EXPECT_EQ(json["checks"][0]["advisory"], true);

    nats.reset();  // advisory checks alone do not make a process ready
    EXPECT_FALSE(checks.evaluate().ready);
}

TEST(ReadinessChecks, AThrowingCheckFailsWithItsMessage) {
    ReadinessChecks checks;
    auto streams =
        checks.add("streams", []() -> CheckOutcome { throw std::runtime_error("SEA_EVENTS missing"); });
    const auto report = checks.evaluate();
    EXPECT_FALSE(report.ready);
    EXPECT_EQ(report.checks.at(0).detail, "SEA_EVENTS missing");
}

TEST(ReadinessChecks, RegistrationMayOutliveTheChecks) {
    Registration registration;
    {
        ReadinessChecks checks;
        registration = checks.add("x", [] { return CheckOutcome{true, ""}; });
    }
    registration.reset();
    SUCCEED();
}

}  // namespace
}  // namespace seamq::observability
