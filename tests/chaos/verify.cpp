#include "tests/chaos/verify.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "tests/chaos/environment.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "seamq/nats/pull_consumer.hpp"
#include "seamq/postgres/connection.hpp"

namespace seamq::chaos {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<StoredMessage> read_stream(nats::JetStream& jetstream, const std::string& stream,
                                       std::chrono::milliseconds timeout) {
    const auto info = retry_transient("reading stream info", [&] { return jetstream.stream_info(stream); });
    if (!info) raise(Errc::not_found, "stream {} does not exist", stream);
    const auto expected = info->state.messages;
    nats::ConsumerConfig config;
    config.durable_name = "chaos-reader-" + std::to_string(::getpid());
    // Acknowledged reads: a message still on its way when a fetch gives up (a node slow
    // after a fault, a busy machine) is redelivered after ack_wait instead of skipped for
    // good, as it would be without acks. Kept by sequence, so a redelivery counts once.
    config.ack_policy = nats::AckPolicy::explicit_ack;
    config.ack_wait = 2s;
    // Creating a durable again with the same configuration succeeds, so a retry after a
    // timeout that created it anyway is harmless.
    retry_transient("creating the reader consumer", [&] { return jetstream.add_consumer(stream, config); });
    std::map<std::uint64_t, StoredMessage> by_sequence;
    {
        nats::PullConsumer reader = retry_transient("binding the reader consumer", [&] {
            return nats::PullConsumer(jetstream, stream, config.durable_name);
        });
        const auto deadline = Clock::now() + timeout;
        while (by_sequence.size() < expected && Clock::now() < deadline) {
            for (auto& message : retry_transient("fetching", [&] { return reader.fetch(1000, 500ms); })) {
                if (message.status_code()) continue;
                const auto metadata = message.metadata();
                message.ack();
                const auto envelope = nlohmann::json::parse(message.payload(), nullptr, false);
                StoredMessage stored;
                stored.sequence = metadata.stream_sequence;
                stored.id = message.message_id();
                if (!envelope.is_discarded()) {
                    stored.ordering_key = envelope.value("subject", std::string());
                    stored.n = envelope.contains("data") ? envelope["data"].value("n", -1) : -1;
                }
                stored.stored_at = std::chrono::system_clock::time_point(
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::chrono::nanoseconds(metadata.timestamp_ns)));
                by_sequence.insert_or_assign(stored.sequence, std::move(stored));
            }
        }
    }
    // A consumer whose leader sits on a replica that lost the tail of a freeze can stall
    // short of the stream (seen after SIGSTOP on nats-server 2.9.10): the sequences it never
    // delivered are read from the stream leader directly.
    for (std::uint64_t sequence = info->state.first_sequence;
         by_sequence.size() < expected && sequence <= info->state.last_sequence; ++sequence) {
        if (by_sequence.contains(sequence)) continue;
        auto message = retry_transient("reading a message by sequence",
                                       [&] { return jetstream.get_message(stream, sequence); });
        if (!message) continue;
        const auto envelope = nlohmann::json::parse(message->payload(), nullptr, false);
        StoredMessage stored;
        stored.sequence = sequence;
        stored.id = message->message_id();
        if (!envelope.is_discarded()) {
            stored.ordering_key = envelope.value("subject", std::string());
            stored.n = envelope.contains("data") ? envelope["data"].value("n", -1) : -1;
        }
        stored.stored_at = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::nanoseconds(natsMsg_GetTime(message->native()))));
        by_sequence.emplace(sequence, std::move(stored));
    }
    std::vector<StoredMessage> messages;
    messages.reserve(by_sequence.size());
    for (auto& [sequence, stored] : by_sequence) messages.push_back(std::move(stored));
    retry_transient("deleting the reader consumer",
                    [&] { return jetstream.delete_consumer(stream, config.durable_name); });
    if (messages.size() < expected) {
        raise(Errc::timeout, "read {} of the {} messages of stream {} within {} ms", messages.size(),
              expected, stream, timeout.count());
    }
    std::sort(messages.begin(), messages.end(),
              [](const auto& left, const auto& right) { return left.sequence < right.sequence; });
    return messages;
}

