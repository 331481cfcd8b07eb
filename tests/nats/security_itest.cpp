// Authentication and TLS against a real nats-server 2.9.10: with the right secret each
// mode (user/password, token, NKey, .creds in operator mode, mutual TLS) connects and runs
// a JetStream stream and consumer; with a wrong one the connection fails in the server's
// or OpenSSL's words, and a connection retrying in the background does not spin.
#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/pull_consumer.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/nats_operator.hpp"
#include "seamq/testing/nats_server.hpp"

namespace seamq::nats {
namespace {

using namespace std::chrono_literals;
using seamq::testing::CertificateAuthority;
using seamq::testing::NatsOperator;
using seamq::testing::NatsServer;
using seamq::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

NatsServer server_with(const std::string& config) {
    NatsServer::Options options;
    options.extra_config = config;
    return NatsServer(options);
}

ConnectionOptions options_for(const NatsServer& server) {
    auto options = ConnectionOptions::from_urls(server.url(), "security-test");
    options.connect_timeout = 2s;
    return options;
}

// A stream, a durable consumer, one message published and read back: JetStream works for
// the account the connection authenticated into.
void expect_jetstream_round_trip(Connection& connection) {
    JetStream jetstream(connection);
    StreamConfig stream;
    stream.name = "SECURE";
    stream.subjects = {"secure.>"};
    jetstream.add_stream(stream);
    ConsumerConfig consumer;
    consumer.durable_name = "reader";
    jetstream.add_consumer("SECURE", consumer);
    const auto ack = jetstream.publish({"secure.event", "payload-1", "id-1", "", {}});
    EXPECT_EQ(ack.stream, "SECURE");
    EXPECT_EQ(ack.sequence, 1u);
    PullConsumer reader(jetstream, "SECURE", "reader");
    auto batch = reader.fetch(1, 5s);
    ASSERT_EQ(batch.size(), 1u);
    EXPECT_EQ(batch[0].payload(), "payload-1");
    batch[0].ack_sync();
}

// The NatsError a connect fails with; fails the test when it connects.
NatsError connect_error(const ConnectionOptions& options) {
    try {
        Connection connection(options);
    } catch (const NatsError& e) {
        return e;
    }
    ADD_FAILURE() << "connected";
    return NatsError("connected", NATS_OK, 0, ErrorKind::permanent);
}

void expect_authorization_violation(const ConnectionOptions& options, const std::string& secret = "") {
    const auto error = connect_error(options);
    EXPECT_EQ(error.status(), NATS_CONNECTION_AUTH_FAILED) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("Authorization Violation"));
    if (!secret.empty()) {
        EXPECT_THAT(error.what(), Not(HasSubstr(secret)));
    }
}

std::filesystem::path write_file(const std::filesystem::path& file, const std::string& text) {
    std::ofstream(file) << text;
    return file;
}

TEST(Authentication, UserAndPassword) {
    auto server = server_with(R"(authorization { users: [ {user: app, password: "right-pass"} ] })");
    auto options = options_for(server);
    options.auth.user = "app";
    options.auth.password = "right-pass";
    {
        Connection connection(options);
        expect_jetstream_round_trip(connection);
    }
    options.auth.password = "wrong-pass";
    expect_authorization_violation(options, "wrong-pass");
    expect_authorization_violation(options_for(server));  // no credentials at all
}

TEST(Authentication, Token) {
    auto server = server_with(R"(authorization { token: "right-token" })");
    auto options = options_for(server);
    options.auth.token = "right-token";
    {
        Connection connection(options);
        expect_jetstream_round_trip(connection);
    }
    options.auth.token = "wrong-token";
    expect_authorization_violation(options, "wrong-token");
}

TEST(Authentication, NKeySeedFile) {
    TempDir dir("nkey");
    const auto user = NKeySeed::generate(NKeyRole::user);
    auto server = server_with("authorization { users: [ {nkey: " + user.public_key() + "} ] }");
    auto options = options_for(server);
    options.auth.nkey_seed_file = write_file(dir.path() / "user.nk", user.seed() + "\n");
    {
        Connection connection(options);
        expect_jetstream_round_trip(connection);
    }
    const auto stranger = NKeySeed::generate(NKeyRole::user);
    options.auth.nkey_seed_file = write_file(dir.path() / "stranger.nk", stranger.seed() + "\n");
    expect_authorization_violation(options, stranger.seed());
}

TEST(Authentication, CredentialsFileInOperatorModeWithJetStreamInTheAccount) {
    TempDir dir("creds");
    NatsOperator nats_operator;
    nats_operator.add_account("APP");
    auto server = server_with(nats_operator.server_config());
    auto options = options_for(server);
    options.auth.credentials_file =
        nats_operator.write_credentials("APP", "relay", dir.path() / "relay.creds");
    {
        Connection connection(options);
        expect_jetstream_round_trip(connection);
        // The stream lives in APP, not in the global account.
        const auto streams = server.monitor("jsz?accounts=true");
        ASSERT_TRUE(streams);
        ASSERT_EQ((*streams)["account_details"].size(), 1u) << streams->dump();
        EXPECT_EQ((*streams)["account_details"][0]["id"], nats_operator.account("APP").key.public_key())
            << streams->dump();
    }
    // A user of an account this server was never told about, from another operator.
    NatsOperator other_operator("other-operator");
    other_operator.add_account("APP");
    options.auth.credentials_file =
        other_operator.write_credentials("APP", "intruder", dir.path() / "intruder.creds");
    expect_authorization_violation(options);
}

TEST(Authentication, CredentialsPermissionsAreEnforcedAsAsynchronousErrors) {
    TempDir dir("perm");
    NatsOperator nats_operator;
    nats_operator.add_account("APP");
    auto server = server_with(nats_operator.server_config());
    std::mutex mutex;
    std::vector<std::string> errors;
    auto options = options_for(server);
    options.auth.credentials_file =
        nats_operator.write_credentials("APP", "narrow", dir.path() / "narrow.creds",
                                        {.publish_allow = {"allowed.>"}, .subscribe_allow = {}});
    options.on_event = [&](ConnectionEvent event, const std::string& detail) {
        std::lock_guard lock(mutex);
        if (event == ConnectionEvent::error) errors.push_back(detail);
    };
    Connection connection(options);
    connection.publish("allowed.x", "ok");
    connection.publish("forbidden.x", "no");
    connection.flush();
    ASSERT_TRUE(seamq::testing::wait_until(
        [&] {
            std::lock_guard lock(mutex);
            return !errors.empty();
        },
        5s));
    std::lock_guard lock(mutex);
    EXPECT_THAT(errors.front(), HasSubstr("Permissions Violation for Publish to \"forbidden.x\""))
        << errors.front();
    EXPECT_TRUE(connection.is_connected());
}

struct TimedEvent {
    std::chrono::milliseconds at;
    ConnectionEvent event;
    std::string detail;
};

// Every event with the time it came, since construction.
struct EventRecorder {
    std::mutex mutex;
    std::vector<TimedEvent> events;
    const std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

