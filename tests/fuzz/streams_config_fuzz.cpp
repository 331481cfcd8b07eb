// The streams file (config/streams.yaml) on arbitrary YAML text: a StreamsConfig or a
// seamq::Error(config) naming the problem, never another exception or a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/streams/streams_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        static_cast<void>(streams::parse_streams_config(text, "fuzz.yaml"));
    } catch (const Error& e) {
        if (e.code() != Errc::config) std::abort();
    }
    return 0;
}
