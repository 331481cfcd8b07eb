#pragma once

// The end of a chaos run: wait (bounded) for the backlog to drain, read the stream and
// the database back, and check exactly-once publication and effects.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/chaos/load.hpp"

#include "seamq/nats/error.hpp"
#include "seamq/nats/jetstream.hpp"

namespace seamq::chaos {

//! One message of the event stream.
struct StoredMessage {
    std::uint64_t sequence = 0;
    std::string id;  //!< Nats-Msg-Id
    std::string ordering_key;
    int n = 0;
    std::chrono::system_clock::time_point stored_at;
};

//! Runs a JetStream API call, retrying transient errors: right after healing, a busy
//! cluster answers "JetStream system temporarily unavailable" (10008) or times out for a
//! while. At most `jetstream_api_attempts` attempts within `jetstream_api_retry_time`.
constexpr int jetstream_api_attempts = 10;
constexpr std::chrono::seconds jetstream_api_retry_time{30};

template <typename Call>
auto retry_transient(std::string_view what, Call&& call) {
    using Clock = std::chrono::steady_clock;
    using namespace std::chrono_literals;
    const auto started = Clock::now();
    std::chrono::milliseconds delay = 200ms;
    for (int attempt = 1;; ++attempt) {
        try {
            return call();
        } catch (const nats::NatsError& error) {
            if (!error.transient() || attempt >= jetstream_api_attempts ||
                Clock::now() + delay - started > jetstream_api_retry_time)
                throw;
            std::cerr << "seamq-chaos: " << what << " (attempt " << attempt << "): " << error.what()
                      << "; retrying in " << delay.count() << " ms\n";
            std::this_thread::sleep_for(delay);
            delay = std::min<std::chrono::milliseconds>(delay * 2, 3s);
        }
    }
}

//! Every message of `stream` in stream order, through a throwaway durable consumer with
//! AckNone (which keeps the per-message timestamps the direct API would also give).
std::vector<StoredMessage> read_stream(nats::JetStream& jetstream, const std::string& stream,
                                       std::chrono::milliseconds timeout);

//! The database's side, read once the worker has stopped.
struct DatabaseState {
    std::vector<std::string> committed;  //!< chaos.orders ids
    std::map<std::string, int> effects;  //!< event id -> rows in chaos.effects
    //! event id -> when its (first) effect was applied
    std::map<std::string, std::chrono::system_clock::time_point> applied_at;
    std::int64_t outbox_pending = 0;
    std::int64_t outbox_rejected = 0;
    std::int64_t outbox_rows = 0;
    std::int64_t inbox_processed = 0;  //!< seamq.inbox_messages of the consumer
};
DatabaseState read_database(const std::string& database);

//! Waits until every committed order is published (no pending outbox row) and applied
//! (one effect per order at least). Returns the time it took, nullopt on timeout.
std::optional<std::chrono::milliseconds> wait_caught_up(const std::string& database,
                                                        std::chrono::milliseconds timeout);

//! Window in which producers were committing.
struct LoadWindow {
    std::chrono::system_clock::time_point start;
    std::chrono::system_clock::time_point end;
};

//! The longest pause, and when it began (seconds after the load started).
struct Stall {
    double seconds = 0;
    double began_at = 0;
};

//! Largest gap between consecutive stored messages while producers were committing.
Stall longest_publish_stall(const std::vector<StoredMessage>& messages, const LoadWindow& window);
//! Largest gap between consecutive effects applied, while producers were committing.
Stall longest_apply_stall(const DatabaseState& database, const LoadWindow& window);
//! Largest gap between consecutive acknowledged commits (any producer).
Stall longest_commit_stall(const std::vector<Commit>& commits, const LoadWindow& window);

struct Verdict {
    std::vector<std::string> problems;   //!< empty: passed
    std::uint64_t in_stream = 0;         //!< distinct committed ids found in the stream
    std::uint64_t applied = 0;           //!< distinct committed ids with an effect
    std::uint64_t order_inversions = 0;  //!< per key, a message stored after a later one
    double max_publish_delay = 0;        //!< commit acknowledged -> stored, seconds
    double p99_publish_delay = 0;
    double max_apply_delay = 0;  //!< commit acknowledged -> effect applied, seconds
    double p99_apply_delay = 0;
    std::vector<std::string> slowest_applied;  //!< the slowest few: "id: delay s"
    std::uint64_t applied_late = 0;            //!< effects applied more than 5 s after their commit
};

//! Checks: the stream holds every committed id exactly once and nothing else; every
//! committed id has exactly one effect and nothing else has one; acknowledged commits are
//! in chaos.orders and rolled-back ones are not; no outbox row pending or rejected.
Verdict verify(const std::vector<StoredMessage>& messages, const DatabaseState& database,
               const LoadReport& load);

}  // namespace seamq::chaos
