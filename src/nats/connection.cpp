#include "seamq/nats/connection.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "check.hpp"
#include <fmt/format.h>
#include <fmt/ranges.h>

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

std::string redact_url(std::string_view url) {
    std::string result;
    std::size_t start = 0;
    while (start <= url.size()) {
        const auto comma = url.find(',', start);
        const auto end = comma == std::string_view::npos ? url.size() : comma;
        const auto entry = url.substr(start, end - start);
        const auto scheme = entry.find("://");
        const auto authority_begin = scheme == std::string_view::npos ? 0 : scheme + 3;
        const auto authority_end = std::min(entry.find_first_of("/?#", authority_begin), entry.size());
        const auto at = entry.substr(0, authority_end).rfind('@');
        if (at == std::string_view::npos || at < authority_begin) {
            result += entry;
        } else {
            const auto user_info = entry.substr(authority_begin, at - authority_begin);
            const auto colon = user_info.find(':');
            result += entry.substr(0, authority_begin);
            result += colon == std::string_view::npos ? std::string("***")
                                                      : std::string(user_info.substr(0, colon)) + ":***";
            result += entry.substr(at);
        }
        if (comma == std::string_view::npos) break;
        result += ',';
        start = comma + 1;
    }
    return result;
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
        if (!part.empty()) urls.emplace_back(part);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return urls;
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
    std::mutex mutex;
    std::condition_variable closed_changed;
    bool closed = false;

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

std::string url_of(natsConnection* connection) {
    char buffer[256] = {0};
    if (connection == nullptr ||
        natsConnection_GetConnectedUrl(connection, buffer, sizeof(buffer)) != NATS_OK)
        return "";
    return redact_url(buffer);  // nats.c keeps the URL's user:password
}

std::string last_error_of(natsConnection* connection) {
    const char* text = nullptr;
    if (connection != nullptr) natsConnection_GetLastError(connection, &text);
    return text != nullptr ? text : "";
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
    state->emit(ConnectionEvent::closed, last_error_of(connection));
    std::lock_guard lock(state->mutex);
    state->closed = true;
    state->closed_changed.notify_all();
}

void on_error(natsConnection* connection, natsSubscription* subscription, natsStatus status, void* closure) {
    auto& state = **static_cast<StateHolder*>(closure);
    ++state.async_errors;
    std::string detail = natsStatus_GetText(status);
    if (subscription != nullptr) {
        const char* subject = natsSubscription_GetSubject(subscription);
        detail += fmt::format(" (subscription '{}')", subject != nullptr ? subject : "");
    }
    const auto last = last_error_of(connection);
    if (!last.empty()) detail += ": " + last;
    state.emit(ConnectionEvent::error, detail);
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
    const std::string url_list = redact_url(fmt::format("{}", fmt::join(urls, ",")));
    detail::check(natsOptions_SetServers(native, url_pointers.data(), static_cast<int>(url_pointers.size())),
                  fmt::format("setting NATS servers '{}'", url_list));
    detail::check(natsOptions_SetName(native, options_.name.c_str()), "setting connection name");
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

    // Owned by nats.c once the connection exists (freed by on_closed), by us until then.
    auto owned_holder = std::make_unique<StateHolder>(state_);
    auto* holder = owned_holder.get();
    detail::check(natsOptions_SetDisconnectedCB(native, on_disconnected, holder),
                  "setting disconnected callback");
    detail::check(natsOptions_SetReconnectedCB(native, on_reconnected, holder),
                  "setting reconnected callback");
    detail::check(natsOptions_SetClosedCB(native, on_closed, holder), "setting closed callback");
    detail::check(natsOptions_SetErrorHandler(native, on_error, holder), "setting error handler");
    if (options_.retry_on_failed_connect)
        detail::check(natsOptions_SetRetryOnFailedConnect(native, true, on_connected, holder),
                      "setting retry on connect");

    const natsStatus status = natsConnection_Connect(&connection_, native);
    if (status == NATS_OK || status == NATS_NOT_YET_CONNECTED) {  // the latter: retrying in the background
        static_cast<void>(owned_holder.release());
        return;
    }
    {
        // A failed connect releases the connection without any callback: the holder is ours.
        connection_ = nullptr;
        throw detail::make_error(status, fmt::format("connecting to NATS at '{}'", url_list));
    }
}

Connection::~Connection() {
    if (connection_ == nullptr) return;
    natsConnection_Close(connection_);
    {
        // Wait for the closed callback so no callback runs on a half-destroyed owner.
        std::unique_lock lock(state_->mutex);
        state_->closed_changed.wait_for(lock, std::chrono::seconds(5), [&] { return state_->closed; });
    }
    natsConnection_Destroy(connection_);
}

void Connection::close() {
    if (connection_ != nullptr) natsConnection_Close(connection_);
}

void Connection::drain(std::chrono::milliseconds timeout) {
    if (connection_ == nullptr) return;
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
    std::lock_guard lock(state_->mutex);
    result.closed = state_->closed;
    return result;
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
    return result;
}

}  // namespace seamq::nats
