#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "seamq/contracts/contracts.hpp"
#include "seamq/inbox/handler.hpp"
#include "seamq/nats/jetstream.hpp"

namespace seamq::federation {

struct ExportOptions {
    //! How long one message's publish to the export stream is retried in place (same
    //! Nats-Msg-Id, so a stored-but-unacknowledged copy comes back Duplicate) before the
    //! handler gives up and the consumer's retry delays take over. Retrying in place keeps
    //! the export stream in the events stream's order through a local election.
    std::chrono::milliseconds publish_deadline{std::chrono::seconds(30)};
    std::chrono::milliseconds publish_timeout{std::chrono::seconds(5)};
};

//! The worker stage that fills a context's export stream (`handler: {kind: export}` of
//! an inbox consumer on `<CONTEXT>_EVENTS`): for each event whose envelope says
//! `visibility: external`, the external copy its contract allows (contracts::external_copy:
//! sensitive fields dropped unless the payload mode is full) is published to
//! `export.<type>` with Nats-Msg-Id = the event id. Internal events are acknowledged and
//! go nowhere. An event that claims to be external but cannot leave (no contract, an
//! internal contract, data_base64 under a redacted contract) is a permanent failure: it is
//! dead-lettered, never sent out unredacted (fails closed).
class ExportHandler final : public inbox::Handler {
public:
    ExportHandler(nats::JetStream& jetstream, std::shared_ptr<const contracts::Registry> registry,
                  ExportOptions options = {});

    void handle(const envelope::Envelope& envelope, const inbox::Delivery& delivery,
                postgres::Transaction& transaction) override;
    std::string describe() const override { return "export"; }

    std::uint64_t exported() const noexcept { return exported_.load(); }
    std::uint64_t kept_internal() const noexcept { return kept_internal_.load(); }

private:
    nats::JetStream& jetstream_;
    std::shared_ptr<const contracts::Registry> registry_;
    ExportOptions options_;
    std::atomic<std::uint64_t> exported_{0};
    std::atomic<std::uint64_t> kept_internal_{0};
};

}  // namespace seamq::federation
