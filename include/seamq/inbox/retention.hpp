#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "seamq/postgres/batched_delete.hpp"
#include "seamq/postgres/connection.hpp"

namespace seamq::inbox {

//! Which processed inbox rows may go: those processed longer ago than `horizon`.
struct RetentionOptions {
    //! How long a processed row is kept. A redelivery or republished copy of a message
    //! whose row is gone would be handled again, so this must exceed the time a copy can
    //! still arrive: at least the streams' duplicate window, in practice days.
    std::chrono::seconds horizon{std::chrono::hours(24 * 7)};
    //! The streams' Nats-Msg-Id duplicate window; a shorter horizon is refused.
    std::chrono::seconds duplicate_window{std::chrono::minutes(2)};
    int batch_size = 1000;  //!< rows per DELETE, each its own short transaction
    int max_batches = 100;  //!< per call: bounds one call's work; the next call goes on
    std::string consumer;   //!< only this consumer's rows; "" for all
    //! Added to the stream's max_age by replay_safe_horizon: clocks of the NATS and
    //! PostgreSQL servers differ, and a message is stored a little before it is processed.
    std::chrono::seconds clock_margin{std::chrono::minutes(10)};
};

using RetentionReport = postgres::BatchedDeleteReport;

//! Throws seamq::Error(Errc::config) when the options are unusable (horizon shorter than
//! the duplicate window, batch size out of 1..100000).
void check_retention(const RetentionOptions& options);

//! The horizon a consumer of a stream may use: never shorter than what the stream can still
//! redeliver (a consumer recreated with DeliverPolicy all replays every message it keeps),
//! i.e. max(configured, stream_max_age + clock_margin); nullopt when the stream keeps
//! messages forever (max_age 0): then no processed row may go. src/inbox/README.md.
std::optional<std::chrono::seconds> replay_safe_horizon(const RetentionOptions& options,
                                                        std::chrono::nanoseconds stream_max_age);

//! Deletes processed rows older than the horizon in batches of batch_size, each in its
//! own transaction (row locks held for milliseconds; rows locked by a running handler
//! transaction are skipped, not waited for). Rows in status processing or failed are kept:
//! they are the record of messages not (yet) handled. Not inside a caller's transaction.
RetentionReport remove_expired(postgres::Connection& connection, const RetentionOptions& options);

}  // namespace seamq::inbox
