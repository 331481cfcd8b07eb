#include "seamq/relay/published_retention.hpp"

#include <algorithm>

#include "seamq/core/error.hpp"

namespace seamq::relay {

PublishedRetentionReport remove_published(postgres::Connection& connection,
                                          const PublishedRetentionOptions& options) {
    if (options.horizon.count() <= 0)
        raise(Errc::config, "published-row retention horizon must be longer than 0 (got {}s)",
              options.horizon.count());
    if (options.batch_size < 1 || options.batch_size > 100000)
        raise(Errc::config, "published-row retention batch size {} is outside 1..100000", options.batch_size);
    if (options.max_batches < 1)
        raise(Errc::config, "published-row retention max_batches {} must be at least 1", options.max_batches);
    if (connection.in_transaction())
        raise(Errc::invalid_argument,
              "published-row retention must not run inside a transaction: it commits batch by batch to keep "
              "locks short");
    // The outer status test guards a row whose status changed between the two reads (it
    // cannot today: published is final; cheap insurance against a future change).
    static constexpr const char* sql =
        "DELETE FROM seamq.outbox_events AS row USING ("
        "  SELECT id FROM seamq.outbox_events"
        "   WHERE context = $1 AND status = 'published'"
        "     AND published_at < now() - make_interval(secs => $2::double precision)"
        "   ORDER BY published_at LIMIT $3 FOR UPDATE SKIP LOCKED) AS expired"
        " WHERE row.id = expired.id AND row.status = 'published'";
    auto report = postgres::delete_in_batches(options.max_batches, options.batch_size, [&] {
        return connection
            .exec(sql, options.context, static_cast<std::int64_t>(options.horizon.count()),
                  options.batch_size)
            .affected_rows();
    });
    // The publication log (PublishedRows::log): an entry holds a recording transaction's
    // events, up to thousands, so a DELETE takes a hundredth as many entries as rows.
    static constexpr const char* log_sql =
        "WITH gone AS ("
        "  DELETE FROM seamq.outbox_publications AS entry USING ("
        "    SELECT ctid FROM seamq.outbox_publications"
        "     WHERE context = $1 AND published_at < now() - make_interval(secs => $2::double precision)"
        "     ORDER BY published_at LIMIT $3 FOR UPDATE SKIP LOCKED) AS expired"
        "   WHERE entry.ctid = expired.ctid RETURNING cardinality(entry.ids) AS events)"
        " SELECT count(*), coalesce(sum(events), 0)::bigint FROM gone";
    // Only once the rows are done, within what is left of this call's batches.
    if (!report.complete) return report;
    if (report.batches >= options.max_batches) {
        report.complete = false;  // the log is still to be trimmed: call again
        return report;
    }
    const int entries_per_batch = std::max(1, options.batch_size / 100);
    std::uint64_t logged_events = 0;
    const auto log_report =
        postgres::delete_in_batches(options.max_batches - report.batches, entries_per_batch, [&] {
            const auto result =
                connection.exec(log_sql, options.context, static_cast<std::int64_t>(options.horizon.count()),
                                entries_per_batch);
            logged_events += static_cast<std::uint64_t>(result.get<std::int64_t>(0, 1));
            return result.get<std::int64_t>(0, 0);
        });
    report.removed += logged_events;
    report.batches += log_report.batches;
    report.complete = log_report.complete;
    return report;
}

}  // namespace seamq::relay
