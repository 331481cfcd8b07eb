#include "seamq/inbox/consumer.hpp"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "seamq/core/error.hpp"
#include "seamq/dead_letters/dead_letter.hpp"
#include "seamq/nats/error.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/pull_consumer.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/error.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::inbox {

namespace {

// Claims the inbox row for this delivery inside the handler's transaction. A row that is
// already processed is left alone and nothing is returned: the message is a duplicate.
// A row left by failed attempts (processing) or by dead-lettering (failed: a replay) is
// taken over. Concurrent deliveries of one message serialize on the primary key: the
// second waits for the first transaction and then sees its outcome.
constexpr std::string_view claim_sql = R"(
INSERT INTO seamq.inbox_messages AS row
       (consumer, message_id, status, attempts, first_seen_at, processed_at, stream, stream_sequence)
VALUES ($1, $2, 'processed', 1, now(), now(), $3, $4)
ON CONFLICT (consumer, message_id) DO UPDATE
   SET status = 'processed', attempts = row.attempts + 1, processed_at = now(),
       stream = EXCLUDED.stream, stream_sequence = EXCLUDED.stream_sequence
 WHERE row.status <> 'processed'
RETURNING attempts)";

// Records a failed attempt (or the dead-lettering, with status 'failed') after the
// handler's transaction rolled back; returns when the first failure was recorded.
constexpr std::string_view failure_sql = R"(
INSERT INTO seamq.inbox_messages AS row
       (consumer, message_id, status, attempts, first_seen_at, last_error, stream, stream_sequence)
VALUES ($1, $2, $5, 1, now(), $6, $3, $4)
ON CONFLICT (consumer, message_id) DO UPDATE
   SET status = EXCLUDED.status, attempts = row.attempts + 1, last_error = EXCLUDED.last_error,
       stream = EXCLUDED.stream, stream_sequence = EXCLUDED.stream_sequence
 WHERE row.status <> 'processed'
RETURNING first_seen_at::text)";

// claim_sql for a whole batch in one round trip (handlers whose effects are all in the
// transaction): returns the ids claimed; the others were processed before (duplicates).
// Rows are locked in id order, so two workers claiming overlapping batches cannot deadlock
// on each other's claims.
constexpr std::string_view claim_batch_sql = R"(
INSERT INTO seamq.inbox_messages AS row
       (consumer, message_id, status, attempts, first_seen_at, processed_at, stream, stream_sequence)
SELECT $1, delivery.message_id, 'processed', 1, now(), now(), delivery.stream, delivery.stream_sequence
  FROM unnest($2::text[], $3::text[], $4::bigint[]) AS delivery(message_id, stream, stream_sequence)
 ORDER BY delivery.message_id
ON CONFLICT (consumer, message_id) DO UPDATE
   SET status = 'processed', attempts = row.attempts + 1, processed_at = now(),
       stream = EXCLUDED.stream, stream_sequence = EXCLUDED.stream_sequence
 WHERE row.status <> 'processed'
RETURNING message_id)";

constexpr const char* claim_statement = "seamq_inbox_claim";
constexpr const char* claim_batch_statement = "seamq_inbox_claim_batch";
constexpr const char* failure_statement = "seamq_inbox_failure";

std::string shorten(std::string text, std::size_t limit = 1000) {
    if (text.size() > limit) {
        text.resize(limit);
        text += "...";
    }
    return text;
}

std::optional<std::chrono::system_clock::time_point> parse_postgres_time(std::string text) {
    // PostgreSQL's timestamptz text: "2024-05-01 12:00:00.123456+00"
    if (text.size() > 10 && text[10] == ' ') text[10] = 'T';
    if (text.size() > 3 && (text[text.size() - 3] == '+' || text[text.size() - 3] == '-')) text += ":00";
    return dead_letters::parse_time(text);
}

// Runs one piece of work at a time on a thread kept for the consumer's life, so the
// next batch is fetched and validated while the current batch's transaction runs. A
// thread per batch (std::async) cost a thread start, cold caches and a fresh malloc
// arena each time.
template <typename Result>
class Prefetch {
public:
    explicit Prefetch(std::function<Result()> work) : work_(std::move(work)), thread_([this] { loop(); }) {}
    ~Prefetch() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
        }
        changed_.notify_all();
        thread_.join();  // waits for work under way: a fetch is bounded by fetch_wait
    }
    Prefetch(const Prefetch&) = delete;
    Prefetch& operator=(const Prefetch&) = delete;

    //! Starts the work; call it when !started().
    void start() {
        std::lock_guard lock(mutex_);
        requested_ = true;
        changed_.notify_all();
    }
    //! Work was started and its result not taken yet.
    bool started() const {
        std::lock_guard lock(mutex_);
        return requested_ || ready_;
    }
    //! Waits for the started work's result; rethrows what it threw.
    Result take() {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return ready_; });
        ready_ = false;
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
        Result result = std::move(*result_);
        result_.reset();
        return result;
    }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (true) {
            changed_.wait(lock, [&] { return quit_ || requested_; });
            if (quit_) return;
            lock.unlock();  // requested_ stays set while the work runs
            std::optional<Result> result;
            std::exception_ptr error;
            try {
                result.emplace(work_());
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            requested_ = false;
            result_ = std::move(result);
            error_ = error;
            ready_ = true;
            changed_.notify_all();
        }
    }

    std::function<Result()> work_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    bool requested_ = false, ready_ = false, quit_ = false;
    std::optional<Result> result_;
    std::exception_ptr error_;
    std::thread thread_;  // last: starts when the members it uses exist
};

