#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "seamq/core/supervision.hpp"
#include "seamq/nats/connection.hpp"

namespace seamq::relay {

//! What the relay does with an outbox row once its PubAck arrived (measured costs for
//! 1,000 events in db/migrations/README.md: log 6 ms, keep 13 ms, discard 3 ms).
enum class PublishedRows {
    //! Deleted; its id, position and stream sequence are appended to
    //! seamq.outbox_publications, one entry per recording transaction (the view
    //! seamq.outbox_published lists them). The outbox table keeps only what is unpublished.
    log,
    //! Kept, marked `published` with published_at and the stream sequence: a new version of
    //! the whole row and new entries in every index.
    keep,
    //! Deleted with no record (the stream has every published event anyway).
    discard,
};
std::string_view to_string(PublishedRows mode) noexcept;
//! "log", "keep" or "discard"; nullopt for anything else.
std::optional<PublishedRows> parse_published_rows(std::string_view text) noexcept;

//! How one context's relay runs. Defaults suit a worker; tests shorten the intervals.
struct RelayOptions {
    std::string context;               //!< bounded context whose outbox rows this relay publishes, e.g. "sea"
    std::string database;              //!< libpq conninfo or postgresql:// URL of the context's database
    std::string expected_stream;       //!< sent as Nats-Expected-Stream; "" to skip the check
    std::string instance_name;         //!< names this relay in logs and in pg_stat_activity
    std::size_t batch_size = 1000;     //!< rows read per query, at most
    std::size_t max_in_flight = 1000;  //!< messages awaiting their PubAck at once
    //! Fallback poll of a sleeping relay when no NOTIFY arrives (a NOTIFY wakes it at once).
    std::chrono::milliseconds poll_interval{1000};
    //! How often a standby tries to take the leadership; bounds the failover time.
    std::chrono::milliseconds election_interval{1000};
    std::chrono::milliseconds publish_timeout{5000};  //!< PubAck wait (MaxWait) per message
    std::chrono::milliseconds retry_initial{100};     //!< first backoff after a transient failure
    std::chrono::milliseconds retry_max{5000};        //!< backoff ceiling
    //! What a published row leaves behind (see PublishedRows). Rejected rows are always kept.
    PublishedRows published_rows = PublishedRows::log;
    //! The leader's recorder VACUUMs the outbox table at most this often, once it has settled
    //! vacuum_min_rows rows since the last time, so that the table holds the backlog and about
    //! this long of dead rows instead of an autovacuum naptime's (60 s by default) worth.
    //! 0: leave it to autovacuum. Skipped, with one log line, when the relay's role may not
    //! VACUUM the table (PostgreSQL 15: its owner, the database's owner or a superuser).
    std::chrono::milliseconds vacuum_interval{1000};
    std::size_t vacuum_min_rows = 1000;
};

//! Counters since start; read at any time from any thread.
struct RelayStatistics {
    std::uint64_t published = 0;       //!< rows recorded as published (duplicates included)
    std::uint64_t duplicates = 0;      //!< PubAcks that said Duplicate (stored before)
    std::uint64_t publish_errors = 0;  //!< transient failures (retried later with the same id)
    std::uint64_t rejected = 0;        //!< rows marked rejected for good
    std::uint64_t rounds = 0;          //!< queries that found pending rows, as leader
    std::uint64_t leadership_changes = 0;
    std::uint64_t restarts = 0;     //!< times the loop restarted after an unexpected error
    std::uint64_t hook_errors = 0;  //!< exceptions thrown by a hook (swallowed, counted)
    //! Rows found pending below the scan floor (only a re-queue by an operator does that).
    std::uint64_t rows_below_scan_floor = 0;
    std::int64_t scan_floor = 0;  //!< the current leader's scan floor (0: scans everything)
    std::uint64_t vacuums = 0;    //!< VACUUMs of the outbox table run (RelayOptions::vacuum_interval)
    bool leader = false;
};

//! Optional observation points for metrics; called on the relay's own thread. What a hook
//! throws is counted (RelayStatistics::hook_errors) and logged once, never propagated:
//! observing must not change what is published.
struct RelayHooks {
    //! Time from handing a message to nats.c to its PubAck.
    std::function<void(std::chrono::nanoseconds)> on_puback_latency;
    //! An event's PubAck arrived (a Duplicate one included); its row is settled (published_rows)
    //! with the round's bookkeeping. Used by the benchmark to time commit → PubAck.
    std::function<void(const std::string& event_id)> on_published = {};
    //! The same moment with where the event's time in the relay went: from the end of the
    //! query that read its row to its send (waiting behind its key or for room in flight),
    //! and from its send to its PubAck. Used by the benchmark to say where latency goes.
    std::function<void(const std::string& event_id, std::chrono::nanoseconds read_to_sent,
                       std::chrono::nanoseconds sent_to_ack)>
        on_published_stages = {};
};

//! Publishes one context's committed outbox rows to JetStream, at least once, in commit
//! order per ordering key (the envelope's `subject`).
//!
//! Leadership: any number of relays may run for a context; the one holding the
//! PostgreSQL advisory lock for it on a dedicated session publishes, the others wait
//! and retry every election_interval. Losing that session ends the leadership.
//!
//! The leader keeps a window of pending rows read in position order and publishes them
//! with JetStream async publish, Nats-Msg-Id = event id, with at most one message in
//! flight per ordering key: a failed message is never overtaken by a later one of the
//! same key. Reading, publishing and recording overlap: while PubAcks arrive, a second
//! session records the previous ones (settled only after the PubAck; a
//! Duplicate ack counts) and the window reads rows committed meanwhile. Only a message
//! that can never be published (over the server's or stream's size limit) marks its row
//! rejected with the reason, and the key's later rows go on. Any other failure, known or
//! not (timeout, election, no stream captures the subject yet, an unknown error code, a
//! PubAck from the wrong stream) leaves the row pending and backs off that ordering key
//! (its later rows wait behind it; other keys go on), or the whole relay while the
//! connection is down.
//!
//! Waking: an idle relay sleeps on LISTEN seamq_outbox. While awake it polls (every
//! millisecond, for 50 ms after the last row) and holds the context's "awake" advisory
//! lock, which tells producers to skip their NOTIFY: a NOTIFY serializes commits
//! database-wide. db/migrations/README.md, "Waking the relay", has the protocol.
//!
//! Catch policy (src/relay/README.md): a failure of PostgreSQL or NATS (seamq::Error) ends
//! the term or the election round, which is retried after 500 ms. Anything else that
//! escapes (an odd server reply, a broken invariant, a hook) is unexpected: logged,
//! counted (restarts), health() unhealthy, and the loop starts over with fresh sessions
//! after a backoff (1 s doubling to 30 s); rows in flight stay pending and are published
//! again with the same ids. Nothing ends the thread but stop().
class Relay {
public:
    //! `nats` must outlive the relay; the relay opens its own JetStream context on it.
    Relay(RelayOptions options, nats::Connection& nats, RelayHooks hooks = {});
    ~Relay();  //!< stop()s
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    //! Runs on a background thread until stop().
    void start();
    //! Stops reading rows, waits for the PubAcks in flight, records them, and returns.
    void stop();
    //! Runs on the calling thread until stop() is called from another one.
    void run();

    bool is_leader() const noexcept { return leader_.load(); }
    RelayStatistics statistics() const;
    //! Healthy once an election round or a leader's round completed, until something escapes.
    LoopHealth::Snapshot health() const { return health_.snapshot(); }
    const RelayOptions& options() const noexcept { return options_; }

private:
    class Leader;    //!< one term of leadership: the publish window (relay.cpp)
    class Recorder;  //!< records outcomes on a session of its own (relay.cpp)

    void lead();
    void sleep_interruptibly(std::chrono::milliseconds duration);
    //! Counts (and logs the first of) the exceptions hooks throw; `error` from call_hook().
    void hook_failed(const std::optional<std::string>& error);

    RelayOptions options_;
    nats::Connection& nats_;
    RelayHooks hooks_;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> leader_{false};
    std::thread thread_;
    LoopHealth health_;

    struct Counters;
    std::unique_ptr<Counters> counters_;
    struct Sessions;
    std::unique_ptr<Sessions> sessions_;
};

}  // namespace seamq::relay
