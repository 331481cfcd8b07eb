// The Standard Webhooks header parser and verifier on hostile input: the first three lines
// are webhook-id, webhook-timestamp and webhook-signature, the rest is the body. verify
// must return a verdict (never throw), parse_signature_header must stay within its bound
// and inside the header, and base64 that decodes must encode back to the same bytes.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "seamq/edges/webhook_signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq::edges;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto next_line = [&text] {
        const auto end = text.find('\n');
        const auto line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        return std::string(line);
    };
    WebhookHeaders headers;
    headers.id = next_line();
    headers.timestamp = next_line();
    headers.signature = next_line();

    const auto entries = parse_signature_header(headers.signature);
    if (entries.size() > max_signature_entries) std::abort();
    const char* begin = headers.signature.data();
    const char* end = begin + headers.signature.size();
    for (const auto& entry : entries) {
        if (entry.version.data() < begin || entry.signature.data() + entry.signature.size() > end)
            std::abort();
    }

    static const std::vector<WebhookSecret> secrets{
        WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")};
    const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1614265330));
    const auto verdict = verify(secrets, headers, text, now);
    if (to_string(verdict) == "unknown") std::abort();

    std::string decoded;
    if (base64_decode(headers.signature, decoded)) {
        std::string again;
        if (!base64_decode(base64_encode(decoded), again) || again != decoded) std::abort();
    }
    return 0;
}
