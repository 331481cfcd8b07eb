#pragma once

// Retention of the edges' bookkeeping tables: the attempts log of the outbound edge and
// the deduplication rows of the inbound edge. Bounded, batched deletes on an interval, so
// the tables do not grow forever and no delete holds locks for long.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/observability/logging.hpp"

namespace seamq::postgres {
class Connection;
}

namespace seamq::edges {

//! Which table a retention target trims.
enum class EdgeTable {
    webhook_attempts,    //!< seamq.webhook_attempts, by attempted_at
    inbound_deliveries,  //!< seamq.inbound_deliveries, by received_at
};
std::string_view to_string(EdgeTable table) noexcept;

struct RetentionTarget {
    std::string context;   //!< for logs and metrics
    std::string database;  //!< libpq conninfo
    EdgeTable table = EdgeTable::webhook_attempts;
    std::chrono::milliseconds max_age{0};  //!< rows older than this go; must be > 0
};

struct RetentionOptions {
    std::vector<RetentionTarget> targets;
    std::chrono::milliseconds interval{std::chrono::minutes(1)};
    int batch_size = 1000;  //!< rows per DELETE (one autocommit transaction each)
    int max_batches = 100;  //!< per target and pass: a pass's work is bounded
};

//! Deletes the rows of `table` older than `max_age`, oldest first, in autocommit batches
//! of `batch_size` (rows locked by someone else are skipped), at most `max_batches`;
//! returns how many went. Throws Error(config) for a max_age <= 0 or a batch outside
//! 1..100000, Error(invalid_argument) inside a transaction.
std::uint64_t delete_expired(postgres::Connection& connection, EdgeTable table,
                             std::chrono::milliseconds max_age, int batch_size, int max_batches);

//! Runs delete_expired for every target: once at start, then every `interval`. A target
//! whose database is unreachable is logged and tried again at the next pass.
class EdgeRetention {
public:
    using Deleted = std::function<void(const RetentionTarget&, std::uint64_t rows)>;
    EdgeRetention(RetentionOptions options, observability::Logger logger, Deleted deleted = {});
    ~EdgeRetention();
    EdgeRetention(const EdgeRetention&) = delete;
    EdgeRetention& operator=(const EdgeRetention&) = delete;

    void start();
    void request_stop();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace seamq::edges
