// The envelope validator on arbitrary bytes, with the repository's payload contracts:
// validate() must return problems, never throw; parse() must throw nothing but
// seamq::Error(invalid_envelope / too_large), and exactly when validate() found problems.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seamq/contracts/contracts.hpp"
#include "seamq/core/error.hpp"
#include "seamq/envelope/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace seamq;
    static const auto registry = contracts::Registry::load(envelope::schemas_dir() / "events");
    static const envelope::Validator validator(envelope::Limits{}, &registry);
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto problems = validator.validate(text);
    try {
        const auto parsed = validator.parse(text);
        if (!problems.empty()) std::abort();                   // parse() accepted what validate() refused
        static_cast<void>(validator.validate(parsed.json()));  // the parsed-document path
    } catch (const Error& e) {
        if (problems.empty() || (e.code() != Errc::invalid_envelope && e.code() != Errc::too_large))
            std::abort();
    }
    return 0;
}
