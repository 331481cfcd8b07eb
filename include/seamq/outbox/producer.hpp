#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/envelope/envelope.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::outbox {

//! Appends events to the transactional outbox inside a transaction the caller already
//! holds, next to its own state changes: both commit or neither does. Each envelope is
//! validated first (schema, subject grammar, size, and payload contracts when the
//! validator has them), then written through seamq.enqueue / seamq.enqueue_many, the
//! same SQL contract producers in other languages call.
//!
//! A failed append (invalid envelope aside, which is refused before any SQL runs) leaves
//! the caller's transaction failed: roll it back. Stateless apart from the validator:
//! one Producer may serve many threads, each with its own connection.
class Producer {
public:
    //! `validator` must outlive the producer.
    explicit Producer(const envelope::Validator& validator) : validator_(validator) {}

    //! Validates `event` and appends it; returns its id. Throws Error(Errc::invalid_envelope)
    //! before touching the database, or postgres::SqlError (e.g. is_unique_violation()
    //! for an id already in the outbox).
    std::string append(postgres::Transaction& transaction, const envelope::Envelope& event) const;

    //! Parses and validates JSON text, then appends it; returns its id.
    std::string append(postgres::Transaction& transaction, std::string_view envelope_json) const;

    //! Validates all, then appends all in one round trip, in order; returns their ids in
    //! order. One invalid envelope refuses the whole batch before any SQL runs.
    std::vector<std::string> append(postgres::Transaction& transaction,
                                    std::span<const envelope::Envelope> events) const;

private:
    void check(const envelope::Envelope& event) const;

    const envelope::Validator& validator_;
};

}  // namespace seamq::outbox
