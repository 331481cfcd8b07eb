#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "seamq/testing/process.hpp"

namespace seamq::testing {

//! An ephemeral PostgreSQL 15 cluster: initdb into a temporary directory, a free
//! loopback port, the socket in the temporary tree, fsync left on, trust auth for the
//! superuser `postgres`. When the test runs as root the data directory belongs to the
//! `postgres` OS user and the server runs as that user (initdb and postgres refuse root).
class PostgresServer {
public:
    PostgresServer() : PostgresServer("127.0.0.1") {}  //!< initdb + start
    //! `listen_addresses` as PostgreSQL takes it, e.g. "127.0.0.1,127.0.0.2" for a test that
    //! cuts one address off (all of 127.0.0.0/8 is local). It must include 127.0.0.1, which
    //! connection_string() and url() use.
    explicit PostgresServer(std::string listen_addresses);
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
    std::string listen_addresses_;
    unsigned short port_ = 0;
    bool started_once_ = false;
    std::unique_ptr<TempDir> dir_;
    std::filesystem::path data_dir_;
    std::filesystem::path socket_dir_;
    std::filesystem::path log_file_;
    std::optional<std::string> run_as_;
    ChildProcess process_;
};

}  // namespace seamq::testing
