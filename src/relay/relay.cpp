#include "seamq/relay/relay.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>

#include "seamq/nats/error.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/outbox/schema.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/param.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::relay {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

//! How often an awake relay looks for rows committed since its last query (producers
//! skip the NOTIFY while it is awake, so this bounds their commit → publish delay).
constexpr auto awake_poll_interval = 1ms;
//! How long an awake relay keeps polling after its window emptied before it tries to
//! sleep: under steady load the next rows come within this, and sleeping costs a NOTIFY.
constexpr auto linger = 50ms;
//! How often an active relay runs a round of raising its scan floor (advance_floor).
constexpr auto floor_probe_interval = 10ms;
//! Poll interval while sleeping is refused because a producer that skipped its NOTIFY
//! is still in its transaction (a long one must not make the relay spin).
constexpr auto refused_sleep_poll_interval = 10ms;
//! A result nats.c owes for longer than publish_timeout plus this is taken as lost.
constexpr auto lost_result_margin = 5s;

// Leadership under a partition (README, "Leadership"): the server drops the lock session,
// freeing the lock, no sooner than `leadership_guard` after it last heard from the leader;
// the leader publishes only within `leadership_lease` of sending its last lock check that
// was answered. The difference is the margin for the last publish to leave the process.
constexpr auto lock_check_interval = 500ms;
constexpr auto leadership_lease = 4s;
constexpr std::chrono::milliseconds leadership_guard = 8s;
//! Bounds statements of the work and recording sessions (e.g. an UPDATE waiting on a row
//! an operator's transaction holds): the term ends and its rows are published again.
constexpr std::chrono::milliseconds work_statement_timeout = 30s;

//! A session of the relay, guarded at both ends against a vanished peer. Client side,
//! keepalives and a TCP user timeout fail a statement within about the lease (values in
//! the user's conninfo win). Server side, the server ends the session `leadership_guard`
//! after the relay went silent, instead of after the OS's hours: the leadership lock, the
//! awake and gate locks and the recorder's row locks of a vanished relay are freed then.
std::unique_ptr<postgres::Connection> open_session(const RelayOptions& options, std::string application_name,
                                                   std::chrono::milliseconds statement_timeout) {
    return std::make_unique<postgres::Connection>(
        postgres::ConnectOptions{.conninfo = options.database,
                                 .application_name = std::move(application_name),
                                 .keepalives_idle = 1s,
                                 .keepalives_interval = 1s,
                                 .keepalives_count = 3,
                                 .tcp_user_timeout = leadership_lease,
                                 .server_tcp_user_timeout = leadership_guard,
                                 .statement_timeout = statement_timeout});
}

// The bookkeeping statements find each row with one probe of the position index: they
// join by position on a session where hash joins, merge joins and sequential scans are
// off, and say "pending" as "neither published nor rejected" (the status CHECK allows
// nothing else) so that outbox_events_pending cannot be used. Statistics lag behind a
// queue that changes by the second; with them the planner scanned the backlog for every
// row (200 ms for 1,000 rows with 100k pending, instead of 16 ms with the probe).

// Rows a query returns are pending, not in the window already ($3: the window's
// positions), not of a key backing off ($4) and at or above the scan floor ($5, see
// ScanFloor). Reads outbox_events_pending in position order.
constexpr std::string_view select_pending_sql = R"sql(
    SELECT position, id, subject, type, envelope::text AS envelope,
           envelope ->> 'traceparent' AS traceparent, envelope ->> 'tracestate' AS tracestate
    FROM seamq.outbox_events
    WHERE context = $1 AND status = 'pending' AND position >= $5 AND NOT (position <@ $3::int8multirange)
      AND NOT (subject = ANY ($4::text[]))
    ORDER BY position
    LIMIT $2)sql";

// The last position drawn so far (the sequence has CACHE 1, so every position up to it
// has been handed to a transaction), read in a statement of its own.
constexpr std::string_view drawn_positions_sql = R"sql(
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM seamq.outbox_events_position_seq)sql";

// The xmin of this statement's snapshot (every transaction id below it has ended) and
// the lowest pending position at or above $2. ORDER BY ... LIMIT 1, not min(): once a
// VACUUM has set the table's row count, the planner estimated one matching row and
// aggregated over the whole backlog for min() (20 ms with 150k pending instead of 0.1).
constexpr std::string_view floor_probe_sql = R"sql(
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin,
           (SELECT position FROM seamq.outbox_events
            WHERE context = $1 AND status = 'pending' AND position >= $2
            ORDER BY position LIMIT 1) AS lowest_pending)sql";

// A transaction id of its own, the newest so far: every transaction that had an id
// before this statement has a lower one. (Not a snapshot's xmax, which is only the latest
// *completed* id plus one: a running transaction's id can be above it.)
constexpr std::string_view floor_mark_sql = R"sql(SELECT pg_current_xact_id()::text::bigint)sql";

constexpr std::string_view mark_published_sql = R"sql(
    UPDATE seamq.outbox_events AS o
    SET status = 'published', published_at = now(), stream_sequence = u.sequence,
        attempts = o.attempts + 1, last_error = NULL
    FROM unnest($2::bigint[], $3::bigint[]) AS u(position, sequence)
    WHERE o.context = $1 AND o.position = u.position AND o.status <> 'published' AND o.status <> 'rejected')sql";

// PublishedRows::log: the rows go and one log entry records them all. Only rows this
// statement deleted are logged, so an outcome recorded twice (a new leader's duplicate)
// is logged once. No entry when nothing was left to delete.
constexpr std::string_view log_published_sql = R"sql(
    WITH published AS (
        DELETE FROM seamq.outbox_events AS o
        USING unnest($2::bigint[], $3::bigint[]) AS u(position, sequence)
        WHERE o.context = $1 AND o.position = u.position AND o.status <> 'published' AND o.status <> 'rejected'
        RETURNING o.position, o.id, u.sequence)
    INSERT INTO seamq.outbox_publications (context, positions, ids, sequences)
    SELECT $1, array_agg(position ORDER BY position), array_agg(id ORDER BY position),
           array_agg(sequence ORDER BY position)
    FROM published
    HAVING count(*) > 0)sql";

