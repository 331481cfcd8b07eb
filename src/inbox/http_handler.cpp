#include "seamq/inbox/http_handler.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <ctime>
#include <mutex>
#include <utility>

#include <curl/curl.h>
#include <fmt/format.h>

#include "seamq/core/build_info.hpp"
#include "seamq/core/redaction.hpp"

namespace seamq::inbox {

namespace {

constexpr std::string_view content_type = "application/cloudevents+json; charset=utf-8";
//! How much of a response body an error message quotes.
constexpr std::size_t quoted_body_bytes = 200;
//! Bodies are read (so the connection can be reused) up to this size, then abandoned.
constexpr std::size_t max_read_body_bytes = std::size_t{1} << 20;

//! Headers the handler sets itself (or that belong to the transport): refused as extras.
constexpr std::array<std::string_view, 9> reserved_headers{
    "content-type", "content-length",  "transfer-encoding", "expect",    "host",
    "connection",   "idempotency-key", "traceparent",       "tracestate"};

std::string lowercase(std::string_view text) {
    std::string result(text);
    std::transform(result.begin(), result.end(), result.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return result;
}

bool is_token_character(unsigned char c) {
    return std::isalnum(c) != 0 ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

//! A value that can go into a header line: no control characters but HTAB.
bool is_header_value(std::string_view value) {
    return std::none_of(value.begin(), value.end(),
                        [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() &&
           (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n'))
        text.remove_suffix(1);
    return text;
}

//! The URL with its password masked, for messages about a URL curl could not parse.
std::string redact_userinfo(std::string_view url) {
    return mask_credentials(url);
}

struct UrlDeleter {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;

struct CurlStringDeleter {
    void operator()(char* text) const { curl_free(text); }
};

std::optional<std::string> url_part(CURLU* url, CURLUPart part) {
    char* raw = nullptr;
    if (curl_url_get(url, part, &raw, 0) != CURLUE_OK || raw == nullptr) return std::nullopt;
    const std::unique_ptr<char, CurlStringDeleter> owned(raw);
    return std::string(raw);
}

[[noreturn]] void config_error(std::string_view field, std::string_view problem) {
    raise(Errc::config, "http handler: {}: {}", field, problem);
}

//! Parses and checks the URL; returns it for messages: no user:password, no fragment,
//! a query string shown as "?..." (it may carry a token).
std::string display_url(const std::string& url) {
    if (url.empty()) config_error("url", "is required (the endpoint to POST envelopes to, http://host/path)");
    const UrlHandle handle(curl_url());
    if (!handle) raise(Errc::internal, "http handler: curl_url() returned no handle (out of memory?)");
    if (const auto code = curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), 0); code != CURLUE_OK) {
        config_error("url", fmt::format("\"{}\" is not a valid URL ({})", redact_userinfo(url),
                                        curl_url_strerror(code)));
    }
    const auto scheme = url_part(handle.get(), CURLUPART_SCHEME).value_or("");
    if (scheme != "http" && scheme != "https") {
        config_error("url", fmt::format("\"{}\" has scheme \"{}\"; use http:// or https://",
                                        redact_userinfo(url), scheme));
    }
    const auto host = url_part(handle.get(), CURLUPART_HOST);
    if (!host || host->empty())
        config_error("url", fmt::format("\"{}\" names no host", redact_userinfo(url)));
    const bool has_query = url_part(handle.get(), CURLUPART_QUERY).has_value();
    curl_url_set(handle.get(), CURLUPART_USER, nullptr, 0);
    curl_url_set(handle.get(), CURLUPART_PASSWORD, nullptr, 0);
    curl_url_set(handle.get(), CURLUPART_QUERY, nullptr, 0);
    curl_url_set(handle.get(), CURLUPART_FRAGMENT, nullptr, 0);
    auto shown = url_part(handle.get(), CURLUPART_URL).value_or(redact_userinfo(url));
    if (has_query) shown += "?...";
    return shown;
}

void initialise_curl() {
    static std::once_flag once;
    static CURLcode result = CURLE_OK;
    std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (result != CURLE_OK) {
        raise(Errc::internal, "http handler: curl_global_init failed: {}", curl_easy_strerror(result));
    }
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
    const std::size_t bytes = size * count;
    // 0 makes curl stop with CURLE_WRITE_ERROR; the status is known by now.
    return read_response_body(*static_cast<HttpResponse*>(user), std::string_view(data, bytes)) ? bytes : 0;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    const std::size_t bytes = size * count;
    read_response_header(*static_cast<HttpResponse*>(user), std::string_view(data, bytes));
    return bytes;
}

//! Up to quoted_body_bytes of the body on one line: control characters become spaces, a
//! UTF-8 sequence cut at the end is dropped, "..." marks more.
std::string quote_body(const HttpResponse& response) {
    if (response.body_bytes == 0) return "(empty body)";
    std::string text = response.body_start;
    if (response.body_bytes > text.size()) {
        // Drop a multi-byte character cut in the middle: continuation bytes, then its lead byte.
        std::size_t end = text.size();
        while (end > 0 && (static_cast<unsigned char>(text[end - 1]) & 0xC0) == 0x80) --end;
        if (end > 0 && static_cast<unsigned char>(text[end - 1]) >= 0xC0) --end;
        text.resize(end);
    }
    for (auto& c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) c = ' ';
    }
    if (response.body_bytes > response.body_start.size()) text += "...";
    return text;
}

struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;

void append_header(HeaderList& list, const std::string& line) {
    curl_slist* extended = curl_slist_append(list.get(), line.c_str());
    if (extended == nullptr) raise(Errc::internal, "http handler: curl_slist_append failed (out of memory?)");
    static_cast<void>(list.release());
    list.reset(extended);
}

//! One easy handle: its connection cache keeps the endpoint's connection alive between calls.
struct CurlSession {
    CURL* easy = nullptr;
    std::array<char, CURL_ERROR_SIZE> error{};

    CurlSession() = default;
    CurlSession(const CurlSession&) = delete;
    CurlSession& operator=(const CurlSession&) = delete;
    ~CurlSession() {
        if (easy != nullptr) curl_easy_cleanup(easy);
    }
};

}  // namespace

void read_response_header(HttpResponse& response, std::string_view line) {
    if (line.starts_with("HTTP/")) {
        response.retry_after.reset();  // a new response (after 100 Continue): forget the last one's
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
        if (lowercase(trim(line.substr(0, colon))) == "retry-after") {
            response.retry_after = std::string(trim(line.substr(colon + 1)));
        }
    }
}

bool read_response_body(HttpResponse& response, std::string_view bytes) {
    if (response.body_start.size() < quoted_body_bytes) {
        response.body_start.append(bytes.substr(0, quoted_body_bytes - response.body_start.size()));
    }
    response.body_bytes += bytes.size();
    if (response.body_bytes > max_read_body_bytes) {
        response.body_abandoned = true;
        return false;
    }
    return true;
}

void check_response(const HttpResponse& response, std::string_view url, std::int64_t elapsed_ms,
                    std::chrono::system_clock::time_point now) {
    const long status = response.status;
    if (status >= 200 && status < 300) return;
    const auto quoted = quote_body(response);
    if (status == 408 || status == 429 || status >= 500) {
        std::optional<std::chrono::seconds> retry_after;
        if ((status == 429 || status == 503) && response.retry_after) {
            retry_after = parse_retry_after(*response.retry_after, now);
        }
        throw TransientHttpFailure(
            fmt::format("HTTP {} from {} after {} ms: {}{}; retryable", status, url, elapsed_ms, quoted,
                        retry_after ? fmt::format(" (Retry-After: {} s)", retry_after->count()) : ""),
            static_cast<int>(status), retry_after);
    }
    if (status >= 300 && status < 400) {
        throw PermanentFailure(
            fmt::format("HTTP {} from {}: {} (redirects are not followed: configure the "
                        "URL the endpoint redirects to)",
                        status, url, quoted));
    }
    throw PermanentFailure(fmt::format("HTTP {} from {}: {}", status, url, quoted));
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    value = trim(value);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
        long long seconds = 0;
        const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
        // Too many digits to hold is "very long": the cap applies.
        if (error == std::errc::result_out_of_range || seconds > max_retry_after.count())
            return max_retry_after;
        if (error != std::errc{} || end != value.data() + value.size()) return std::nullopt;
        return std::chrono::seconds(seconds);
    }
    // An HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT"); curl_getdate also reads the obsolete forms.
    const std::string date(value);
    const std::time_t when = curl_getdate(date.c_str(), nullptr);
    if (when == -1) return std::nullopt;
    // In seconds: a date past 2262 does not fit system_clock's nanoseconds.
    const auto now_seconds = std::chrono::floor<std::chrono::seconds>(now.time_since_epoch()).count();
    if (when <= now_seconds) return std::chrono::seconds(0);
    if (when - now_seconds >= max_retry_after.count()) return max_retry_after;
    return std::chrono::seconds(when - now_seconds);
}

void check_options(const HttpHandlerOptions& options) {
    static_cast<void>(display_url(options.url));
    if (options.timeout.count() <= 0) config_error("timeout", "must be positive");
    if (options.connect_timeout.count() <= 0) config_error("connect_timeout", "must be positive");
    for (std::size_t index = 0; index < options.headers.size(); ++index) {
        const auto& header = options.headers[index];
        const auto field = fmt::format("headers[{}]", index);
        if (header.name.empty()) config_error(field, "the header name is empty");
        if (!std::all_of(header.name.begin(), header.name.end(),
                         [](unsigned char c) { return is_token_character(c); })) {
            config_error(field, fmt::format("\"{}\" is not a valid header name (letters, digits and "
                                            "!#$%&'*+-.^_`|~ only)",
                                            is_header_value(header.name) ? header.name : "(unprintable)"));
        }
        const auto name = lowercase(header.name);
        if (std::find(reserved_headers.begin(), reserved_headers.end(), name) != reserved_headers.end()) {
            config_error(field,
                         fmt::format("{} is set by sea-mq itself and cannot be configured", header.name));
        }
        // The value is a secret as often as not: say what is wrong with it, never what it is.
        if (!is_header_value(header.value)) {
            config_error(field, fmt::format("the value of {} contains a line break or another control "
                                            "character",
                                            header.name));
        }
    }
}

struct HttpHandler::State {
    HttpHandlerOptions options;
    std::string url_for_messages;
    std::vector<std::string> fixed_headers;  //!< "Name: value" lines sent with every request
    std::mutex mutex;
    std::vector<std::unique_ptr<CurlSession>> idle;  //!< guarded by mutex

    std::unique_ptr<CurlSession> acquire() {
        {
            const std::lock_guard lock(mutex);
            if (!idle.empty()) {
                auto session = std::move(idle.back());
                idle.pop_back();
                return session;
            }
        }
        return open_session();
    }

    void release(std::unique_ptr<CurlSession> session) {
        const std::lock_guard lock(mutex);
        idle.push_back(std::move(session));
    }

    std::unique_ptr<CurlSession> open_session() const {
        auto session = std::make_unique<CurlSession>();
        session->easy = curl_easy_init();
        if (session->easy == nullptr)
            raise(Errc::internal, "http handler: curl_easy_init failed (out of memory?)");
        CURL* easy = session->easy;
        const auto set = [&](CURLoption option, auto value) {
            if (const auto code = curl_easy_setopt(easy, option, value); code != CURLE_OK) {
                raise(Errc::internal, "http handler: curl_easy_setopt({}) failed: {}",
                      static_cast<int>(option), curl_easy_strerror(code));
            }
        };
        set(CURLOPT_URL, options.url.c_str());
        set(CURLOPT_PROTOCOLS_STR, "http,https");
        // Timeouts by signal are unusable with threads; curl then bounds DNS with its resolver thread.
        set(CURLOPT_NOSIGNAL, 1L);
        set(CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
        set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
        set(CURLOPT_FOLLOWLOCATION, 0L);
        set(CURLOPT_TCP_KEEPALIVE, 1L);
        set(CURLOPT_POST, 1L);
        set(CURLOPT_ERRORBUFFER, session->error.data());
        set(CURLOPT_WRITEFUNCTION, &on_body);
        set(CURLOPT_HEADERFUNCTION, &on_header);
        return session;
    }
};

HttpHandler::HttpHandler(HttpHandlerOptions options) : state_(std::make_unique<State>()) {
    check_options(options);
    initialise_curl();
    state_->url_for_messages = display_url(options.url);
    state_->fixed_headers.push_back(fmt::format("Content-Type: {}", content_type));
    // No "Expect: 100-continue" round trip for larger bodies.
    state_->fixed_headers.emplace_back("Expect:");
    bool user_agent_given = false;
    for (const auto& header : options.headers) {
        user_agent_given = user_agent_given || lowercase(header.name) == "user-agent";
        // "Name;" is curl's way to send a header with an empty value ("Name:" would remove it).
        state_->fixed_headers.push_back(header.value.empty() ? header.name + ";"
                                                             : header.name + ": " + header.value);
    }
    if (!user_agent_given)
        state_->fixed_headers.push_back(fmt::format("User-Agent: sea-mq/{}", build_info::version));
    state_->options = std::move(options);
}

HttpHandler::~HttpHandler() = default;

const HttpHandlerOptions& HttpHandler::options() const noexcept {
    return state_->options;
}

std::string HttpHandler::describe() const {
    return "http POST " + state_->url_for_messages;
}

// The transaction is deliberately unused: an HTTP call cannot take part in it. The inbox
// row the consumer commits in it after this returns is what records the success.
void HttpHandler::handle(const envelope::Envelope& envelope, const Delivery& delivery,
                         postgres::Transaction& /*transaction*/) {
    const auto& url = state_->url_for_messages;
    const auto& id = envelope.id();
    if (!is_header_value(id)) {
        throw PermanentFailure(fmt::format(
            "envelope id cannot be sent as an Idempotency-Key to {}: it contains control characters", url));
    }
    HeaderList headers;
    for (const auto& line : state_->fixed_headers) append_header(headers, line);
    append_header(headers, "Idempotency-Key: " + id);
    // Trace context is best effort: a malformed value is left out rather than failing the message.
    const auto traceparent =
        !delivery.traceparent.empty() ? std::optional(delivery.traceparent) : envelope.traceparent();
    if (traceparent && !traceparent->empty() && is_header_value(*traceparent)) {
        append_header(headers, "traceparent: " + *traceparent);
        if (const auto tracestate = envelope.tracestate();
            tracestate && !tracestate->empty() && is_header_value(*tracestate)) {
            append_header(headers, "tracestate: " + *tracestate);
        }
    }
    const std::string body = envelope.to_json();

    auto session = state_->acquire();
    CURL* easy = session->easy;
    HttpResponse response;
    session->error[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &response);

    const auto started = std::chrono::steady_clock::now();
    const CURLcode code = curl_easy_perform(easy);
    const auto elapsed_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
            .count();
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    const std::string detail = session->error.data();
    // Drop the pointers into this call's stack before the handle goes back to the pool.
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, nullptr);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, nullptr);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, nullptr);
    state_->release(std::move(session));

    const bool have_status = code == CURLE_OK || (code == CURLE_WRITE_ERROR && response.body_abandoned);
    if (!have_status || status == 0) {
        std::string what;
        switch (code) {
            case CURLE_OPERATION_TIMEDOUT:
                what = fmt::format("no complete response within the {} ms timeout",
                                   state_->options.timeout.count());
                break;
            case CURLE_COULDNT_CONNECT:
                what = "connection refused or unreachable (is the service running?)";
                break;
            case CURLE_COULDNT_RESOLVE_HOST: what = "the host name did not resolve"; break;
            default: what = curl_easy_strerror(code); break;
        }
        throw TransientHttpFailure(
            fmt::format("POST {} failed after {} ms: {} ({}); retryable", url, elapsed_ms, what,
                        detail.empty() ? curl_easy_strerror(code) : detail),
            0, std::nullopt);
    }

    response.status = status;
    check_response(response, url, elapsed_ms);
}

}  // namespace seamq::inbox
