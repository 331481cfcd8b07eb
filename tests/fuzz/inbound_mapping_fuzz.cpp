// The inbound edge's mapping of a partner's payload to its canonical command, on hostile
// payloads: the first line is the webhook-id, the rest the body. A body that parses as
// JSON goes through map_partner_payload for partners with and without ordering-key and
// payload pointers (object keys and array indexes). It must give a command that validates
// again and keeps what it promised (type, source, subject, correlationid = webhook-id,
// data.signal_id) or throw seamq::Error (invalid_argument, invalid_envelope): anything else
// (another exception type, a crash) is a finding.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "seamq/contracts/contracts.hpp"
#include "seamq/core/error.hpp"
#include "seamq/edges/inbound_intake.hpp"
#include "seamq/envelope/envelope.hpp"

namespace {

struct Fixture {
    seamq::contracts::Registry registry =
        seamq::contracts::Registry::load(seamq::envelope::schemas_dir() / "events");
    seamq::envelope::Validator validator{seamq::envelope::Limits{}, &registry};
    std::vector<seamq::edges::InboundPartner> partners;

    Fixture() {
        const auto partner = [](std::string subject_pointer, std::string payload_pointer) {
            seamq::edges::InboundPartner p;
            p.name = "acme";
            p.command = "integration.command.partner-signal.v1";
            p.subject_pointer = std::move(subject_pointer);
            p.payload_pointer = std::move(payload_pointer);
            return p;
        };
        partners = {partner("", ""),
                    partner("/order/id", ""),
                    partner("/order/id", "/order"),
                    partner("/items/0/sku", "/items"),
                    partner("/0", "/1"),
                    partner("/a~1b/~0c", "")};
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Fixture fixture;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto end = text.find('\n');
    const std::string webhook_id(text.substr(0, end));
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    // As the intake parses the body: no exceptions, invalid JSON discarded.
    const auto payload = nlohmann::json::parse(text, nullptr, false);
    if (payload.is_discarded()) return 0;

    for (const auto& partner : fixture.partners) {
        std::optional<seamq::envelope::Envelope> command;
        try {
            command = seamq::edges::map_partner_payload(partner, webhook_id, payload, fixture.validator);
        } catch (const seamq::Error& e) {
            if (e.code() != seamq::Errc::invalid_argument && e.code() != seamq::Errc::invalid_envelope)
                std::abort();
            continue;
        }
        if (command->type() != partner.command) std::abort();
        if (command->source() != "/partners/acme") std::abort();
        if (command->correlation_id() != webhook_id) std::abort();
        if (partner.subject_pointer.empty() && command->subject() != "acme") std::abort();
        const auto document = nlohmann::json::parse(command->to_json());
        if (document.at("data").at("signal_id") != webhook_id) std::abort();
        // What it produced validates again, as the relay and consumers will check it (an
        // exception here escapes: a finding).
        (void)fixture.validator.parse(command->to_json());
    }
    return 0;
}
