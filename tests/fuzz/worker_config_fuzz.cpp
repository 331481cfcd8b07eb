// The worker configuration loader on arbitrary YAML text, with an empty environment and
// relative paths resolved against a directory that does not exist: every input is a
// Config or a ConfigError listing problems, never another exception, a hang or a crash.
#include <cstdint>
#include <string_view>

#include "seamq/worker/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq::worker;
    static const Environment environment({});
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto config = parse_config(text, "fuzz.yaml", "/nonexistent/seamq-fuzz", environment);
        static_cast<void>(dump_config(config));
    } catch (const ConfigError&) {
    }
    return 0;
}
