// The libpq layer over TLS against a real PostgreSQL 15 with ssl=on and a throwaway CA:
// sslmode=verify-full sessions are encrypted, and each way verification can fail (another
// CA, a host name the certificate does not list, TLS required, a client certificate
// required) is reported in libpq's words, said to be TLS, with what to check and no password.
#include <gtest/gtest.h>

#include "seamq/postgres/connection.hpp"
#include "seamq/testing/certificates.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::postgres {
namespace {

using namespace std::chrono_literals;
using testing::PostgresServer;

constexpr std::string_view password = "Never-Show-This-Pa55word";

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// A URL to the server's database `postgres` by `host`, with the password above (trust
// authentication ignores it) and `parameters`.
std::string url_to(const PostgresServer& server, const std::string& host, const std::string& parameters) {
    return "postgresql://postgres:" + std::string(password) + "@" + host + ":" +
           std::to_string(server.port()) + "/postgres?" + parameters;
}

std::string verify_full(const std::filesystem::path& ca) {
    return "sslmode=verify-full&sslrootcert=" + ca.string();
}

SqlError connect_error(const std::string& conninfo) {
    try {
        Connection connection(ConnectOptions{conninfo, 5s, "seamq-tls-test"});
    } catch (const SqlError& error) {
        return error;
    }
    ADD_FAILURE() << "connected, though it should not have: " << conninfo;
    return SqlError(SqlError::Fields{});
}

TEST(Tls, VerifyFullSessionsAreEncryptedAndPlainOnesAreRefused) {
    PostgresServer server(PostgresServer::Options{.tls = true, .tls_only = true});
    for (const std::string host : {"localhost", "127.0.0.1"}) {  // the certificate names both
        Connection connection(ConnectOptions{url_to(server, host, verify_full(server.ca_file())), 5s});
        const auto tls = connection.exec("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        EXPECT_TRUE(tls.get<bool>(0, 0)) << host;
        EXPECT_EQ(tls.get<std::string>(0, 1), "TLSv1.3") << host;
    }

    const auto plain = connect_error(url_to(server, "localhost", "sslmode=disable"));
    EXPECT_TRUE(contains(plain.primary_message(), "no encryption")) << plain.what();
    EXPECT_TRUE(contains(plain.hint(), "sslmode=verify-full&sslrootcert=")) << plain.what();
    EXPECT_FALSE(contains(plain.what(), password)) << plain.what();
}

TEST(Tls, AnotherCaIsCertificateVerifyFailedNamingTheCaFile) {
    PostgresServer server(PostgresServer::Options{.tls = true});
    testing::TempDir other("other-ca");
    const testing::CertificateAuthority wrong("other CA");

    const auto error = connect_error(url_to(server, "localhost", verify_full(wrong.certificate_file())));
    EXPECT_TRUE(
        error.primary_message().starts_with("TLS to PostgreSQL failed: connection to server at "
                                            "\"localhost\" (127.0.0.1), port " +
                                            std::to_string(server.port())))
        << error.what();
    EXPECT_TRUE(contains(error.primary_message(), "SSL error: certificate verify failed")) << error.what();
    EXPECT_TRUE(
        contains(error.hint(), "not signed by the CA in sslrootcert " + wrong.certificate_file().string()))
        << error.what();
    EXPECT_TRUE(error.is_connection_lost());
    const std::string message = error.what();
    EXPECT_FALSE(contains(message, password)) << message;
    EXPECT_TRUE(contains(message, "postgresql://postgres:***@localhost")) << message;
    EXPECT_FALSE(contains(message, "check that PostgreSQL runs")) << "it runs; TLS failed: " << message;

    // sslmode=require with a root certificate file is verify-ca (libpq, for compatibility).
    const auto required = connect_error(
        url_to(server, "localhost", "sslmode=require&sslrootcert=" + wrong.certificate_file().string()));
    EXPECT_TRUE(contains(required.primary_message(), "certificate verify failed")) << required.what();

    // A CA file that is not there: libpq's own message, said to be TLS.
    const auto missing = connect_error(url_to(server, "localhost", verify_full(other.path() / "absent.crt")));
    EXPECT_TRUE(contains(missing.primary_message(), "TLS to PostgreSQL failed: ")) << missing.what();
    EXPECT_TRUE(
        contains(missing.primary_message(),
                 "root certificate file \"" + (other.path() / "absent.crt").string() + "\" does not exist"))
        << missing.what();
}

TEST(Tls, AHostTheCertificateDoesNotNameFailsVerifyFullButNotVerifyCa) {
    PostgresServer server(PostgresServer::Options{.listen_addresses = "127.0.0.1,127.0.0.2", .tls = true});
    // Same server, same CA, an address the certificate (localhost, 127.0.0.1) does not list.
    const auto by_address = connect_error(url_to(server, "127.0.0.2", verify_full(server.ca_file())));
    EXPECT_TRUE(contains(by_address.primary_message(),
                         "TLS to PostgreSQL failed: connection to server at \"127.0.0.2\", port " +
                             std::to_string(server.port()) + " failed: server certificate for \"localhost\""))
        << by_address.what();
    EXPECT_TRUE(contains(by_address.primary_message(), "does not match host name \"127.0.0.2\""))
        << by_address.what();
    EXPECT_TRUE(contains(by_address.hint(), "subjectAltName")) << by_address.what();

    // A name the certificate does not list, reaching the right address (hostaddr).
    const auto by_name =
        connect_error(url_to(server, "db.example", verify_full(server.ca_file()) + "&hostaddr=127.0.0.1"));
    EXPECT_TRUE(contains(by_name.primary_message(), "does not match host name \"db.example\""))
        << by_name.what();

    // verify-ca checks the chain only: the same address is accepted.
    Connection chain_only(ConnectOptions{
        url_to(server, "127.0.0.2", "sslmode=verify-ca&sslrootcert=" + server.ca_file().string()), 5s});
    EXPECT_TRUE(chain_only.exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").get<bool>(0, 0));
}

TEST(Tls, ClientCertificatesAuthenticateTheirCommonName) {
    PostgresServer server(PostgresServer::Options{.tls = true, .client_certificates = true});
    const auto& client = server.client_certificate();
    Connection connection(
        ConnectOptions{url_to(server, "localhost",
                              verify_full(server.ca_file()) + "&sslcert=" + client.certificate_file.string() +
                                  "&sslkey=" + client.key_file.string()),
                       5s});
    EXPECT_EQ(connection.exec("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                  .get<std::string>(0, 0),
              "/CN=postgres");

    const auto without = connect_error(url_to(server, "localhost", verify_full(server.ca_file())));
    EXPECT_TRUE(contains(without.primary_message(), "connection requires a valid client certificate"))
        << without.what();
    EXPECT_TRUE(contains(without.hint(), "sslcert and sslkey")) << without.what();
    // sslmode=prefer tries TLS, then without: the server refuses both, the first for want of
    // a certificate, which is the one to fix.
    const auto preferred = connect_error(url_to(server, "localhost", "sslmode=prefer"));
    EXPECT_TRUE(contains(preferred.primary_message(), "no pg_hba.conf entry")) << preferred.what();
    EXPECT_FALSE(contains(preferred.primary_message(), "TLS to PostgreSQL failed")) << preferred.what();
    EXPECT_TRUE(contains(preferred.hint(), "sslcert and sslkey")) << preferred.what();

    // A certificate for another role: the server refuses it for `postgres`.
    const auto other = server.certificate_authority().issue_client("app");
    const auto mismatch =
        connect_error(url_to(server, "localhost",
                             verify_full(server.ca_file()) + "&sslcert=" + other.certificate_file.string() +
                                 "&sslkey=" + other.key_file.string()));
    EXPECT_TRUE(
        contains(mismatch.primary_message(), "certificate authentication failed for user \"postgres\""))
        << mismatch.what();
}

TEST(Tls, ServerWithoutTlsSaysSoWhenTheUrlAsksForIt) {
    PostgresServer server;
    const testing::CertificateAuthority ca("other CA");
    const auto error = connect_error(url_to(server, "localhost", verify_full(ca.certificate_file())));
    EXPECT_TRUE(contains(error.primary_message(), "TLS to PostgreSQL failed: ")) << error.what();
    EXPECT_TRUE(contains(error.primary_message(), "server does not support SSL, but SSL was required"))
        << error.what();
    EXPECT_TRUE(contains(error.hint(), "sslmode=verify-full")) << error.what();
}

}  // namespace
}  // namespace seamq::postgres
