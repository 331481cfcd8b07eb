#include "seamq/worker/admin_server.hpp"

#include "tests/worker/test_certificates.hpp"
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>

#include "seamq/core/error.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/testing/process.hpp"

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

constexpr std::string_view admin_token = "0123456789abcdef-admin-token";

AdminServer::Options token_options() {
    return {.listen = "127.0.0.1:0",
            .version = "9.9.9",
            .bearer_token = Secret(std::string(admin_token), "test"),
            .tls = {}};
}

httplib::Result get(httplib::Client& client, const std::string& path, const std::string& authorization = "") {
    httplib::Headers headers;
    if (!authorization.empty()) headers.emplace("Authorization", authorization);
    return client.Get(path.c_str(), headers);
}

TEST_F(AdminServerTest, WithoutATokenEveryEndpointIsOpenWhateverTheRequestSends) {
    auto check = readiness.add("nats", [] { return CheckOutcome{true, "connected"}; });
    server.start();
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(std::chrono::seconds(5));
    for (const auto* path : {"/metrics", "/readyz", "/healthz"}) {
        for (const auto* authorization : {"", "Bearer whatever-it-is-here", "Basic dXNlcjpwYXNz"}) {
            auto response = get(client, path, authorization);
            ASSERT_TRUE(response) << path;
            EXPECT_EQ(response->status, 200) << path << " with '" << authorization << "'";
            EXPECT_FALSE(response->has_header("WWW-Authenticate")) << path;
        }
    }
}

TEST_F(AdminServerTest, WithATokenMetricsAndReadinessNeedItAndHealthStaysOpen) {
    auto check = readiness.add("database sea", [] { return CheckOutcome{true, "reachable at db.internal"}; });
    metrics.family(observability::metric::build_info).with({"9.9.9"}).set(1);
    AdminServer guarded(token_options(), metrics, readiness, quiet_logger());
    guarded.start();
    httplib::Client client("127.0.0.1", guarded.port());
    client.set_read_timeout(std::chrono::seconds(5));

    // Liveness probes send nothing and must still get through.
    auto health = get(client, "/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "ok");

    const std::string token(admin_token);
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"", R"(Bearer realm="sea-mq-worker")"},  // no header: no error code (RFC 6750 3.1)
        {"Bearer wrong-token-of-the-same-size", R"(Bearer realm="sea-mq-worker", error="invalid_token")"},
        {"Bearer " + token.substr(0, token.size() - 1),
         R"(Bearer realm="sea-mq-worker", error="invalid_token")"},
        {"Bearer " + token + "x", R"(Bearer realm="sea-mq-worker", error="invalid_token")"},
        {"Bearer", R"(Bearer realm="sea-mq-worker", error="invalid_token")"},
        {"Basic " + token, R"(Bearer realm="sea-mq-worker", error="invalid_token")"},
        {token, R"(Bearer realm="sea-mq-worker", error="invalid_token")"},
    };
    for (const auto* path : {"/metrics", "/readyz"}) {
        for (const auto& [authorization, challenge] : refused) {
            SCOPED_TRACE(std::string(path) + " with Authorization '" + authorization + "'");
            auto response = get(client, path, authorization);
            ASSERT_TRUE(response);
            EXPECT_EQ(response->status, 401);
            EXPECT_EQ(response->get_header_value("WWW-Authenticate"), challenge);
            EXPECT_EQ(response->get_header_value("Content-Type"), "application/json");
            const auto body = nlohmann::json::parse(response->body, nullptr, false);
            ASSERT_TRUE(body.is_object()) << response->body;
            EXPECT_EQ(body["error"], "unauthorized");
            // Nothing of what the endpoint guards, and never the token.
            EXPECT_EQ(response->body.find("seamq_build_info"), std::string::npos);
            EXPECT_EQ(response->body.find("db.internal"), std::string::npos);
            EXPECT_EQ(response->body.find(token), std::string::npos);
        }
    }

    for (const auto& authorization : {"Bearer " + token, "bearer " + token, "BEARER  " + token + " "}) {
        SCOPED_TRACE(authorization);
        auto scrape = get(client, "/metrics", authorization);
        ASSERT_TRUE(scrape);
        EXPECT_EQ(scrape->status, 200);
        EXPECT_NE(scrape->body.find("seamq_build_info{version=\"9.9.9\"} 1\n"), std::string::npos)
            << scrape->body;
        auto ready = get(client, "/readyz", authorization);
        ASSERT_TRUE(ready);
        EXPECT_EQ(ready->status, 200);
        EXPECT_EQ(nlohmann::json::parse(ready->body)["checks"][0]["detail"], "reachable at db.internal");
    }
}

