#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "seamq/core/supervision.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/inbox/handler.hpp"
#include "seamq/inbox/retention.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream_types.hpp"

namespace seamq::inbox {

//! One durable consumer feeding one context's inbox. The field names follow the worker's
//! `consumers[]` settings; tests shorten the intervals.
struct ConsumerOptions {
    std::string name;            //!< durable consumer name; also the inbox key's first part
    std::string context;         //!< bounded context: selects the DLQ subject dlq.{context}.{name}
    std::string stream;          //!< stream the consumer reads, e.g. SEA_EVENTS
    std::string filter_subject;  //!< "" for the whole stream
    std::string database;        //!< libpq conninfo / URL of the context's database
    //! Deliveries before a failing message is dead-lettered (the handler runs at most this
    //! often unless the database itself fails).
    int max_deliver = 5;
    //! Delay before redelivery after the n-th failed attempt (the last entry repeats).
    std::vector<std::chrono::milliseconds> retry_delays{std::chrono::seconds(1), std::chrono::seconds(5),
                                                        std::chrono::seconds(30)};
    double retry_jitter = 0.1;  //!< each delay is scaled by a random factor in [1-j, 1+j]
    //! Time without an ack before JetStream redelivers: how soon a crashed worker's messages
    //! go to another. Held messages are kept in progress (+WPI every third of it), so
    //! handlers and batches may take longer.
    std::chrono::milliseconds ack_wait{std::chrono::seconds(4)};
    int max_ack_pending = 1000;  //!< JetStream's bound on unacknowledged messages, all workers together
    int batch_size = 100;        //!< messages per fetch and per PostgreSQL transaction, at most
    //! How long one pull request waits for messages; bounds how fast request_stop() is seen.
    std::chrono::milliseconds fetch_wait{std::chrono::seconds(1)};
    std::string dead_letter_stream;  //!< "" for the context's by the naming rule (SEA_DLQ)
    std::chrono::milliseconds dead_letter_timeout{std::chrono::seconds(5)};  //!< PubAck wait
    std::chrono::milliseconds ack_timeout{std::chrono::seconds(5)};          //!< AckSync wait
    //! Retention of this consumer's processed rows, run every retention_interval by the
    //! consumer's own thread between batches; 0 turns it off (run remove_expired elsewhere).
    //! The horizon used is never shorter than the stream's max_age (plus clock_margin), and
    //! nothing is removed while the stream keeps messages forever (replay_safe_horizon).
    RetentionOptions retention;
    std::chrono::milliseconds retention_interval{std::chrono::minutes(10)};
    std::string instance_name = "sea-mq";  //!< names this process in logs and pg_stat_activity
};

//! Counters since start; read at any time from any thread.
struct ConsumerStatistics {
    std::uint64_t processed = 0;              //!< handler succeeded, committed and acknowledged
    std::uint64_t duplicates = 0;             //!< already in the inbox: acknowledged, handler not called
    std::uint64_t retried = 0;                //!< handler failed, redelivery scheduled (NakWithDelay)
    std::uint64_t dead_lettered = 0;          //!< copied to the DLQ and terminated (poison included)
    std::uint64_t poison = 0;                 //!< of which not a valid envelope
    std::uint64_t skipped_replays = 0;        //!< replays meant for another consumer, acknowledged
    std::uint64_t transactions = 0;           //!< inbox transactions committed
    std::uint64_t infrastructure_errors = 0;  //!< database/NATS failures (message redelivered later)
    std::uint64_t retention_removed = 0;      //!< processed rows removed by retention
    std::uint64_t over_delivered = 0;         //!< dead-lettered unhandled: delivered > max_deliver
    std::uint64_t restarts = 0;               //!< times the loop restarted after an unexpected error
    std::uint64_t hook_errors = 0;            //!< exceptions thrown by a hook (swallowed, counted)
};

//! Optional observation points (metrics, tests); called on the consumer's thread.
struct ConsumerHooks {
    //! After a batch's transaction committed: how long the transaction took, how many messages.
    std::function<void(std::chrono::nanoseconds, std::size_t)> on_commit;
};

//! Reads a durable pull consumer and applies each message exactly once through the
//! inbox (see src/inbox/README.md):
//!
//! * start() creates or updates the JetStream consumer (never through a subscription,
//!   never deleted on stop), then fetches batches on a thread of its own.
//! * A message that is not a valid envelope (poison) is dead-lettered at once.
//! * Otherwise, in one PostgreSQL transaction per batch (a SAVEPOINT per message): the
//!   inbox row (consumer, envelope id) is claimed; if it was processed before, the message
//!   is a duplicate and is acknowledged without calling the handler; else the handler
//!   runs with the same transaction. After COMMIT the messages are acknowledged with
//!   AckSync.
//! * A failing handler's work is rolled back to its savepoint; the message is redelivered
//!   after retry_delays[attempt-1] (NakWithDelay), until max_deliver deliveries, then
//!   dead-lettered; PermanentFailure dead-letters at once. Dead-lettering publishes to
//!   `dlq.{context}.{name}`, waits for the PubAck, then Terms the original.
//! * Every fetched message, the prefetched batch's too, is kept in progress (+WPI every
//!   ack_wait/3, from a thread of its own) until it is settled: only a worker that died,
//!   froze or lost its NATS connection lets a message's ack_wait run out.
//! * A message with `Seamq-Replay-For` naming another consumer is acknowledged and skipped.
//! * A message delivered more than max_deliver times is dead-lettered (exhausted) before
//!   its handler runs: its earlier deliveries never reached settle (the worker crashed
//!   while handling it, or the database failed under it), and it may crash the worker again.
//!
//! Catch policy (src/inbox/README.md): whatever a message's decoding, handler or settling
//! throws, of any type, becomes that message's outcome, never its batch's. An
//! infrastructure failure (seamq::Error from PostgreSQL or NATS) ends the round, which is
//! retried with backoff. Anything else that escapes a round is unexpected: it is logged,
//! counted (statistics().restarts), makes health() unhealthy, and the loop restarts with
//! fresh sessions after a backoff (1 s doubling to 30 s). Nothing ends the thread but stop.
//!
//! The JetStream consumer's own MaxDeliver is left unlimited: the consumer counts
//! deliveries itself (NumDelivered), so a worker that crashes during the last attempt or
//! a database outage cannot strand a message that the server would never deliver again.
class InboxConsumer {
public:
    //! `nats` must outlive the consumer. `contracts` (optional, must outlive it) adds the
    //! payload contract to the validity check. Throws seamq::Error(Errc::config) for
    //! unusable options.
    InboxConsumer(ConsumerOptions options, nats::Connection& nats, std::shared_ptr<Handler> handler,
                  const envelope::DataContracts* contracts = nullptr, ConsumerHooks hooks = {});
    ~InboxConsumer();  //!< stops
    InboxConsumer(const InboxConsumer&) = delete;
    InboxConsumer& operator=(const InboxConsumer&) = delete;

