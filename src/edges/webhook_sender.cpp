#include "seamq/edges/webhook_sender.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <ctime>
#include <memory>
#include <netinet/in.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <fmt/format.h>
#include <netdb.h>

#include "seamq/core/error.hpp"

namespace seamq::edges {
namespace {

struct Range {
    int family;
    const char* network;
    int prefix;
    const char* what;
};

// Never reachable from a delivery unless allow-listed. Order: the first match names it.
constexpr Range refused_ranges[] = {
    {AF_INET, "127.0.0.0", 8, "loopback"},
    {AF_INET, "169.254.169.254", 32, "the cloud metadata address"},
    {AF_INET, "169.254.0.0", 16, "link-local"},
    {AF_INET, "10.0.0.0", 8, "private"},
    {AF_INET, "172.16.0.0", 12, "private"},
    {AF_INET, "192.168.0.0", 16, "private"},
    {AF_INET, "100.64.0.0", 10, "carrier-grade NAT"},
    {AF_INET, "0.0.0.0", 8, "\"this network\""},
    {AF_INET, "192.0.0.0", 24, "IETF protocol assignments"},
    {AF_INET, "198.18.0.0", 15, "benchmarking"},
    {AF_INET, "224.0.0.0", 4, "multicast"},
    {AF_INET, "240.0.0.0", 4, "reserved"},
    {AF_INET6, "::1", 128, "loopback"},
    {AF_INET6, "::", 128, "unspecified"},
    {AF_INET6, "fd00:ec2::254", 128, "the cloud metadata address"},
    {AF_INET6, "fc00::", 7, "private (unique local)"},
    {AF_INET6, "fe80::", 10, "link-local"},
    {AF_INET6, "ff00::", 8, "multicast"},
    {AF_INET6, "64:ff9b::", 96, "NAT64"},
};

bool in_block(const unsigned char* address, const unsigned char* network, int prefix) {
    const int whole = prefix / 8;
    if (std::memcmp(address, network, static_cast<std::size_t>(whole)) != 0) return false;
    const int rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (address[whole] & mask) == (network[whole] & mask);
}

std::string address_text(int family, const unsigned char* bytes) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family, bytes, text, sizeof(text));
    return text;
}

// The first line of `text`, at most `limit` bytes, for the attempts log.
std::string one_line(std::string_view text, std::size_t limit = 300) {
    auto line = text.substr(0, std::min(text.find_first_of("\r\n"), limit));
    return std::string(line);
}

struct CurlDeleter {
    void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

struct Collected {
    std::string body;
    std::optional<std::string> retry_after;
};

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* user) {
    auto* collected = static_cast<Collected*>(user);
    const auto bytes = size * count;
    if (collected->body.size() < max_response_bytes)
        collected->body.append(data, std::min(bytes, max_response_bytes - collected->body.size()));
    return bytes;  // the rest is read and dropped: the connection stays reusable
}

std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* collected = static_cast<Collected*>(user);
    const std::string_view line(data, size * count);
    constexpr std::string_view name = "retry-after:";
    if (line.size() > name.size()) {
        std::string lower(line.substr(0, name.size()));
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (lower == name) {
            auto value = line.substr(name.size());
            while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
            while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
                value.remove_suffix(1);
            collected->retry_after = std::string(value);
        }
    }
    return size * count;
}

// curl's error, as one of the bounded failure classes.
FailureClass transport_failure(CURLcode code) {
    switch (code) {
        case CURLE_OPERATION_TIMEDOUT: return FailureClass::timeout;
        case CURLE_COULDNT_CONNECT:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING: return FailureClass::connection_refused;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY: return FailureClass::resolve;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS: return FailureClass::tls;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT: return FailureClass::invalid_url;
        default: return FailureClass::other;
    }
}

void global_init_once() {
    static const bool initialized = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
    if (!initialized) raise(Errc::internal, "webhook sender: curl_global_init failed");
}

}  // namespace

AddressPolicy::AddressPolicy(const std::vector<std::string>& allowed) {
    for (const auto& text : allowed) {
        const auto slash = text.find('/');
        const std::string network = text.substr(0, slash);
        Block block;
        block.family = network.find(':') == std::string::npos ? AF_INET : AF_INET6;
        const int bits = block.family == AF_INET ? 32 : 128;
        block.prefix = bits;
        if (slash != std::string::npos) {
            const auto digits = std::string_view(text).substr(slash + 1);
            const auto [end, error] =
                std::from_chars(digits.data(), digits.data() + digits.size(), block.prefix);
            if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
                block.prefix < 0 || block.prefix > bits)
                raise(Errc::invalid_argument, "'{}' is not a CIDR block (e.g. 127.0.0.0/8, fd00::/8)", text);
        }
        if (inet_pton(block.family, network.c_str(), block.bytes) != 1)
            raise(Errc::invalid_argument, "'{}' is not a CIDR block (e.g. 127.0.0.0/8, fd00::/8)", text);
        allowed_.push_back(block);
    }
}