// PublishedRows::discard. No new row version, no index insertions: a fraction of the
// UPDATE's cost (measured: 3 ms against 13 ms for 1,000 rows).
constexpr std::string_view delete_published_sql = R"sql(
    DELETE FROM seamq.outbox_events AS o
    USING unnest($2::bigint[]) AS u(position)
    WHERE o.context = $1 AND o.position = u.position AND o.status <> 'published' AND o.status <> 'rejected')sql";

constexpr std::string_view mark_rejected_sql = R"sql(
    UPDATE seamq.outbox_events AS o
    SET status = 'rejected', attempts = o.attempts + 1, last_error = u.error
    FROM unnest($2::bigint[], $3::text[]) AS u(position, error)
    WHERE o.context = $1 AND o.position = u.position AND o.status <> 'published' AND o.status <> 'rejected')sql";

constexpr std::string_view mark_failed_sql = R"sql(
    UPDATE seamq.outbox_events AS o
    SET attempts = o.attempts + 1, last_error = u.error
    FROM unnest($2::bigint[], $3::text[]) AS u(position, error)
    WHERE o.context = $1 AND o.position = u.position AND o.status <> 'published' AND o.status <> 'rejected')sql";

//! Only what can never succeed on a retry rejects a row: a message over the server's or the
//! stream's size limit. Everything else, known or not (a missing stream, an election, an
//! error code a newer server adds, a reply nobody can parse), is retried.
bool can_never_be_published(int status, int js_error_code) {
    return status == NATS_MAX_PAYLOAD || js_error_code == JSStreamMessageExceedsMaximumErr;
}

//! The connection is down: every key would fail alike, so the whole relay backs off
//! instead of each key.
bool connection_down(int status) {
    return status == NATS_CONNECTION_CLOSED || status == NATS_CONNECTION_DISCONNECTED ||
           status == NATS_NO_SERVER || status == NATS_NOT_YET_CONNECTED || status == NATS_STALE_CONNECTION ||
           status == NATS_IO_ERROR ||
           status == NATS_INSUFFICIENT_BUFFER;  // a full reconnect buffer: still down
}

//! Outcomes of PubAcks not recorded yet. Published and rejected rows stay in the window
//! until recorded (else a query would find them pending again); failed ones leave it at
//! once (they are read and sent again after their key's backoff).
struct Outcomes {
    std::vector<std::string> published_positions, published_sequences;
    std::vector<std::string> rejected_positions, rejected_errors;
    std::vector<std::string> failed_positions, failed_errors;
    std::vector<std::int64_t> settled;  //!< positions that leave the window once recorded

    bool empty() const noexcept {
        return published_positions.empty() && rejected_positions.empty() && failed_positions.empty();
    }
    void append(Outcomes&& other) {
        const auto move_into = [](auto& into, auto& from) {
            into.insert(into.end(), std::make_move_iterator(from.begin()),
                        std::make_move_iterator(from.end()));
        };
        move_into(published_positions, other.published_positions);
        move_into(published_sequences, other.published_sequences);
        move_into(rejected_positions, other.rejected_positions);
        move_into(rejected_errors, other.rejected_errors);
        move_into(failed_positions, other.failed_positions);
        move_into(failed_errors, other.failed_errors);
        move_into(settled, other.settled);
    }
};

//! What wakes the leader's loop: PubAck results (from nats.c's reply thread) and
//! recorded outcomes (from the recorder's thread).
struct Events {
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<nats::AsyncPublishResult> results;
    std::vector<std::int64_t> recorded;  //!< settled positions now recorded
    std::optional<std::string> record_failure;
    //! The leader's last query filled its batch: a backlog waits (the recorder does not
    //! VACUUM then, see Recorder::vacuum_if_due).
    std::atomic<bool> backlogged{false};

    //! Wakes the leader only for the first result it has not taken yet: it takes them all
    //! at once, and a wake-up per PubAck cost a context switch per event.
    void push_result(const nats::AsyncPublishResult& result) {
        bool first = false;
        {
            std::lock_guard lock(mutex);
            first = results.empty();
            results.push_back(result);
        }
        if (first) changed.notify_one();
    }
    void push_recorded(const std::vector<std::int64_t>& positions) {
        {
            std::lock_guard lock(mutex);
            recorded.insert(recorded.end(), positions.begin(), positions.end());
        }
        changed.notify_one();
    }
    void push_record_failure(std::string error) {
        {
            std::lock_guard lock(mutex);
            record_failure = std::move(error);
        }
        changed.notify_one();
    }
    //! Waits up to `timeout` until something arrived.
    void wait(Clock::duration timeout) {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, timeout,
                         [&] { return !results.empty() || !recorded.empty() || record_failure.has_value(); });
    }
    void clear() {
        std::lock_guard lock(mutex);
        results.clear();
        recorded.clear();
        record_failure.reset();
        backlogged = false;
    }
};

struct Row {
    std::int64_t position = 0;
    std::string id;
    std::string ordering_key;
    nats::OutgoingMessage message;
    Clock::time_point read_at{};  //!< when the query that read it returned
    Clock::time_point sent_at{};
};

//! The waiting positions of one key, oldest first. A vector and a head index rather than a
//! std::deque: a key's entry is made and dropped with almost every row, and a deque
//! allocates two blocks (~600 bytes) at birth.
class PositionQueue {
public:
    bool empty() const noexcept { return head_ == items_.size(); }
    std::int64_t front() const { return items_[head_]; }
    void push_back(std::int64_t position) { items_.push_back(position); }
    void pop_front() {
        if (++head_ == items_.size()) {
            items_.clear();
            head_ = 0;
        }
    }
    auto begin() const { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    auto end() const { return items_.end(); }

private:
    std::vector<std::int64_t> items_;
    std::size_t head_ = 0;
};

//! `{[a,b),[c,d)}`: the window's positions as an int8multirange literal.
std::string multirange_literal(const std::map<std::int64_t, Row>& window) {
    std::string literal = "{";
    auto it = window.begin();
    while (it != window.end()) {
        const std::int64_t first = it->first;
        std::int64_t last = first;
        for (++it; it != window.end() && it->first == last + 1; ++it) last = it->first;
        if (literal.size() > 1) literal += ',';
        literal += fmt::format("[{},{})", first, last + 1);
    }
    return literal + "}";
}

}  // namespace

