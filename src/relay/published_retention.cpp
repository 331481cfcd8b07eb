#include "seamq/relay/published_retention.hpp"

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
    return postgres::delete_in_batches(options.max_batches, options.batch_size, [&] {
        return connection
            .exec(sql, options.context, static_cast<std::int64_t>(options.horizon.count()),
                  options.batch_size)
            .affected_rows();
    });
}

}  // namespace seamq::relay