std::optional<std::string> AddressPolicy::refusal(const sockaddr& address) const {
    int family = address.sa_family;
    unsigned char bytes[16] = {};
    if (family == AF_INET) {
        std::memcpy(bytes, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, 4);
    } else if (family == AF_INET6) {
        std::memcpy(bytes, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, 16);
        static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::memcmp(bytes, mapped, 12) == 0) {  // ::ffff:a.b.c.d is a.b.c.d
            family = AF_INET;
            std::memmove(bytes, bytes + 12, 4);
        }
    } else {
        return "not an IP address";
    }
    for (const auto& block : allowed_) {
        if (block.family == family && in_block(bytes, block.bytes, block.prefix)) return std::nullopt;
    }
    for (const auto& range : refused_ranges) {
        if (range.family != family) continue;
        unsigned char network[16] = {};
        inet_pton(range.family, range.network, network);
        if (in_block(bytes, network, range.prefix))
            return fmt::format("{} is {} (allow it explicitly if it is a partner)",
                               address_text(family, bytes), range.what);
    }
    return std::nullopt;
}

std::optional<std::string> AddressPolicy::refusal(std::string_view ip) const {
    const std::string text(ip);
    sockaddr_in6 six{};
    sockaddr_in four{};
    if (inet_pton(AF_INET, text.c_str(), &four.sin_addr) == 1) {
        four.sin_family = AF_INET;
        return refusal(reinterpret_cast<const sockaddr&>(four));
    }
    if (inet_pton(AF_INET6, text.c_str(), &six.sin6_addr) == 1) {
        six.sin6_family = AF_INET6;
        return refusal(reinterpret_cast<const sockaddr&>(six));
    }
    return "not an IP address";
}

std::string_view to_string(AttemptOutcome outcome) noexcept {
    switch (outcome) {
        case AttemptOutcome::delivered: return "delivered";
        case AttemptOutcome::retry: return "retry";
        case AttemptOutcome::gone: return "gone";
        case AttemptOutcome::refused: return "refused";
    }
    return "unknown";
}

std::string_view to_string(FailureClass failure) noexcept {
    switch (failure) {
        case FailureClass::none: return "none";
        case FailureClass::timeout: return "timeout";
        case FailureClass::connection_refused: return "connection_refused";
        case FailureClass::resolve: return "resolve";
        case FailureClass::tls: return "tls";
        case FailureClass::redirect: return "redirect";
        case FailureClass::http_4xx: return "http_4xx";
        case FailureClass::http_5xx: return "http_5xx";
        case FailureClass::http_other: return "http_other";
        case FailureClass::gone: return "gone";
        case FailureClass::ssrf_refused: return "ssrf_refused";
        case FailureClass::invalid_url: return "invalid_url";
        case FailureClass::other: return "other";
    }
    return "other";
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) return max_retry_after;
        long long seconds = 0;
        std::from_chars(value.data(), value.data() + value.size(), seconds);
        return std::min(std::chrono::seconds(seconds), max_retry_after);
    }
    std::tm parts{};
    const std::string text(value);
    const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
    if (!end || *end != '\0') return std::nullopt;
    const auto at = std::chrono::system_clock::from_time_t(timegm(&parts));
    const auto wait = std::chrono::duration_cast<std::chrono::seconds>(at - now);
    return std::clamp(wait, std::chrono::seconds(0), max_retry_after);
}

std::chrono::milliseconds RetrySchedule::delay_after(int failed_attempts,
                                                     std::optional<std::chrono::seconds> retry_after,
                                                     std::mt19937_64& random) const {
    if (delays.empty()) return retry_after.value_or(std::chrono::seconds(0));
    const auto index =
        static_cast<std::size_t>(std::clamp(failed_attempts, 1, static_cast<int>(delays.size())) - 1);
    std::uniform_real_distribution<double> factor(1.0 - jitter, 1.0 + jitter);
    const auto jittered = std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(delays[index].count()) * factor(random)));
    return retry_after ? std::max<std::chrono::milliseconds>(jittered, *retry_after) : jittered;
}

WebhookSender::WebhookSender(AddressPolicy policy) : policy_(std::move(policy)) {
    global_init_once();
}