    auto handler() {
        return [this](ConnectionEvent event, const std::string& detail) {
            std::lock_guard lock(mutex);
            events.push_back({std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - start),
                              event, detail});
        };
    }
    std::vector<TimedEvent> snapshot() {
        std::lock_guard lock(mutex);
        return events;
    }
    std::string trace() {
        std::string text;
        for (const auto& [at, event, detail] : snapshot())
            text += fmt::format("{} ms {} '{}'\n", at.count(), to_string(event), detail);
        return text;
    }
};

// The attempts the server refused: one "authentication error" line each in its log.
int refused_attempts(const NatsServer& server) {
    std::ifstream log(server.log_file());
    std::stringstream text;
    text << log.rdbuf();
    const auto server_log = text.str();
    int refusals = 0;
    for (auto at = server_log.find("authentication error"); at != std::string::npos;
         at = server_log.find("authentication error", at + 1))
        ++refusals;
    return refusals;
}

// nats.c 3.4.1, retrying a first connect in the background (retry_on_failed_connect) that
// the server refuses, closes the connection for good at once with "No server available for
// connection" (the refusal leaves it without a current server, and its reconnect thread
// gives up on that): no retry, no reason. Connection makes one plain attempt first, so the
// refusal is an error event and the reason of the close; then nats.c's attempt, refused
// too, and the close. Nothing after that: two refusals in five seconds, not a loop.
TEST(Authentication, RetryingAFirstConnectWithAWrongPasswordReportsTheRefusalAndIsClosed) {
    auto server = server_with(R"(authorization { users: [ {user: app, password: "right-pass"} ] })");
    EventRecorder recorder;
    auto options = options_for(server);
    options.auth.user = "app";
    options.auth.password = "wrong-pass";
    options.retry_on_failed_connect = true;
    options.reconnect_wait = 500ms;
    options.reconnect_jitter = 100ms;
    options.on_event = recorder.handler();
    Connection connection(options);
    EXPECT_FALSE(connection.is_connected());
    std::this_thread::sleep_for(5s);  // ten reconnect waits

    const auto events = recorder.snapshot();
    EXPECT_EQ(refused_attempts(server), 2) << recorder.trace();
    ASSERT_EQ(events.size(), 2u) << recorder.trace();
    EXPECT_EQ(events[0].event, ConnectionEvent::error);
    EXPECT_THAT(events[0].detail, HasSubstr("Authorization Violation"));
    EXPECT_THAT(events[0].detail, Not(HasSubstr("wrong-pass")));
    EXPECT_EQ(events[1].event, ConnectionEvent::closed);
    EXPECT_EQ(events[1].detail, events[0].detail);
    EXPECT_LT(events[1].at, 1000ms) << recorder.trace();
    EXPECT_EQ(connection.status(), ConnectionStatus::closed);
    EXPECT_EQ(connection.closed_reason(), events[0].detail);
}