DatabaseState read_database(const std::string& database) {
    postgres::Connection connection(database);
    DatabaseState state;
    const auto orders = connection.exec("SELECT event_id FROM chaos.orders");
    for (int row = 0; row < orders.rows(); ++row) state.committed.push_back(orders.get<std::string>(row, 0));
    const auto effects = connection.exec(
        "SELECT event_id, count(*), (extract(epoch FROM min(applied_at)) * 1000000)::bigint "
        "FROM chaos.effects GROUP BY event_id");
    for (int row = 0; row < effects.rows(); ++row) {
        const auto id = effects.get<std::string>(row, 0);
        state.effects[id] = static_cast<int>(effects.get<std::int64_t>(row, 1));
        state.applied_at[id] = std::chrono::system_clock::time_point(
            std::chrono::microseconds(effects.get<std::int64_t>(row, 2)));
    }
    const auto outbox = connection.exec(
        "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'rejected'), "
        "count(*) FILTER (WHERE status <> 'published') + (SELECT count(*) FROM seamq.outbox_published) "
        "FROM seamq.outbox_events");  // published events are in the log (or kept rows, in the view)
    state.outbox_pending = outbox.get<std::int64_t>(0, 0);
    state.outbox_rejected = outbox.get<std::int64_t>(0, 1);
    state.outbox_rows = outbox.get<std::int64_t>(0, 2);
    state.inbox_processed =
        connection
            .exec("SELECT count(*) FROM seamq.inbox_messages WHERE consumer = $1 AND status = 'processed'",
                  std::string(consumer_name))
            .get<std::int64_t>(0, 0);
    return state;
}

std::optional<std::chrono::milliseconds> wait_caught_up(const std::string& database,
                                                        std::chrono::milliseconds timeout) {
    const auto started = Clock::now();
    std::unique_ptr<postgres::Connection> connection;
    while (Clock::now() - started < timeout) {
        try {
            if (!connection) connection = std::make_unique<postgres::Connection>(database);
            const auto state = connection->exec(
                "SELECT (SELECT count(*) FROM seamq.outbox_events WHERE status = 'pending') = 0 AND "
                "(SELECT count(*) FROM chaos.orders) = (SELECT count(DISTINCT event_id) FROM chaos.effects)");
            if (state.get<bool>(0, 0)) {
                return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
            }
        } catch (const Error&) {
            connection.reset();  // the server may still be coming back
        }
        std::this_thread::sleep_for(100ms);
    }
    return std::nullopt;
}

