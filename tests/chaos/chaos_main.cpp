// seamq-chaos: the chaos suite of issue 7. For each scenario: a fresh 3-node JetStream
// cluster (R3 streams from config/streams-ha.yaml), PostgreSQL with sea-mq's migrations,
// the real sea-mq-worker from config/worker.ha.yaml (relay + the sea-projector consumer
// applying effects through an SQL handler), producers committing events at a steady
// rate, and the scenario's faults. Then it waits (bounded) for catch-up and checks that
// every committed event is in the stream exactly once and applied exactly once.
// Prints a table and writes a JSON summary; exit 0 when every scenario passed.
//
//   seamq-chaos [--scenario NAME]... [--load-seconds 60] [--summary FILE]
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>

#include "tests/chaos/environment.hpp"
#include "tests/chaos/load.hpp"
#include "tests/chaos/observers.hpp"
#include "tests/chaos/scenarios.hpp"
#include "tests/chaos/verify.hpp"
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"

namespace seamq::chaos {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct RunOptions {
    std::vector<std::string> scenarios;
    double load_seconds = 60;
    double rate = 300;
    int producers = 4;
    int keys = 8;
    double catch_up_timeout = 120;
    std::uint64_t seed = 0;
    fs::path summary;
    bool save_logs = false;
    EnvironmentOptions environment;
    FaultSettings faults;
};

struct ScenarioResult {
    std::string name;
    std::string description;
    std::vector<std::string> problems;
    std::vector<FaultEvent> faults;
    double load_seconds = 0;
    std::uint64_t committed = 0, acknowledged = 0, uncertain = 0, failed = 0;
    std::uint64_t stream_messages = 0, in_stream = 0, applied = 0, effect_rows = 0;
    std::uint64_t dead_letters = 0, order_inversions = 0;
    Stall publish_stall, commit_stall;
    double max_publish_delay = 0, p99_publish_delay = 0;
    double max_apply_delay = 0, p99_apply_delay = 0;
    std::uint64_t applied_late = 0;
    std::vector<std::string> slowest_applied;
    Stall apply_stall;
    double worker_stop_seconds = 0;
    std::optional<double> catch_up;
    PubAckTap::Counts pubacks;
    std::map<std::string, double> metrics;
    std::string logs;
    bool pass() const { return problems.empty(); }
};

double seconds(std::chrono::duration<double> duration) {
    return duration.count();
}

double metric(const ScenarioResult& result, const std::string& name) {
    const auto found = result.metrics.find(name);
    return found == result.metrics.end() ? 0 : found->second;
}

ScenarioResult run_scenario(const Scenario& scenario, const RunOptions& options, std::uint64_t seed) {
    ScenarioResult result;
    result.name = scenario.name;
    result.description = scenario.description;
    std::cout << fmt::format("\n== {}: {} ({:.0f} s of load at {:.0f} events/s, seed {})\n", scenario.name,
                             scenario.description, options.load_seconds, options.rate, seed)
              << std::flush;
    const auto began = Clock::now();
    auto progress = [&](const std::string& what) {
        std::cout << fmt::format("  [{:5.1f} s] {}\n", seconds(Clock::now() - began), what) << std::flush;
    };
    std::optional<ChaosEnvironment> environment;
    try {
        environment.emplace(options.environment);
        environment->start_worker();
        environment->wait_worker_ready(60s);
        progress("cluster, PostgreSQL, streams and worker ready; load starts");
        PubAckTap tap(environment->cluster().urls(), event_stream);
        MetricsScraper scraper(environment->admin_port(), [&] { return environment->worker_incarnation(); });
        Producers producers(LoadOptions{.database = environment->database(),
                                        .id_prefix = scenario.name,
                                        .rate = options.rate,
                                        .producers = options.producers,
                                        .keys_per_producer = std::max(1, options.keys / options.producers)});

        const auto load = std::chrono::duration<double>(options.load_seconds);
        LoadWindow window{.start = std::chrono::system_clock::now(), .end = {}};
        const auto load_start = Clock::now();
        producers.start();
        FaultSchedule schedule(*environment, load_start, load, options.faults, seed);
        try {
            scenario.inject(schedule);
            schedule.sleep_until(1.0);  // the load runs its full length even when the faults end early
        } catch (...) {
            result.faults = schedule.events();
            throw;
        }
        producers.stop();
        window.end = std::chrono::system_clock::now();
        result.load_seconds = seconds(Clock::now() - load_start);
        result.faults = schedule.events();
        const auto load_report = producers.report();
        schedule.note(fmt::format("producers stopped: {} commits acknowledged, {} uncertain, {} failed",
                                  load_report.acknowledged.size(), load_report.uncertain.size(),
                                  load_report.failed.size()));

        const auto caught_up = wait_caught_up(environment->database(),
                                              std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::duration<double>(options.catch_up_timeout)));
        if (caught_up) {
            result.catch_up = seconds(*caught_up);
            schedule.note(fmt::format(
                "caught up: everything published and applied {:.1f} s after the producers stopped",
                *result.catch_up));
        } else {
            result.problems.push_back(
                fmt::format("not caught up {:.0f} s after the producers stopped", options.catch_up_timeout));
        }
        // Redeliveries of messages whose ack was lost may still come (and must be skipped).
        std::this_thread::sleep_for(1s);
        scraper.scrape_now();
        scraper.stop();
        result.metrics = scraper.totals();
        progress("stopping the worker");
        const auto stopping = Clock::now();
        const int exit_code = environment->stop_worker();
        result.worker_stop_seconds = seconds(Clock::now() - stopping);
        progress("worker stopped; reading the stream and the database back");
        if (exit_code != 0)
            result.problems.push_back(fmt::format("the worker exited with {} on SIGTERM", exit_code));
        result.pubacks = tap.counts();
        result.faults = schedule.events();

        nats::Connection connection(
            nats::ConnectionOptions::from_urls(environment->cluster().url_list(), "seamq-chaos-reader"));
        nats::JetStream jetstream(connection);
        const auto messages = read_stream(jetstream, event_stream, 60s);
        const auto dead_letters = retry_transient("reading the dead-letter stream's info",
                                                  [&] { return jetstream.stream_info(dead_letter_stream); });
        result.dead_letters = dead_letters ? dead_letters->state.messages : 0;
        if (result.dead_letters != 0)
            result.problems.push_back(fmt::format("{} messages were dead-lettered", result.dead_letters));
        const auto database = read_database(environment->database());
        const auto verdict = verify(messages, database, load_report);
        result.problems.insert(result.problems.end(), verdict.problems.begin(), verdict.problems.end());

        result.committed = database.committed.size();
        result.acknowledged = load_report.acknowledged.size();
        result.uncertain = load_report.uncertain.size();
        result.failed = load_report.failed.size();
        result.stream_messages = messages.size();
        result.in_stream = verdict.in_stream;
        result.applied = verdict.applied;
        for (const auto& [id, count] : database.effects)
            result.effect_rows += static_cast<std::uint64_t>(count);
        result.order_inversions = verdict.order_inversions;
        result.max_publish_delay = verdict.max_publish_delay;
        result.p99_publish_delay = verdict.p99_publish_delay;
        result.max_apply_delay = verdict.max_apply_delay;
        result.p99_apply_delay = verdict.p99_apply_delay;
        result.applied_late = verdict.applied_late;
        result.slowest_applied = verdict.slowest_applied;
        result.apply_stall = longest_apply_stall(database, window);
        result.publish_stall = longest_publish_stall(messages, window);
        result.commit_stall = longest_commit_stall(load_report.acknowledged, window);
        progress("checked; stopping the servers");
    } catch (const std::exception& error) {
        result.problems.push_back(std::string("aborted: ") + error.what());
    }
    if ((!result.pass() || options.save_logs) && environment) {
        const auto logs = options.summary.parent_path() / "logs" / scenario.name;
        environment->save_logs(logs);
        result.logs = logs.string();
    }
    environment.reset();
    progress("servers stopped");
    std::cout << fmt::format("== {}: {}\n", scenario.name, result.pass() ? "PASS" : "FAIL");
    for (const auto& problem : result.problems) std::cout << "   problem: " << problem << "\n";
    if (!result.logs.empty()) std::cout << "   logs: " << result.logs << "\n";
    std::cout << std::flush;
    return result;
}

