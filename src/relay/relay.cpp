#include "seamq/relay/relay.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "seamq/nats/error.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/param.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::relay {

namespace {

using Clock = std::chrono::steady_clock;

//! Advisory-lock space of relay leadership (db/migrations/README.md lists the spaces).
constexpr std::int32_t relay_lock_space = 24226;
//! The channel seamq.outbox_events' insert trigger notifies, with the context as payload.
constexpr std::string_view outbox_channel = "seamq_outbox";

constexpr std::string_view select_pending_sql = R"sql(
    SELECT id, subject, type, envelope::text AS envelope,
           envelope ->> 'traceparent' AS traceparent, envelope ->> 'tracestate' AS tracestate
    FROM seamq.outbox_events
    WHERE context = $1 AND status = 'pending'
    ORDER BY position
    LIMIT $2)sql";

constexpr std::string_view mark_published_sql = R"sql(
    UPDATE seamq.outbox_events AS o
    SET status = 'published', published_at = now(), stream_sequence = u.sequence,
        attempts = o.attempts + 1, last_error = NULL
    FROM unnest($1::text[], $2::bigint[]) AS u(id, sequence)
    WHERE o.id = u.id AND o.status = 'pending')sql";

constexpr std::string_view mark_rejected_sql = R"sql(
    UPDATE seamq.outbox_events AS o
    SET status = 'rejected', attempts = o.attempts + 1, last_error = u.error
    FROM unnest($1::text[], $2::text[]) AS u(id, error)
    WHERE o.id = u.id AND o.status = 'pending')sql";

constexpr std::string_view mark_failed_sql = R"sql(
    UPDATE seamq.outbox_events AS o
    SET attempts = o.attempts + 1, last_error = u.error
    FROM unnest($1::text[], $2::text[]) AS u(id, error)
    WHERE o.id = u.id AND o.status = 'pending')sql";

struct Row {
    std::string id;
    std::string ordering_key;
    nats::OutgoingMessage message;
    Clock::time_point sent_at{};
};

}  // namespace

struct Relay::Counters {
    std::atomic<std::uint64_t> published{0};
    std::atomic<std::uint64_t> duplicates{0};
    std::atomic<std::uint64_t> publish_errors{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::uint64_t> rounds{0};
    std::atomic<std::uint64_t> leadership_changes{0};
};

//! Results of async publishes travel from nats.c's reply thread to the relay's thread.
struct ResultQueue {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<nats::AsyncPublishResult> results;

    void push(const nats::AsyncPublishResult& result) {
        {
            std::lock_guard lock(mutex);
            results.push_back(result);
        }
        ready.notify_one();
    }

    std::optional<nats::AsyncPublishResult> pop(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        if (!ready.wait_for(lock, timeout, [&] { return !results.empty(); })) return std::nullopt;
        auto result = std::move(results.front());
        results.pop_front();
        return result;
    }

    void clear() {
        std::lock_guard lock(mutex);
        results.clear();
    }
};

struct Relay::Sessions {
    // The lock session only holds the leadership: it must not be busy with, or broken by,
    // the work session's statements.
    std::unique_ptr<postgres::Connection> lock;
    std::unique_ptr<postgres::Connection> work;
    std::optional<postgres::AdvisoryKey> key;
    ResultQueue queue;
    std::unique_ptr<nats::JetStream> jetstream;
    std::chrono::milliseconds backoff{0};
    std::mt19937 random{std::random_device{}()};
};

Relay::Relay(RelayOptions options, nats::Connection& nats, RelayHooks hooks)
    : options_(std::move(options)),
      nats_(nats),
      hooks_(std::move(hooks)),
      counters_(std::make_unique<Counters>()),
      sessions_(std::make_unique<Sessions>()) {
    if (options_.context.empty()) raise(Errc::invalid_argument, "a relay needs a context name");
    if (options_.database.empty()) {
        raise(Errc::invalid_argument, "relay for context '{}' has no database connection string", options_.context);
    }
    if (options_.batch_size == 0) raise(Errc::invalid_argument, "relay batch_size must be at least 1");
    if (options_.max_in_flight == 0) raise(Errc::invalid_argument, "relay max_in_flight must be at least 1");
    if (options_.instance_name.empty()) options_.instance_name = "relay-" + options_.context;

    nats::JetStreamOptions js_options;
    js_options.publish_timeout = options_.publish_timeout;
    js_options.max_pending_async = static_cast<std::int64_t>(options_.max_in_flight) + 16;
    js_options.on_publish_result = [queue = &sessions_->queue](const nats::AsyncPublishResult& result) {
        queue->push(result);
    };
    sessions_->jetstream = std::make_unique<nats::JetStream>(nats_, std::move(js_options));
}

Relay::~Relay() { stop(); }

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
        .leader = leader_.load(),
    };
}

void Relay::sleep_interruptibly(std::chrono::milliseconds duration) {
    const auto deadline = Clock::now() + duration;
    while (!stopping_ && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(50), deadline - Clock::now()));
    }
}

