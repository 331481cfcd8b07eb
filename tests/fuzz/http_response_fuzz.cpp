// The HTTP handler's reading of a response: the first two bytes are the status (0..999),
// then header lines up to an empty line, then the body in chunks cut at each byte 0xff.
// check_response must return (2xx) or throw PermanentFailure / TransientHttpFailure,
// nothing else, and the message it builds must stay on one line.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "seamq/inbox/http_handler.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq::inbox;
    if (size < 2) return 0;
    HttpResponse response;
    response.status = (data[0] << 8 | data[1]) % 1000;
    std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
    while (!text.empty()) {
        const auto end = text.find('\n');
        const auto line = text.substr(0, end == std::string_view::npos ? text.size() : end + 1);
        text.remove_prefix(line.size());
        if (line == "\n" || line == "\r\n") break;
        read_response_header(response, line);
    }
    while (!text.empty()) {
        const auto end = text.find('\xff');
        const auto chunk = text.substr(0, end == std::string_view::npos ? text.size() : end + 1);
        text.remove_prefix(chunk.size());
        if (!read_response_body(response, chunk)) break;
    }
    const auto now = std::chrono::system_clock::from_time_t(784111717);
    std::string message;
    try {
        check_response(response, "http://127.0.0.1:1/x", 1, now);
        if (response.status < 200 || response.status >= 300) std::abort();
        return 0;
    } catch (const TransientHttpFailure& e) {
        if (e.retry_after() && (e.retry_after()->count() < 0 || *e.retry_after() > max_retry_after))
            std::abort();
        message = e.what();
    } catch (const PermanentFailure& e) {
        message = e.what();
    }
    if (message.find_first_of("\r\n") != std::string::npos) std::abort();
    return 0;
}
