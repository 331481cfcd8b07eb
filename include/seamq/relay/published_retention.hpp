#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "seamq/postgres/batched_delete.hpp"
#include "seamq/postgres/connection.hpp"

namespace seamq::relay {

//! Which records of published events may go: kept rows (PublishedRows::keep) and entries
//! of the publication log (PublishedRows::log) published longer ago than `horizon`. The
//! stream has every published event; the record only says when and where it went.
struct PublishedRetentionOptions {
    std::string context;  //!< rows of this context only
    std::chrono::seconds horizon{std::chrono::hours(24 * 7)};
    int batch_size = 1000;  //!< rows per DELETE, each its own short transaction
    int max_batches = 100;  //!< per call: bounds one call's work; the next call goes on
};

using PublishedRetentionReport = postgres::BatchedDeleteReport;

//! Deletes published rows of the context older than the horizon, batch_size rows per
//! autocommit DELETE (FOR UPDATE SKIP LOCKED: a row someone holds is left for the next
//! call, never waited for). Pending and rejected rows are never touched, and producers
//! never wait for it (they insert new rows and take advisory locks only). Uses the partial
//! index outbox_events_published. Then the log entries older than the horizon, a
//! hundredth of batch_size entries per DELETE (an entry holds up to thousands of events);
//! `removed` counts rows and logged events. Not inside a caller's transaction. Throws
//! seamq::Error(Errc::config) for a horizon <= 0 or a batch size outside 1..100000.
PublishedRetentionReport remove_published(postgres::Connection& connection,
                                          const PublishedRetentionOptions& options);

}  // namespace seamq::relay