nlohmann::json to_json(const ScenarioResult& result) {
    nlohmann::json faults = nlohmann::json::array();
    for (const auto& fault : result.faults)
        faults.push_back({{"at_seconds", fault.at}, {"what", fault.what}});
    return {
        {"scenario", result.name},
        {"description", result.description},
        {"pass", result.pass()},
        {"problems", result.problems},
        {"load_seconds", result.load_seconds},
        {"events",
         {{"committed", result.committed},
          {"acknowledged", result.acknowledged},
          {"uncertain_commits", result.uncertain},
          {"failed_transactions", result.failed},
          {"stream_messages", result.stream_messages},
          {"published", result.in_stream},
          {"applied", result.applied},
          {"effect_rows", result.effect_rows},
          {"dead_lettered", result.dead_letters}}},
        {"publish_stall_seconds", result.publish_stall.seconds},
        {"publish_stall_began_at_seconds", result.publish_stall.began_at},
        {"commit_stall_seconds", result.commit_stall.seconds},
        {"commit_stall_began_at_seconds", result.commit_stall.began_at},
        {"max_publish_delay_seconds", result.max_publish_delay},
        {"p99_publish_delay_seconds", result.p99_publish_delay},
        {"apply_stall_seconds", result.apply_stall.seconds},
        {"apply_stall_began_at_seconds", result.apply_stall.began_at},
        {"max_apply_delay_seconds", result.max_apply_delay},
        {"p99_apply_delay_seconds", result.p99_apply_delay},
        {"events_applied_over_5s_after_commit", result.applied_late},
        {"slowest_applied", result.slowest_applied},
        {"catch_up_seconds", result.catch_up ? nlohmann::json(*result.catch_up) : nlohmann::json(nullptr)},
        {"duplicates",
         {{"duplicate_pubacks", result.pubacks.duplicates},
          {"pubacks_seen", result.pubacks.acknowledgements},
          {"inbox_duplicates", metric(result, "seamq_inbox_duplicates_total")},
          {"relay_publish_errors", metric(result, "seamq_relay_publish_errors_total")}}},
        {"per_key_order_inversions", result.order_inversions},
        {"worker_stop_seconds", result.worker_stop_seconds},
        {"worker_metrics", result.metrics},
        {"faults", faults},
        {"logs", result.logs},
    };
}