DeliveryAttempt WebhookSender::deliver(const WebhookEndpoint& endpoint, std::string_view event_id,
                                       std::string_view body,
                                       std::chrono::system_clock::time_point now) const {
    DeliveryAttempt attempt;
    const auto started = std::chrono::steady_clock::now();
    const auto finish = [&](AttemptOutcome outcome, FailureClass failure, std::string error) {
        attempt.outcome = outcome;
        attempt.failure = failure;
        attempt.error = std::move(error);
        attempt.duration =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        return attempt;
    };

    // The URL: http(s) only, its host and port, as curl itself will read them.
    std::unique_ptr<CURLU, CurlDeleter> url(curl_url());
    if (curl_url_set(url.get(), CURLUPART_URL, endpoint.url.c_str(), 0) != CURLUE_OK)
        return finish(AttemptOutcome::refused, FailureClass::invalid_url, "the endpoint URL does not parse");
    char* part = nullptr;
    std::string scheme, host, port;
    if (curl_url_get(url.get(), CURLUPART_SCHEME, &part, 0) == CURLUE_OK) scheme = part;
    curl_free(part);
    part = nullptr;
    if (scheme != "http" && scheme != "https")
        return finish(AttemptOutcome::refused, FailureClass::invalid_url,
                      fmt::format("scheme '{}' is not http or https", scheme));
    if (curl_url_get(url.get(), CURLUPART_HOST, &part, 0) == CURLUE_OK) host = part;
    curl_free(part);
    part = nullptr;
    if (curl_url_get(url.get(), CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) == CURLUE_OK) port = part;
    curl_free(part);
    if (host.empty())
        return finish(AttemptOutcome::refused, FailureClass::invalid_url, "the endpoint URL has no host");
    // curl gives IPv6 literals in brackets; getaddrinfo wants them without.
    std::string lookup = host;
    if (lookup.size() > 2 && lookup.front() == '[' && lookup.back() == ']')
        lookup = lookup.substr(1, lookup.size() - 2);

    // Resolve once, check every address, connect only to the checked one.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* resolved = nullptr;
    if (const int error = getaddrinfo(lookup.c_str(), port.c_str(), &hints, &resolved); error != 0)
        return finish(AttemptOutcome::retry, FailureClass::resolve,
                      fmt::format("cannot resolve {}: {}", lookup, gai_strerror(error)));
    std::string chosen;
    std::optional<std::string> refused;
    for (auto* entry = resolved; entry; entry = entry->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* raw =
            entry->ai_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(entry->ai_addr)->sin_addr)
                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(entry->ai_addr)->sin6_addr);
        inet_ntop(entry->ai_family, raw, text, sizeof(text));
        // One refused address refuses the host: a name that resolves to a partner and to
        // 127.0.0.1 is not a partner.
        if (auto reason = policy_.refusal(*entry->ai_addr)) {
            refused = std::move(reason);
            attempt.address = text;
            break;
        }
        if (chosen.empty())
            chosen = entry->ai_family == AF_INET6 ? fmt::format("[{}]", text) : std::string(text);
    }
    freeaddrinfo(resolved);
    if (refused)
        return finish(AttemptOutcome::refused, FailureClass::ssrf_refused, "address refused: " + *refused);
    if (chosen.empty())
        return finish(AttemptOutcome::retry, FailureClass::resolve,
                      fmt::format("{} resolved to no address", lookup));
    attempt.address = chosen;

    const auto timestamp = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    std::unique_ptr<curl_slist, CurlDeleter> headers;
    const auto add_header = [&](const std::string& line) {
        headers.reset(curl_slist_append(headers.release(), line.c_str()));
    };
    add_header("Content-Type: application/cloudevents+json; charset=utf-8");
    add_header(fmt::format("webhook-id: {}", event_id));
    add_header(fmt::format("webhook-timestamp: {}", timestamp));
    add_header("webhook-signature: " + signature_header(endpoint.secrets, event_id, timestamp, body));
    add_header("Expect:");  // no 100-continue round trip
    std::unique_ptr<curl_slist, CurlDeleter> pinned(
        curl_slist_append(nullptr, fmt::format("{}:{}:{}", lookup, port, chosen).c_str()));

    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return finish(AttemptOutcome::retry, FailureClass::other, "curl_easy_init failed");
    Collected collected;
    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl.get(), CURLOPT_CURLU, url.get());
    curl_easy_setopt(curl.get(), CURLOPT_RESOLVE, pinned.get());
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(endpoint.timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<std::int64_t>(endpoint.timeout.count(), 5000)));
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, "sea-mq-webhooks/1");
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &collected);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &collected);
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error_buffer);
    const CURLcode code = curl_easy_perform(curl.get());
    if (code != CURLE_OK) {
        return finish(AttemptOutcome::retry, transport_failure(code),
                      one_line(error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code)));
    }
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    attempt.http_status = static_cast<int>(status);
    attempt.response = std::move(collected.body);
    if (collected.retry_after) attempt.retry_after = parse_retry_after(*collected.retry_after, now);
    if (status >= 200 && status < 300) return finish(AttemptOutcome::delivered, FailureClass::none, "");
    if (status == 410)
        return finish(AttemptOutcome::gone, FailureClass::gone, "410 Gone: the endpoint asks to be disabled");
    if (status >= 300 && status < 400)
        return finish(AttemptOutcome::retry, FailureClass::redirect,
                      fmt::format("{} redirect (redirects are not followed)", status));
    const auto failure = status >= 400 && status < 500   ? FailureClass::http_4xx
                         : status >= 500 && status < 600 ? FailureClass::http_5xx
                                                         : FailureClass::http_other;
    return finish(AttemptOutcome::retry, failure, fmt::format("HTTP {}", status));
}

}  // namespace seamq::edges
