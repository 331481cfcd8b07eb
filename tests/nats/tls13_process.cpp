// TlsOptions::min_version "1.3" against a server that speaks TLS 1.2 at most (a fake NATS
// server in Node.js: nats-server 2.9 cannot be held to 1.2) and against nats-server.
// Its own binary: the 1.3 minimum is process-wide (OpenSSL configuration) and would hold
// every later TLS connection of a shared test process to 1.3; ctest runs each test in a
// process of its own.
#include <chrono>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::nats {
namespace {

using namespace std::chrono_literals;
using seamq::testing::CertificateAuthority;
using seamq::testing::ChildProcess;
using seamq::testing::TempDir;
using ::testing::HasSubstr;

std::string read_text(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

class TlsMinimumVersion : public ::testing::Test {
protected:
    void SetUp() override {
        const auto certificate = ca.issue_server("fake-nats");
        const auto port_file = dir.path() / "port";
        log_file = dir.path() / "fake.log";
        fake = ChildProcess(ChildProcess::Options{
            .argv = {"node", (seamq::testing::node_dir() / "fake_nats_tls12.mjs").string(),
                     certificate.key_file.string(), certificate.certificate_file.string(),
                     port_file.string()},
            .log_file = log_file});
        ASSERT_TRUE(seamq::testing::wait_until([&] { return std::filesystem::exists(port_file); }, 10s))
            << read_text(log_file);
        url = "nats://127.0.0.1:" + read_text(port_file);
    }

    ConnectionOptions options(const std::string& min_version) {
        auto result = ConnectionOptions::from_urls(url, "tls-minimum");
        result.connect_timeout = 2s;
        result.tls.ca_file = ca.certificate_file();
        result.tls.min_version = min_version;
        return result;
    }

    // The fake's verdict on the one client that connected.
    std::string verdict() {
        std::string text;
        seamq::testing::wait_until(
            [&] {
                text = read_text(log_file);
                return text.find("handshake") != std::string::npos;
            },
            5s);
        return text;
    }

    CertificateAuthority ca{"tls minimum CA"};
    TempDir dir{"fake-nats"};
    std::filesystem::path log_file;
    ChildProcess fake;
    std::string url;
};

TEST_F(TlsMinimumVersion, AClientWithMinimum12ConnectsToATls12Server) {
    Connection connection(options("1.2"));
    EXPECT_TRUE(connection.is_connected());
    EXPECT_THAT(verdict(), HasSubstr("handshake ok TLSv1.2"));
}

TEST_F(TlsMinimumVersion, AClientWithMinimum13RefusesATls12Server) {
    try {
        Connection connection(options("1.3"));
        ADD_FAILURE() << "connected to a TLS 1.2 server; the fake says: " << verdict();
    } catch (const NatsError& e) {
        EXPECT_EQ(e.status(), NATS_SSL_ERROR) << e.what();
        EXPECT_THAT(e.what(), HasSubstr("SSL handshake error")) << e.what();
        EXPECT_THAT(e.what(), HasSubstr("protocol version")) << e.what();
        std::cout << "min_version 1.3 against a TLS 1.2 server: " << e.what() << "\n";
    }
    EXPECT_THAT(verdict(), HasSubstr("handshake failed"));
}

TEST(TlsMinimumVersionWithNatsServer, AClientWithMinimum13ConnectsOverTls13) {
    CertificateAuthority ca("tls minimum CA");
    const auto certificate = ca.issue_server("nats-server");
    seamq::testing::NatsServer::Options server_options;
    server_options.extra_config =
        fmt::format("tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}",
                    certificate.certificate_file.string(), certificate.key_file.string());
    seamq::testing::NatsServer server(server_options);
    auto options = ConnectionOptions::from_urls(server.url(), "tls-minimum");
    options.tls.ca_file = ca.certificate_file();
    options.tls.min_version = "1.3";
    Connection connection(options);
    connection.flush();
    const auto connz = server.monitor("connz");
    ASSERT_TRUE(connz);
    ASSERT_EQ((*connz)["connections"].size(), 1u) << connz->dump();
    EXPECT_EQ((*connz)["connections"][0]["tls_version"], "1.3");
}

}  // namespace
}  // namespace seamq::nats