namespace {

double seconds_between(std::chrono::system_clock::time_point from, std::chrono::system_clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

// Largest gap between consecutive time points whose earlier one lies in the window.
Stall longest_gap(std::vector<std::chrono::system_clock::time_point> times, const LoadWindow& window) {
    std::sort(times.begin(), times.end());
    Stall longest;
    for (std::size_t i = 1; i < times.size(); ++i) {
        if (times[i - 1] < window.start || times[i - 1] > window.end) continue;
        const double gap = seconds_between(times[i - 1], times[i]);
        if (gap > longest.seconds) longest = {gap, seconds_between(window.start, times[i - 1])};
    }
    return longest;
}

}  // namespace

Stall longest_publish_stall(const std::vector<StoredMessage>& messages, const LoadWindow& window) {
    std::vector<std::chrono::system_clock::time_point> times;
    times.reserve(messages.size());
    for (const auto& message : messages) times.push_back(message.stored_at);
    return longest_gap(std::move(times), window);
}

Stall longest_apply_stall(const DatabaseState& database, const LoadWindow& window) {
    std::vector<std::chrono::system_clock::time_point> times;
    times.reserve(database.applied_at.size());
    for (const auto& [id, at] : database.applied_at) times.push_back(at);
    return longest_gap(std::move(times), window);
}

Stall longest_commit_stall(const std::vector<Commit>& commits, const LoadWindow& window) {
    std::vector<std::chrono::system_clock::time_point> times;
    times.reserve(commits.size());
    for (const auto& commit : commits) times.push_back(commit.at);
    return longest_gap(std::move(times), window);
}

Verdict verify(const std::vector<StoredMessage>& messages, const DatabaseState& database,
               const LoadReport& load) {
    Verdict verdict;
    auto problem = [&](std::string text) { verdict.problems.push_back(std::move(text)); };
    // A few examples per kind of problem are enough to start from; the counts say the rest.
    auto examples = [](const std::vector<std::string>& ids) {
        std::string text;
        for (std::size_t i = 0; i < ids.size() && i < 5; ++i) text += (i ? ", " : "") + ids[i];
        return text + (ids.size() > 5 ? ", ..." : "");
    };

    const std::unordered_set<std::string> committed(database.committed.begin(), database.committed.end());
    std::unordered_map<std::string, int> in_stream;
    for (const auto& message : messages) ++in_stream[message.id];

    std::vector<std::string> missing, repeated, extra, not_applied, applied_twice, applied_extra;
    for (const auto& id : database.committed) {
        const auto found = in_stream.find(id);
        if (found == in_stream.end()) {
            missing.push_back(id);
        } else {
            ++verdict.in_stream;
            if (found->second > 1) repeated.push_back(fmt::format("{} ({}x)", id, found->second));
        }
        const auto effect = database.effects.find(id);
        if (effect == database.effects.end()) {
            not_applied.push_back(id);
        } else {
            ++verdict.applied;
            if (effect->second > 1) applied_twice.push_back(fmt::format("{} ({}x)", id, effect->second));
        }
    }
    for (const auto& [id, count] : in_stream) {
        if (!committed.contains(id)) extra.push_back(id);
    }
    for (const auto& [id, count] : database.effects) {
        if (!committed.contains(id)) applied_extra.push_back(id);
    }
    if (!missing.empty())
        problem(
            fmt::format("{} committed events are not in the stream: {}", missing.size(), examples(missing)));
    if (!repeated.empty())
        problem(fmt::format("{} events are in the stream more than once: {}", repeated.size(),
                            examples(repeated)));
    if (!extra.empty())
        problem(
            fmt::format("{} stream messages are not committed events: {}", extra.size(), examples(extra)));
    if (!not_applied.empty())
        problem(
            fmt::format("{} committed events have no effect: {}", not_applied.size(), examples(not_applied)));
    if (!applied_twice.empty())
        problem(fmt::format("{} events were applied more than once: {}", applied_twice.size(),
                            examples(applied_twice)));
    if (!applied_extra.empty())
        problem(fmt::format("{} effects belong to no committed event: {}", applied_extra.size(),
                            examples(applied_extra)));
    if (messages.size() != database.committed.size())
        problem(fmt::format("the stream holds {} messages for {} committed events", messages.size(),
                            database.committed.size()));

    // What the producers were told must agree with what the database kept.
    std::vector<std::string> lost_commits, phantom_commits;
    for (const auto& commit : load.acknowledged) {
        if (!committed.contains(commit.id)) lost_commits.push_back(commit.id);
    }
    for (const auto& id : load.failed) {
        if (committed.contains(id)) phantom_commits.push_back(id);
    }
    if (!lost_commits.empty())
        problem(fmt::format("{} acknowledged commits are not in chaos.orders: {}", lost_commits.size(),
                            examples(lost_commits)));
    if (!phantom_commits.empty())
        problem(fmt::format("{} transactions that failed before COMMIT are in chaos.orders: {}",
                            phantom_commits.size(), examples(phantom_commits)));
    if (database.outbox_pending != 0)
        problem(fmt::format("{} outbox rows still pending", database.outbox_pending));
    if (database.outbox_rejected != 0)
        problem(fmt::format("{} outbox rows rejected", database.outbox_rejected));
    if (database.outbox_rows != static_cast<std::int64_t>(database.committed.size()))
        problem(fmt::format("{} outbox rows for {} orders", database.outbox_rows, database.committed.size()));

    // Per ordering key, stream order should follow commit order (n grows per key).
    std::map<std::string, int> highest;
    std::unordered_set<std::string> seen;
    for (const auto& message : messages) {
        if (!seen.insert(message.id).second) continue;
        auto [entry, inserted] = highest.try_emplace(message.ordering_key, message.n);
        if (inserted) continue;
        if (message.n < entry->second) ++verdict.order_inversions;
        entry->second = std::max(entry->second, message.n);
    }

    // Commit acknowledged -> stored in the stream (negative when the relay published
    // before COMMIT returned to the producer: counted as 0).
    std::unordered_map<std::string, std::chrono::system_clock::time_point> stored_at;
    for (const auto& message : messages) stored_at.try_emplace(message.id, message.stored_at);
    std::vector<double> delays;
    for (const auto& commit : load.acknowledged) {
        const auto found = stored_at.find(commit.id);
        if (found != stored_at.end())
            delays.push_back(std::max(0.0, seconds_between(commit.at, found->second)));
    }
    auto percentiles = [](std::vector<double>& values, double& max, double& p99) {
        if (values.empty()) return;
        std::sort(values.begin(), values.end());
        max = values.back();
        p99 = values[std::min(values.size() - 1, values.size() * 99 / 100)];
    };
    percentiles(delays, verdict.max_publish_delay, verdict.p99_publish_delay);
    std::vector<double> apply_delays;
    std::vector<std::pair<double, std::string>> slowest;
    for (const auto& commit : load.acknowledged) {
        const auto found = database.applied_at.find(commit.id);
        if (found == database.applied_at.end()) continue;
        apply_delays.push_back(std::max(0.0, seconds_between(commit.at, found->second)));
        if (apply_delays.back() > 5.0) ++verdict.applied_late;
        slowest.emplace_back(apply_delays.back(), commit.id);
    }
    std::sort(slowest.rbegin(), slowest.rend());
    for (std::size_t i = 0; i < slowest.size() && i < 5; ++i)
        verdict.slowest_applied.push_back(fmt::format("{}: {:.1f} s", slowest[i].second, slowest[i].first));
    percentiles(apply_delays, verdict.max_apply_delay, verdict.p99_apply_delay);
    return verdict;
}

}  // namespace seamq::chaos