struct Relay::Counters {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> publish_errors{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> rounds{0};
    std::atomic<std::uint64_t> leadership_changes{0};
    std::atomic<std::uint64_t> restarts{0};
    std::atomic<std::uint64_t> hook_errors{0};
    std::atomic<std::uint64_t> rows_below_scan_floor{0};
    std::atomic<std::int64_t> scan_floor{0};
    std::atomic<std::uint64_t> vacuums{0};
};

struct Relay::Sessions {
    // The lock session only holds the leadership: it must not be busy with, or broken by,
    // the work session's statements.
    std::unique_ptr<postgres::Connection> lock;
    std::unique_ptr<postgres::Connection> work;
    std::optional<postgres::AdvisoryKey> key;
    Events events;
    std::unique_ptr<nats::JetStream> jetstream;
};

//! Records outcomes on a session of its own, in submission order, so that the leader
//! goes on reading and publishing meanwhile. Whatever was submitted while a transaction
//! ran goes into the next one: the busier the relay, the larger its transactions.
class Relay::Recorder {
public:
    Recorder(const RelayOptions& options, Events& events, std::atomic<std::uint64_t>& vacuums)
        : context_(options.context),
          published_rows_(options.published_rows),
          vacuum_interval_(options.vacuum_interval),
          vacuum_min_rows_(options.vacuum_min_rows),
          events_(events),
          vacuums_(vacuums) {
        connection_ = open_session(options, options.instance_name + "/recorder", work_statement_timeout);
        connection_->exec("SET enable_hashjoin = off");
        connection_->exec("SET enable_mergejoin = off");
        connection_->exec("SET enable_seqscan = off");
        // Bookkeeping lost in a database crash only means publishing those rows again,
        // which the stream's duplicate window absorbs: no need to wait for the WAL flush
        // (the unflushed tail is at most three wal_writer_delay, 600 ms by default).
        connection_->exec("SET synchronous_commit = off");
        connection_->prepare("seamq_relay_mark_published", mark_published_sql);
        connection_->prepare("seamq_relay_delete_published", delete_published_sql);
        connection_->prepare("seamq_relay_log_published", log_published_sql);
        connection_->prepare("seamq_relay_mark_rejected", mark_rejected_sql);
        connection_->prepare("seamq_relay_mark_failed", mark_failed_sql);
        if (vacuum_interval_ > 0ms) may_vacuum_ = allowed_to_vacuum(options.instance_name);
        next_vacuum_ = Clock::now() + vacuum_interval_;
        thread_ = std::thread([this] { run(); });
    }
    ~Recorder() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    void submit(Outcomes outcomes) {
        {
            std::lock_guard lock(mutex_);
            queued_.append(std::move(outcomes));
            ++submitted_;
        }
        changed_.notify_all();
    }
    //! Waits until everything submitted so far is recorded; false on timeout or failure.
    bool flush(Clock::duration timeout) {
        std::unique_lock lock(mutex_);
        const auto target = submitted_;
        return changed_.wait_for(lock, timeout, [&] { return recorded_ >= target || failed_; }) && !failed_;
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        while (true) {
            const auto work = [&] { return stopping_ || submitted_ > recorded_; };
            if (!vacuum_wanted()) {
                changed_.wait(lock, work);
            } else if (!changed_.wait_until(lock, next_vacuum_, work)) {
                // Nothing to record, but the last rows' dead versions are due: a burst
                // followed by quiet is reclaimed too, not only steady traffic.
                lock.unlock();
                vacuum_if_due();
                lock.lock();
                continue;
            }
            if (submitted_ == recorded_) return;  // stopping with nothing left
            Outcomes outcomes = std::exchange(queued_, Outcomes{});
            const auto batch_end = submitted_;
            lock.unlock();
            try {
                record(outcomes);
            } catch (...) {
                // The rows stay pending; the next leader publishes them again with the same
                // ids, which the stream's duplicate window absorbs.
                events_.push_record_failure(current_exception_text());
                lock.lock();
                failed_ = true;
                changed_.notify_all();
                return;
            }
            events_.push_recorded(outcomes.settled);
            settled_since_vacuum_ += outcomes.published_positions.size() +
                                     outcomes.rejected_positions.size() + outcomes.failed_positions.size();
            vacuum_if_due();
            lock.lock();
            recorded_ = batch_end;
            changed_.notify_all();
        }
    }

    //! Every recorded row left a dead version behind (a deleted row, or the old version of
    //! an updated one). PostgreSQL reuses its space only after a VACUUM, and autovacuum
    //! visits a database once per naptime: at thousands of events a second the table would
    //! grow by a naptime of rows before each visit. TRUNCATE false: truncating the table's
    //! empty tail takes an exclusive lock that producers' INSERTs would queue behind;
    //! SKIP_LOCKED: autovacuum (or another context's relay) is already at it.
    //! A VACUUM scans every index whole, so its time follows the table (~100 ms with 200k
    //! rows pending, a few ms for a second of traffic) and recording waits for it. So none
    //! while a backlog is being drained (which only removes rows: the room is needed once
    //! producers outpace the relay no more), and the next one waits at least
    //! vacuum_duty_factor times as long as the last took.
    bool vacuum_wanted() const { return may_vacuum_ && settled_since_vacuum_ >= vacuum_min_rows_; }
    void vacuum_if_due() {
        static constexpr int vacuum_duty_factor = 50;
        if (!vacuum_wanted()) return;
        const auto now = Clock::now();
        if (now < next_vacuum_) return;
        if (events_.backlogged) {
            next_vacuum_ = now + vacuum_interval_;  // asked again then
            return;
        }
        settled_since_vacuum_ = 0;
        try {
            connection_->exec(
                "VACUUM (SKIP_LOCKED, TRUNCATE false, PROCESS_TOAST false) seamq.outbox_events");
            ++vacuums_;
            const auto took = Clock::now() - now;
            next_vacuum_ = now + std::max<Clock::duration>(vacuum_interval_, vacuum_duty_factor * took);
        } catch (const Error& error) {
            next_vacuum_ = now + vacuum_interval_;
            // A broken session fails the next recording, which ends the term; anything else
            // (a statement timeout on a huge table) only costs this round's reclaiming.
            spdlog::warn("relay {}: VACUUM of seamq.outbox_events failed: {}", context_, error.what());
        }
    }