// Sends +WPI (work in progress) every `period` for each message the consumer holds, on a
// thread of its own: a message fetched and not yet settled is not redelivered to another
// worker however long its handler, its batch or the batch before it takes, so the ack
// wait can be short and a crashed worker's messages come back within it. It publishes
// from copies of the reply subjects (nats.c's publish is thread-safe) and never touches
// the nats::Message objects, which belong to the consumer's thread.
class ProgressHeartbeat {
public:
    ProgressHeartbeat(natsConnection* connection, std::chrono::milliseconds period, std::string name)
        : connection_(connection), period_(period), name_(std::move(name)), thread_([this] { loop(); }) {}
    ~ProgressHeartbeat() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    ProgressHeartbeat(const ProgressHeartbeat&) = delete;
    ProgressHeartbeat& operator=(const ProgressHeartbeat&) = delete;

    //! Keeps `message` in progress until release(); the first +WPI goes out a period from now.
    void hold(const nats::Message& message) {
        if (!message.is_jetstream()) return;
        std::lock_guard lock(mutex_);
        held_.insert_or_assign(std::string(message.reply()), std::chrono::steady_clock::now() + period_);
    }
    //! Call it before settling `message`: a +WPI that reached the server after a NAK with
    //! delay would restart the ack wait in place of the delay. Publishing under the lock
    //! keeps every +WPI for it ahead of the settling ack on the connection.
    void release(const nats::Message& message) {
        if (!message.is_jetstream()) return;
        std::lock_guard lock(mutex_);
        held_.erase(std::string(message.reply()));
    }

private:
    void loop() {
        std::unique_lock lock(mutex_);
        while (!quit_) {
            const auto now = std::chrono::steady_clock::now();
            auto next = now + period_;
            std::size_t failures = 0;
            for (auto& [reply, due] : held_) {
                // Those due within a quarter period go now too: one wake-up per batch.
                if (due <= now + period_ / 4) {
                    if (natsConnection_Publish(connection_, reply.c_str(), "+WPI", 4) != NATS_OK) ++failures;
                    due = now + period_;
                }
                next = std::min(next, due);
            }
            // Lost ones only shorten the time to a redelivery, which the inbox absorbs.
            if (failures > 0)
                spdlog::debug("inbox consumer {}: {} in-progress acks not sent", name_, failures);
            changed_.wait_until(lock, next, [&] { return quit_; });
        }
    }

    natsConnection* connection_;
    std::chrono::milliseconds period_;
    std::string name_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool quit_ = false;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> held_;  //!< reply -> next +WPI
    std::thread thread_;  // last: starts when the members it uses exist
};

bool is_database_failure(const postgres::SqlError& error) {
    return error.is_connection_lost() || error.is_serialization_failure() ||
           error.sqlstate() == postgres::sqlstate::query_canceled;
}

}  // namespace

//! What happened to one message of a batch.
enum class Outcome {
    pending,
    processed,
    duplicate,
    failed,
    permanent,
    poison,
    over_delivered,
    skipped,
    unsettled
};

struct InboxConsumer::BatchItem {
    nats::Message message;
    nats::MessageMetadata metadata;
    std::optional<envelope::Envelope> envelope;
    Outcome outcome = Outcome::pending;
    std::string error;
};

struct InboxConsumer::Batch {
    using Item = BatchItem;
    std::vector<Item> items;
};

struct InboxConsumer::Counters {
    std::atomic<std::uint64_t> processed{0}, duplicates{0}, retried{0}, dead_lettered{0}, poison{0},
        skipped_replays{0}, transactions{0}, infrastructure_errors{0}, retention_removed{0},
        over_delivered{0}, restarts{0}, hook_errors{0};
};

struct InboxConsumer::Session {
    std::unique_ptr<postgres::Connection> database;
    std::unique_ptr<nats::JetStream> jetstream;
    std::unique_ptr<nats::PullConsumer> pull;
    std::mt19937_64 random{std::random_device{}()};
    // Acks of a batch go out together and their confirmations are awaited together:
    // AckSync semantics at one round trip per batch instead of one per message.
    std::string ack_inbox;
    nats::Subscription ack_replies;
    std::uint64_t ack_counter = 0;
    // The last batch's acks whose confirmation has not arrived yet; collected before the
    // next batch's acks go out (or when idle, or stopping), so the wait overlaps work.
    std::set<std::string> awaiting_confirmation;
    std::size_t acks_sent = 0;
    std::chrono::steady_clock::time_point confirmation_deadline{};
    // While run_rounds() runs: keeps the fetched messages in progress until settled.
    ProgressHeartbeat* heartbeat = nullptr;
    void release(const nats::Message& message) const {
        if (heartbeat != nullptr) heartbeat->release(message);
    }
};