void Relay::run() {
    auto& sessions = *sessions_;
    while (!stopping_) {
        try {
            if (!sessions.lock || !sessions.lock->is_alive()) {
                sessions.lock = std::make_unique<postgres::Connection>(postgres::ConnectOptions{
                    .conninfo = options_.database, .application_name = options_.instance_name + "/leadership"});
                sessions.key = sessions.lock->advisory_key(relay_lock_space, "relay/" + options_.context);
            }
            if (!sessions.lock->try_advisory_lock(*sessions.key)) {
                sleep_interruptibly(options_.election_interval);
                continue;
            }
            leader_ = true;
            ++counters_->leadership_changes;
            spdlog::info("relay {}: leading context '{}'", options_.instance_name, options_.context);
            lead();
        } catch (const Error& error) {
            spdlog::warn("relay {}: context '{}': {}; retrying", options_.instance_name, options_.context,
                         error.what());
            sleep_interruptibly(std::chrono::milliseconds(500));
        }
        if (leader_.exchange(false)) {
            spdlog::info("relay {}: no longer leading context '{}'", options_.instance_name, options_.context);
        }
        // Whatever went wrong, the next leader starts from a clean slate: a fresh lock
        // session (releasing the lock if this one still holds it) and work session.
        sessions.lock.reset();
        sessions.work.reset();
    }
}

void Relay::lead() {
    auto& sessions = *sessions_;
    sessions.work = std::make_unique<postgres::Connection>(
        postgres::ConnectOptions{.conninfo = options_.database, .application_name = options_.instance_name});
    sessions.work->listen(outbox_channel);
    sessions.work->prepare("seamq_relay_select", select_pending_sql);
    sessions.backoff = std::chrono::milliseconds(0);
    auto last_lock_check = Clock::now();
    auto last_round = Clock::time_point{};

    while (!stopping_) {
        // Rows committed before LISTEN took effect are found by this first round.
        const std::size_t rows = publish_round();
        last_round = Clock::now();
        if (Clock::now() - last_lock_check > std::chrono::milliseconds(500)) {
            // A dead lock session means the lock is gone and a standby may lead already.
            if (!sessions.lock->ping()) {
                spdlog::warn("relay {}: leadership session lost", options_.instance_name);
                return;
            }
            last_lock_check = Clock::now();
        }
        if (sessions.backoff.count() > 0) {
            std::uniform_int_distribution<long> jitter(0, sessions.backoff.count() / 2);
            sleep_interruptibly(sessions.backoff + std::chrono::milliseconds(jitter(sessions.random)));
            continue;
        }
        if (rows == options_.batch_size) continue;  // more are waiting
        // Idle: wait for a NOTIFY (or the poll interval), waking often enough to stop
        // promptly and to keep checking the lock session.
        while (!stopping_ && Clock::now() - last_round < options_.poll_interval) {
            const auto wait = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(200),
                                                                  options_.poll_interval);
            if (sessions.work->wait_for_notification(wait)) {
                sessions.work->consume_notifications();
                break;
            }
            if (Clock::now() - last_lock_check > std::chrono::milliseconds(500)) {
                if (!sessions.lock->ping()) {
                    spdlog::warn("relay {}: leadership session lost", options_.instance_name);
                    return;
                }
                last_lock_check = Clock::now();
            }
        }
    }
}