class AdminServerTlsTest : public AdminServerTest {
protected:
    testing::TempDir dir{"admin-tls"};
    test::TestCertificates certificates = test::make_test_certificates(dir.path());

    AdminServer::Options tls_options(bool with_token) const {
        auto options =
            with_token ? token_options() : AdminServer::Options{.listen = "127.0.0.1:0", .version = "9.9.9"};
        options.tls = {.certificate_file = certificates.certificate, .key_file = certificates.key};
        return options;
    }
};

TEST_F(AdminServerTlsTest, ServesHttpsOnlyWithACertificateClientsVerify) {
    AdminServer secure(tls_options(true), metrics, readiness, quiet_logger());
    secure.start();
    const auto base = "https://127.0.0.1:" + std::to_string(secure.port());
    EXPECT_EQ(secure.url(), base);

    httplib::Client client(base);
    client.set_ca_cert_path(certificates.ca.c_str());
    client.enable_server_certificate_verification(true);
    client.set_read_timeout(std::chrono::seconds(5));
    auto health = get(client, "/healthz");
    ASSERT_TRUE(health) << httplib::to_string(health.error());
    EXPECT_EQ(health->status, 200);
    auto refused = get(client, "/metrics");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401);
    auto scrape = get(client, "/metrics", "Bearer " + std::string(admin_token));
    ASSERT_TRUE(scrape);
    EXPECT_EQ(scrape->status, 200);

    // Plain HTTP gets no answer at all.
    httplib::Client plain("127.0.0.1", secure.port());
    plain.set_read_timeout(std::chrono::seconds(5));
    EXPECT_FALSE(get(plain, "/healthz"));
    EXPECT_FALSE(get(plain, "/metrics", "Bearer " + std::string(admin_token)));

    // A client that does not trust the test CA refuses the server.
    httplib::Client untrusting(base);
    untrusting.enable_server_certificate_verification(true);
    untrusting.set_ca_cert_path(certificates.certificate.c_str());  // a leaf, not the CA
    auto unverified = get(untrusting, "/healthz");
    EXPECT_FALSE(unverified);
    if (!unverified) {
        EXPECT_EQ(unverified.error(), httplib::Error::SSLServerVerification);
    }

    // Still HTTPS after the client above gave up mid-handshake.
    ASSERT_TRUE(get(client, "/healthz"));
}

TEST_F(AdminServerTlsTest, AKeyOfAnotherCertificateOrAFileThatIsNoPemIsAConfigError) {
    auto options = tls_options(false);
    options.tls.key_file = certificates.other_key;
    try {
        AdminServer mismatched(options, metrics, readiness, quiet_logger());
        FAIL() << "a key of another certificate was accepted";
    } catch (const seamq::Error& e) {
        EXPECT_EQ(e.code(), Errc::config);
        EXPECT_NE(std::string(e.what()).find("admin.tls.key_file: " + certificates.other_key.string() +
                                             " is not the private key of the certificate in " +
                                             certificates.certificate.string()),
                  std::string::npos)
            << e.what();
    }

    options = tls_options(false);
    options.tls.certificate_file = certificates.key;  // a key where the certificate belongs
    try {
        AdminServer wrong_file(options, metrics, readiness, quiet_logger());
        FAIL() << "a key file was accepted as the certificate";
    } catch (const seamq::Error& e) {
        EXPECT_EQ(e.code(), Errc::config);
        EXPECT_NE(std::string(e.what()).find("admin.tls.certificate_file: " + certificates.key.string() +
                                             " holds no usable PEM certificate"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace seamq::worker
