// Reading a dead letter from a DLQ message: the first line is the subject, then header
// lines "Name: value" up to an empty line, then the payload. from_parts() must return a
// letter or throw seamq::Error(invalid_argument); a letter read back must be publishable
// (to_message) and read the same way again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/dead_letters/dead_letter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto next_line = [&] {
        const auto end = text.find('\n');
        const auto line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        return line;
    };
    const std::string subject(next_line());
    nats::Headers headers;
    while (!text.empty()) {
        const auto line = next_line();
        if (line.empty()) break;
        const auto colon = line.find(':');
        headers.emplace_back(std::string(line.substr(0, colon)),
                             colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
    }
    try {
        const auto letter = dead_letters::from_parts(subject, headers, std::string(text));
        static_cast<void>(dead_letters::format_time(letter.first_failure));
        if (letter.context.empty()) return 0;  // to_message refuses it, rightly
        const auto message = dead_letters::to_message(letter);
        const auto again = dead_letters::from_parts(message.subject, message.headers, message.payload);
        if (again.original_sequence != letter.original_sequence || again.deliveries != letter.deliveries ||
            again.error_class != letter.error_class || again.consumer != letter.consumer ||
            again.payload != letter.payload)
            std::abort();
    } catch (const Error& e) {
        if (e.code() != Errc::invalid_argument) std::abort();
    }
    return 0;
}
