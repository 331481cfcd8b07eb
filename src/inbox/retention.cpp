#include "seamq/inbox/retention.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "seamq/core/error.hpp"

namespace seamq::inbox {

void check_retention(const RetentionOptions& options) {
    if (options.horizon < options.duplicate_window)
        raise(Errc::config,
              "inbox retention horizon {}s is shorter than the streams' duplicate window {}s: a message "
              "republished "
              "inside the window could be handled twice; use a horizon of days (default 7d)",
              options.horizon.count(), options.duplicate_window.count());
    if (options.batch_size < 1 || options.batch_size > 100000)
        raise(Errc::config, "inbox retention batch size {} is outside 1..100000", options.batch_size);
    if (options.max_batches < 1)
        raise(Errc::config, "inbox retention max_batches {} must be at least 1", options.max_batches);
}

std::optional<std::chrono::seconds> replay_safe_horizon(const RetentionOptions& options,
                                                        std::chrono::nanoseconds stream_max_age) {
    if (stream_max_age.count() <= 0) return std::nullopt;
    const auto stream_keeps = std::chrono::ceil<std::chrono::seconds>(stream_max_age) + options.clock_margin;
    return std::max(options.horizon, stream_keeps);
}

RetentionReport remove_expired(postgres::Connection& connection, const RetentionOptions& options) {
    check_retention(options);
    if (connection.in_transaction())
        raise(Errc::invalid_argument,
              "inbox retention must not run inside a transaction: it commits batch by batch to keep locks "
              "short");
    // Each DELETE is its own (autocommit) transaction. SKIP LOCKED: a row a handler's
    // transaction holds is left for the next round instead of waited for.
    const std::string sql = fmt::format(
        "DELETE FROM seamq.inbox_messages AS row USING ("
        "  SELECT consumer, message_id FROM seamq.inbox_messages"
        "   WHERE status = 'processed' AND processed_at < now() - make_interval(secs => $1::double precision)"
        "   {}"
        "   ORDER BY processed_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS expired"
        " WHERE row.consumer = expired.consumer AND row.message_id = expired.message_id",
        options.consumer.empty() ? "AND $3::text IS NULL" : "AND consumer = $3");
    const std::optional<std::string> consumer =
        options.consumer.empty() ? std::nullopt : std::optional<std::string>(options.consumer);
    return postgres::delete_in_batches(options.max_batches, options.batch_size, [&] {
        return connection
            .exec(sql, static_cast<std::int64_t>(options.horizon.count()), options.batch_size, consumer)
            .affected_rows();
    });
}

}  // namespace seamq::inbox
