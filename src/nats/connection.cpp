#include "seamq/nats/connection.hpp"

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "check.hpp"
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/conf.h>
#include <openssl/ssl.h>

#include "seamq/core/redaction.hpp"

namespace seamq::nats {

std::string_view to_string(ConnectionEvent event) noexcept {
    switch (event) {
        case ConnectionEvent::connected: return "connected";
        case ConnectionEvent::disconnected: return "disconnected";
        case ConnectionEvent::reconnected: return "reconnected";
        case ConnectionEvent::closed: return "closed";
        case ConnectionEvent::error: return "error";
    }
    return "unknown";
}

std::string_view to_string(ConnectionStatus status) noexcept {
    switch (status) {
        case ConnectionStatus::disconnected: return "disconnected";
        case ConnectionStatus::connecting: return "connecting";
        case ConnectionStatus::connected: return "connected";
        case ConnectionStatus::closed: return "closed";
        case ConnectionStatus::reconnecting: return "reconnecting";
        case ConnectionStatus::draining: return "draining";
    }
    return "unknown";
}

std::vector<std::string> ConnectionOptions::split_urls(std::string_view comma_separated) {
    std::vector<std::string> urls;
    std::size_t start = 0;
    while (start <= comma_separated.size()) {
        const auto comma = comma_separated.find(',', start);
        const auto end = comma == std::string_view::npos ? comma_separated.size() : comma;
        auto part = comma_separated.substr(start, end - start);
        while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
        while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
        if (!part.empty()) urls.push_back(with_scheme(std::string(part)));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return urls;
}

std::string ConnectionOptions::with_scheme(std::string url) {
    if (url.empty() || url.find("://") != std::string::npos) return url;
    return "nats://" + url;
}

std::string ConnectionOptions::inbox_prefix_problem(std::string_view prefix) {
    if (prefix.empty()) return "";
    for (const char c : prefix) {
        if (c == '*' || c == '>') return "may not hold the wildcards * or >";
        if (c <= ' ' || c == 0x7f) return "may not hold white space or control characters";
    }
    if (prefix.front() == '.' || prefix.back() == '.' || prefix.find("..") != std::string_view::npos)
        return "may not have an empty token (a leading, trailing or doubled '.')";
    return "";
}

ConnectionOptions ConnectionOptions::from_urls(std::string_view comma_separated, std::string name) {
    ConnectionOptions options;
    options.servers = split_urls(comma_separated);
    options.name = std::move(name);
    return options;
}

//! What nats.c callbacks see. nats.c delivers connection callbacks on one thread in
//! order, the closed callback last; the heap holder passed as closure is freed there.
struct Connection::State {
    std::function<void(ConnectionEvent, const std::string&)> on_event;
    std::atomic<std::uint64_t> disconnects{0};
    std::atomic<std::uint64_t> reconnects{0};
    std::atomic<std::uint64_t> async_errors{0};
    std::atomic<std::uint64_t> authentication_failures{0};
    std::atomic<bool> authentication_refused{false};
    std::mutex mutex;
    std::condition_variable closed_changed;
    bool closed = false;
    std::string closed_reason;  //!< why nats.c closed it on its own; "" otherwise
    //! Set by close(), drain() and the destructor: a close that follows is the owner's.
    std::atomic<bool> closing{false};
    //! How the server refused a first connect (retry_on_failed_connect), which nats.c forgets;
    //! for refused credentials the server's words alone.
    std::string refusal;

    void emit(ConnectionEvent event, const std::string& detail) {
        if (!on_event) return;
        try {
            on_event(event, detail);
        } catch (...) {
            // a throwing observer must not unwind into nats.c's thread
        }
    }
};

namespace {

using StateHolder = std::shared_ptr<Connection::State>;

// nats.c keeps user info in the URLs it reports (and may quote one in an error text): what
// leaves this file has the passwords masked.
std::string url_of(natsConnection* connection) {
    char buffer[256] = {0};
    if (connection == nullptr ||
        natsConnection_GetConnectedUrl(connection, buffer, sizeof(buffer)) != NATS_OK)
        return "";
    return mask_url_credentials(buffer);
}

std::string last_error_of(natsConnection* connection) {
    const char* text = nullptr;
    if (connection != nullptr) natsConnection_GetLastError(connection, &text);
    return text != nullptr ? mask_credentials(text) : "";
}

void on_connected(natsConnection* connection, void* closure) {
    (*static_cast<StateHolder*>(closure))->emit(ConnectionEvent::connected, url_of(connection));
}

void on_disconnected(natsConnection* connection, void* closure) {
    auto& state = **static_cast<StateHolder*>(closure);
    ++state.disconnects;
    state.emit(ConnectionEvent::disconnected, last_error_of(connection));
}

void on_reconnected(natsConnection* connection, void* closure) {
    auto& state = **static_cast<StateHolder*>(closure);
    ++state.reconnects;
    state.emit(ConnectionEvent::reconnected, url_of(connection));
}

void on_closed(natsConnection* connection, void* closure) {
    auto* holder = static_cast<StateHolder*>(closure);
    StateHolder state = *holder;  // keeps the state alive past the holder
    delete holder;
    auto reason = last_error_of(connection);
    const char* text = nullptr;
    if (connection != nullptr &&
        natsConnection_GetLastError(connection, &text) == NATS_CONNECTION_AUTH_FAILED) {
        // A refusal on reconnect: nats.c gives up on it (the error callback counted it).
        if (state->authentication_failures.load() == 0) ++state->authentication_failures;
        state->authentication_refused = true;
    }
    if (!state->refusal.empty() && (reason.empty() || reason == "No server available for connection"))
        reason = state->refusal;
    state->emit(ConnectionEvent::closed, reason);
    std::lock_guard lock(state->mutex);
    state->closed = true;
    if (!state->closing) state->closed_reason = reason;
    state->closed_changed.notify_all();
}

void on_error(natsConnection* connection, natsSubscription* subscription, natsStatus status, void* closure) {
    auto& state = **static_cast<StateHolder*>(closure);
    ++state.async_errors;
    if (status == NATS_CONNECTION_AUTH_FAILED) ++state.authentication_failures;
    std::string detail = natsStatus_GetText(status);
    if (subscription != nullptr) {
        const char* subject = natsSubscription_GetSubject(subscription);
        detail += fmt::format(" (subscription '{}')", subject != nullptr ? subject : "");
    }
    const auto last = last_error_of(connection);
    if (!last.empty()) detail += ": " + last;
    state.emit(ConnectionEvent::error, mask_credentials(detail));
}

// nats.c 3.4.1 has no setting for the lowest protocol version, and right after creating
// its SSL_CTX it sets the minimum to TLS 1.2 itself, overriding a MinProtocol of OpenSSL's
// configuration. It does not clear protocol options, so "1.3" is applied as
// "Protocol = -ALL, TLSv1.3" (SSL_OP_NO_TLSv1_2 and below) in the system_default section
// of OpenSSL's process-wide configuration, which every SSL_CTX created afterwards reads.
// Process-wide means exactly that: later TLS contexts of the process (libpq, HTTPS
// clients) refuse TLS 1.2 too, as their libraries do not clear these options either.
void require_tls13_process_wide() {
    static std::once_flag once;
    static std::string failure;
    std::call_once(once, [] {
        constexpr const char* text =
            "seamq_openssl = seamq_openssl_init\n"
            "[seamq_openssl_init]\nssl_conf = seamq_ssl\n"
            "[seamq_ssl]\nsystem_default = seamq_tls\n"
            "[seamq_tls]\nMinProtocol = TLSv1.3\nProtocol = -ALL, TLSv1.3\nCipherString = "
            "DEFAULT:@SECLEVEL=2\n";
        OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, nullptr);
        CONF* conf = NCONF_new(nullptr);
        BIO* bio = BIO_new_mem_buf(text, -1);
        long error_line = 0;
        if (conf == nullptr || bio == nullptr || NCONF_load_bio(conf, bio, &error_line) <= 0 ||
            CONF_modules_load(conf, "seamq_openssl", 0) <= 0) {
            failure = "OpenSSL refused the TLS 1.3 minimum";
        }
        BIO_free(bio);
        NCONF_free(conf);
    });
    if (!failure.empty()) raise(Errc::internal, "{}", failure);
}

void apply_authentication(natsOptions* native, const Authentication& auth) {
    if (const auto problem = auth.problem(); !problem.empty())
        raise(Errc::config, "NATS authentication: {}", problem);
    if (!auth.credentials_file.empty()) {
        read_credentials_file(auth.credentials_file);  // fail now, by name, not at connect
        const auto file = auth.credentials_file.string();
        detail::check(natsOptions_SetUserCredentialsFromFiles(native, file.c_str(), nullptr),
                      fmt::format("using NATS credentials file '{}'", file));
    } else if (!auth.nkey_seed_file.empty()) {
        const auto seed = read_nkey_seed_file(auth.nkey_seed_file);
        const auto file = auth.nkey_seed_file.string();
        detail::check(natsOptions_SetNKeyFromSeed(native, seed.public_key().c_str(), file.c_str()),
                      fmt::format("using NKey seed file '{}'", file));
    } else if (!auth.token.empty()) {
        detail::check(natsOptions_SetToken(native, auth.token.c_str()), "setting NATS token");
    } else if (!auth.user.empty()) {
        detail::check(natsOptions_SetUserInfo(native, auth.user.c_str(), auth.password.c_str()),
                      "setting NATS user and password");
    }
}

// The host of "scheme://user:pass@host:port", "host:port" or "[v6]:port".
std::string host_of(std::string_view url) {
    if (const auto scheme = url.find("://"); scheme != std::string_view::npos) url.remove_prefix(scheme + 3);
    if (const auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
    if (!url.empty() && url.front() == '[') return std::string(url.substr(1, url.find(']') - 1));
    return std::string(url.substr(0, url.find_first_of(":/")));
}

// A file nats.c could not load is a configuration mistake, reported as one (with
// OpenSSL's reason), not as a NATS failure.
void config_check(natsStatus status, std::string_view what) {
    if (status != NATS_OK) raise(Errc::config, "{}", detail::make_error(status, what).what());
}

void apply_tls(natsOptions* native, const TlsOptions& tls, const std::vector<std::string>& urls) {
    if (!tls.active(urls)) return;
    if (const auto problem = tls.problem(); !problem.empty()) raise(Errc::config, "NATS TLS: {}", problem);
    if (tls.min_version == "1.3") require_tls13_process_wide();
    detail::check(natsOptions_SetSecure(native, true), "enabling TLS to NATS");
    if (!tls.ca_file.empty()) {
        check_readable_file(tls.ca_file, "NATS TLS CA file");
        config_check(natsOptions_LoadCATrustedCertificates(native, tls.ca_file.c_str()),
                     fmt::format("loading NATS TLS CA file '{}'", tls.ca_file.string()));
    }
    if (!tls.certificate_file.empty()) {
        check_readable_file(tls.certificate_file, "NATS TLS certificate file");
        check_readable_file(tls.key_file, "NATS TLS key file");
        config_check(
            natsOptions_LoadCertificatesChain(native, tls.certificate_file.c_str(), tls.key_file.c_str()),
            fmt::format("loading NATS TLS client certificate '{}' and key '{}'",
                        tls.certificate_file.string(), tls.key_file.string()));
    }
    std::string server_name = tls.server_name;
    if (server_name.empty()) {
        std::set<std::string> hosts;
        for (const auto& url : urls) hosts.insert(host_of(url));
        if (hosts.size() == 1) server_name = *hosts.begin();
    }
    if (!server_name.empty()) {
        detail::check(natsOptions_SetExpectedHostname(native, server_name.c_str()),
                      fmt::format("setting the NATS TLS server name '{}'", server_name));
    }
}

struct OptionsGuard {
    natsOptions* options = nullptr;
    ~OptionsGuard() { natsOptions_Destroy(options); }
};

}  // namespace

Connection::Connection(ConnectionOptions options)
    : options_(std::move(options)), state_(std::make_shared<State>()) {
    std::vector<std::string> urls;
    for (const auto& entry : options_.servers)
        for (auto& url : ConnectionOptions::split_urls(entry)) urls.push_back(std::move(url));
    if (urls.empty())
        raise(Errc::invalid_argument, "no NATS server URL given (expected e.g. nats://127.0.0.1:4222)");
    state_->on_event = options_.on_event;

    detail::open_library();
    OptionsGuard guard;
    detail::check(natsOptions_Create(&guard.options), "creating NATS options");
    natsOptions* native = guard.options;
    std::vector<const char*> url_pointers;
    url_pointers.reserve(urls.size());
    for (const auto& url : urls) url_pointers.push_back(url.c_str());
    const std::string url_list = mask_url_credentials(fmt::format("{}", fmt::join(urls, ",")));
    detail::check(natsOptions_SetServers(native, url_pointers.data(), static_cast<int>(url_pointers.size())),
                  fmt::format("setting NATS servers '{}'", url_list));
    detail::check(natsOptions_SetName(native, options_.name.c_str()), "setting connection name");
    if (!options_.inbox_prefix.empty()) {
        if (const auto problem = ConnectionOptions::inbox_prefix_problem(options_.inbox_prefix);
            !problem.empty())
            raise(Errc::config, "NATS inbox prefix '{}' {}", options_.inbox_prefix, problem);
        detail::check(natsOptions_SetCustomInboxPrefix(native, options_.inbox_prefix.c_str()),
                      "setting inbox prefix");
    }
    detail::check(natsOptions_SetTimeout(native, detail::to_millis(options_.connect_timeout)),
                  "setting connect timeout");
    detail::check(natsOptions_SetMaxReconnect(native, options_.max_reconnect), "setting max reconnect");
    detail::check(natsOptions_SetReconnectWait(native, detail::to_millis(options_.reconnect_wait)),
                  "setting reconnect wait");
    detail::check(natsOptions_SetReconnectJitter(native, detail::to_millis(options_.reconnect_jitter),
                                                 detail::to_millis(options_.reconnect_jitter)),
                  "setting reconnect jitter");
    detail::check(natsOptions_SetReconnectBufSize(native, options_.reconnect_buffer_bytes),
                  "setting reconnect buffer");
    detail::check(natsOptions_SetPingInterval(native, detail::to_millis(options_.ping_interval)),
                  "setting ping interval");
    detail::check(natsOptions_SetMaxPingsOut(native, options_.max_pings_out), "setting max pings out");
    apply_authentication(native, options_.auth);
    apply_tls(native, options_.tls, urls);

    // Owned by nats.c once the connection exists (freed by on_closed), by us until then.
    auto owned_holder = std::make_unique<StateHolder>(state_);
    auto* holder = owned_holder.get();
    detail::check(natsOptions_SetDisconnectedCB(native, on_disconnected, holder),
                  "setting disconnected callback");
    detail::check(natsOptions_SetReconnectedCB(native, on_reconnected, holder),
                  "setting reconnected callback");
    detail::check(natsOptions_SetClosedCB(native, on_closed, holder), "setting closed callback");
    detail::check(natsOptions_SetErrorHandler(native, on_error, holder), "setting error handler");
    const auto connect_error = [&](natsStatus status) {
        std::string what = fmt::format("connecting to NATS at '{}'", url_list);
        // With TLS 1.3 the server checks the client certificate after the client finished
        // its handshake: a refused or missing one shows up as a closed connection.
        if (options_.tls.active(urls) &&
            (status == NATS_PROTOCOL_ERROR || status == NATS_IO_ERROR || status == NATS_CONNECTION_CLOSED)) {
            what +=
                " (the server closed the TLS connection; a server that requires a client certificate "
                "refuses a missing or untrusted one this way: check the TLS certificate_file/key_file "
                "and the server's ca_file)";
        }
        return detail::make_error(status, what);
    };

    if (options_.retry_on_failed_connect) {
        // nats.c 3.4.1, retrying a first connect that a server answered and refused
        // (credentials, TLS, no INFO in time), closes the connection at once without
        // retrying and without the reason ("No server available for connection"); only
        // "no server answered" is retried. A plain attempt first keeps the reason.
        const natsStatus first = natsConnection_Connect(&connection_, native);
        if (first == NATS_OK) {
            static_cast<void>(owned_holder.release());
            return;
        }
        // A failed connect releases the connection without any callback: the holder is ours.
        connection_ = nullptr;
        if (first == NATS_CONNECTION_AUTH_FAILED) {
            std::string text = nats_GetLastError(nullptr) != nullptr ? nats_GetLastError(nullptr) : "";
            // nats.c prefixes where it noticed: "(conn.c:1905): Authorization Violation".
            if (text.starts_with("(")) {
                if (const auto end = text.find("): "); end != std::string::npos) text.erase(0, end + 3);
            }
            {
                std::lock_guard lock(state_->mutex);
                state_->refusal = text.empty() ? "authentication failed" : text;
            }
            ++state_->authentication_failures;
            state_->authentication_refused = true;
            state_->emit(ConnectionEvent::error, state_->refusal);
        } else if (first != NATS_NO_SERVER) {
            state_->refusal = connect_error(first).what();
            state_->emit(ConnectionEvent::error, state_->refusal);
        }
        detail::check(natsOptions_SetRetryOnFailedConnect(native, true, on_connected, holder),
                      "setting retry on connect");
    }
    const natsStatus status = natsConnection_Connect(&connection_, native);
    if (status == NATS_OK || status == NATS_NOT_YET_CONNECTED) {  // the latter: retrying in the background
        static_cast<void>(owned_holder.release());
        return;
    }
    connection_ = nullptr;
    throw connect_error(status);
}

Connection::~Connection() {
    if (connection_ == nullptr) return;
    state_->closing = true;
    natsConnection_Close(connection_);
    {
        // Wait for the closed callback so no callback runs on a half-destroyed owner.
        std::unique_lock lock(state_->mutex);
        state_->closed_changed.wait_for(lock, std::chrono::seconds(5), [&] { return state_->closed; });
    }
    natsConnection_Destroy(connection_);
}

void Connection::close() {
    state_->closing = true;
    if (connection_ != nullptr) natsConnection_Close(connection_);
}

void Connection::drain(std::chrono::milliseconds timeout) {
    if (connection_ == nullptr) return;
    state_->closing = true;
    detail::check(natsConnection_DrainTimeout(connection_, detail::to_millis(timeout)),
                  "draining NATS connection");
    std::unique_lock lock(state_->mutex);
    state_->closed_changed.wait_for(lock, timeout + std::chrono::seconds(1), [&] { return state_->closed; });
}

bool Connection::is_connected() const {
    return connection_ != nullptr && natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

ConnectionStatus Connection::status() const {
    if (connection_ == nullptr) return ConnectionStatus::closed;
    switch (natsConnection_Status(connection_)) {
        case NATS_CONN_STATUS_DISCONNECTED: return ConnectionStatus::disconnected;
        case NATS_CONN_STATUS_CONNECTING: return ConnectionStatus::connecting;
        case NATS_CONN_STATUS_CONNECTED: return ConnectionStatus::connected;
        case NATS_CONN_STATUS_CLOSED: return ConnectionStatus::closed;
        case NATS_CONN_STATUS_RECONNECTING: return ConnectionStatus::reconnecting;
        case NATS_CONN_STATUS_DRAINING_SUBS:
        case NATS_CONN_STATUS_DRAINING_PUBS: return ConnectionStatus::draining;
    }
    return ConnectionStatus::disconnected;
}

std::string Connection::connected_url() const {
    return is_connected() ? url_of(connection_) : std::string();
}

ConnectionCounters Connection::counters() const {
    ConnectionCounters result;
    result.disconnects = state_->disconnects.load();
    result.reconnects = state_->reconnects.load();
    result.async_errors = state_->async_errors.load();
    result.authentication_failures = state_->authentication_failures.load();
    std::lock_guard lock(state_->mutex);
    result.closed = state_->closed;
    return result;
}

std::string Connection::last_error() const {
    {
        std::lock_guard lock(state_->mutex);
        if (!state_->refusal.empty()) return state_->refusal;
    }
    return last_error_of(connection_);
}

bool Connection::authentication_refused() const {
    return state_->authentication_refused.load();
}

std::string Connection::closed_reason() const {
    std::lock_guard lock(state_->mutex);
    return state_->closed_reason;
}

std::int64_t Connection::max_payload() const {
    return connection_ != nullptr ? natsConnection_GetMaxPayload(connection_) : 0;
}

void Connection::flush(std::chrono::milliseconds timeout) {
    detail::check(natsConnection_FlushTimeout(connection_, detail::to_millis(timeout)),
                  "flushing NATS connection");
}

void Connection::publish(const OutgoingMessage& message) {
    natsMsg* native = make_native_message(message);
    const natsStatus status = natsConnection_PublishMsg(connection_, native);
    natsMsg_Destroy(native);
    detail::check(status, fmt::format("publishing to '{}'", message.subject));
}

void Connection::publish(std::string_view subject, std::string_view payload) {
    const std::string subject_string(subject);
    detail::check(natsConnection_Publish(connection_, subject_string.c_str(), payload.data(),
                                         static_cast<int>(payload.size())),
                  fmt::format("publishing to '{}'", subject));
}

Message Connection::request(std::string_view subject, std::string_view payload,
                            std::chrono::milliseconds timeout) {
    OutgoingMessage message;
    message.subject = std::string(subject);
    message.payload = std::string(payload);
    return request(message, timeout);
}

Message Connection::request(const OutgoingMessage& message, std::chrono::milliseconds timeout) {
    natsMsg* native = make_native_message(message);
    natsMsg* reply = nullptr;
    const natsStatus status =
        natsConnection_RequestMsg(&reply, connection_, native, detail::to_millis(timeout));
    natsMsg_Destroy(native);
    detail::check(status, fmt::format("request to '{}'", message.subject));
    return Message(reply, connection_);
}

std::string Connection::new_inbox() const {
    natsInbox* inbox = nullptr;
    detail::check(natsInbox_Create(&inbox), "creating inbox");
    std::string result(inbox);
    natsInbox_Destroy(inbox);
    // nats.c's natsInbox_Create ignores the custom prefix its requests use: "_INBOX.<nuid>".
    constexpr std::string_view default_prefix = "_INBOX";
    if (!options_.inbox_prefix.empty() && result.starts_with(default_prefix))
        result = options_.inbox_prefix + result.substr(default_prefix.size());
    return result;
}

}  // namespace seamq::nats
