#pragma once

// Pieces shared by the benchmark programs (bench/*_bench.cpp): generated events, steady
// producer load with per-event commit times, percentiles, CPU accounting per component,
// and the machine and version facts every report carries.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <span>
#include <string>
#include <sys/types.h>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/param.hpp"

namespace seamq::bench {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

//! Microseconds since the epoch (comparable across threads and with other processes).
std::int64_t wall_us();
double seconds_since(Clock::time_point start);
//! Progress line on stderr, "[bench] ...".
void log(const std::string& line);

// --- events ----------------------------------------------------------------------

inline constexpr const char* event_type = "sea.event.order-placed.v1";

struct Event {
    std::string id;
    std::string subject;   //!< ordering key
    std::string envelope;  //!< JSON text as a producer sends it
};

std::string uuid4(std::mt19937_64& random);
//! `count` valid envelopes of `event_type` spread round-robin over `keys` ordering keys,
//! each with `padding` bytes of filler in its data.
std::vector<Event> make_events(int count, int keys, int padding, std::mt19937_64& random);
std::unordered_map<std::string, std::size_t> index_by_id(const std::vector<Event>& events);

// --- statistics ------------------------------------------------------------------

double percentile(std::vector<double> values, double fraction);
double round_to(double value, int digits);

// --- environment -----------------------------------------------------------------

std::string command_output(const std::string& command);
//! The value after "key:" on the first line of `file` starting with `key` (/proc files).
std::string file_value(const fs::path& file, const std::string& key);
std::string read_text(const fs::path& file);
std::string npm_version(const fs::path& node_dir, const std::string& package);
std::string load_average();
//! cpu_model, cores, memory, kernel, load_average_start, nats_server, nats_c.
json machine_environment();
//! version() and the settings that shape commit costs, of the server behind `conninfo`.
void add_postgres_environment(json& environment, const std::string& conninfo);

// --- CPU accounting --------------------------------------------------------------

//! CPU seconds used so far by this process (and its ended children), by the PostgreSQL
//! server (postmaster, live backends, and backends that ended), and by nats-server.
//! Per-event CPU does not depend on what else runs on the machine, unlike throughput,
//! so it shows where a phase's work goes.
struct CpuSample {
    double bench = 0, postgres = 0, nats = 0;
};

CpuSample cpu_sample(pid_t postmaster, pid_t nats_server);
//! CPU milliseconds per 1,000 events between two samples, per component.
json cpu_per_1000(const CpuSample& before, const CpuSample& after, std::size_t events);
//! The postmaster's pid from its data directory.
pid_t postmaster_pid(const fs::path& data_dir);

// --- steady producer load ----------------------------------------------------------

//! An open-loop offered load: event n is due at start + n / rate on one of `producers`
//! sessions (a producer that falls behind catches up without pause, so a slow consumer
//! downstream cannot slow the producers). The first `warmup_seconds` are left out of
//! the latency figures.
struct SteadyLoad {
    double rate = 2000;
    int producers = 16;
    int warmup_seconds = 3;
};

//! Per-event schedule and commit times of a steady run.
struct ProducerRun {
    std::vector<std::int64_t> scheduled_us;
    std::vector<std::int64_t> committed_us;  //!< 0: the transaction failed
    double seconds = 0;
    std::uint64_t failures = 0;
};

//! Runs `statement` (prepared, parameters from `parameters(event)`) in a transaction of
//! its own for each event, on load.producers sessions, at load.rate.
template <typename Parameters>
ProducerRun run_producers(const std::string& conninfo, const std::vector<Event>& events,
                          const std::string& statement, Parameters parameters, const SteadyLoad& load) {
    using namespace std::chrono_literals;
    ProducerRun run;
    const auto count = events.size();
    run.scheduled_us.assign(count, 0);
    run.committed_us.assign(count, 0);
    std::atomic<std::uint64_t> failures{0};
    const auto start = Clock::now() + 200ms;
    const auto start_wall = wall_us() + 200000;
    std::vector<std::thread> threads;
    for (int producer = 0; producer < load.producers; ++producer) {
        threads.emplace_back([&, producer] {
            postgres::Connection connection(
                postgres::ConnectOptions{.conninfo = conninfo, .application_name = "bench-producer"});
            connection.prepare("bench_produce", statement);
            for (auto n = static_cast<std::size_t>(producer); n < count;
                 n += static_cast<std::size_t>(load.producers)) {
                const auto offset = std::chrono::duration<double>(static_cast<double>(n) / load.rate);
                std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(offset));
                run.scheduled_us[n] = start_wall + static_cast<std::int64_t>(offset.count() * 1e6);
                try {
                    connection.exec("BEGIN");
                    const auto values = parameters(events[n]);
                    connection.exec_prepared("bench_produce", std::span<const postgres::Param>(values));
                    connection.exec("COMMIT");
                    run.committed_us[n] = wall_us();
                } catch (const Error& error) {
                    ++failures;
                    if (connection.in_transaction()) connection.exec("ROLLBACK");
                    log(std::string("producer: ") + error.what());
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    run.seconds = seconds_since(start);
    run.failures = failures.load();
    return run;
}

//! Latency figures from each event's commit to `done_us` (its arrival downstream, 0 if
//! it never arrived), for events scheduled after the warm-up.
json latency_summary(const ProducerRun& run, const std::vector<std::int64_t>& done_us,
                     const SteadyLoad& load);

// --- report ----------------------------------------------------------------------

//! A figure for a markdown table: "n/a" for null, 0 decimals from 100 up, else 2.
std::string format_number(const json& value);
//! Sets "met" in each target ({"op": ">=" or "<=", "value": v}) whose figure is a number.
void check_targets(json& targets, const json& figures);
//! "**Machine**: ..." paragraph from machine_environment() plus load_average_end.
std::string machine_markdown(const json& environment);
//! Table rows "| `key` label | value | target | met |" for each (key, label) in `figures`.
std::string figure_rows_markdown(const json& figures, const json& targets,
                                 const std::vector<std::pair<std::string, std::string>>& rows);
//! Writes <dir>/<name>.json and <dir>/<name>.md, prints the table, logs how long it all took.
void write_report(const json& report, const std::string& table, const fs::path& dir, const std::string& name,
                  Clock::time_point bench_start);

}  // namespace seamq::bench
