#include "seamq/testing/postgres_server.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <sys/wait.h>

#include <libpq-fe.h>
#include <signal.h>
#include <unistd.h>

#include "seamq/core/error.hpp"

namespace seamq::testing {

namespace fs = std::filesystem;

namespace {

// Debian keeps the server programs out of PATH, under /usr/lib/postgresql/<major>/bin.
fs::path postgres_bin_dir() {
    if (const char* configured = std::getenv("SEAMQ_PG_BINDIR"); configured && *configured) {  // NOLINT
        return configured;
    }
    for (const char* candidate : {"/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"}) {
        if (fs::exists(fs::path(candidate) / "postgres")) return candidate;
    }
    raise(Errc::not_found,
          "PostgreSQL server programs not found in /usr/lib/postgresql/15/bin; run scripts/bootstrap "
          "(Debian package postgresql) or set SEAMQ_PG_BINDIR");
}

std::string tail_of(const fs::path& file, std::size_t max_bytes = 2000) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

void chown_tree(const fs::path& root, const std::string& user) {
    // Small trees only (a fresh temporary directory), so a plain recursive walk is fine.
    const std::string command = "chown -R " + user + ": '" + root.string() + "'";
    if (std::system(command.c_str()) != 0) {  // NOLINT(concurrency-mt-unsafe,cert-env33-c)
        raise(Errc::io, "cannot give {} to OS user {}", root.string(), user);
    }
}

}  // namespace

PostgresServer::PostgresServer(std::string listen_addresses)
    : listen_addresses_(std::move(listen_addresses)) {
    dir_ = std::make_unique<TempDir>("pg");
    data_dir_ = dir_->path() / "data";
    socket_dir_ = dir_->path() / "sock";
    log_file_ = dir_->path() / "postgres.log";
    fs::create_directories(data_dir_);
    fs::create_directories(socket_dir_);
    port_ = free_port();
    // initdb and postgres refuse to run as root.
    if (::geteuid() == 0) {
        run_as_ = "postgres";
        chown_tree(dir_->path(), *run_as_);
    }

    const auto bin = postgres_bin_dir();
    ChildProcess initdb(ChildProcess::Options{
        .argv = {(bin / "initdb").string(), "-D", data_dir_.string(), "-U", "postgres", "--auth=trust", "-E",
                 "UTF8", "--locale=C", "--no-sync"},
        .log_file = dir_->path() / "initdb.log",
        .run_as_user = run_as_,
        .env = {},
        .working_directory = dir_->path(),
    });
    const auto status = initdb.wait_for_exit(std::chrono::seconds(120));
    if (!status || ChildProcess::exit_code(*status) != 0) {
        raise(Errc::io, "initdb failed in {}:\n{}", data_dir_.string(), tail_of(dir_->path() / "initdb.log"));
    }
    start();
}

PostgresServer::~PostgresServer() {
    try {
        stop();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
}

std::string PostgresServer::connection_string(const std::string& database) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + database +
           " connect_timeout=5";
}

std::string PostgresServer::url(const std::string& database) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

bool PostgresServer::running() {
    return process_.running();
}

void PostgresServer::start() {
    if (process_.running()) return;
    const auto bin = postgres_bin_dir();
    // As for nats-server: a first start that finds its port taken moves to a fresh one.
    for (int attempt = 0;; ++attempt) {
        process_ = ChildProcess(ChildProcess::Options{
            .argv = {(bin / "postgres").string(), "-D", data_dir_.string(), "-p", std::to_string(port_), "-k",
                     socket_dir_.string(), "-c", "listen_addresses=" + listen_addresses_, "-c",
                     "max_connections=200", "-c", "max_prepared_transactions=20", "-c", "fsync=on", "-c",
                     "log_min_messages=warning", "-c", "log_line_prefix=%m [%p] "},
            .log_file = log_file_,
            .run_as_user = run_as_,
            .env = {},
            .working_directory = data_dir_,
        });
        try {
            wait_ready();
            started_once_ = true;
            return;
        } catch (const Error&) {
            const bool port_taken =
                !process_.running() && tail_of(log_file_).find("could not bind") != std::string::npos;
            if (!port_taken || started_once_ || attempt >= 4) throw;
            port_ = free_port();
        }
    }
}

void PostgresServer::wait_ready(std::chrono::milliseconds timeout) {
    const auto info = connection_string("postgres");
    const bool ready = wait_until(
        [&] {
            if (!process_.running()) {
                raise(Errc::io, "postgres exited while starting; log {}:\n{}", log_file_.string(),
                      tail_of(log_file_));
            }
            return PQping(info.c_str()) == PQPING_OK;
        },
        timeout);
    if (!ready) {
        raise(Errc::timeout, "postgres not accepting connections within {} ms; log {}:\n{}", timeout.count(),
              log_file_.string(), tail_of(log_file_));
    }
}

// SIGINT is PostgreSQL's fast shutdown: it ends sessions, checkpoints and exits.
void PostgresServer::stop() {
    process_.stop(std::chrono::seconds(30), SIGINT);
}

void PostgresServer::kill() {
    process_.kill();
}

void PostgresServer::restart() {
    stop();
    start();
}

std::string PostgresServer::query_value(const std::string& sql, const std::string& database) const {
    std::unique_ptr<PGconn, decltype(&PQfinish)> connection(PQconnectdb(connection_string(database).c_str()),
                                                            &PQfinish);
    if (PQstatus(connection.get()) != CONNECTION_OK) {
        raise(Errc::postgres, "cannot connect to test database {}: {}", database,
              PQerrorMessage(connection.get()));
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(connection.get(), sql.c_str()), &PQclear);
    const auto status = PQresultStatus(result.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        raise(Errc::postgres, "test query failed: {}: {}", sql, PQresultErrorMessage(result.get()));
    }
    if (status != PGRES_TUPLES_OK || PQntuples(result.get()) == 0 || PQnfields(result.get()) == 0) return "";
    return PQgetvalue(result.get(), 0, 0);
}

std::string PostgresServer::create_database(const std::string& name) {
    if (query_value("SELECT count(*) FROM pg_database WHERE datname = '" + name + "'") == "0") {
        query_value("CREATE DATABASE \"" + name + "\"");
    }
    return connection_string(name);
}

std::string PostgresServer::create_password_role(const std::string& role, const std::string& password) {
    // The role's line goes first: pg_hba.conf is read top down and initdb's lines trust everyone.
    const auto hba = data_dir_ / "pg_hba.conf";
    std::string rules;
    {
        std::ifstream in(hba);
        rules.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    std::string quoted_password = "'";
    for (const char c : password) quoted_password += c == '\'' ? std::string("''") : std::string(1, c);
    quoted_password += "'";
    query_value("CREATE ROLE \"" + role + "\" LOGIN SUPERUSER PASSWORD " + quoted_password);
    // Truncating in place keeps the file's owner (the postgres OS user when run as root).
    std::ofstream(hba, std::ios::trunc) << "host all \"" << role << "\" 127.0.0.0/8 scram-sha-256\n" << rules;
    query_value("SELECT pg_reload_conf()");
    // The postmaster rereads the file on SIGHUP, a moment later: wait until it asks.
    const auto probe = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=" + role +
                       " password=not-" + password + " connect_timeout=5";
    const bool enforced = wait_until(
        [&] {
            std::unique_ptr<PGconn, decltype(&PQfinish)> connection(PQconnectdb(probe.c_str()), &PQfinish);
            return PQstatus(connection.get()) != CONNECTION_OK;
        },
        std::chrono::seconds(10));
    if (!enforced) raise(Errc::timeout, "PostgreSQL did not start asking role {} for its password", role);
    return "postgresql://" + role + ":" + password + "@127.0.0.1:" + std::to_string(port_) + "/";
}

}  // namespace seamq::testing
