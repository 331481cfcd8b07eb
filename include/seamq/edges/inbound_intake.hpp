#pragma once

// The inbound edge (C4A): a partner's signed HTTP delivery becomes a canonical command
// in its context's outbox. Transport-free: the worker's listener passes each request's
// partner, headers and body in and sends the answer back.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/edges/webhook_signature.hpp"
#include "seamq/envelope/envelope.hpp"

namespace seamq::edges {

//! One partner, as the intake uses it.
struct InboundPartner {
    std::string name;
    std::vector<WebhookSecret> secrets;  //!< any one verifies (rotation)
    std::string command;                 //!< `{context}.command.{name}.v{n}`
    std::string subject_pointer;         //!< JSON pointer to the ordering key; "": the partner name
    std::string payload_pointer;         //!< JSON pointer to data.payload; "": the whole payload
    std::size_t max_body_bytes = 256 * 1024;
    std::chrono::seconds tolerance = default_tolerance;
    std::string database;  //!< libpq conninfo of the command's context
};

//! A partner's payload as its canonical command: type = `partner.command`, source =
//! `/partners/<name>`, subject = the string or integer at `subject_pointer` (or the
//! partner name), correlationid = `webhook_id`, data = {partner, signal_id, payload (or the
//! part at `payload_pointer`)}, validated by `validator`. Throws Error(invalid_argument)
//! when a pointer finds nothing or the ordering key is neither a string nor an integer,
//! Error(invalid_envelope) when the command's contract refuses it; nothing else.
envelope::Envelope map_partner_payload(const InboundPartner& partner, const std::string& webhook_id,
                                       const nlohmann::json& payload, const envelope::Validator& validator);

//! What the intake answers. `outcome` is the metric label and log word: accepted,
//! duplicate, unknown_partner, too_large, invalid_signature, bad_payload, not_ready.
struct IntakeAnswer {
    int status = 0;
    std::string outcome;
    nlohmann::json body;
    std::string event_id;  //!< accepted and duplicate: the command's event id
};

//! Verifies, deduplicates and maps deliveries; thread-safe (one libpq session per
//! concurrent request, pooled per database).
//!
//! Order of checks, each with its answer: unknown partner 404; body over the partner's
//! limit 413; Standard Webhooks verification 401 (reason in the body); payload not JSON,
//! a pointer that finds nothing, or a command its contract refuses 400; then one
//! transaction in the context's database inserts (partner, webhook-id) into
//! seamq.inbound_deliveries and appends the command to the outbox: 202 after COMMIT. A
//! webhook-id already there answers 200 `duplicate` with the first delivery's event id
//! and writes nothing (2xx, so the partner's sender stops retrying). Database
//! unreachable: 503 with Retry-After, nothing written, the partner retries.
class InboundIntake {
public:
    //! `validator` (with the commands' contracts) must outlive the intake.
    InboundIntake(std::vector<InboundPartner> partners, const envelope::Validator& validator);
    ~InboundIntake();
    InboundIntake(const InboundIntake&) = delete;
    InboundIntake& operator=(const InboundIntake&) = delete;

    IntakeAnswer receive(std::string_view partner, const WebhookHeaders& headers, std::string_view body,
                         std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

    //! The largest max_body_bytes of any partner: the listener refuses more before reading it.
    std::size_t largest_body_limit() const;
    //! Pings every partner's database; "" when all answer, else what failed.
    std::string check_databases();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace seamq::edges
