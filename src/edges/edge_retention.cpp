#include "seamq/edges/edge_retention.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "seamq/core/error.hpp"
#include "seamq/postgres/batched_delete.hpp"
#include "seamq/postgres/connection.hpp"

namespace seamq::edges {

std::string_view to_string(EdgeTable table) noexcept {
    switch (table) {
        case EdgeTable::webhook_attempts: return "webhook_attempts";
        case EdgeTable::inbound_deliveries: return "inbound_deliveries";
    }
    return "unknown";
}

std::uint64_t delete_expired(postgres::Connection& connection, EdgeTable table,
                             std::chrono::milliseconds max_age, int batch_size, int max_batches) {
    if (max_age.count() <= 0)
        raise(Errc::config, "{} retention must be longer than 0 (got {} ms)", to_string(table),
              max_age.count());
    if (batch_size < 1 || batch_size > 100000)
        raise(Errc::config, "{} retention batch size {} is outside 1..100000", to_string(table), batch_size);
    if (connection.in_transaction())
        raise(Errc::invalid_argument, "{} retention commits batch by batch: not inside a transaction",
              to_string(table));
    // Oldest first through the time index; SKIP LOCKED: a row an intake transaction
    // holds (or another worker's retention) is left for the next pass.
    static constexpr const char* attempts_sql =
        "DELETE FROM seamq.webhook_attempts AS row USING ("
        "  SELECT id FROM seamq.webhook_attempts"
        "   WHERE attempted_at < now() - make_interval(secs => $1::double precision)"
        "   ORDER BY attempted_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS expired"
        " WHERE row.id = expired.id";
    static constexpr const char* deliveries_sql =
        "DELETE FROM seamq.inbound_deliveries AS row USING ("
        "  SELECT partner, webhook_id FROM seamq.inbound_deliveries"
        "   WHERE received_at < now() - make_interval(secs => $1::double precision)"
        "   ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED) AS expired"
        " WHERE row.partner = expired.partner AND row.webhook_id = expired.webhook_id";
    const char* sql = table == EdgeTable::webhook_attempts ? attempts_sql : deliveries_sql;
    const double seconds = static_cast<double>(max_age.count()) / 1000.0;
    return postgres::delete_in_batches(
               max_batches, batch_size,
               [&] { return connection.exec(sql, seconds, batch_size).affected_rows(); })
        .removed;
}

struct EdgeRetention::Impl {
    Impl(RetentionOptions retention_options, observability::Logger log, Deleted on_deleted)
        : options(std::move(retention_options)), logger(std::move(log)), deleted(std::move(on_deleted)) {}

    RetentionOptions options;
    observability::Logger logger;
    Deleted deleted;
    bool stopping = false;
    std::mutex mutex;
    std::condition_variable wake;
    std::thread thread;

    void run() {
        while (true) {
            for (const auto& target : options.targets) {
                {
                    std::lock_guard lock(mutex);
                    if (stopping) return;
                }
                try {
                    postgres::Connection connection(
                        postgres::ConnectOptions{.conninfo = target.database,
                                                 .connect_timeout = std::chrono::seconds(2),
                                                 .application_name = "sea-mq-worker/edge-retention",
                                                 .statement_timeout = std::chrono::seconds(30)});
                    const auto rows = delete_expired(connection, target.table, target.max_age,
                                                     options.batch_size, options.max_batches);
                    if (rows > 0) {
                        logger.info("edge retention: deleted {} {} row(s) of context {} older than {} s",
                                    rows, to_string(target.table), target.context,
                                    std::chrono::duration_cast<std::chrono::seconds>(target.max_age).count());
                    }
                    if (deleted) deleted(target, rows);
                } catch (const Error& e) {
                    logger.warn("edge retention: {} of context {} failed, next pass in {} ms: {}",
                                to_string(target.table), target.context, options.interval.count(), e.what());
                }
            }
            std::unique_lock lock(mutex);
            if (wake.wait_for(lock, options.interval, [this] { return stopping; })) return;
        }
    }
};

EdgeRetention::EdgeRetention(RetentionOptions options, observability::Logger logger, Deleted deleted)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(logger), std::move(deleted))) {}

EdgeRetention::~EdgeRetention() {
    stop();
}

void EdgeRetention::start() {
    if (impl_->thread.joinable() || impl_->options.targets.empty()) return;
    impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void EdgeRetention::request_stop() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
}

void EdgeRetention::stop() {
    request_stop();
    if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace seamq::edges
