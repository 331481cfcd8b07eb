#include "seamq/federation/export_handler.hpp"

#include <thread>

#include "seamq/core/error.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::federation {

ExportHandler::ExportHandler(nats::JetStream& jetstream, std::shared_ptr<const contracts::Registry> registry,
                             ExportOptions options)
    : jetstream_(jetstream), registry_(std::move(registry)), options_(options) {
    if (!registry_) raise(Errc::invalid_argument, "the export handler needs the contracts registry");
}

void ExportHandler::handle(const envelope::Envelope& envelope, const inbox::Delivery& delivery,
                           postgres::Transaction&) {
    if (envelope.visibility() != envelope::Visibility::external) {
        kept_internal_.fetch_add(1);
        return;
    }
    std::optional<envelope::Envelope> copy;
    try {
        copy = contracts::external_copy(envelope, *registry_);
    } catch (const seamq::Error& e) {
        throw inbox::PermanentFailure(e.what());
    }
    nats::OutgoingMessage message;
    message.subject = streams::export_subject(envelope.type());
    message.payload = copy->to_json();
    message.message_id = envelope.id();
    // No Nats-Expected-Stream (nor any other header JetStream checks on store): a copied
    // message keeps its headers and the importing stream checks them again, so
    // "expected SEA_EXPORT" would make every import fail and the source retry forever
    // (seen: lag growing, nothing stored). Only SEA_EXPORT captures export.sea.> anyway.
    if (const auto traceparent = envelope.traceparent())
        message.headers.emplace_back("traceparent", *traceparent);

    const auto deadline = std::chrono::steady_clock::now() + options_.publish_deadline;
    auto pause = std::chrono::milliseconds(100);
    for (;;) {
        try {
            jetstream_.publish(message, options_.publish_timeout);
            exported_.fetch_add(1);
            return;
        } catch (const nats::NatsError& e) {
            // A permanent refusal (no such stream, too large) is not helped by waiting here.
            if (!e.transient() || std::chrono::steady_clock::now() + pause >= deadline) throw;
        }
        if (delivery.in_progress) delivery.in_progress();
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(2000));
    }
}

}  // namespace seamq::federation
