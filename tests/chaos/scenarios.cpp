#include "tests/chaos/scenarios.hpp"

#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "seamq/core/error.hpp"

namespace seamq::chaos {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

FaultSchedule::FaultSchedule(ChaosEnvironment& environment, Clock::time_point load_start,
                             std::chrono::duration<double> load, FaultSettings settings, std::uint64_t seed)
    : environment_(environment), load_start_(load_start), load_(load), settings_(settings), random_(seed) {}

void FaultSchedule::sleep_until(double fraction) const {
    std::this_thread::sleep_until(load_start_ +
                                  std::chrono::duration_cast<Clock::duration>(load_ * fraction));
}

double FaultSchedule::now() const {
    return std::chrono::duration<double>(Clock::now() - load_start_).count();
}

void FaultSchedule::note(std::string what) {
    std::cout << fmt::format("  {:6.1f} s  {}\n", now(), what) << std::flush;
    events_.push_back({now(), std::move(what)});
}

namespace {

double seconds_since(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string worker_side(ChaosEnvironment& environment, std::size_t node) {
    const auto worker = environment.worker_node();
    if (!worker) return "";
    return *worker == node ? ", the worker's node" : fmt::format(", worker on n{}", *worker);
}

// Waits for a leader of the event stream other than `old_leader` and notes how long the
// election took from `since`.
void note_new_leader(FaultSchedule& schedule, std::size_t old_leader, Clock::time_point since) {
    auto& cluster = schedule.environment().cluster();
    std::optional<std::size_t> leader;
    const bool elected = testing::wait_until(
        [&] {
            leader = cluster.stream_leader(event_stream);
            return leader && *leader != old_leader;
        },
        30s, 100ms);
    if (!elected)
        raise(Errc::timeout, "no new leader of {} within 30 s after n{} went away", event_stream, old_leader);
    schedule.note(fmt::format("n{} leads {}, {:.1f} s later", *leader, event_stream, seconds_since(since)));
    // The consumer's own group elects separately; the inbox cannot read until it has.
    std::optional<std::size_t> consumer_leader;
    const bool consumer_elected = testing::wait_until(
        [&] {
            consumer_leader = schedule.environment().consumer_leader();
            return consumer_leader && *consumer_leader != old_leader;
        },
        30s, 100ms);
    schedule.note(consumer_elected ? fmt::format("n{} leads consumer {}, {:.1f} s later", *consumer_leader,
                                                 consumer_name, seconds_since(since))
                                   : fmt::format("consumer {} still without a new leader {:.1f} s later",
                                                 consumer_name, seconds_since(since)));
}

struct FailedLeader {
    std::size_t index = 0;
    Clock::time_point at;
};

// At 30 % of the load, takes the event stream's leader down with `fault` ("what" says
// how) and waits for the stream and the consumer to elect new leaders.
FailedLeader fail_stream_leader(FaultSchedule& schedule, const std::string& what,
                                const std::function<void(std::size_t)>& fault) {
    auto& environment = schedule.environment();
    schedule.sleep_until(0.3);
    const auto leader = environment.cluster().wait_stream_leader(event_stream, 10s);
    const auto side = worker_side(environment, leader);
    const auto at = Clock::now();
    fault(leader);
    schedule.note(fmt::format("{} n{} (leader of {}{})", what, leader, event_stream, side));
    note_new_leader(schedule, leader, at);
    return {leader, at};
}

void leader_kill(FaultSchedule& schedule) {
    auto& cluster = schedule.environment().cluster();
    const auto leader =
        fail_stream_leader(schedule, "kill -9", [&](std::size_t node) { cluster.kill(node); }).index;
    schedule.sleep_until(0.65);
    const auto restarted = Clock::now();
    cluster.start(leader);
    cluster.node(leader).wait_healthy(30s);
    schedule.note(fmt::format("n{} restarted, healthy (streams current) after {:.1f} s", leader,
                              seconds_since(restarted)));
}

void rolling_restart(FaultSchedule& schedule) {
    auto& environment = schedule.environment();
    auto& cluster = environment.cluster();
    for (std::size_t index = 0; index < cluster.size(); ++index) {
        schedule.sleep_until(0.15 + 0.25 * static_cast<double>(index));
        const auto leader = cluster.stream_leader(event_stream);
        const auto side = worker_side(environment, index);
        const auto stopped = Clock::now();
        cluster.stop(index);
        schedule.note(fmt::format("n{} stopped (SIGTERM{}{})", index,
                                  leader == index ? ", leader of " + std::string(event_stream) : "", side));
        cluster.start(index);
        cluster.node(index).wait_healthy(30s);
        schedule.note(fmt::format("n{} restarted, healthy after {:.1f} s", index, seconds_since(stopped)));
        cluster.wait_stream_leader(event_stream, 30s);
    }
}

void worker_kill(FaultSchedule& schedule) {
    auto& environment = schedule.environment();
    // One random moment in each of `kills` equal slots of 10-90 % of the load, in the
    // first 70 % of its slot, so restarts never overlap the next kill.
    const int kills = std::max(1, schedule.settings().worker_kills);
    std::uniform_real_distribution<double> within(0.0, 0.7);
    const double slot = 0.8 / kills;
    for (int kill = 0; kill < kills; ++kill) {
        schedule.sleep_until(0.1 + slot * kill + slot * within(schedule.random()));
        const int incarnation = environment.worker_incarnation();
        environment.kill_worker();
        schedule.note(fmt::format("kill -9 worker (incarnation {})", incarnation));
        environment.start_worker();
        const auto ready = environment.wait_worker_ready(60s);
        schedule.note(fmt::format("worker restarted, ready after {:.1f} s",
                                  std::chrono::duration<double>(ready).count()));
    }
}

void postgres_restart(FaultSchedule& schedule) {
    auto& postgres = schedule.environment().postgres();
    schedule.sleep_until(0.4);
    const auto stopped = Clock::now();
    postgres.stop();
    schedule.note("PostgreSQL stopped (fast shutdown: every session terminated)");
    std::this_thread::sleep_for(schedule.settings().postgres_down);
    postgres.start();
    schedule.note(fmt::format("PostgreSQL started, accepting connections {:.1f} s after the stop",
                              seconds_since(stopped)));
}

void node_isolation(FaultSchedule& schedule) {
    auto& environment = schedule.environment();
    const auto isolation = schedule.settings().isolation;
    const auto paused = fail_stream_leader(
        schedule, fmt::format("for {:.1f} s, SIGSTOP", std::chrono::duration<double>(isolation).count()),
        [&](std::size_t node) { environment.pause_node(node); });
    std::this_thread::sleep_until(paused.at + isolation);
    environment.resume_node(paused.index);
    const auto resumed = Clock::now();
    schedule.note(fmt::format("SIGCONT n{}", paused.index));
    environment.cluster().node(paused.index).wait_healthy(30s);
    schedule.note(fmt::format("n{} healthy (streams current) {:.1f} s after healing", paused.index,
                              seconds_since(resumed)));
}

}  // namespace

const std::vector<Scenario>& scenarios() {
    static const std::vector<Scenario> all = {
        {"baseline", "no fault: the figures of a quiet run, to compare with (not run by default)",
         [](FaultSchedule&) {}},
        {"leader-kill", "kill -9 the stream leader at 30 % of the load, restart it at 65 %", leader_kill},
        {"rolling-restart", "stop and restart n0, n1, n2 in turn (SIGTERM), each healthy before the next",
         rolling_restart},
        {"worker-kill", "kill -9 the worker at random moments, restarting it each time", worker_kill},
        {"postgres-restart", "stop PostgreSQL (fast shutdown) at 40 % of the load, start it again",
         postgres_restart},
        {"node-isolation", "SIGSTOP the stream leader longer than an election, then SIGCONT", node_isolation},
    };
    return all;
}

}  // namespace seamq::chaos