void check_options(const ConsumerOptions& options) {
    auto fail = [&](std::string_view field, const std::string& reason) {
        raise(Errc::config, "consumer '{}': {}: {}", options.name, field, reason);
    };
    // The name is a NATS token and part of the DLQ subject.
    if (options.name.empty() || options.name.size() > 200 ||
        options.name.find_first_of(" \t\r\n.*>/\\") != std::string::npos)
        fail("name", "must be 1..200 characters without spaces, '.', '*', '>', '/' or '\\'");
    if (options.context.empty() || options.context.find_first_of(" \t\r\n.*>") != std::string::npos)
        fail("context", fmt::format("'{}' is not a context name (e.g. sea)", options.context));
    if (options.stream.empty()) fail("stream", "is required (e.g. SEA_EVENTS)");
    if (options.database.empty()) fail("database", "is required");
    if (options.max_deliver < 1)
        fail("max_deliver", fmt::format("must be at least 1, got {}", options.max_deliver));
    if (options.retry_delays.empty()) fail("retry_delays", "must list at least one delay");
    for (const auto delay : options.retry_delays) {
        if (delay.count() < 0) fail("retry_delays", "delays cannot be negative");
    }
    if (options.retry_jitter < 0 || options.retry_jitter > 0.5)
        fail("retry_jitter", fmt::format("must be within 0..0.5, got {}", options.retry_jitter));
    if (options.ack_wait < std::chrono::seconds(1)) fail("ack_wait", "must be at least 1s");
    if (options.batch_size < 1 || options.batch_size > 1000)
        fail("batch_size", fmt::format("must be within 1..1000, got {}", options.batch_size));
    if (options.max_ack_pending < options.batch_size)
        fail("max_ack_pending", fmt::format("({}) must be at least batch_size ({})", options.max_ack_pending,
                                            options.batch_size));
    if (options.fetch_wait < std::chrono::milliseconds(10)) fail("fetch_wait", "must be at least 10ms");
    if (options.retention_interval.count() > 0) check_retention(options.retention);
}

InboxConsumer::InboxConsumer(ConsumerOptions options, nats::Connection& nats,
                             std::shared_ptr<Handler> handler, const envelope::DataContracts* contracts,
                             ConsumerHooks hooks)
    : options_(std::move(options)),
      nats_(nats),
      handler_(std::move(handler)),
      validator_(envelope::Limits{}, contracts),
      hooks_(std::move(hooks)),
      counters_(std::make_unique<Counters>()),
      session_(std::make_unique<Session>()) {
    if (!handler_) raise(Errc::config, "consumer '{}': no handler given", options_.name);
    batch_handler_ = dynamic_cast<BatchHandler*>(handler_.get());
    options_.retention.consumer = options_.name;
    check_options(options_);
    if (options_.dead_letter_stream.empty())
        options_.dead_letter_stream = dead_letters::dead_letter_stream_name(options_.context);
}

InboxConsumer::~InboxConsumer() {
    stop(std::chrono::steady_clock::now() + std::chrono::seconds(30));
}

nats::ConsumerConfig InboxConsumer::consumer_config() const {
    nats::ConsumerConfig config;
    config.durable_name = options_.name;
    config.description = fmt::format("sea-mq inbox consumer of context {}", options_.context);
    config.filter_subject = options_.filter_subject;
    config.deliver_policy = nats::DeliverPolicy::all;
    config.ack_policy = nats::AckPolicy::explicit_ack;
    config.ack_wait = options_.ack_wait;
    config.max_deliver = -1;  // counted by the consumer itself: see the class comment
    config.max_ack_pending = options_.max_ack_pending;
    return config;
}

nats::ConsumerInfo InboxConsumer::ensure_consumer() {
    if (!session_->jetstream) {
        nats::JetStreamOptions jetstream_options;
        jetstream_options.publish_timeout = options_.dead_letter_timeout;
        session_->jetstream = std::make_unique<nats::JetStream>(nats_, jetstream_options);
    }
    auto& jetstream = *session_->jetstream;
    const auto config = consumer_config();
    // Several workers may start at once: an add that loses the race finds the consumer
    // there and updates it instead (an update to the same settings changes nothing).
    for (int attempt = 0; attempt < 3; ++attempt) {
        const auto existing = jetstream.consumer_info(options_.stream, options_.name);
        try {
            if (!existing) return jetstream.add_consumer(options_.stream, config);
            if (!existing->config.deliver_subject.empty())
                raise(Errc::config,
                      "consumer '{}' on stream {} is a push consumer; sea-mq needs a pull consumer of that "
                      "name "
                      "(delete it with care, or choose another name)",
                      options_.name, options_.stream);
            return jetstream.update_consumer(options_.stream, config);
        } catch (const nats::NatsError& error) {
            if (attempt == 2 || error.transient()) throw;
            if (existing) {
                raise(Errc::config,
                      "consumer '{}' on stream {} exists with settings that cannot change in place ({}); "
                      "delete it deliberately or choose another name",
                      options_.name, options_.stream, error.what());
            }
        }
    }
    raise(Errc::internal, "consumer '{}': could not create or update it", options_.name);
}

void InboxConsumer::start() {
    try {
        ensure_consumer();
    } catch (const nats::NatsError& error) {
        // The stream is applied after the worker started (a deployment race) or NATS is not
        // there yet: the loop creates the consumer once it can. Settings that cannot work
        // stay errors.
        if (error.js_error_code() != JSStreamNotFoundErr && !error.transient()) throw;
        health_.failed(error.what());
        spdlog::warn("inbox consumer {}: {}; it is created as soon as it can be", options_.name,
                     error.what());
    }
    if (thread_.joinable()) return;
    stopping_ = false;
    {
        std::lock_guard lock(mutex_);
        finished_ = false;
    }
    thread_ = std::thread([this] {
        run();  // returns only when stopping: it restarts its loop after any failure
        std::lock_guard lock(mutex_);
        finished_ = true;
        changed_.notify_all();
    });
}

void InboxConsumer::request_stop() {
    stopping_ = true;
    changed_.notify_all();
}

bool InboxConsumer::stop(std::chrono::steady_clock::time_point deadline) {
    request_stop();
    if (!thread_.joinable()) return true;
    bool in_time = false;
    {
        std::unique_lock lock(mutex_);
        in_time = changed_.wait_until(lock, deadline, [&] { return finished_; });
    }
    thread_.join();
    return in_time;
}