// nats.c 3.4.1, reconnecting a live connection to a server that now refuses the password
// (rotated on the server): one refusal per reconnect round, each an asynchronous error
// event; the same refusal twice in a row from one server closes the connection for good.
TEST(Authentication, AConnectionRefusedOnReconnectIsClosedAfterTheSecondRefusal) {
    auto server = server_with(R"(authorization { users: [ {user: app, password: "right-pass"} ] })");
    EventRecorder recorder;
    auto options = options_for(server);
    options.auth.user = "app";
    options.auth.password = "right-pass";
    options.reconnect_wait = 500ms;
    options.reconnect_jitter = 100ms;
    options.on_event = recorder.handler();
    Connection connection(options);
    ASSERT_TRUE(connection.is_connected());

    std::stringstream config;
    config << std::ifstream(server.config_file()).rdbuf();
    auto text = config.str();
    text.replace(text.find("right-pass"), std::string("right-pass").size(), "rotated-pass");
    server.stop();
    std::ofstream(server.config_file()) << text;
    server.start();
    std::this_thread::sleep_for(5s);

    const auto events = recorder.snapshot();
    std::vector<ConnectionEvent> kinds;
    for (const auto& event : events) kinds.push_back(event.event);
    EXPECT_EQ(kinds, (std::vector<ConnectionEvent>{ConnectionEvent::disconnected, ConnectionEvent::error,
                                                   ConnectionEvent::error, ConnectionEvent::closed}))
        << recorder.trace();
    EXPECT_EQ(refused_attempts(server), 2) << recorder.trace();
    std::cout << recorder.trace();
    for (const auto& event : events) {
        if (event.event == ConnectionEvent::error) {
            EXPECT_THAT(event.detail, HasSubstr("Authorization Violation")) << recorder.trace();
        }
    }
    EXPECT_EQ(connection.status(), ConnectionStatus::closed);
    EXPECT_EQ(connection.closed_reason(), "Authorization Violation");
}

// A close the owner asks for has no reason: nothing went wrong.
TEST(Authentication, AClosedReasonOnlyWhenNatsCGaveUp) {
    auto server = server_with("");
    Connection connection(options_for(server));
    EXPECT_EQ(connection.closed_reason(), "");
    connection.close();
    ASSERT_TRUE(seamq::testing::wait_until([&] { return connection.counters().closed; }, 5s));
    EXPECT_EQ(connection.closed_reason(), "");
}

class MutualTls : public ::testing::Test {
protected:
    MutualTls()
        : server_certificate(ca.issue_server("nats-server")),
          client_certificate(ca.issue_client("relay")),
          server(server_with(fmt::format("tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: "
                                         "\"{}\"\n  verify: true\n  timeout: 2\n}}",
                                         server_certificate.certificate_file.string(),
                                         server_certificate.key_file.string(),
                                         ca.certificate_file().string()))) {}

    ConnectionOptions client_options() {
        auto options = options_for(server);
        options.tls.ca_file = ca.certificate_file();
        options.tls.certificate_file = client_certificate.certificate_file;
        options.tls.key_file = client_certificate.key_file;
        return options;
    }

    CertificateAuthority ca{"seamq nats CA"};
    testing::IssuedCertificate server_certificate;
    testing::IssuedCertificate client_certificate;
    NatsServer server;
};

