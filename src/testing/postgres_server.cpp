#include "seamq/testing/postgres_server.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <sys/wait.h>
#include <utility>
#include <vector>

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

PostgresServer::PostgresServer(Options options) : options_(std::move(options)) {
    if ((options_.tls_only || options_.client_certificates) && !options_.tls) {
        raise(Errc::invalid_argument, "PostgresServer: tls_only and client_certificates need tls");
    }
    dir_ = std::make_unique<TempDir>("pg");
    data_dir_ = dir_->path() / "data";
    socket_dir_ = dir_->path() / "sock";
    log_file_ = dir_->path() / "postgres.log";
    fs::create_directories(data_dir_);
    fs::create_directories(socket_dir_);
    port_ = free_port();
    if (options_.tls) {
        const auto tls_dir = dir_->path() / "tls";
        fs::create_directories(tls_dir);
        certificate_authority_.emplace("seamq postgres CA");
        // Copied beside the data directory: the server may run as another user (below),
        // which must own its key.
        const auto issued = certificate_authority_->issue_server("localhost");
        server_certificate_ = IssuedCertificate{tls_dir / "server.crt", tls_dir / "server.key"};
        fs::copy_file(issued.certificate_file, server_certificate_->certificate_file);
        fs::copy_file(issued.key_file, server_certificate_->key_file);
        fs::permissions(server_certificate_->key_file, fs::perms::owner_read | fs::perms::owner_write);
        if (options_.client_certificates)
            client_certificate_ = certificate_authority_->issue_client("postgres");
    }
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
    if (options_.tls_only || options_.client_certificates) {
        // Replaces initdb's `host` lines, which would also let a session in without TLS.
        // The file keeps its owner (the server's user): it is truncated, not replaced.
        const char* method = options_.client_certificates ? "cert" : "trust";
        std::ofstream(data_dir_ / "pg_hba.conf", std::ios::trunc)
            << "local all all trust\n"
            << "hostssl all all 127.0.0.0/8 " << method << "\n"
            << "hostssl all all ::1/128 " << method << "\n";
    }
    start();
}

PostgresServer::~PostgresServer() {
    try {
        stop();
    } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
    }
}

std::string PostgresServer::tls_parameters(char separator) const {
    if (!options_.tls) return "";
    std::string parameters = "sslmode=verify-full";
    parameters += separator + std::string("sslrootcert=") + ca_file().string();
    if (client_certificate_) {
        parameters += separator + std::string("sslcert=") + client_certificate_->certificate_file.string();
        parameters += separator + std::string("sslkey=") + client_certificate_->key_file.string();
    }
    return parameters;
}

// The temporary paths are made of characters that need no quoting or percent-encoding.
std::string PostgresServer::connection_string(const std::string& database) const {
    std::string info = "host=127.0.0.1 port=" + std::to_string(port_) + " user=postgres dbname=" + database +
                       " connect_timeout=5";
    if (options_.tls) info += " " + tls_parameters(' ');
    return info;
}

std::string PostgresServer::url(const std::string& database) const {
    std::string url = "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
    if (options_.tls) url += "?" + tls_parameters('&');
    return url;
}

const fs::path& PostgresServer::ca_file() const {
    return certificate_authority().certificate_file();
}

const CertificateAuthority& PostgresServer::certificate_authority() const {
    if (!certificate_authority_) raise(Errc::invalid_argument, "PostgresServer: no CA without Options::tls");
    return *certificate_authority_;
}

CertificateAuthority& PostgresServer::certificate_authority() {
    return const_cast<CertificateAuthority&>(std::as_const(*this).certificate_authority());
}

const IssuedCertificate& PostgresServer::client_certificate() const {
    if (!client_certificate_) {
        raise(Errc::invalid_argument,
              "PostgresServer: no client certificate without Options::client_certificates");
    }
    return *client_certificate_;
}

bool PostgresServer::running() {
    return process_.running();
}

void PostgresServer::start() {
    if (process_.running()) return;
    const auto bin = postgres_bin_dir();
    std::vector<std::string> argv = {(bin / "postgres").string(),
                                     "-D",
                                     data_dir_.string(),
                                     "-p",
                                     std::to_string(port_),
                                     "-k",
                                     socket_dir_.string(),
                                     "-c",
                                     "listen_addresses=" + options_.listen_addresses,
                                     "-c",
                                     "max_connections=200",
                                     "-c",
                                     "max_prepared_transactions=20",
                                     "-c",
                                     "fsync=on",
                                     "-c",
                                     "log_min_messages=warning",
                                     "-c",
                                     "log_line_prefix=%m [%p] "};
    if (options_.tls) {
        argv.insert(argv.end(),
                    {"-c", "ssl=on", "-c", "ssl_cert_file=" + server_certificate_->certificate_file.string(),
                     "-c", "ssl_key_file=" + server_certificate_->key_file.string()});
        // The CA that client certificates must chain to (and the server's own chain).
        argv.insert(argv.end(), {"-c", "ssl_ca_file=" + ca_file().string()});
    }
    // As for nats-server: a first start that finds its port taken moves to a fresh one.
    for (int attempt = 0;; ++attempt) {
        process_ = ChildProcess(ChildProcess::Options{
            .argv = argv,
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