ConsumerStatistics InboxConsumer::statistics() const {
    ConsumerStatistics result;
    result.processed = counters_->processed;
    result.duplicates = counters_->duplicates;
    result.retried = counters_->retried;
    result.dead_lettered = counters_->dead_lettered;
    result.poison = counters_->poison;
    result.skipped_replays = counters_->skipped_replays;
    result.transactions = counters_->transactions;
    result.infrastructure_errors = counters_->infrastructure_errors;
    result.retention_removed = counters_->retention_removed;
    result.over_delivered = counters_->over_delivered;
    result.restarts = counters_->restarts;
    result.hook_errors = counters_->hook_errors;
    return result;
}

void InboxConsumer::sleep_interruptibly(std::chrono::milliseconds duration) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, duration, [&] { return stopping_.load(); });
}

void InboxConsumer::connect_database() {
    if (session_->database && session_->database->is_alive()) return;
    postgres::ConnectOptions connect_options;
    connect_options.conninfo = options_.database;
    connect_options.application_name = fmt::format("{} inbox {}", options_.instance_name, options_.name);
    // A worker cut off mid-transaction holds its messages' inbox rows; another worker's
    // claim of a redelivery waits behind them until the server ends the silent session.
    connect_options.server_tcp_user_timeout = connect_options.tcp_user_timeout;
    session_->database.reset();
    auto connection = std::make_unique<postgres::Connection>(connect_options);
    connection->prepare(claim_statement, claim_sql);
    connection->prepare(claim_batch_statement, claim_batch_sql);
    connection->prepare(failure_statement, failure_sql);
    session_->database = std::move(connection);
}

void InboxConsumer::maybe_run_retention() {
    if (options_.retention_interval.count() <= 0) return;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_retention_) return;
    next_retention_ = now + options_.retention_interval;
    // Read each time: the stream's max_age may have changed since the last run. A row goes
    // only when the stream cannot redeliver its message any more (README, "Retention").
    if (!session_->jetstream) return;  // ensure_consumer() creates it before the first round
    const auto stream = session_->jetstream->stream_info(options_.stream);
    if (!stream) return;  // no stream, nothing to judge by: keep every row
    const auto horizon = replay_safe_horizon(options_.retention, stream->config.max_age);
    if (!horizon) {
        if (!retention_kept_logged_)
            spdlog::info(
                "inbox consumer {}: stream {} keeps messages forever (max_age unlimited), so processed "
                "inbox rows are kept: a recreated consumer replays every message",
                options_.name, options_.stream);
        retention_kept_logged_ = true;
        return;
    }
    retention_kept_logged_ = false;
    auto options = options_.retention;
    options.horizon = *horizon;
    const auto report = remove_expired(*session_->database, options);
    counters_->retention_removed += report.removed;
    if (report.removed > 0)
        spdlog::info("inbox consumer {}: retention removed {} processed rows older than {}s", options_.name,
                     report.removed, horizon->count());
}

void InboxConsumer::run() {
    while (!stopping_) {
        try {
            run_rounds();
        } catch (...) {
            const auto what = current_exception_text();
            health_.failed(what);
            ++counters_->restarts;
            const auto delay = restart_backoff_.next();
            spdlog::error(
                "inbox consumer {}: unexpected error: {}; restarting its loop with fresh sessions in {} ms",
                options_.name, what, delay.count());
            reset_session();
            sleep_interruptibly(delay);
        }
    }
}

void InboxConsumer::reset_session() {
    try {
        session_->pull.reset();
        session_->database.reset();
        session_->awaiting_confirmation.clear();
    } catch (...) {
        spdlog::warn("inbox consumer {}: closing the old sessions: {}", options_.name,
                     current_exception_text());
    }
}

void InboxConsumer::hook_failed(const std::optional<std::string>& error) {
    if (error && counters_->hook_errors++ == 0)
        spdlog::error("inbox consumer {}: a hook threw (counted; later ones are not logged): {}",
                      options_.name, *error);
}

