#include "seamq/postgres/connection.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include "seamq/core/redaction.hpp"

namespace seamq::postgres {

namespace {

// Passwords never reach messages or logs.
std::string redact(const std::string& conninfo) {
    return mask_credentials(conninfo);
}

// What a statement was, for error messages: whitespace folded, long SQL shortened.
std::string describe_sql(std::string_view sql) {
    std::string out;
    bool space = false;
    for (const char c : sql) {
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += c;
        if (out.size() > 160) {
            out += "...";
            break;
        }
    }
    return out;
}

void log_notice(void* /*unused*/, const char* message) {
    std::string_view text(message);
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    spdlog::debug("postgres: {}", text);
}

std::string field(const PGresult* result, int code) {
    const char* value = result != nullptr ? PQresultErrorField(result, code) : nullptr;
    return value != nullptr ? std::string(value) : std::string();
}

std::string trimmed(const char* message) {
    std::string out = message != nullptr ? message : "";
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// The value libpq used for `keyword` on this (failed) connection; "" when unset.
std::string setting(PGconn* connection, std::string_view keyword) {
    std::string value;
    PQconninfoOption* options = PQconninfo(connection);
    for (auto* option = options; option != nullptr && option->keyword != nullptr; ++option) {
        if (keyword == option->keyword && option->val != nullptr) value = option->val;
    }
    PQconninfoFree(options);
    return value;
}

// libpq's words for a failed connect stay as they are: they name the check that failed
// ("certificate verify failed", "does not match host name"). This says that it was TLS
// and what to check; options only, never a password.
struct ConnectFailure {
    std::string message;
    std::string hint;
};

ConnectFailure explain_connect_failure(PGconn* connection, std::string message) {
    ConnectFailure failure;
    // pg_hba.conf refusals name the encryption ("SSL encryption", "no encryption") they refused.
    const bool tls = (contains(message, "SSL") || contains(message, "certificate")) &&
                     !contains(message, "no pg_hba.conf entry");
    const auto root = setting(connection, "sslrootcert");
    const auto ca = root.empty()
                        ? std::string("~/.postgresql/root.crt (libpq's default: no sslrootcert given)")
                        : "sslrootcert " + root;
    if (contains(message, "certificate verify failed")) {
        failure.hint = fmt::format(
            "the server's certificate is not signed by the CA in {}: point sslrootcert at the CA certificate "
            "that issued the server's",
            ca);
    } else if (contains(message, "does not match host name")) {
        failure.hint =
            "with sslmode=verify-full the host in the URL must be a name or address the server's certificate "
            "lists (its subjectAltName): connect by that name, or have the certificate issued for this one";
    } else if (contains(message, "root certificate file")) {
        failure.hint =
            "sslrootcert must name a readable PEM file with the CA certificate that issued the server's (a "
            "relative path is taken from the working directory)";
    } else if (contains(message, "server does not support SSL")) {
        failure.hint = fmt::format(
            "the URL asks for TLS (sslmode={}) but the server runs without it: turn on ssl in its "
            "postgresql.conf (ssl_cert_file, ssl_key_file)",
            setting(connection, "sslmode"));
    } else if (contains(message, "client certificate") || contains(message, "certificate authentication")) {
        failure.hint =
            "the server authenticates by client certificate: give sslcert and sslkey (mode 0600), a "
            "certificate signed by the server's ssl_ca_file whose CN is the user";
    } else if (contains(message, "no encryption") && !contains(message, "SSL encryption")) {
        failure.hint =
            "the server accepts this client over TLS only (pg_hba.conf hostssl): add "
            "sslmode=verify-full&sslrootcert=<CA file> to the URL";
    } else if (tls) {
        failure.hint =
            "check the URL's TLS parameters (sslmode, sslrootcert, sslcert, sslkey) against the server's";
    }
    failure.message = tls ? "TLS to PostgreSQL failed: " + message : std::move(message);
    return failure;
}

}  // namespace

std::string quote_identifier(std::string_view identifier) {
    std::string out = "\"";
    for (const char c : identifier) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

Connection::Connection(ConnectOptions options) : options_(std::move(options)) {
    connect();
}

Connection::~Connection() {
    close();
}

Connection::Connection(Connection&& other) noexcept
    : options_(std::move(other.options_)),
      connection_(std::exchange(other.connection_, nullptr)),
      prepared_(std::move(other.prepared_)),
      channels_(std::move(other.channels_)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        close();
        options_ = std::move(other.options_);
        connection_ = std::exchange(other.connection_, nullptr);
        prepared_ = std::move(other.prepared_);
        channels_ = std::move(other.channels_);
    }
    return *this;
}

void Connection::connect() {
    const std::string timeout = std::to_string(options_.connect_timeout.count());
    const std::string idle = std::to_string(options_.keepalives_idle.count());
    const std::string interval = std::to_string(options_.keepalives_interval.count());
    const std::string count = std::to_string(options_.keepalives_count);
    const std::string user_timeout = std::to_string(options_.tcp_user_timeout.count());
    // Processed in order, later values win: conninfo (expanded from "dbname") comes last
    // so that what the user wrote there overrides our defaults.
    std::vector<const char*> keywords = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                         "keepalives_interval", "keepalives_count", "tcp_user_timeout"};
    std::vector<const char*> values = {timeout.c_str(),  "1",           idle.c_str(),
                                       interval.c_str(), count.c_str(), user_timeout.c_str()};
    if (!options_.application_name.empty()) {
        keywords.push_back("application_name");
        values.push_back(options_.application_name.c_str());
    }
    keywords.push_back("dbname");
    values.push_back(options_.conninfo.c_str());
    keywords.push_back(nullptr);
    values.push_back(nullptr);
    PGconn* connection = PQconnectdbParams(keywords.data(), values.data(), 1);
    if (connection == nullptr) {
        raise(Errc::postgres, "PostgreSQL: cannot allocate a connection to {}", redact(options_.conninfo));
    }
    if (PQstatus(connection) != CONNECTION_OK) {
        SqlError::Fields fields;
        fields.operation = fmt::format("connect to '{}'", redact(options_.conninfo));
        auto failure =
            explain_connect_failure(connection, mask_credentials(trimmed(PQerrorMessage(connection))));
        fields.primary_message = std::move(failure.message);
        fields.hint = std::move(failure.hint);
        fields.connection_lost = true;
        PQfinish(connection);
        throw SqlError(std::move(fields));
    }
    PQsetNoticeProcessor(connection, log_notice, nullptr);
    connection_ = connection;
    const auto guard = options_.server_tcp_user_timeout.count();
    if (guard > 0 || options_.statement_timeout.count() > 0) {
        // keepalives_count only counts where TCP_USER_TIMEOUT does not exist (Linux lets the
        // user timeout decide): there, 1 s idle + count probes 1 s apart also reach the guard.
        try {
            exec(
                "SELECT CASE WHEN $1::text::int > 0 THEN set_config('tcp_keepalives_idle', '1', false) || "
                "set_config('tcp_keepalives_interval', '1', false) || "
                "set_config('tcp_keepalives_count', ($1::text::int / 1000 + 1)::text, false) || "
                "set_config('tcp_user_timeout', $1::text, false) END, "
                "CASE WHEN $2::text::int > 0 THEN set_config('statement_timeout', $2::text, false) END",
                std::to_string(guard), std::to_string(options_.statement_timeout.count()));
        } catch (...) {
            close();
            throw;
        }
    }
}

void Connection::close() noexcept {
    queued_.clear();
    if (connection_ != nullptr) {
        PQfinish(connection_);
        connection_ = nullptr;
    }
}

void Connection::throw_error(std::string_view operation, pg_result* result) const {
    throw SqlError(error_fields(operation, result));
}

SqlError::Fields Connection::error_fields(std::string_view operation, pg_result* result) const {
    SqlError::Fields fields;
    fields.operation = std::string(operation);
    fields.sqlstate = field(result, PG_DIAG_SQLSTATE);
    fields.primary_message = field(result, PG_DIAG_MESSAGE_PRIMARY);
    fields.detail = field(result, PG_DIAG_MESSAGE_DETAIL);
    fields.hint = field(result, PG_DIAG_MESSAGE_HINT);
    if (fields.primary_message.empty()) {
        fields.primary_message =
            connection_ != nullptr ? trimmed(PQerrorMessage(connection_)) : "the connection was closed";
    }
    if (fields.primary_message.empty() && result != nullptr) {
        fields.primary_message =
            fmt::format("unexpected result status {}", PQresStatus(PQresultStatus(result)));
    }
    fields.connection_lost = connection_ == nullptr || PQstatus(connection_) != CONNECTION_OK ||
                             is_connection_sqlstate(fields.sqlstate);
    return fields;
}

Result Connection::check(pg_result* raw, std::string_view operation) const {
    Result result(raw);  // owns it from here, also while an error unwinds
    if (raw != nullptr) {
        switch (PQresultStatus(raw)) {
            case PGRES_COMMAND_OK:
            case PGRES_TUPLES_OK:
            case PGRES_EMPTY_QUERY:
            case PGRES_SINGLE_TUPLE:
            case PGRES_PIPELINE_SYNC: return result;
            default: break;
        }
    }
    throw_error(operation, raw);
}

Result Connection::exec_script(std::string_view sql) {
    settle_queue();
    const std::string text(sql);
    return check(PQexec(connection_, text.c_str()), fmt::format("script `{}`", describe_sql(sql)));
}

Result Connection::exec(std::string_view sql, std::span<const Param> params) {
    settle_queue();
    const std::string text(sql);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) values.push_back(param.c_str());
    return check(PQexecParams(connection_, text.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0),
                 fmt::format("statement `{}`", describe_sql(sql)));
}

