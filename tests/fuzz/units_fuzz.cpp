// The shared value parsers on arbitrary text: durations, byte sizes (core/units.hpp) and
// RFC 3339 timestamps (core/timestamp.hpp). The first byte picks the parser. Malformed text
// is a seamq::Error(invalid_argument) or nullopt, never another exception or a crash; what
// parses survives a format/parse round trip.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/core/timestamp.hpp"
#include "seamq/core/units.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0] % 3) {
            case 0: {
                const auto duration = parse_duration(text);
                if (duration.count() < 0 || parse_duration(format_duration(duration)) != duration)
                    std::abort();
                break;
            }
            case 1:
                if (parse_byte_size(text) < 0) std::abort();
                break;
            default:
                if (const auto time = parse_rfc3339(text)) {
                    const auto micros = std::chrono::floor<std::chrono::microseconds>(*time);
                    if (parse_rfc3339(format_rfc3339(*time, TimePrecision::microseconds)) != micros)
                        std::abort();
                }
                break;
        }
    } catch (const Error& e) {
        if (e.code() != Errc::invalid_argument) std::abort();
    }
    return 0;
}