void InboxConsumer::run_rounds() {
    std::chrono::milliseconds backoff{100};
    // Every fetched message is held in progress from its fetch until settled: the batch
    // in hand and the prefetched one.
    ProgressHeartbeat heartbeat(nats_.native(), options_.ack_wait / 3, options_.name);
    session_->heartbeat = &heartbeat;
    struct Detach {
        Session& session;
        ~Detach() { session.heartbeat = nullptr; }
    } detach{*session_};
    // The next batch is fetched and validated on a helper thread while this one's
    // transaction runs: NATS and the envelope checks overlap PostgreSQL.
    Prefetch<Batch> next([this, &heartbeat] {
        auto batch = prepare(fetch());
        for (const auto& item : batch.items) heartbeat.hold(item.message);
        return batch;
    });
    // Fetched, never handled (stopping, or the loop failed): back to JetStream for another
    // worker now instead of after ack_wait.
    const auto return_prefetched = [&] {
        if (!next.started()) return;
        try {
            for (auto& item : next.take().items) {
                heartbeat.release(item.message);
                item.message.nak();
            }
        } catch (...) {
            spdlog::debug("inbox consumer {}: returning the prefetched batch: {}", options_.name,
                          current_exception_text());
        }
    };
    while (!stopping_) {
        try {
            fail_point("inbox.consumer.round");
            if (!session_->jetstream || !session_->pull) {
                ensure_consumer();
                session_->pull = std::make_unique<nats::PullConsumer>(*session_->jetstream, options_.stream,
                                                                      options_.name);
            }
            connect_database();
            maybe_run_retention();
            if (!next.started()) next.start();
            auto batch = next.take();
            // Settling releases each message; this catches any a failure skipped, which would
            // otherwise stay in progress, never redelivered.
            struct ReleaseAll {
                ProgressHeartbeat& heartbeat;
                Batch& batch;
                ~ReleaseAll() {
                    for (const auto& item : batch.items) heartbeat.release(item.message);
                }
            } release_all{heartbeat, batch};
            if (batch.items.empty()) {
                collect_confirmations();
            } else {
                if (!stopping_) next.start();
                process(batch);
            }
            backoff = std::chrono::milliseconds(100);
            health_.round_completed();
            restart_backoff_.reset();
        } catch (const Error& error) {
            // PostgreSQL or NATS failed: expected in operation, retried in place.
            ++counters_->infrastructure_errors;
            health_.failed(error.what());
            spdlog::warn("inbox consumer {}: {}; retrying in {} ms", options_.name, error.what(),
                         backoff.count());
            if (const auto* sql = dynamic_cast<const postgres::SqlError*>(&error);
                sql && sql->is_connection_lost())
                session_->database.reset();
            sleep_interruptibly(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        } catch (...) {
            return_prefetched();
            throw;  // unexpected: run() restarts the loop
        }
    }
    return_prefetched();
    try {
        collect_confirmations();
    } catch (...) {
        spdlog::debug("inbox consumer {}: last ack confirmations: {}", options_.name,
                      current_exception_text());
    }
}

std::vector<nats::Message> InboxConsumer::fetch() {
    // Whatever is there now, up to a batch, without waiting for the batch to fill: under a
    // steady load the batch grows with the time the previous one took, so latency stays
    // about one batch's processing time. Only an idle consumer waits, for one message.
    auto& pull = *session_->pull;
    auto messages = pull.fetch_no_wait(options_.batch_size);
    if (!messages.empty()) return messages;
    messages = pull.fetch(1, options_.fetch_wait);
    if (messages.empty() || options_.batch_size == 1) return messages;
    auto more = pull.fetch_no_wait(options_.batch_size - 1);
    std::move(more.begin(), more.end(), std::back_inserter(messages));
    return messages;
}

std::chrono::milliseconds InboxConsumer::retry_delay(std::uint64_t delivery) {
    const auto index =
        std::min<std::size_t>(delivery == 0 ? 0 : delivery - 1, options_.retry_delays.size() - 1);
    const auto base = options_.retry_delays[index];
    if (options_.retry_jitter <= 0) return base;
    std::uniform_real_distribution<double> factor(1.0 - options_.retry_jitter, 1.0 + options_.retry_jitter);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(base.count()) * factor(session_->random)));
}

InboxConsumer::Batch InboxConsumer::prepare(std::vector<nats::Message> messages) const {
    Batch batch;
    batch.items.reserve(messages.size());
    for (auto& message : messages) {
        if (message.status_code() || !message.is_jetstream()) continue;
        Batch::Item item;
        item.message = std::move(message);
        // Whatever decoding throws is this message's outcome, never the batch's.
        try {
            item.metadata = item.message.metadata();
            if (const auto target = item.message.header(dead_letters::header::replay_for);
                target && *target != options_.name) {
                item.outcome = Outcome::skipped;
            } else {
                item.envelope = validator_.parse(item.message.payload());
                if (item.metadata.num_delivered > static_cast<std::uint64_t>(options_.max_deliver)) {
                    item.outcome = Outcome::over_delivered;
                    item.error = fmt::format(
                        "delivered {} times, more than max_deliver ({}), without being settled: the worker "
                        "stopped or the database failed while handling it; dead-lettered without handling "
                        "it again",
                        item.metadata.num_delivered, options_.max_deliver);
                }
            }
        } catch (...) {
            item.outcome = Outcome::poison;
            item.error = current_exception_text();
        }
        batch.items.push_back(std::move(item));
    }
    return batch;
}

void InboxConsumer::process(Batch& batch) {
    // Nothing of the batch is known to be committed when its transaction failed: its
    // messages are redelivered soon, and a commit that did happen makes them duplicates.
    const auto unsettle_all = [&] {
        for (auto& item : batch.items) {
            if (item.outcome == Outcome::processed || item.outcome == Outcome::duplicate ||
                item.outcome == Outcome::pending || item.outcome == Outcome::failed ||
                item.outcome == Outcome::permanent)
                item.outcome = Outcome::unsettled;
        }
    };
    std::exception_ptr unexpected;
    try {
        handle_in_transaction(batch);
    } catch (const Error& error) {
        // The database failed under the batch (connection lost, commit refused).
        ++counters_->infrastructure_errors;
        spdlog::warn("inbox consumer {}: transaction of {} messages failed: {}; they will be redelivered",
                     options_.name, batch.items.size(), error.what());
        if (const auto* sql = dynamic_cast<const postgres::SqlError*>(&error);
            !sql || sql->is_connection_lost())
            session_->database.reset();
        unsettle_all();
    } catch (...) {
        // Not a handler's failure (those are caught per message): the loop restarts after
        // the batch is given back.
        unexpected = std::current_exception();
        session_->database.reset();
        unsettle_all();
    }
    settle(batch);
    if (unexpected) std::rethrow_exception(unexpected);
}

namespace {

Delivery delivery_of(const std::string& consumer, InboxConsumer::BatchItem& item);

}  // namespace