std::size_t Relay::publish_round() {
    auto& sessions = *sessions_;
    auto& work = *sessions.work;
    auto& jetstream = *sessions.jetstream;

    const auto result = work.exec_prepared("seamq_relay_select", options_.context,
                                           static_cast<std::int64_t>(options_.batch_size));
    const auto row_count = static_cast<std::size_t>(result.rows());
    if (row_count == 0) return 0;
    ++counters_->rounds;
    const int id_column = result.column("id"), key_column = result.column("subject"),
              type_column = result.column("type"), envelope_column = result.column("envelope"),
              traceparent_column = result.column("traceparent"), tracestate_column = result.column("tracestate");

    // Per ordering key, its rows in position order; only the head of each is in flight.
    std::vector<Row> rows;
    rows.reserve(row_count);
    std::unordered_map<std::string, std::deque<std::size_t>> waiting_by_key;
    std::unordered_map<std::string, std::size_t> index_by_id;
    for (int i = 0; i < static_cast<int>(row_count); ++i) {
        Row row;
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
        index_by_id.emplace(row.id, rows.size());
        waiting_by_key[row.ordering_key].push_back(rows.size());
        rows.push_back(std::move(row));
    }

    std::vector<std::string> published_ids, published_sequences;
    std::vector<std::string> rejected_ids, rejected_errors;
    std::vector<std::string> failed_ids, failed_errors;
    std::size_t in_flight = 0;
    std::deque<std::string> keys_waiting_for_capacity;
    bool transient_failure = false;

    const auto fail = [&](const Row& row, const std::string& error) {
        failed_ids.push_back(row.id);
        failed_errors.push_back(error);
        ++counters_->publish_errors;
        transient_failure = true;
    };
    const auto reject = [&](const Row& row, const std::string& error) {
        rejected_ids.push_back(row.id);
        rejected_errors.push_back(error);
        ++counters_->rejected;
        spdlog::error("relay {}: event {} ({}) rejected for good: {}", options_.instance_name, row.id,
                      row.message.subject, error);
    };
    // Sends the next row of `key`, if any; rows after a transient failure stay pending.
    std::function<void(const std::string&)> dispatch_next = [&](const std::string& key) {
        if (in_flight >= options_.max_in_flight) {
            keys_waiting_for_capacity.push_back(key);
            return;
        }
        auto& queue = waiting_by_key[key];
        while (!queue.empty() && !transient_failure && !stopping_) {
            Row& row = rows[queue.front()];
            queue.pop_front();
            try {
                row.sent_at = Clock::now();
                jetstream.publish_async(row.message);
                ++in_flight;
                return;
            } catch (const nats::NatsError& error) {
                if (error.transient()) {
                    fail(row, error.what());
                    return;
                }
                reject(row, error.what());  // e.g. larger than the server's max_payload
            }
        }
    };

    sessions.queue.clear();
    for (auto& [key, queue] : waiting_by_key) dispatch_next(key);

    // Every async publish reports within publish_timeout (MaxWait), so this is bounded.
    const auto result_wait = options_.publish_timeout + std::chrono::seconds(5);
    while (in_flight > 0) {
        while (in_flight < options_.max_in_flight && !keys_waiting_for_capacity.empty()) {
            const auto key = std::move(keys_waiting_for_capacity.front());
            keys_waiting_for_capacity.pop_front();
            dispatch_next(key);
        }
        if (in_flight == 0) break;
        auto outcome = sessions.queue.pop(result_wait);
        if (!outcome) {
            // Lost results: take the messages back; they stay pending and are resent.
            for (const auto& message : jetstream.take_pending_async_messages()) {
                if (auto found = index_by_id.find(message.message_id); found != index_by_id.end()) {
                    fail(rows[found->second], "no PubAck within the publish timeout");
                }
            }
            break;
        }
        --in_flight;
        const auto found = index_by_id.find(outcome->message_id);
        if (found == index_by_id.end()) continue;  // a late result from an earlier round
        Row& row = rows[found->second];
        if (outcome->ok()) {
            published_ids.push_back(row.id);
            published_sequences.push_back(std::to_string(outcome->ack->sequence));
            ++counters_->published;
            if (outcome->ack->duplicate) ++counters_->duplicates;
            if (hooks_.on_puback_latency) hooks_.on_puback_latency(Clock::now() - row.sent_at);
            if (hooks_.on_published) hooks_.on_published(row.id);
            dispatch_next(row.ordering_key);
            continue;
        }
        const std::string error = fmt::format("{} (status {}, JetStream error {})", outcome->error, outcome->status,
                                              outcome->js_error_code);
        bool permanent = outcome->kind == nats::ErrorKind::permanent;
        if (!permanent && (outcome->status == NATS_NO_RESPONDERS || outcome->js_error_code == 10076)) {
            // No responders means an election, or that no stream captures the subject.
            try {
                permanent = !jetstream.stream_for_subject(row.message.subject).has_value();
            } catch (const Error&) {
                permanent = false;  // cannot tell now: retry later
            }
        }
        if (permanent) {
            reject(row, permanent && outcome->kind != nats::ErrorKind::permanent
                            ? fmt::format("no JetStream stream captures subject '{}'", row.message.subject)
                            : error);
            dispatch_next(row.ordering_key);
        } else {
            fail(row, error);
        }
    }

    // One transaction records the round: if it fails, every row stays pending and is
    // published again with the same id, which the stream's duplicate window absorbs.
    postgres::Transaction transaction(work);
    if (!published_ids.empty()) {
        transaction.exec(mark_published_sql, postgres::array_literal(published_ids),
                         postgres::array_literal(published_sequences));
    }
    if (!rejected_ids.empty()) {
        transaction.exec(mark_rejected_sql, postgres::array_literal(rejected_ids),
                         postgres::array_literal(rejected_errors));
    }
    if (!failed_ids.empty()) {
        transaction.exec(mark_failed_sql, postgres::array_literal(failed_ids), postgres::array_literal(failed_errors));
    }
    transaction.commit();

    if (transient_failure) {
        sessions.backoff = std::clamp(sessions.backoff * 2, options_.retry_initial, options_.retry_max);
        spdlog::warn("relay {}: {} of {} events not published yet ({}); retrying in {} ms", options_.instance_name,
                     failed_ids.size(), row_count, failed_errors.front(), sessions.backoff.count());
    } else {
        sessions.backoff = std::chrono::milliseconds(0);
    }
    return row_count;
}

}  // namespace seamq::relay
