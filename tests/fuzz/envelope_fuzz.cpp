// The envelope validator on arbitrary bytes: it must return problems, never throw, never
// crash, whatever the input (the consumer validates every message it fetches).
#include <cstdint>
#include <string_view>

#include "seamq/envelope/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const seamq::envelope::Validator validator;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    static_cast<void>(validator.validate(text));
    return 0;
}
