#pragma once

#include <cstdint>

namespace seamq::postgres {

//! What one call of delete_in_batches() removed.
struct BatchedDeleteReport {
    std::uint64_t removed = 0;
    int batches = 0;
    bool complete = false;  //!< the last batch was not full: nothing is left to remove (else call again)
};

//! Runs `delete_batch` (one autocommit DELETE of at most `batch_size` rows, returning how
//! many it removed) until a batch is not full or `max_batches` ran: each transaction holds
//! its locks for one small batch, and one call's work is bounded.
template <typename DeleteBatch>
BatchedDeleteReport delete_in_batches(int max_batches, int batch_size, DeleteBatch delete_batch) {
    BatchedDeleteReport report;
    while (report.batches < max_batches) {
        const std::int64_t removed = delete_batch();
        ++report.batches;
        report.removed += static_cast<std::uint64_t>(removed);
        if (removed < batch_size) {
            report.complete = true;
            break;
        }
    }
    return report;
}

}  // namespace seamq::postgres