    //! Whether this session's role may VACUUM the outbox table (a non-owner's VACUUM only
    //! warns and does nothing, every second).
    bool allowed_to_vacuum(const std::string& instance_name) {
        const bool allowed = connection_
                                 ->exec(R"sql(
            SELECT pg_has_role(c.relowner, 'USAGE')
                   OR pg_has_role((SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE')
            FROM pg_class AS c WHERE c.oid = 'seamq.outbox_events'::regclass)sql")
                                 .get<bool>(0, 0);
        if (!allowed)
            spdlog::info(
                "relay {}: its role may not VACUUM seamq.outbox_events (not the table's or the database's "
                "owner): dead rows of published events wait for autovacuum",
                instance_name);
        return allowed;
    }

    void record(const Outcomes& outcomes) {
        postgres::Transaction transaction(*connection_);
        if (!outcomes.published_positions.empty()) {
            const auto positions = postgres::array_literal(outcomes.published_positions);
            switch (published_rows_) {
                case PublishedRows::log:
                    transaction.exec_prepared("seamq_relay_log_published", context_, positions,
                                              postgres::array_literal(outcomes.published_sequences));
                    break;
                case PublishedRows::keep:
                    transaction.exec_prepared("seamq_relay_mark_published", context_, positions,
                                              postgres::array_literal(outcomes.published_sequences));
                    break;
                case PublishedRows::discard:
                    transaction.exec_prepared("seamq_relay_delete_published", context_, positions);
                    break;
            }
        }
        if (!outcomes.rejected_positions.empty()) {
            transaction.exec_prepared("seamq_relay_mark_rejected", context_,
                                      postgres::array_literal(outcomes.rejected_positions),
                                      postgres::array_literal(outcomes.rejected_errors));
        }
        if (!outcomes.failed_positions.empty()) {
            transaction.exec_prepared("seamq_relay_mark_failed", context_,
                                      postgres::array_literal(outcomes.failed_positions),
                                      postgres::array_literal(outcomes.failed_errors));
        }
        transaction.commit();
    }

    std::string context_;
    PublishedRows published_rows_;
    const std::chrono::milliseconds vacuum_interval_;
    const std::size_t vacuum_min_rows_;
    bool may_vacuum_ = false;
    Clock::time_point next_vacuum_;
    std::size_t settled_since_vacuum_ = 0;
    Events& events_;
    std::atomic<std::uint64_t>& vacuums_;
    std::unique_ptr<postgres::Connection> connection_;
    std::mutex mutex_;
    std::condition_variable changed_;
    Outcomes queued_;
    std::uint64_t submitted_ = 0, recorded_ = 0;
    bool stopping_ = false, failed_ = false;
    std::thread thread_;
};

//! One term of leadership. The window holds every row read and not yet recorded: rows
//! waiting behind their key, in flight, or acked and being recorded.
class Relay::Leader {
public:
    explicit Leader(Relay& relay)
        : relay_(relay),
          options_(relay.options_),
          counters_(*relay.counters_),
          sessions_(*relay.sessions_),
          work_(*sessions_.work),
          jetstream_(*sessions_.jetstream),
          window_limit_(options_.max_in_flight + options_.batch_size) {}

    void run() {
        work_.listen(outbox::schema::notify_channel);
        work_.prepare("seamq_relay_select", select_pending_sql);
        work_.prepare("seamq_relay_drawn_positions", drawn_positions_sql);
        work_.prepare("seamq_relay_floor_probe", floor_probe_sql);
        work_.prepare("seamq_relay_floor_mark", floor_mark_sql);
        awake_key_ = work_.advisory_key(outbox::schema::awake_lock_space, options_.context);
        gate_key_ = work_.advisory_key(outbox::schema::gate_lock_space, options_.context);
        sessions_.events.clear();
        Recorder recorder(options_, sessions_.events, counters_.vacuums);
        if (!confirm_leadership()) return;
        wake_up();
        auto last_lock_check = Clock::now();

        while (!relay_.stopping_ || !in_flight_.empty()) {
            fail_point("relay.leader.round");
            relay_.health_.round_completed();
            const auto now = Clock::now();
            if (now - last_lock_check > lock_check_interval) {
                // A dead lock session means the lock is gone and a standby may lead already.
                if (!confirm_leadership()) {
                    spdlog::warn("relay {}: leadership session lost", options_.instance_name);
                    return;
                }
                if (!awake_) take_awake();
                last_lock_check = now;
            }
            handle_events();
            take_back_lost_messages();
            // Without the awake lock, producers notify: a NOTIFY means rows to read.
            if (!awake_ && !work_.consume_notifications().empty()) more_waiting_ = true;
            if (!outcomes_.empty()) recorder.submit(std::exchange(outcomes_, Outcomes{}));

            const bool may_read =
                !relay_.stopping_ && now >= backoff_until_ && window_.size() < window_limit_;
            if (may_read && (more_waiting_ || now - last_query_ >= poll_interval())) read_rows();
            if (may_read && more_waiting_) continue;

            if (window_.empty() && !relay_.stopping_ && now - last_rows_at_ > linger &&
                now >= backoff_until_ && now >= next_sleep_attempt_) {
                if (try_to_sleep()) {
                    sleep_until_woken(last_lock_check);
                    wake_up();
                    continue;
                }
                next_sleep_attempt_ = now + refused_sleep_poll_interval;
            }
            sessions_.events.wait(awake_poll_interval);
        }
        if (!outcomes_.empty()) recorder.submit(std::exchange(outcomes_, Outcomes{}));
        // stop(): what was acked is recorded before the relay returns.
        if (!recorder.flush(options_.publish_timeout + lost_result_margin)) {
            spdlog::warn(
                "relay {}: could not record the last outcomes; their rows stay pending and are published "
                "again (the duplicate window absorbs them)",
                options_.instance_name);
        }
    }

private:
    //! A lock check: while the lock session answers, the lock is held. The lease runs from
    //! the check's send time, before which the server cannot have heard from us last.
    bool confirm_leadership() {
        const auto sent = Clock::now();
        if (!sessions_.lock->ping()) return false;
        lease_until_ = sent + leadership_lease;
        return true;
    }

    //! Awake polling is fast; without the awake lock producers notify, so polling is slow.
    Clock::duration poll_interval() const {
        return awake_ ? Clock::duration(awake_poll_interval) : Clock::duration(options_.poll_interval);
    }

    void wake_up() {
        take_awake();
        more_waiting_ = true;  // rows committed while asleep, NOTIFY or not
        last_rows_at_ = Clock::now();
    }

    void take_awake() {
        // Fails while producers that found no awake relay are committing: they notify,
        // so working without it is correct, only slower; it is tried again.
        if (!awake_) awake_ = work_.try_advisory_lock(awake_key_);
    }

    //! Sleeps only when no row can be missed: with the gate held, no producer that
    //! skipped its NOTIFY is still in its transaction, so a query sees all their rows.
    //! A producer holding the gate past poll_interval (a long transaction, or a prepared one
    //! left behind: it holds the gate until COMMIT PREPARED) does not keep the relay polling
    //! every millisecond: it sleeps without the gate, and that producer's rows, committed
    //! without a NOTIFY, are found by the fallback poll, poll_interval after their commit.
    //! Until the gate is taken again, later refusals sleep at once (an orphan would
    //! otherwise cost poll_interval of millisecond polls per wake-up); at worst a producer's
    //! rows then wait for the fallback poll, never lost.
    bool try_to_sleep() {
        if (!awake_) return true;  // producers notify anyway
        const bool gate = work_.try_advisory_lock(gate_key_);
        if (gate) {
            gate_refused_since_.reset();
        } else {
            if (!gate_refused_since_) gate_refused_since_ = Clock::now();
            if (Clock::now() - *gate_refused_since_ < options_.poll_interval) return false;
        }
        work_.consume_notifications();  // their rows are covered by the query below
        const auto found = work_.exec_prepared("seamq_relay_select", options_.context, std::int64_t{1}, "{}",
                                               backing_off_keys(), std::int64_t{0});
        if (found.rows() > 0) {
            if (gate) work_.advisory_unlock(gate_key_);
            more_waiting_ = true;
            return false;
        }
        work_.advisory_unlock(awake_key_);
        awake_ = false;
        if (gate) work_.advisory_unlock(gate_key_);
        return true;
    }
    std::optional<Clock::time_point> gate_refused_since_;

    //! One round of raising the scan floor (below which no row is pending, nor can become
    //! pending through a producer), so that queries start there instead of walking the
    //! pending index from its first entry: published rows leave dead entries there until
    //! VACUUM (measured: ~220 µs a query over 100k of them, against ~20 µs), and an awake
    //! relay queries every millisecond. The floor rises in three steps, one per round:
    //!  1. read D, the last position drawn so far;
    //!  2. take a transaction id H of the relay's own: every transaction that drew a
    //!     position up to D had its id before (the insert trigger assigns the transaction
    //!     id before it draws the position), so a lower one;
    //!  3. a statement whose snapshot has xmin > H: those transactions have all ended and
    //!     their committed rows are visible to it; the floor becomes the lower of D + 1 and
    //!     the lowest pending position it sees.
    //! A long-running write transaction anywhere in the database (or a prepared one) holds
    //! the floor back, which costs query time, never a row. Only an operator re-queueing
    //! an old row puts a pending row below the floor: the full scan every poll_interval
    //! finds it (counted in RelayStatistics::rows_below_scan_floor).
    void advance_floor() {
        const auto probe = work_.exec_prepared("seamq_relay_floor_probe", options_.context, floor_);
        const auto xmin = probe.get<std::int64_t>(0, 0);
        if (candidate_ && xmin > candidate_->horizon) {
            auto next = candidate_->drawn + 1;
            if (!probe.is_null(0, 1)) next = std::min(next, probe.get<std::int64_t>(0, 1));
            floor_ = std::max(floor_, next);
            counters_.scan_floor = floor_;
            candidate_.reset();
        }
        if (!candidate_ && drawn_) {
            const auto horizon = work_.exec_prepared("seamq_relay_floor_mark").get<std::int64_t>(0, 0);
            candidate_ = FloorCandidate{.drawn = *drawn_, .horizon = horizon};
            drawn_.reset();
        } else if (!candidate_) {
            drawn_ = work_.exec_prepared("seamq_relay_drawn_positions").get<std::int64_t>(0, 0);
        }
    }
    struct FloorCandidate {
        std::int64_t drawn = 0;    //!< D
        std::int64_t horizon = 0;  //!< H
    };
    std::int64_t floor_ = 0;
    std::optional<std::int64_t> drawn_;
    std::optional<FloorCandidate> candidate_;
    Clock::time_point last_floor_probe_{}, last_full_scan_{};

    void sleep_until_woken(Clock::time_point& last_lock_check) {
        const auto asleep_since = Clock::now();
        while (!relay_.stopping_ && Clock::now() - asleep_since < options_.poll_interval) {
            if (work_.wait_for_notification(
                    std::min<std::chrono::milliseconds>(200ms, options_.poll_interval))) {
                work_.consume_notifications();
                return;
            }
            if (Clock::now() - last_lock_check > lock_check_interval) {
                if (!confirm_leadership())
                    raise(Errc::postgres, "relay {}: leadership session lost", options_.instance_name);
                last_lock_check = Clock::now();
            }
        }
    }

    void read_rows() {
        const auto limit = std::min(options_.batch_size, window_limit_ - window_.size());
        auto now = Clock::now();
        if (now - last_floor_probe_ >= floor_probe_interval) {
            advance_floor();
            last_floor_probe_ = now;
        }
        const bool full_scan = now - last_full_scan_ >= options_.poll_interval;
        if (full_scan) last_full_scan_ = now;
        const auto result =
            work_.exec_prepared("seamq_relay_select", options_.context, static_cast<std::int64_t>(limit),
                                multirange_literal(window_), backing_off_keys(), full_scan ? 0 : floor_);
        last_query_ = Clock::now();
        const auto count = static_cast<std::size_t>(result.rows());
        more_waiting_ = count == limit;
        sessions_.events.backlogged = more_waiting_;
        if (count == 0) return;
        last_rows_at_ = last_query_;
        ++counters_.rounds;
        const int position_column = result.column("position"), id_column = result.column("id"),
                  key_column = result.column("subject"), type_column = result.column("type"),
                  envelope_column = result.column("envelope"),
                  traceparent_column = result.column("traceparent"),
                  tracestate_column = result.column("tracestate");
        for (int i = 0; i < static_cast<int>(count); ++i) {
            Row row;
            row.position = result.get<std::int64_t>(i, position_column);
            row.read_at = last_query_;
            if (row.position < floor_) {
                // Pending below the floor: only an operator's re-queue puts a row there.
                ++counters_.rows_below_scan_floor;
                spdlog::info(
                    "relay {}: event at position {} was pending below the scan floor {} (re-queued?)",
                    options_.instance_name, row.position, floor_);
            }
            row.id = result.text(i, id_column);
            row.ordering_key = result.text(i, key_column);
            row.message.subject = result.text(i, type_column);
            row.message.payload = result.text(i, envelope_column);
            row.message.message_id = row.id;
            row.message.expected_stream = options_.expected_stream;
            // The trace context travels as NATS headers too, for consumers that don't parse.
            if (!result.is_null(i, traceparent_column)) {
                row.message.headers.emplace_back("traceparent", result.text(i, traceparent_column));
            }
            if (!result.is_null(i, tracestate_column)) {
                row.message.headers.emplace_back("tracestate", result.text(i, tracestate_column));
            }
            const auto position = row.position;
            auto& waiting = waiting_by_key_[row.ordering_key];
            if (waiting.empty() && !busy_keys_.contains(row.ordering_key))
                ready_keys_.push_back(row.ordering_key);
            waiting.push_back(position);
            window_.emplace(position, std::move(row));
        }
        dispatch_ready_keys();
    }

    //! Sends the next row of each ready key while there is room in flight and the lease
    //! holds (an expired one waits for the next lock check, which renews it or ends the term).
    void dispatch_ready_keys() {
        // While NATS is away nothing is sent: nats.c would only fill its reconnect buffer
        // (and refuse with "Insufficient Buffer" once full); the rows wait in the window.
        if (ready_keys_.empty() || !relay_.nats_.is_connected()) return;
        while (in_flight_.size() < options_.max_in_flight && !ready_keys_.empty() && !relay_.stopping_ &&
               Clock::now() < lease_until_) {
            const std::string key = std::move(ready_keys_.front());
            ready_keys_.pop_front();
            dispatch(key);
        }
    }

    void dispatch(const std::string& key) {
        const auto found = waiting_by_key_.find(key);
        if (found == waiting_by_key_.end() || busy_keys_.contains(key)) return;
        auto& waiting = found->second;
        while (!waiting.empty()) {
            Row& row = window_.at(waiting.front());
            waiting.pop_front();
            try {
                row.sent_at = Clock::now();
                jetstream_.publish_async(row.message);
                in_flight_.emplace(row.id, row.position);
                busy_keys_.insert(key);
                break;
            } catch (const nats::NatsError& error) {
                if (!can_never_be_published(error.status(), error.js_error_code())) {
                    fail(row, error.what(), connection_down(error.status()));  // the key's waiting rows too
                    return;
                }
                reject(row, error.what());  // larger than the server's max_payload
            }
        }
        if (waiting.empty()) waiting_by_key_.erase(found);
    }

    void handle_events() {
        std::deque<nats::AsyncPublishResult> results;
        std::vector<std::int64_t> recorded;
        {
            std::lock_guard lock(sessions_.events.mutex);
            if (sessions_.events.record_failure) {
                raise(Errc::postgres, "recording outcomes failed: {}", *sessions_.events.record_failure);
            }
            results.swap(sessions_.events.results);
            recorded.swap(sessions_.events.recorded);
        }
        for (const auto position : recorded) window_.erase(position);
        for (const auto& result : results) handle_result(result);
        dispatch_ready_keys();
    }

    void handle_result(const nats::AsyncPublishResult& outcome) {
        const auto found = in_flight_.find(outcome.message_id);
        if (found == in_flight_.end()) return;  // late result of a message failed or resent since
        const auto window_entry = window_.find(found->second);
        in_flight_.erase(found);
        if (window_entry == window_.end()) return;
        Row& row = window_entry->second;
        busy_keys_.erase(row.ordering_key);

        if (outcome.ok() && !proper_puback(*outcome.ack)) {
            // Not JetStream's answer (a stray responder, a misrouted import): no proof of
            // storage, so the row stays pending and is sent again.
            fail(row,
                 fmt::format("unexpected PubAck (stream '{}', sequence {}), expected one from stream '{}'",
                             outcome.ack->stream, outcome.ack->sequence,
                             options_.expected_stream.empty() ? "any" : options_.expected_stream));
            return;
        }
        if (outcome.ok()) {
            outcomes_.published_positions.push_back(std::to_string(row.position));
            outcomes_.published_sequences.push_back(std::to_string(outcome.ack->sequence));
            outcomes_.settled.push_back(row.position);
            ++counters_.published;
            if (outcome.ack->duplicate) ++counters_.duplicates;
            const auto acked_at = Clock::now();
            relay_.hook_failed(call_hook(relay_.hooks_.on_puback_latency, acked_at - row.sent_at));
            relay_.hook_failed(call_hook(relay_.hooks_.on_published, row.id));
            relay_.hook_failed(call_hook(relay_.hooks_.on_published_stages, row.id, row.sent_at - row.read_at,
                                         acked_at - row.sent_at));
            backoff_ = 0ms;
            backing_off_.erase(row.ordering_key);
            make_ready(row.ordering_key);
            return;
        }
        std::string error = fmt::format("{} (status {}, JetStream error {})", outcome.error, outcome.status,
                                        outcome.js_error_code);
        if (can_never_be_published(outcome.status, outcome.js_error_code)) {
            const std::string key = row.ordering_key;
            reject(row, error);
            make_ready(key);
            return;
        }
        if (outcome.status == NATS_NO_RESPONDERS || outcome.js_error_code == JSNotEnabledErr) {
            // No responders means an election, or that no stream captures the subject: an
            // operator's fix (`sea-mq streams apply`), so the row waits for it either way.
            try {
                if (!jetstream_.stream_for_subject(row.message.subject)) {
                    error = fmt::format(
                        "no JetStream stream captures subject '{}': waiting for one (run `sea-mq streams "
                        "apply`)",
                        row.message.subject);
                }
            } catch (...) {
                // Cannot tell now (no answer, or an odd one): retried like any failure.
            }
        }
        fail(row, error, connection_down(outcome.status));
    }

    //! A PubAck proves storage only when it names a stream (the expected one, if any) and a
    //! sequence.
    bool proper_puback(const nats::PubAck& ack) const {
        if (ack.stream.empty() || ack.sequence == 0) return false;
        return options_.expected_stream.empty() || ack.stream == options_.expected_stream;
    }

    //! The keys still backing off, as a text[] literal for the row query; forgets keys
    //! whose backoff ended long ago (their rows may be gone).
    std::string backing_off_keys() {
        const auto now = Clock::now();
        std::vector<std::string> keys;
        for (auto it = backing_off_.begin(); it != backing_off_.end();) {
            if (it->second.until > now) keys.push_back(it->first);
            if (now - it->second.until > 4 * options_.retry_max) {
                it = backing_off_.erase(it);
            } else {
                ++it;
            }
        }
        return postgres::array_literal(keys);
    }

    void make_ready(const std::string& key) {
        if (waiting_by_key_.contains(key)) ready_keys_.push_back(key);
    }

    void reject(const Row& row, const std::string& error) {
        outcomes_.rejected_positions.push_back(std::to_string(row.position));
        outcomes_.rejected_errors.push_back(error);
        outcomes_.settled.push_back(row.position);
        ++counters_.rejected;
        spdlog::error("relay {}: event {} ({}) rejected for good: {}", options_.instance_name, row.id,
                      row.message.subject, error);
    }

    //! A failure to retry: the row and the rows waiting behind it on its key leave the
    //! window, stay pending, and are read again, in order, after the backoff. The backoff
    //! is the key's (one poisoned key or stream never slows the others), or the whole
    //! relay's when the connection is down.
    void fail(const Row& row, const std::string& error, bool whole_relay = false) {
        outcomes_.failed_positions.push_back(std::to_string(row.position));
        outcomes_.failed_errors.push_back(error);
        ++counters_.publish_errors;
        const auto now = Clock::now();
        const auto next_delay = [&](std::chrono::milliseconds& delay) {
            delay = std::clamp(delay * 2, options_.retry_initial, options_.retry_max);
            std::uniform_int_distribution<long> jitter(0, delay.count() / 2);
            return now + delay + std::chrono::milliseconds(jitter(random_));
        };
        std::chrono::milliseconds delay{0};
        if (whole_relay) {
            if (now >= backoff_until_) backoff_until_ = next_delay(backoff_);
            delay = backoff_;
        } else {
            auto& key_backoff = backing_off_[row.ordering_key];
            key_backoff.until = next_delay(key_backoff.delay);
            delay = key_backoff.delay;
        }
        // One line a second at most: a NATS outage fails every key at once.
        if (now - last_failure_logged_ >= 1s) {
            spdlog::warn("relay {}: event {} (key '{}') not published yet: {}; {} again in {} ms",
                         options_.instance_name, row.id, row.ordering_key, error,
                         whole_relay ? "every key" : "this key", delay.count());
            last_failure_logged_ = now;
        }
        const std::string key = row.ordering_key;
        if (const auto waiting = waiting_by_key_.find(key); waiting != waiting_by_key_.end()) {
            for (const auto position : waiting->second) window_.erase(position);
            waiting_by_key_.erase(waiting);
        }
        window_.erase(row.position);  // `row` dies here
    }

    //! nats.c reports every async publish within its MaxWait; this is the safety net for
    //! results that never come (e.g. lost across a reconnect).
    void take_back_lost_messages() {
        const auto now = Clock::now();
        if (in_flight_.empty() || now - last_lost_check_ < 1s) return;
        last_lost_check_ = now;
        const auto deadline = now - options_.publish_timeout - lost_result_margin;
        bool any_lost = false;
        for (const auto& [id, position] : in_flight_) {
            if (window_.at(position).sent_at < deadline) any_lost = true;
        }
        if (!any_lost) return;
        jetstream_.take_pending_async_messages();
        std::vector<std::string> lost;
        for (const auto& [id, position] : in_flight_) lost.push_back(id);
        for (const auto& id : lost) {
            const auto position = in_flight_.at(id);
            in_flight_.erase(id);
            Row& row = window_.at(position);
            busy_keys_.erase(row.ordering_key);
            fail(row, "no PubAck within the publish timeout");
        }
    }

    Relay& relay_;
    const RelayOptions& options_;
    Counters& counters_;
    Sessions& sessions_;
    postgres::Connection& work_;
    nats::JetStream& jetstream_;
    const std::size_t window_limit_;

    std::map<std::int64_t, Row> window_;  //!< by position
    std::unordered_map<std::string, PositionQueue> waiting_by_key_;
    std::unordered_set<std::string> busy_keys_;                //!< keys with a message in flight
    std::deque<std::string> ready_keys_;                       //!< keys with waiting rows and none in flight
    std::unordered_map<std::string, std::int64_t> in_flight_;  //!< event id → position
    struct KeyBackoff {
        std::chrono::milliseconds delay{0};
        Clock::time_point until{};
    };
    std::unordered_map<std::string, KeyBackoff> backing_off_;  //!< keys whose last publish failed
    Outcomes outcomes_;

    postgres::AdvisoryKey awake_key_, gate_key_;
    bool awake_ = false;
    bool more_waiting_ = true;
    Clock::time_point last_query_{}, last_rows_at_{}, next_sleep_attempt_{}, backoff_until_{},
        last_lost_check_{}, last_failure_logged_{}, lease_until_{};
    std::chrono::milliseconds backoff_{0};
    std::mt19937 random_{std::random_device{}()};
};

std::string_view to_string(PublishedRows mode) noexcept {
    switch (mode) {
        case PublishedRows::log: return "log";
        case PublishedRows::keep: return "keep";
        case PublishedRows::discard: return "discard";
    }
    return "?";
}

std::optional<PublishedRows> parse_published_rows(std::string_view text) noexcept {
    for (const auto mode : {PublishedRows::log, PublishedRows::keep, PublishedRows::discard}) {
        if (text == to_string(mode)) return mode;
    }
    return std::nullopt;
}

Relay::Relay(RelayOptions options, nats::Connection& nats, RelayHooks hooks)
    : options_(std::move(options)),
      nats_(nats),
      hooks_(std::move(hooks)),
      counters_(std::make_unique<Counters>()),
      sessions_(std::make_unique<Sessions>()) {
    if (options_.context.empty()) raise(Errc::invalid_argument, "a relay needs a context name");
    if (options_.database.empty()) {
        raise(Errc::invalid_argument, "relay for context '{}' has no database connection string",
              options_.context);
    }
    if (options_.batch_size == 0) raise(Errc::invalid_argument, "relay batch_size must be at least 1");
    if (options_.max_in_flight == 0) raise(Errc::invalid_argument, "relay max_in_flight must be at least 1");
    if (options_.instance_name.empty()) options_.instance_name = "relay-" + options_.context;

    nats::JetStreamOptions js_options;
    js_options.publish_timeout = options_.publish_timeout;
    js_options.max_pending_async = static_cast<std::int64_t>(options_.max_in_flight) + 16;
    js_options.on_publish_result = [events = &sessions_->events](const nats::AsyncPublishResult& result) {
        events->push_result(result);
    };
    sessions_->jetstream = std::make_unique<nats::JetStream>(nats_, std::move(js_options));
}

Relay::~Relay() {
    stop();
}

void Relay::start() {
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void Relay::stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
}

RelayStatistics Relay::statistics() const {
    return RelayStatistics{
        .published = counters_->published.load(),
        .duplicates = counters_->duplicates.load(),
        .publish_errors = counters_->publish_errors.load(),
        .rejected = counters_->rejected.load(),
        .rounds = counters_->rounds.load(),
        .leadership_changes = counters_->leadership_changes.load(),
        .restarts = counters_->restarts.load(),
        .hook_errors = counters_->hook_errors.load(),
        .rows_below_scan_floor = counters_->rows_below_scan_floor.load(),
        .scan_floor = counters_->scan_floor.load(),
        .vacuums = counters_->vacuums.load(),
        .leader = leader_.load(),
    };
}

void Relay::sleep_interruptibly(std::chrono::milliseconds duration) {
    const auto deadline = Clock::now() + duration;
    while (!stopping_ && Clock::now() < deadline) {
        std::this_thread::sleep_for(
            std::min<Clock::duration>(std::chrono::milliseconds(50), deadline - Clock::now()));
    }
}

void Relay::hook_failed(const std::optional<std::string>& error) {
    if (error && counters_->hook_errors++ == 0)
        spdlog::error("relay {}: a hook threw (counted; later ones are not logged): {}",
                      options_.instance_name, *error);
}

void Relay::run() {
    auto& sessions = *sessions_;
    RestartBackoff restart(std::chrono::seconds(1), std::chrono::seconds(30));
    while (!stopping_) {
        try {
            fail_point("relay.election.round");
            if (!sessions.lock || !sessions.lock->is_alive()) {
                // Its statements never wait for anything: anything slower than the lease is a fault.
                sessions.lock =
                    open_session(options_, options_.instance_name + "/leadership", leadership_lease);
                sessions.key = sessions.lock->advisory_key(outbox::schema::relay_lock_space,
                                                           "relay/" + options_.context);
            }
            if (!sessions.lock->try_advisory_lock(*sessions.key)) {
                health_.round_completed();
                restart.reset();
                sleep_interruptibly(options_.election_interval);
                continue;
            }
            leader_ = true;
            ++counters_->leadership_changes;
            spdlog::info("relay {}: leading context '{}'", options_.instance_name, options_.context);
            lead();
            restart.reset();
        } catch (const Error& error) {
            // PostgreSQL or NATS failed: expected in operation.
            health_.failed(error.what());
            spdlog::warn("relay {}: context '{}': {}; retrying", options_.instance_name, options_.context,
                         error.what());
            sleep_interruptibly(std::chrono::milliseconds(500));
        } catch (...) {
            const auto what = current_exception_text();
            health_.failed(what);
            ++counters_->restarts;
            const auto delay = restart.next();
            spdlog::error(
                "relay {}: context '{}': unexpected error: {}; starting over with fresh sessions in {} ms",
                options_.instance_name, options_.context, what, delay.count());
            sleep_interruptibly(delay);
        }
        if (leader_.exchange(false)) {
            spdlog::info("relay {}: no longer leading context '{}'", options_.instance_name,
                         options_.context);
        }
        // Whatever went wrong, the next leader starts from a clean slate: a fresh lock
        // session (releasing the lock if this one still holds it) and work session (its
        // awake and gate locks go with it, so producers notify again).
        sessions.lock.reset();
        sessions.work.reset();
    }
}

void Relay::lead() {
    sessions_->work = open_session(options_, options_.instance_name, work_statement_timeout);
    Leader(*this).run();
}

}  // namespace seamq::relay
