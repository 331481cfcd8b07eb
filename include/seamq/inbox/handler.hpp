#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

#include "seamq/envelope/envelope.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::inbox {

//! What the consumer knows about one delivery, for handlers that need more than the
//! envelope (logging, idempotency keys, progress reports).
struct Delivery {
    std::string consumer;           //!< durable consumer name
    std::string stream;             //!< stream the message came from
    std::string subject;            //!< NATS subject (= envelope type)
    std::string message_id;         //!< the envelope id: the inbox key with `consumer`
    std::uint64_t stream_sequence = 0;
    std::uint64_t delivery_count = 1;  //!< 1 on the first delivery
    std::string traceparent;        //!< W3C trace context, "" if none
    //! Tells JetStream the work goes on (resets the ack wait); call it from handlers that
    //! may run longer than the consumer's ack_wait. Safe to call repeatedly.
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
};

}  // namespace seamq::inbox
