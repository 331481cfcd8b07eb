#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>

#include "seamq/envelope/envelope.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::inbox {

//! What the consumer knows about one delivery, for handlers that need more than the
//! envelope (logging, idempotency keys, progress reports).
struct Delivery {
    std::string consumer;    //!< durable consumer name
    std::string stream;      //!< stream the message came from
    std::string subject;     //!< NATS subject (= envelope type)
    std::string message_id;  //!< the envelope id: the inbox key with `consumer`
    std::uint64_t stream_sequence = 0;
    std::uint64_t delivery_count = 1;  //!< 1 on the first delivery
    std::string traceparent;           //!< W3C trace context, "" if none
    //! Tells JetStream the work goes on (resets the ack wait). Not needed: the consumer keeps
    //! every message it holds in progress itself. Safe to call repeatedly.
    std::function<void()> in_progress;
};

//! Thrown by a handler when retrying cannot help (the message is wrong for this consumer,
//! a partner said 4xx): the message is dead-lettered at once, without further attempts.
class PermanentFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

//! Business logic of one consumer. `handle` runs inside the PostgreSQL transaction that
//! also records the message in the inbox: whatever it writes through `transaction` commits
//! together with the inbox row, exactly once, and the JetStream ack (AckSync) follows the
//! commit. Returning normally means success. Throwing PermanentFailure dead-letters the
//! message; any other exception rolls the transaction back and the message is retried
//! with the consumer's retry delays until its deliveries run out, then dead-lettered.
//!
//! Writes whose result the handler does not read can go through
//! `transaction.queue_prepared(name, args...)` (a statement prepared on
//! `transaction.connection()` once, e.g. when the handler is first called): they are sent
//! without waiting and reach the server with the batch's COMMIT, one round trip for the
//! batch instead of one per write. A queued write that fails fails the message that
//! queued it, exactly as if it had thrown.
//!
//! Handlers with effects outside PostgreSQL (an HTTP call) cannot share the transaction:
//! they get at-least-once effects, and the inbox row only keeps a message that succeeded
//! from being handled again (see the README's "Guarantees" section).
class Handler {
public:
    virtual ~Handler() = default;
    virtual void handle(const envelope::Envelope& envelope, const Delivery& delivery,
                        postgres::Transaction& transaction) = 0;
    //! Names the handler in logs and metrics, e.g. "sql" or "http POST http://...".
    virtual std::string describe() const = 0;
    //! True when every effect of handle() goes through `transaction`, so that a rollback
    //! undoes a call completely. The consumer then handles a batch in one transaction
    //! without a savepoint per message; when a message fails, it rolls the batch back and
    //! handles the others again under savepoints. Such a handler may be called more than
    //! once for one delivery; its effects still commit once. False (the default, and the
    //! HTTP handler): a savepoint per message, one call per delivery.
    virtual bool effects_only_in_transaction() const { return false; }
};

//! One message of a batch given to BatchHandler::handle_batch.
struct BatchEntry {
    const envelope::Envelope& envelope;
    const Delivery& delivery;
};

//! A handler that can apply a whole batch at once with set-based writes (one multi-row
//! INSERT or UPDATE ... FROM unnest(...) for the batch instead of a statement per
//! message), in the same transaction as the batch's inbox rows: one round trip for the
//! batch's effects instead of one per message. Its effects must all go through the
//! transaction. When handle_batch throws, the consumer rolls the batch back and handles
//! each message on its own with handle(), under a savepoint, so that only the failing
//! message is retried or dead-lettered.
class BatchHandler : public Handler {
public:
    //! Applies `entries` (one or more messages, none of them a duplicate) through `transaction`.
    virtual void handle_batch(std::span<const BatchEntry> entries, postgres::Transaction& transaction) = 0;
    bool effects_only_in_transaction() const final { return true; }
};

}  // namespace seamq::inbox