void print_table(const std::vector<ScenarioResult>& results) {
    std::cout << "\n"
              << fmt::format("{:<17} {:<6} {:>9} {:>9} {:>9} {:>14} {:>13} {:>9} {:>8} {:>7}\n", "scenario",
                             "result", "committed", "published", "applied", "publish stall", "commit stall",
                             "catch-up", "dup acks", "inbox dups");
    for (const auto& result : results) {
        std::cout << fmt::format(
            "{:<17} {:<6} {:>9} {:>9} {:>9} {:>7.2f} s@{:<4.0f} {:>6.2f} s@{:<4.0f} {:>7} {:>8} {:>7}\n",
            result.name, result.pass() ? "PASS" : "FAIL", result.committed, result.in_stream, result.applied,
            result.publish_stall.seconds, result.publish_stall.began_at, result.commit_stall.seconds,
            result.commit_stall.began_at, result.catch_up ? fmt::format("{:.1f} s", *result.catch_up) : "-",
            result.pubacks.duplicates, metric(result, "seamq_inbox_duplicates_total"));
    }
    std::cout << "(stalls: longest gap, and when it began in seconds after the load started; "
                 "dup acks: PubAcks flagged duplicate; inbox dups: redeliveries the inbox skipped)\n";
}

std::string utc_now() {
    const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

int run(int argc, char** argv) {
    RunOptions options;
    options.summary = testing::bin_dir().parent_path() / "chaos" / "summary.json";
    options.seed = std::random_device{}();
    double isolation_seconds = 10;
    std::vector<std::string> names;
    for (const auto& scenario : scenarios()) names.push_back(scenario.name);

    CLI::App app{"sea-mq chaos suite: faults under load, then exactly-once checks (issue 7)"};
    app.add_option("--scenario", options.scenarios, "Scenario to run (repeatable); default: all but baseline")
        ->check(CLI::IsMember(names));
    app.add_option("--load-seconds", options.load_seconds, "How long the producers commit")
        ->check(CLI::Range(5.0, 3600.0))
        ->capture_default_str();
    app.add_option("--rate", options.rate, "Events (transactions) per second, all producers together")
        ->check(CLI::Range(1.0, 5000.0))
        ->capture_default_str();
    app.add_option("--producers", options.producers, "Producer sessions")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    app.add_option("--keys", options.keys, "Ordering keys (spread over the producers)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    app.add_option("--worker-kills", options.faults.worker_kills, "worker-kill: how many kill -9s")
        ->check(CLI::Range(1, 100))
        ->capture_default_str();
    app.add_option("--isolation-seconds", isolation_seconds, "node-isolation: how long the node stays frozen")
        ->check(CLI::Range(1.0, 120.0))
        ->capture_default_str();
    app.add_option("--catch-up-timeout", options.catch_up_timeout,
                   "Seconds allowed for catch-up after the load")
        ->check(CLI::Range(5.0, 600.0))
        ->capture_default_str();
    app.add_option("--seed", options.seed, "Random seed (worker-kill moments); default: random, printed");
    app.add_option("--summary", options.summary, "JSON summary to write")->capture_default_str();
    app.add_option("--publish-timeout", options.environment.publish_timeout,
                   "Override the relay's publish_timeout of config/worker.ha.yaml (e.g. 5s)");
    app.add_option("--ack-wait", options.environment.ack_wait,
                   "Override the consumer's ack_wait of config/worker.ha.yaml (e.g. 10s; at least 1s)");
    app.add_option("--log-level", options.environment.log_level, "The worker's log level")
        ->capture_default_str();
    app.add_flag(
        "--save-logs", options.save_logs,
        "Copy every server's and worker's log next to the summary (always done for a failed scenario)");
    bool list = false;
    app.add_flag("--list", list, "List the scenarios and exit");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    }
    if (list) {
        for (const auto& scenario : scenarios())
            std::cout << scenario.name << ": " << scenario.description << "\n";
        return 0;
    }
    options.faults.isolation = std::chrono::milliseconds(static_cast<long>(isolation_seconds * 1000));
    if (options.scenarios.empty()) {
        options.scenarios.assign(names.begin() + 1, names.end());  // every fault scenario
    }

    std::vector<ScenarioResult> results;
    for (const auto& scenario : scenarios()) {
        const auto index = static_cast<std::uint64_t>(&scenario - scenarios().data());
        if (std::find(options.scenarios.begin(), options.scenarios.end(), scenario.name) ==
            options.scenarios.end())
            continue;
        results.push_back(run_scenario(scenario, options, options.seed + index));
    }
    print_table(results);

    bool pass = true;
    nlohmann::json summary_scenarios = nlohmann::json::array();
    for (const auto& result : results) {
        pass = pass && result.pass();
        summary_scenarios.push_back(to_json(result));
    }
    const nlohmann::json summary = {
        {"generated_at", utc_now()},
        {"pass", pass},
        {"settings",
         {{"load_seconds", options.load_seconds},
          {"rate_per_second", options.rate},
          {"producers", options.producers},
          {"ordering_keys", options.keys},
          {"seed", options.seed},
          {"worker_kills", options.faults.worker_kills},
          {"isolation_seconds", isolation_seconds},
          {"publish_timeout", options.environment.publish_timeout.empty()
                                  ? "as in config/worker.ha.yaml"
                                  : options.environment.publish_timeout}}},
        {"scenarios", summary_scenarios},
    };
    std::error_code error;
    fs::create_directories(options.summary.parent_path(), error);
    std::ofstream(options.summary) << summary.dump(2) << "\n";
    std::cout << "summary: " << options.summary.string() << "\n";
    return pass ? 0 : 1;
}

}  // namespace
}  // namespace seamq::chaos

int main(int argc, char** argv) {
    try {
        return seamq::chaos::run(argc, argv);
    } catch (const std::exception& error) {
        std::cerr << "seamq-chaos: " << error.what() << "\n";
        return 1;
    }
}
