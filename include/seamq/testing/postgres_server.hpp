#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "seamq/testing/certificates.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::testing {

//! An ephemeral PostgreSQL 15 cluster: initdb into a temporary directory, a free
//! loopback port, the socket in the temporary tree, fsync left on, trust auth for the
//! superuser `postgres` (TLS and client certificates on request, see Options). When the
//! test runs as root the data directory belongs to the `postgres` OS user and the server
//! runs as that user (initdb and postgres refuse root).
class PostgresServer {
public:
    struct Options {
        //! `listen_addresses` as PostgreSQL takes it, e.g. "127.0.0.1,127.0.0.2" for a test
        //! that cuts one address off (all of 127.0.0.0/8 is local). It must include
        //! 127.0.0.1, which connection_string() and url() use.
        std::string listen_addresses = "127.0.0.1";
        //! ssl=on with a throwaway CA made in the temporary directory (ca_file()): the
        //! server's certificate names `DNS:localhost,IP:127.0.0.1`. connection_string() and
        //! url() then say `sslmode=verify-full sslrootcert=<ca_file()>`.
        bool tls = false;
        //! With `tls`: pg_hba.conf has `hostssl` lines only, so a connection without TLS is
        //! refused ("no pg_hba.conf entry ... no encryption").
        bool tls_only = false;
        //! With `tls`: TCP sessions authenticate by client certificate (pg_hba `cert`, the
        //! certificate's CN is the role) signed by the same CA; connection_string() and
        //! url() carry one for `postgres` (client_certificate()).
        bool client_certificates = false;
    };

    PostgresServer() : PostgresServer(Options{}) {}  //!< initdb + start
    explicit PostgresServer(std::string listen_addresses)
        : PostgresServer(Options{.listen_addresses = std::move(listen_addresses)}) {}
    explicit PostgresServer(Options options);
    ~PostgresServer();
    PostgresServer(const PostgresServer&) = delete;
    PostgresServer& operator=(const PostgresServer&) = delete;

    //! libpq key/value connection string over TCP to `database`.
    std::string connection_string(const std::string& database = "postgres") const;
    //! postgresql:// URL over TCP to `database`.
    std::string url(const std::string& database = "postgres") const;
    unsigned short port() const { return port_; }
    const std::filesystem::path& data_dir() const { return data_dir_; }
    const std::filesystem::path& log_file() const { return log_file_; }
    //! With Options::tls: the CA certificate (PEM) that signed the server's certificate.
    const std::filesystem::path& ca_file() const;
    //! With Options::tls: the CA itself, to issue more certificates (clients, other names).
    const CertificateAuthority& certificate_authority() const;
    CertificateAuthority& certificate_authority();
    //! With Options::client_certificates: the certificate and key the harness connects with.
    const IssuedCertificate& client_certificate() const;
    pid_t pid() const { return process_.pid(); }
    bool running();

    void start();    //!< starts on the same port and data; waits until it accepts connections
    void stop();     //!< fast shutdown (SIGINT), waits; committed data stays
    void kill();     //!< SIGKILL to the postmaster and its backends, as a crash
    void restart();  //!< stop() + start()

    //! CREATE DATABASE `name` (idempotent); returns its connection string.
    std::string create_database(const std::string& name);

    //! CREATE ROLE `role` (LOGIN SUPERUSER) with `password`, which TCP connections as that
    //! role must give (scram-sha-256; everyone else keeps trust). Returns
    //! "postgresql://role:password@127.0.0.1:port/": append the database name.
    std::string create_password_role(const std::string& role, const std::string& password);

    //! Runs SQL through libpq and returns the first column of the first row ("" if none).
    std::string query_value(const std::string& sql, const std::string& database = "postgres") const;

    void wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(30));

private:
    //! The libpq parameters TLS adds to connection_string() ("" without TLS).
    std::string tls_parameters(char separator) const;

    Options options_;
    unsigned short port_ = 0;
    bool started_once_ = false;
    std::unique_ptr<TempDir> dir_;
    std::filesystem::path data_dir_;
    std::filesystem::path socket_dir_;
    std::filesystem::path log_file_;
    std::optional<std::string> run_as_;
    std::optional<CertificateAuthority> certificate_authority_;
    std::optional<IssuedCertificate> server_certificate_;
    std::optional<IssuedCertificate> client_certificate_;
    ChildProcess process_;
};

}  // namespace seamq::testing