void InboxConsumer::handle_in_transaction(Batch& batch) {
    std::vector<BatchItem*> candidates;
    for (auto& item : batch.items) {
        if (item.outcome == Outcome::pending) candidates.push_back(&item);
    }
    if (candidates.empty()) return;
    if (candidates.size() > 1 && handler_->effects_only_in_transaction()) {
        // A copy of one envelope twice in a batch would make the batch claim touch its row
        // twice: such batches take the savepoint path, which sees the second as a duplicate.
        std::set<std::string_view> ids;
        bool distinct = true;
        for (const auto* item : candidates) distinct = distinct && ids.insert(item->envelope->id()).second;
        if (distinct && handle_at_once(candidates)) return;
        // A handler failed: the batch was rolled back; the failed message keeps its outcome
        // and is not handled again, the others are handled again under savepoints.
        candidates.erase(
            std::remove_if(candidates.begin(), candidates.end(),
                           [](const BatchItem* item) { return item->outcome != Outcome::pending; }),
            candidates.end());
        if (candidates.empty()) return;
    }
    handle_with_savepoints(candidates);
}

bool InboxConsumer::handle_at_once(std::vector<BatchItem*>& candidates) {
    auto& connection = *session_->database;
    const auto started = std::chrono::steady_clock::now();
    postgres::Transaction transaction(connection);
    std::vector<std::string> ids, streams, sequences;
    ids.reserve(candidates.size());
    streams.reserve(candidates.size());
    sequences.reserve(candidates.size());
    for (const auto* item : candidates) {
        ids.push_back(item->envelope->id());
        streams.push_back(item->metadata.stream);
        sequences.push_back(std::to_string(item->metadata.stream_sequence));
    }
    const auto claimed_rows =
        connection.exec_prepared(claim_batch_statement, options_.name, postgres::array_literal(ids),
                                 postgres::array_literal(streams), postgres::array_literal(sequences));
    std::set<std::string, std::less<>> claimed;
    for (int row = 0; row < claimed_rows.rows(); ++row) claimed.emplace(claimed_rows.text(row, 0));

    if (batch_handler_ != nullptr) {
        std::vector<Delivery> deliveries;
        std::vector<BatchEntry> entries;
        deliveries.reserve(candidates.size());
        entries.reserve(candidates.size());
        for (auto* item : candidates) {
            if (!claimed.contains(item->envelope->id())) {
                item->outcome = Outcome::duplicate;
                continue;
            }
            deliveries.push_back(delivery_of(options_.name, *item));
            entries.push_back(BatchEntry{*item->envelope, deliveries.back()});
        }
        if (!entries.empty()) {
            try {
                batch_handler_->handle_batch(entries, transaction);
            } catch (const postgres::SqlError& error) {
                if (is_database_failure(error)) throw;
                return give_up_batch(transaction, candidates, nullptr, error.what());
            } catch (...) {
                return give_up_batch(transaction, candidates, nullptr, current_exception_text());
            }
        }
        try {
            transaction.commit();
        } catch (const postgres::SqlError& error) {
            if (is_database_failure(error) || !error.queued_ticket()) throw;
            return give_up_batch(transaction, candidates, nullptr, error.what());
        }
        for (auto* item : candidates) {
            if (item->outcome == Outcome::pending) item->outcome = Outcome::processed;
        }
        ++counters_->transactions;
        hook_failed(
            call_hook(hooks_.on_commit, std::chrono::steady_clock::now() - started, candidates.size()));
        return true;
    }

    BatchItem* failed = nullptr;
    // The queue tickets each handler took: a queued write that fails later (at COMMIT, or
    // flushed by another handler's statement) is the failure of the message that queued it.
    std::vector<std::pair<std::uint64_t, BatchItem*>> first_ticket;
    const auto culprit = [&](const postgres::SqlError& error, BatchItem* current) {
        if (!error.queued_ticket()) return current;
        BatchItem* owner = current;
        for (const auto& [ticket, item] : first_ticket) {
            if (ticket <= *error.queued_ticket()) owner = item;
        }
        return owner;
    };
    for (std::size_t i = 0; i < candidates.size() && failed == nullptr; ++i) {
        auto& item = *candidates[i];
        if (!claimed.contains(item.envelope->id())) {
            item.outcome = Outcome::duplicate;
            continue;
        }
        first_ticket.emplace_back(connection.queued_tickets() + 1, &item);
        try {
            handler_->handle(*item.envelope, delivery_of(options_.name, item), transaction);
            item.outcome = Outcome::processed;
        } catch (const PermanentFailure& error) {
            item.outcome = Outcome::permanent;
            item.error = error.what();
            failed = &item;
        } catch (const postgres::SqlError& error) {
            if (is_database_failure(error)) throw;
            failed = culprit(error, &item);
            failed->outcome = Outcome::failed;
            failed->error = error.what();
        } catch (...) {
            item.outcome = Outcome::failed;
            item.error = current_exception_text();
            failed = &item;
        }
    }
    if (failed != nullptr) return give_up_batch(transaction, candidates, failed, {});
    try {
        transaction.commit();
    } catch (const postgres::SqlError& error) {
        if (is_database_failure(error) || !error.queued_ticket()) throw;
        failed = culprit(error, nullptr);
        if (failed == nullptr) throw;
        failed->outcome = Outcome::failed;
        failed->error = error.what();
        return give_up_batch(transaction, candidates, failed, {});
    }
    ++counters_->transactions;
    hook_failed(call_hook(hooks_.on_commit, std::chrono::steady_clock::now() - started, candidates.size()));
    return true;
}

bool InboxConsumer::give_up_batch(postgres::Transaction& transaction, std::vector<BatchItem*>& candidates,
                                  const BatchItem* failed, std::string_view reason) {
    transaction.rollback();
    for (auto* item : candidates) {
        if (item != failed) item->outcome = Outcome::pending;
    }
    if (failed == nullptr)
        spdlog::debug("inbox consumer {}: batch of {} failed ({}); handling its messages one by one",
                      options_.name, candidates.size(), reason);
    return false;
}

