// A nats-server /leafz body as the federation status reads it (the CLI's `federation
// status` and the worker's federation gauges): links, or seamq::Error(http), never
// another exception; every RTT is -1 or a finite non-negative number of seconds.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/federation/status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto duration = federation::go_duration_seconds(text);
    if (std::isnan(duration) || (duration < 0 && duration != -1)) std::abort();
    try {
        federation::LinkProbe probe;
        probe.reachable = true;
        probe.links = federation::parse_leafz(text);
        for (const auto& link : probe.links)
            if (std::isnan(link.rtt_seconds) || (link.rtt_seconds < 0 && link.rtt_seconds != -1))
                std::abort();
        if (probe.up() == probe.problem().has_value()) std::abort();
        static_cast<void>(probe.worst_rtt_seconds());
    } catch (const Error& e) {
        if (e.code() != Errc::http) std::abort();
    }
    return 0;
}
