// The NATS credential formats sea-mq checks before nats.c sees them: a .creds file (first
// byte even) or an NKey seed (odd). Any input parses or raises seamq::Error(config),
// never another exception or a crash; what parses is a user seed whose key round-trips.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/core/error.hpp"
#include "seamq/nats/credentials.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    if (size == 0) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        if (data[0] % 2 == 0) {
            const auto credentials = nats::parse_credentials(text, "fuzz.creds");
            if (credentials.seed.role() != nats::NKeyRole::user || credentials.jwt.empty()) std::abort();
        } else {
            const auto seed = nats::NKeySeed::parse(text);
            if (nats::NKeySeed::parse(seed.seed()).public_key() != seed.public_key()) std::abort();
        }
    } catch (const Error& e) {
        if (e.code() != Errc::config) std::abort();
    }
    return 0;
}