void InboxConsumer::handle_with_savepoints(std::vector<BatchItem*>& candidates) {
    auto& connection = *session_->database;
    const auto started = std::chrono::steady_clock::now();
    // One message: the transaction is its own savepoint. Several: a SAVEPOINT each, so one
    // failure undoes only its own work.
    const bool savepoints = candidates.size() > 1;
    postgres::Transaction transaction(connection);
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        auto& item = *candidates[i];
        // The previous message's savepoint is released and the next one set in one round trip.
        if (savepoints) {
            connection.exec_script(
                i == 0 ? "SAVEPOINT seamq_inbox_message"
                       : "RELEASE SAVEPOINT seamq_inbox_message; SAVEPOINT seamq_inbox_message");
        }
        try {
            const auto claimed =
                connection.exec_prepared(claim_statement, options_.name, item.envelope->id(),
                                         item.metadata.stream, item.metadata.stream_sequence);
            if (claimed.empty()) {
                item.outcome = Outcome::duplicate;
            } else {
                handler_->handle(*item.envelope, delivery_of(options_.name, item), transaction);
                // Its queued writes too must succeed before it counts as processed.
                transaction.flush_queued();
                item.outcome = Outcome::processed;
            }
        } catch (const PermanentFailure& error) {
            item.outcome = Outcome::permanent;
            item.error = error.what();
        } catch (const postgres::SqlError& error) {
            if (is_database_failure(error)) throw;
            item.outcome = Outcome::failed;
            item.error = error.what();
        } catch (...) {
            item.outcome = Outcome::failed;
            item.error = current_exception_text();
        }
        if (item.outcome == Outcome::permanent || item.outcome == Outcome::failed) {
            if (savepoints) {
                connection.exec("ROLLBACK TO SAVEPOINT seamq_inbox_message");
            } else {
                transaction.rollback();
            }
        }
    }
    if (transaction.active()) {
        transaction.commit();
        ++counters_->transactions;
        hook_failed(
            call_hook(hooks_.on_commit, std::chrono::steady_clock::now() - started, candidates.size()));
    }
}

namespace {

Delivery delivery_of(const std::string& consumer, InboxConsumer::BatchItem& item) {
    Delivery delivery;
    delivery.consumer = consumer;
    delivery.stream = item.metadata.stream;
    delivery.subject = std::string(item.message.subject());
    delivery.message_id = item.envelope->id();
    delivery.stream_sequence = item.metadata.stream_sequence;
    delivery.delivery_count = item.metadata.num_delivered;
    delivery.traceparent =
        item.envelope->traceparent().value_or(item.message.header("traceparent").value_or(""));
    delivery.in_progress = [&item] { item.message.in_progress(); };
    return delivery;
}

}  // namespace

void InboxConsumer::settle(Batch& batch) {
    // Failed attempts are recorded in one small transaction of their own, so operators see
    // attempts and the latest error while the message waits for its redelivery.
    std::vector<std::size_t> to_dead_letter;
    std::vector<std::size_t> to_ack;
    for (std::size_t i = 0; i < batch.items.size(); ++i) {
        auto& item = batch.items[i];
        try {
            switch (item.outcome) {
                case Outcome::processed:
                case Outcome::duplicate:
                case Outcome::skipped: to_ack.push_back(i); break;
                case Outcome::failed:
                    if (item.metadata.num_delivered >= static_cast<std::uint64_t>(options_.max_deliver)) {
                        to_dead_letter.push_back(i);
                        break;
                    }
                    try {
                        if (session_->database) {
                            session_->database->exec_prepared(
                                failure_statement, options_.name, item.envelope->id(), item.metadata.stream,
                                item.metadata.stream_sequence, "processing", shorten(item.error));
                        }
                    } catch (...) {
                        spdlog::warn("inbox consumer {}: could not record the failure of {}: {}",
                                     options_.name, item.envelope->id(), current_exception_text());
                    }
                    session_->release(item.message);
                    item.message.nak_with_delay(retry_delay(item.metadata.num_delivered));
                    ++counters_->retried;
                    spdlog::info("inbox consumer {}: message {} (delivery {} of {}) failed: {}",
                                 options_.name, item.envelope->id(), item.metadata.num_delivered,
                                 options_.max_deliver, item.error);
                    break;
                case Outcome::permanent:
                case Outcome::poison:
                case Outcome::over_delivered: to_dead_letter.push_back(i); break;
                case Outcome::unsettled:
                    session_->release(item.message);
                    item.message.nak_with_delay(options_.retry_delays.front());
                    break;
                case Outcome::pending: break;
            }
        } catch (...) {
            // A lost ack or nak: the message comes back after ack_wait and the inbox
            // recognises it.
            ++counters_->infrastructure_errors;
            spdlog::warn("inbox consumer {}: acknowledging stream sequence {}: {}", options_.name,
                         item.metadata.stream_sequence, current_exception_text());
        }
    }
    try {
        acknowledge(batch, to_ack);
    } catch (...) {
        // Unconfirmed acks: those messages are redelivered and skipped as duplicates.
        ++counters_->infrastructure_errors;
        spdlog::warn("inbox consumer {}: acknowledging {} messages: {}", options_.name, to_ack.size(),
                     current_exception_text());
    }
    for (const auto index : to_dead_letter) {
        try {
            dead_letter(batch, index);
        } catch (...) {
            // Not terminated: redelivered, and dead-lettered again then.
            ++counters_->infrastructure_errors;
            spdlog::error("inbox consumer {}: dead-lettering stream sequence {}: {}", options_.name,
                          batch.items[index].metadata.stream_sequence, current_exception_text());
        }
    }
}