    //! Creates the JetStream consumer or updates its settings to the options (idempotent;
    //! several workers may do it at once). start() calls it; throws NatsError /
    //! seamq::Error(config) when the stream is missing or a setting cannot change in place.
    nats::ConsumerInfo ensure_consumer();
    //! The JetStream consumer settings these options stand for.
    nats::ConsumerConfig consumer_config() const;

    //! ensure_consumer(), then fetches and handles messages on a background thread.
    void start();
    //! Stop fetching; the batch in hand is finished. Does not block.
    void request_stop();
    //! request_stop(), then waits for the batch in hand to finish. Returns false when that
    //! took past `deadline` (it is still waited for: a half-finished batch is never left).
    bool stop(std::chrono::steady_clock::time_point deadline);
    void stop() { stop(std::chrono::steady_clock::now() + std::chrono::seconds(30)); }
    //! Runs on the calling thread until request_stop() from another one.
    void run();

    ConsumerStatistics statistics() const;
    //! Healthy once a round completed and until something escapes one (readiness).
    LoopHealth::Snapshot health() const { return health_.snapshot(); }
    const ConsumerOptions& options() const noexcept { return options_; }
    //! "consumer <name>", for logs and the worker's component list.
    std::string name() const { return "consumer " + options_.name; }

    struct Batch;      //!< one fetched batch (defined in consumer.cpp)
    struct BatchItem;  //!< one message of a batch and what became of it (consumer.cpp)
    struct Counters;   //!< atomics behind statistics()

private:
    //! Up to batch_size messages: what is there now, else waits up to fetch_wait for one.
    std::vector<nats::Message> fetch();
    //! Reads the metadata and validates each message (any thread: uses no session state).
    Batch prepare(std::vector<nats::Message> messages) const;
    void process(Batch& batch);
    void handle_in_transaction(Batch& batch);
    //! The batch in one transaction, claimed in one statement, no savepoints (handlers with
    //! effects_only_in_transaction()). False when a handler failed: rolled back, the failed
    //! message's outcome set, the others pending again.
    bool handle_at_once(std::vector<BatchItem*>& candidates);
    //! Rolls back a batch handled at once; every message but `failed` is pending again.
    bool give_up_batch(postgres::Transaction& transaction, std::vector<BatchItem*>& candidates,
                       const BatchItem* failed, std::string_view reason);
    //! The batch in one transaction, a savepoint and a claim per message.
    void handle_with_savepoints(std::vector<BatchItem*>& candidates);
    //! The fetch/handle/settle loop; throws what escapes a round for run() to restart it.
    void run_rounds();
    //! Drops the sessions a failed round may have left half-used (database, pull, acks).
    void reset_session();
    //! Counts (and logs the first of) the exceptions hooks throw; `error` from call_hook().
    void hook_failed(const std::optional<std::string>& error);
    void settle(Batch& batch);
    void dead_letter(Batch& batch, std::size_t index);
    //! AckSync for a whole batch: every ack sent with a reply subject; the confirmations are
    //! awaited together, before the next batch's acks go out.
    void acknowledge(Batch& batch, const std::vector<std::size_t>& indices);
    //! Waits (up to ack_timeout from when they were sent) for the last acks' confirmations.
    void collect_confirmations();
    void connect_database();
    void maybe_run_retention();
    std::chrono::milliseconds retry_delay(std::uint64_t delivery);
    void sleep_interruptibly(std::chrono::milliseconds duration);

    ConsumerOptions options_;
    nats::Connection& nats_;
    std::shared_ptr<Handler> handler_;
    BatchHandler* batch_handler_ = nullptr;  //!< handler_ when it is one
    envelope::Validator validator_;
    ConsumerHooks hooks_;
    std::unique_ptr<Counters> counters_;
    struct Session;  //!< PostgreSQL session, JetStream context, pull consumer (consumer.cpp)
    std::unique_ptr<Session> session_;

    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool finished_ = true;
    std::chrono::steady_clock::time_point next_retention_{};
    bool retention_kept_logged_ = false;  //!< "stream keeps messages forever" said once
    LoopHealth health_;
    RestartBackoff restart_backoff_{std::chrono::seconds(1), std::chrono::seconds(30)};
};

//! Checks the options alone (no servers); throws seamq::Error(Errc::config) naming the field.
void check_options(const ConsumerOptions& options);

}  // namespace seamq::inbox
