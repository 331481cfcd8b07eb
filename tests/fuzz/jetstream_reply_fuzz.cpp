// The JetStream replies sea-mq reads itself: a $JS.API.STREAM.NAMES reply (first byte
// even) or a Status header (odd). A reply gives a stream name, nullopt or a NatsError /
// seamq::Error(nats), never another exception.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/nats/api_reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 1) {
        const auto status = nats::parse_status_header(text);
        if (status && (*status < 0 || *status > 999)) std::abort();
        return 0;
    }
    try {
        static_cast<void>(nats::parse_stream_names_reply(text, "finding the stream for subject 'x'"));
    } catch (const Error& e) {
        if (e.code() != Errc::nats) std::abort();
    }
    return 0;
}