void InboxConsumer::acknowledge(Batch& batch, const std::vector<std::size_t>& indices) {
    if (indices.empty()) return;
    auto& session = *session_;
    if (!session.ack_replies) {
        session.ack_inbox = nats_.new_inbox();
        session.ack_replies = nats_.subscribe_sync(session.ack_inbox + ".*");
        natsSubscription_SetPendingLimits(session.ack_replies.native(), -1, -1);
    }
    // The previous batch's confirmations have had this batch's transaction to arrive.
    collect_confirmations();
    for (const auto index : indices) {
        auto* item = &batch.items[index];
        session.release(item->message);
        const std::string ack_subject(item->message.reply());
        std::string reply = fmt::format("{}.{}", session.ack_inbox, ++session.ack_counter);
        if (natsConnection_PublishRequest(nats_.native(), ack_subject.c_str(), reply.c_str(), "+ACK", 4) ==
            NATS_OK)
            session.awaiting_confirmation.insert(std::move(reply));
        if (item->outcome == Outcome::processed) ++counters_->processed;
        if (item->outcome == Outcome::duplicate) ++counters_->duplicates;
        if (item->outcome == Outcome::skipped) ++counters_->skipped_replays;
    }
    session.acks_sent = indices.size();
    session.confirmation_deadline = std::chrono::steady_clock::now() + options_.ack_timeout;
}

void InboxConsumer::collect_confirmations() {
    auto& session = *session_;
    auto& waiting = session.awaiting_confirmation;
    while (!waiting.empty()) {
        const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
            session.confirmation_deadline - std::chrono::steady_clock::now());
        if (remaining <= std::chrono::milliseconds(0)) break;
        auto reply = session.ack_replies.next(remaining);
        if (!reply) break;
        waiting.erase(std::string(reply->subject()));  // late confirmations of given-up acks are ignored
    }
    if (!waiting.empty()) {
        // Not an error for exactly-once: an unconfirmed ack means a redelivery after
        // ack_wait, which the inbox recognises as a duplicate.
        ++counters_->infrastructure_errors;
        spdlog::warn(
            "inbox consumer {}: {} of {} acks not confirmed within {} ms; those messages will be "
            "redelivered and skipped as duplicates",
            options_.name, waiting.size(), session.acks_sent, options_.ack_timeout.count());
        waiting.clear();
    }
}

void InboxConsumer::dead_letter(Batch& batch, std::size_t index) {
    auto& item = batch.items[index];
    const auto now = std::chrono::system_clock::now();
    dead_letters::DeadLetter letter;
    letter.context = options_.context;
    letter.consumer = options_.name;
    letter.original_subject = std::string(item.message.subject());
    letter.original_stream = item.metadata.stream;
    letter.original_sequence = item.metadata.stream_sequence;
    letter.original_message_id = item.message.message_id();
    letter.deliveries = item.metadata.num_delivered;
    letter.error_class = item.outcome == Outcome::poison      ? dead_letters::ErrorClass::poison
                         : item.outcome == Outcome::permanent ? dead_letters::ErrorClass::permanent
                                                              : dead_letters::ErrorClass::exhausted;
    letter.error_message = item.error;
    letter.first_failure = now;
    letter.last_failure = now;
    letter.payload = std::string(item.message.payload());
    for (auto& entry : item.message.headers()) letter.original_headers.push_back(std::move(entry));

    // The inbox row says the message failed for good (a replay may still process it).
    if (item.envelope && session_->database) {
        try {
            const auto row = session_->database->exec_prepared(
                failure_statement, options_.name, item.envelope->id(), item.metadata.stream,
                item.metadata.stream_sequence, "failed", shorten(item.error));
            if (!row.empty()) {
                letter.first_failure = parse_postgres_time(std::string(row.text(0, 0))).value_or(now);
            }
        } catch (...) {
            spdlog::warn("inbox consumer {}: could not mark {} failed in the inbox: {}", options_.name,
                         item.envelope->id(), current_exception_text());
        }
    }
    try {
        dead_letters::DeadLetterPublisher publisher(*session_->jetstream);
        const auto ack = publisher.publish(letter, options_.dead_letter_timeout);
        // Only after the DLQ stored it: a crash before this line redelivers the original,
        // and dead-lettering it again is absorbed by the DLQ's duplicate window.
        session_->release(item.message);
        item.message.term();
        ++counters_->dead_lettered;
        if (item.outcome == Outcome::poison) ++counters_->poison;
        if (item.outcome == Outcome::over_delivered) ++counters_->over_delivered;
        spdlog::warn("inbox consumer {}: stream sequence {} on {} dead-lettered ({}) to {} sequence {}{}: {}",
                     options_.name, item.metadata.stream_sequence, letter.original_subject,
                     dead_letters::to_string(letter.error_class), ack.stream, ack.sequence,
                     ack.duplicate ? " (duplicate)" : "", item.error);
    } catch (...) {
        ++counters_->infrastructure_errors;
        spdlog::error(
            "inbox consumer {}: dead-lettering stream sequence {} failed: {}; it will be redelivered",
            options_.name, item.metadata.stream_sequence, current_exception_text());
        try {
            session_->release(item.message);
            item.message.nak_with_delay(options_.retry_delays.back());
        } catch (...) {
            // Redelivered after ack_wait anyway.
        }
    }
}

}  // namespace seamq::inbox