void Connection::prepare_on_server(const std::string& name, const std::string& sql) {
    settle_queue();
    check(PQprepare(connection_, name.c_str(), sql.c_str(), 0, nullptr),
          fmt::format("prepare '{}' as `{}`", name, describe_sql(sql)));
}

void Connection::prepare(const std::string& name, std::string_view sql) {
    if (const auto found = prepared_.find(name); found != prepared_.end()) {
        if (found->second == sql) return;
        raise(Errc::invalid_argument,
              "prepared statement '{}' already exists with different SQL (`{}`); use another name", name,
              describe_sql(found->second));
    }
    prepare_on_server(name, std::string(sql));
    prepared_.emplace(name, std::string(sql));
}

Result Connection::exec_prepared(const std::string& name, std::span<const Param> params) {
    if (!prepared_.contains(name)) {
        raise(Errc::invalid_argument, "no prepared statement '{}' on this connection: call prepare() first",
              name);
    }
    settle_queue();
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) values.push_back(param.c_str());
    return check(PQexecPrepared(connection_, name.c_str(), static_cast<int>(values.size()), values.data(),
                                nullptr, nullptr, 0),
                 fmt::format("prepared statement '{}'", name));
}

std::uint64_t Connection::queue_prepared(const std::string& name, std::span<const Param> params) {
    if (!prepared_.contains(name)) {
        raise(Errc::invalid_argument, "no prepared statement '{}' on this connection: call prepare() first",
              name);
    }
    std::string operation = fmt::format("queued prepared statement '{}'", name);
    if (connection_ == nullptr) throw_error(operation);
    if (PQpipelineStatus(connection_) == PQ_PIPELINE_OFF && PQenterPipelineMode(connection_) != 1)
        throw_error(operation);
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) values.push_back(param.c_str());
    // libpq copies the parameters into its output buffer here; it sends when the buffer
    // fills or at the flush, and reads results meanwhile if the server's replies pile up.
    if (PQsendQueryPrepared(connection_, name.c_str(), static_cast<int>(values.size()), values.data(),
                            nullptr, nullptr, 0) != 1)
        throw_error(operation);
    queued_.push_back(Queued{++tickets_, std::move(operation)});
    return tickets_;
}

