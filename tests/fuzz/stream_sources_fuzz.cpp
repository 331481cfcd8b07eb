// A $JS.API.STREAM.INFO reply as the federation status reads it: the stream's sources,
// judged. Gives sources, nullopt (stream not found) or a NatsError / seamq::Error(nats),
// never another exception; a source is stalled or inactive exactly when it has a problem.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/federation/status.hpp"
#include "seamq/nats/api_reply.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        const auto reply = nats::parse_stream_sources_reply(text, "reading the sources of stream 'X'");
        if (!reply) return 0;
        for (const auto& source : federation::judge_sources(*reply, std::chrono::seconds(30))) {
            if (source.flowing() == source.problem().has_value()) std::abort();
            if (source.state == federation::SourceState::inactive && source.last_seen_seconds) std::abort();
        }
    } catch (const Error& e) {
        if (e.code() != Errc::nats) std::abort();
    }
    return 0;
}
