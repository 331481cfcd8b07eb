// The real sea-mq binary authenticating to nats-server with its --nats-* flags and the
// SEAMQ_NATS_* environment (user/password, token, NKey, .creds, mutual TLS): `streams
// apply` creates the streams; a wrong secret fails naming the server's refusal, never the
// secret; a missing credentials file fails naming the file.
#include <fstream>

#include "tests/cli/run_sea_mq.hpp"
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/nats_operator.hpp"
#include "seamq/testing/nats_server.hpp"

namespace seamq::cli {
namespace {

using seamq::cli::test::sea_mq;
using seamq::cli::test::sea_mq_with_env;
using seamq::testing::NatsServer;
using seamq::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

std::string streams_file() {
    return (seamq::testing::source_dir() / "config" / "streams.yaml").string();
}

NatsServer server_with(const std::string& config) {
    NatsServer::Options options;
    options.extra_config = config;
    return NatsServer(options);
}

bool stream_exists(const nats::ConnectionOptions& options, const std::string& stream) {
    nats::Connection connection(options);
    nats::JetStream jetstream(connection);
    return jetstream.stream_info(stream).has_value();
}

std::string describe(const seamq::test::CommandResult& result) {
    return "exit " + std::to_string(result.exit_code) + "\nstdout: " + result.out + "\nstderr: " + result.err;
}

TEST(CliNatsAuthentication, UserWithThePasswordFromTheEnvironmentAndAWrongOne) {
    auto server = server_with(R"(authorization { users: [ {user: cli, password: "Cli-Pa55"} ] })");
    auto result = sea_mq_with_env(
        {{"SEAMQ_NATS_PASSWORD", "Cli-Pa55"}},
        {"streams", "apply", "--file", streams_file(), "--nats", server.url(), "--nats-user", "cli"});
    ASSERT_EQ(result.exit_code, 0) << describe(result);
    auto client = nats::ConnectionOptions::from_urls(server.url());
    client.auth.user = "cli";
    client.auth.password = "Cli-Pa55";
    EXPECT_TRUE(stream_exists(client, "SEA_EVENTS"));

    result = sea_mq_with_env(
        {{"SEAMQ_NATS_PASSWORD", "Wrong-Pa55"}},
        {"streams", "apply", "--file", streams_file(), "--nats", server.url(), "--nats-user", "cli"});
    EXPECT_EQ(result.exit_code, 1) << describe(result);
    EXPECT_EQ(result.err, "sea-mq: connecting to NATS at '" + server.url() +
                              "': Authorization Violation (Authentication Violation)\n")
        << describe(result);
    EXPECT_THAT(result.err + result.out, Not(HasSubstr("Wrong-Pa55")));
}

TEST(CliNatsAuthentication, TokenFromAFileNKeyAndCredentialsFiles) {
    TempDir dir("cli-auth");
    {
        auto server = server_with(R"(authorization { token: "cli-token" })");
        std::ofstream(dir.path() / "token") << "cli-token\n";
        const auto result = sea_mq({"streams", "apply", "--file", streams_file(), "--nats", server.url(),
                                    "--nats-token-file", (dir.path() / "token").string()});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        auto client = nats::ConnectionOptions::from_urls(server.url());
        client.auth.token = "cli-token";
        EXPECT_TRUE(stream_exists(client, "SEA_EVENTS"));
    }
    {
        const auto user = nats::NKeySeed::generate(nats::NKeyRole::user);
        auto server = server_with("authorization { users: [ {nkey: " + user.public_key() + "} ] }");
        const auto seed_file = dir.path() / "cli.nk";
        std::ofstream(seed_file) << user.seed() << "\n";
        const auto result =
            sea_mq_with_env({{"SEAMQ_NATS_NKEY", seed_file.string()}},
                            {"streams", "apply", "--file", streams_file(), "--nats", server.url()});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        EXPECT_THAT(result.err + result.out, Not(HasSubstr(user.seed())));
    }
    {
        seamq::testing::NatsOperator nats_operator;
        nats_operator.add_account("SEA");
        auto server = server_with(nats_operator.server_config());
        const auto creds = nats_operator.write_credentials("SEA", "cli", dir.path() / "cli.creds");
        auto result = sea_mq({"streams", "apply", "--file", streams_file(), "--nats", server.url(),
                              "--nats-creds", creds.string()});
        ASSERT_EQ(result.exit_code, 0) << describe(result);
        auto client = nats::ConnectionOptions::from_urls(server.url());
        client.auth.credentials_file = creds;
        EXPECT_TRUE(stream_exists(client, "SEA_EVENTS"));

        const auto missing = (dir.path() / "missing.creds").string();
        result = sea_mq(
            {"streams", "apply", "--file", streams_file(), "--nats", server.url(), "--nats-creds", missing});
        EXPECT_EQ(result.exit_code, 2) << describe(result);
        EXPECT_THAT(result.err, HasSubstr(missing)) << describe(result);
    }
}

TEST(CliNatsAuthentication, MutualTlsFromTheEnvironment) {
    seamq::testing::CertificateAuthority ca("cli CA");
    const auto server_certificate = ca.issue_server("nats-server");
    const auto client_certificate = ca.issue_client("sea-mq");
    auto server = server_with(
        fmt::format("tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}",
                    server_certificate.certificate_file.string(), server_certificate.key_file.string(),
                    ca.certificate_file().string()));
    const std::map<std::string, std::string> environment = {
        {"SEAMQ_NATS_TLS_CA_FILE", ca.certificate_file().string()},
        {"SEAMQ_NATS_TLS_CERT_FILE", client_certificate.certificate_file.string()},
        {"SEAMQ_NATS_TLS_KEY_FILE", client_certificate.key_file.string()}};
    auto result =
        sea_mq_with_env(environment, {"streams", "apply", "--file", streams_file(), "--nats", server.url()});
    ASSERT_EQ(result.exit_code, 0) << describe(result);

    seamq::testing::CertificateAuthority stranger("stranger CA");
    auto wrong_ca = environment;
    wrong_ca["SEAMQ_NATS_TLS_CA_FILE"] = stranger.certificate_file().string();
    result =
        sea_mq_with_env(wrong_ca, {"streams", "apply", "--file", streams_file(), "--nats", server.url()});
    EXPECT_NE(result.exit_code, 0) << describe(result);
    EXPECT_THAT(result.err, HasSubstr("unable to get local issuer certificate")) << describe(result);
}

}  // namespace
}  // namespace seamq::cli