Result Connection::flush_queued_with(std::string_view sql) {
    if (queued_.empty()) return exec(sql);
    std::string operation = fmt::format("statement `{}`", describe_sql(sql));
    const std::string text(sql);
    if (PQsendQueryParams(connection_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1)
        throw_error(operation);
    queued_.push_back(Queued{0, std::move(operation)});  // the caller's own: no ticket
    return flush_queued();
}

Result Connection::flush_queued() {
    if (queued_.empty()) return Result();
    const auto statements = std::exchange(queued_, {});
    if (PQpipelineSync(connection_) != 1) throw_error(statements.front().operation);
    std::optional<SqlError::Fields> failure;
    Result last;
    for (const auto& statement : statements) {
        Result result(PQgetResult(connection_));
        if (result.native_handle() == nullptr) throw_error(statement.operation);  // the session broke
        switch (PQresultStatus(result.native_handle())) {
            case PGRES_COMMAND_OK:
            case PGRES_TUPLES_OK:
            case PGRES_EMPTY_QUERY: last = std::move(result); break;
            case PGRES_PIPELINE_ABORTED: break;  // after the failure: it did not run
            default:
                if (!failure) {
                    failure = error_fields(statement.operation, result.native_handle());
                    if (statement.ticket != 0) failure->queued_ticket = statement.ticket;
                }
                if (failure->connection_lost) throw SqlError(std::move(*failure));
                break;
        }
        // A statement of the extended protocol has one result, then a null one.
        if (const Result extra(PQgetResult(connection_)); extra.native_handle() != nullptr)
            throw_error(statement.operation + ": more than one result", extra.native_handle());
    }
    const Result sync(PQgetResult(connection_));
    if (sync.native_handle() == nullptr || PQresultStatus(sync.native_handle()) != PGRES_PIPELINE_SYNC)
        throw_error("end of the queued statements", sync.native_handle());
    if (PQexitPipelineMode(connection_) != 1) throw_error("leave pipeline mode");
    if (failure) throw SqlError(std::move(*failure));
    return last;
}

void Connection::settle_queue() {
    if (!queued_.empty()) flush_queued();
}

void Connection::listen(std::string_view channel) {
    exec("LISTEN " + quote_identifier(channel));
    channels_.emplace(channel);
}

void Connection::unlisten(std::string_view channel) {
    exec("UNLISTEN " + quote_identifier(channel));
    channels_.erase(std::string(channel));
}

void Connection::notify(std::string_view channel, std::string_view payload) {
    exec("SELECT pg_notify($1, $2)", channel, payload);
}

void Connection::read_input(std::string_view operation) {
    if (connection_ == nullptr || PQconsumeInput(connection_) == 0) {
        SqlError::Fields fields;
        fields.operation = std::string(operation);
        fields.primary_message =
            connection_ != nullptr ? trimmed(PQerrorMessage(connection_)) : "the connection was closed";
        fields.connection_lost = true;
        throw SqlError(std::move(fields));
    }
}

std::optional<Notification> Connection::next_notification() {
    if (connection_ == nullptr) return std::nullopt;
    PGnotify* raw = PQnotifies(connection_);
    if (raw == nullptr) return std::nullopt;
    Notification notification{raw->relname != nullptr ? raw->relname : "",
                              raw->extra != nullptr ? raw->extra : "", raw->be_pid};
    PQfreemem(raw);
    return notification;
}

std::vector<Notification> Connection::consume_notifications() {
    settle_queue();
    read_input("read notifications");
    std::vector<Notification> notifications;
    while (auto notification = next_notification()) notifications.push_back(std::move(*notification));
    return notifications;
}

std::optional<Notification> Connection::wait_for_notification(std::chrono::milliseconds timeout) {
    settle_queue();
    if (auto notification = next_notification()) return notification;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
        read_input("wait for a notification");
        if (auto notification = next_notification()) return notification;
        const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (remaining.count() <= 0) return std::nullopt;
        pollfd descriptor{};
        descriptor.fd = PQsocket(connection_);
        descriptor.events = POLLIN;
        if (descriptor.fd < 0) read_input("wait for a notification");  // throws: no socket
        const int ready = ::poll(&descriptor, 1, static_cast<int>(remaining.count()));
        if (ready < 0 && errno != EINTR) {
            raise(Errc::io, "poll on the PostgreSQL socket failed while waiting for a notification: {}",
                  std::error_code(errno, std::generic_category()).message());
        }
    }
}