TEST_F(MutualTls, TheRightCertificatesConnectOverTls13AndRunJetStream) {
    Connection connection(client_options());  // server name: 127.0.0.1 from the URL (IP SAN)
    expect_jetstream_round_trip(connection);
    const auto connz = server.monitor("connz");
    ASSERT_TRUE(connz);
    ASSERT_EQ((*connz)["connections"].size(), 1u) << connz->dump();
    EXPECT_EQ((*connz)["connections"][0]["tls_version"], "1.3") << connz->dump();
    EXPECT_EQ((*connz)["connections"][0]["name"], "security-test");

    auto by_dns_name = client_options();
    by_dns_name.tls.server_name = "localhost";
    Connection second(by_dns_name);
    EXPECT_TRUE(second.is_connected());
}

TEST_F(MutualTls, AServerCertificateOfAnotherCaFailsVerification) {
    CertificateAuthority stranger("stranger CA");
    auto options = client_options();
    options.tls.ca_file = stranger.certificate_file();
    const auto error = connect_error(options);
    EXPECT_EQ(error.status(), NATS_SSL_ERROR) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("SSL handshake error: 20:unable to get local issuer certificate"))
        << error.what();
}

TEST_F(MutualTls, AServerNameTheCertificateDoesNotCarryFails) {
    auto options = client_options();
    options.tls.server_name = "nats.example.com";
    const auto error = connect_error(options);
    EXPECT_EQ(error.status(), NATS_SSL_ERROR) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("hostname mismatch")) << error.what();
}

TEST_F(MutualTls, TheServerRefusesAClientWithoutACertificateOrWithOneOfAnotherCa) {
    auto no_certificate = client_options();
    no_certificate.tls.certificate_file.clear();
    no_certificate.tls.key_file.clear();
    const auto without = connect_error(no_certificate);
    EXPECT_EQ(without.status(), NATS_PROTOCOL_ERROR) << without.what();
    EXPECT_THAT(without.what(), HasSubstr("the server closed the TLS connection")) << without.what();

    CertificateAuthority stranger("stranger CA");
    const auto foreign = stranger.issue_client("relay");
    auto foreign_certificate = client_options();
    foreign_certificate.tls.certificate_file = foreign.certificate_file;
    foreign_certificate.tls.key_file = foreign.key_file;
    const auto with_foreign = connect_error(foreign_certificate);
    EXPECT_THAT(with_foreign.what(), HasSubstr("the server closed the TLS connection"))
        << with_foreign.what();
    EXPECT_TRUE(seamq::testing::wait_until(
        [&] {
            std::ifstream log(server.log_file());
            std::stringstream text;
            text << log.rdbuf();
            return text.str().find("client didn't provide a certificate") != std::string::npos &&
                   text.str().find("failed to verify") != std::string::npos;
        },
        5s));
}

TEST_F(MutualTls, GarbageCertificateFilesFailAtConstructionNamingTheFile) {
    TempDir dir("garbage");
    const auto garbage = write_file(dir.path() / "garbage.pem", "not a certificate\n");
    const auto expect_config_error = [](const ConnectionOptions& options, const std::string& says) {
        try {
            Connection connection(options);
            ADD_FAILURE() << "connected";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Errc::config) << e.what();
            EXPECT_THAT(e.what(), HasSubstr(says));
        }
    };
    auto ca_file = client_options();
    ca_file.tls.ca_file = garbage;
    expect_config_error(ca_file, "NATS TLS CA file '" + garbage.string() + "'");
    auto certificate = client_options();
    certificate.tls.certificate_file = garbage;
    expect_config_error(certificate, garbage.string());
    auto key = client_options();
    key.tls.key_file = garbage;
    expect_config_error(key, garbage.string());
    auto missing_key = client_options();
    missing_key.tls.key_file = dir.path() / "missing.key";
    expect_config_error(missing_key,
                        "NATS TLS key file '" + (dir.path() / "missing.key").string() + "' does not exist");
}

// Without server_name the host of the URL is checked: 127.0.0.1 against the certificate's
// IP addresses (OpenSSL 3 treats an address given as host name as one).
TEST(Tls, TheUrlsHostIsCheckedAgainstTheCertificateByDefault) {
    CertificateAuthority ca("host check CA");
    const auto localhost_only = ca.issue_server("nats-server", {"DNS:localhost"});
    auto server =
        server_with(fmt::format("tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}",
                                localhost_only.certificate_file.string(), localhost_only.key_file.string()));
    auto options = options_for(server);
    options.tls.ca_file = ca.certificate_file();
    const auto error = connect_error(options);
    EXPECT_EQ(error.status(), NATS_SSL_ERROR) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("IP address mismatch")) << error.what();

    options.servers = {"nats://localhost:" + std::to_string(server.port())};
    Connection by_name(options);
    EXPECT_TRUE(by_name.is_connected());
}

}  // namespace
}  // namespace seamq::nats