AdvisoryKey Connection::advisory_key(std::int32_t space, std::string_view name) {
    return AdvisoryKey{space, exec("SELECT hashtext($1)", name).get<std::int32_t>(0, 0)};
}

bool Connection::try_advisory_lock(AdvisoryKey key) {
    return exec("SELECT pg_try_advisory_lock($1::int4, $2::int4)", key.space, key.key).get<bool>(0, 0);
}

bool Connection::advisory_unlock(AdvisoryKey key) {
    return exec("SELECT pg_advisory_unlock($1::int4, $2::int4)", key.space, key.key).get<bool>(0, 0);
}

bool Connection::is_alive() const noexcept {
    return connection_ != nullptr && PQstatus(connection_) == CONNECTION_OK;
}

bool Connection::ping() noexcept {
    if (!is_alive()) return false;
    try {
        exec("SELECT 1");
        return true;
    } catch (const std::exception&) {
        return false;
    }
}

void Connection::reconnect() {
    close();
    connect();
    for (const auto& [name, sql] : prepared_) prepare_on_server(name, sql);
    for (const auto& channel : channels_) exec("LISTEN " + quote_identifier(channel));
}

bool Connection::in_transaction() const noexcept {
    if (connection_ == nullptr) return false;
    const auto status = PQtransactionStatus(connection_);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

int Connection::backend_pid() const noexcept {
    return connection_ != nullptr ? PQbackendPID(connection_) : 0;
}

int Connection::server_version() const noexcept {
    return connection_ != nullptr ? PQserverVersion(connection_) : 0;
}

int Connection::socket() const noexcept {
    return connection_ != nullptr ? PQsocket(connection_) : -1;
}

}  // namespace seamq::postgres
