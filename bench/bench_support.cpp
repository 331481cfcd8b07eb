#include "bench/bench_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <nats/nats.h>
#include <unistd.h>

namespace seamq::bench {

std::int64_t wall_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void log(const std::string& line) {
    std::cerr << "[bench] " << line << std::endl;
}

// --- events ----------------------------------------------------------------------

std::string uuid4(std::mt19937_64& random) {
    const std::uint64_t high = (random() & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;
    const std::uint64_t low = (random() & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;
    char text[37];
    std::snprintf(text, sizeof text, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                  static_cast<unsigned>((high >> 16) & 0xFFFF), static_cast<unsigned>(high & 0xFFFF),
                  static_cast<unsigned>(low >> 48), static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
    return text;
}

std::vector<Event> make_events(int count, int keys, int padding, std::mt19937_64& random) {
    std::vector<Event> events;
    events.reserve(static_cast<std::size_t>(count));
    const std::string filler(static_cast<std::size_t>(padding), 'x');
    for (int n = 0; n < count; ++n) {
        Event event;
        event.id = uuid4(random);
        event.subject = "order-" + std::to_string(n % keys);
        const json envelope = {
            {"specversion", "1.0"},
            {"id", event.id},
            {"source", "/bench/orders"},
            {"type", event_type},
            {"subject", event.subject},
            {"time", "2024-05-01T12:00:00.000000Z"},
            {"datacontenttype", "application/json"},
            {"data",
             {{"order_id", event.subject}, {"line", n}, {"amount_cents", 1000 + n % 9000}, {"note", filler}}},
        };
        event.envelope = envelope.dump();
        events.push_back(std::move(event));
    }
    return events;
}

std::unordered_map<std::string, std::size_t> index_by_id(const std::vector<Event>& events) {
    std::unordered_map<std::string, std::size_t> index;
    index.reserve(events.size());
    for (std::size_t n = 0; n < events.size(); ++n) index.emplace(events[n].id, n);
    return index;
}

// --- statistics ------------------------------------------------------------------

double percentile(std::vector<double> values, double fraction) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const auto index = static_cast<std::size_t>(fraction * static_cast<double>(values.size() - 1) + 0.5);
    return values[std::min(index, values.size() - 1)];
}

double round_to(double value, int digits) {
    const double scale = std::pow(10.0, digits);
    return std::round(value * scale) / scale;
}

// --- environment -----------------------------------------------------------------

std::string command_output(const std::string& command) {
    std::string output;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
        char buffer[512];
        while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
        ::pclose(pipe);
    }
    while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
    return output;
}

std::string file_value(const fs::path& file, const std::string& key) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(key, 0) == 0) {
            const auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            auto value = line.substr(colon + 1);
            value.erase(0, value.find_first_not_of(" \t"));
            return value;
        }
    }
    return "";
}

std::string read_text(const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

std::string npm_version(const fs::path& node_dir, const std::string& package) {
    try {
        return json::parse(read_text(node_dir / "node_modules" / package / "package.json"))
            .value("version", "");
    } catch (const std::exception&) {
        return "";
    }
}

std::string load_average() {
    auto text = read_text("/proc/loadavg");
    const auto parts = text.find(' ', text.find(' ', text.find(' ') + 1) + 1);
    return parts == std::string::npos ? text : text.substr(0, parts);
}

json machine_environment() {
    json environment = {
        {"cpu_model", file_value("/proc/cpuinfo", "model name")},
        {"cores", static_cast<int>(std::thread::hardware_concurrency())},
        {"memory", file_value("/proc/meminfo", "MemTotal")},
        {"load_average_start", load_average()},
        {"nats_server", command_output("nats-server --version 2>&1")},
        {"nats_c", nats_GetVersion()},
    };
    utsname system{};
    ::uname(&system);
    environment["kernel"] = std::string(system.sysname) + " " + system.release;
    return environment;
}

void add_postgres_environment(json& environment, const std::string& conninfo) {
    postgres::Connection connection(conninfo);
    environment["postgresql"] = connection.exec("SELECT version()").get<std::string>(0, 0);
    json server_settings;
    for (const char* name : {"fsync", "synchronous_commit", "wal_level", "shared_buffers", "max_connections",
                             "wal_writer_delay", "commit_delay"}) {
        server_settings[name] = connection.exec(std::string("SHOW ") + name).get<std::string>(0, 0);
    }
    environment["postgresql_settings"] = server_settings;
}

// --- CPU accounting --------------------------------------------------------------

namespace {

double process_cpu_seconds(pid_t pid, bool with_children, pid_t* parent = nullptr) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(in, text);
    const auto close = text.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> values;
    std::string value;
    while (fields >> value) values.push_back(value);
    // After "(comm) ": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    if (values.size() < 15) return 0;
    if (parent != nullptr) *parent = static_cast<pid_t>(std::stol(values[1]));
    double ticks = std::stod(values[11]) + std::stod(values[12]);
    if (with_children) ticks += std::stod(values[13]) + std::stod(values[14]);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

CpuSample cpu_sample(pid_t postmaster, pid_t nats_server) {
    CpuSample sample;
    // Children: programs this one started once they ended (the servers end only after
    // the last phase).
    for (const int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
        rusage usage{};
        ::getrusage(who, &usage);
        sample.bench += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                        static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    }
    sample.postgres = process_cpu_seconds(postmaster, true);
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
        pid_t parent = 0;
        const double seconds = process_cpu_seconds(static_cast<pid_t>(std::stol(name)), false, &parent);
        if (parent == postmaster) sample.postgres += seconds;
    }
    sample.nats = process_cpu_seconds(nats_server, false);
    return sample;
}

json cpu_per_1000(const CpuSample& before, const CpuSample& after, std::size_t events) {
    const double scale = 1e6 / static_cast<double>(std::max<std::size_t>(events, 1));
    const double bench = (after.bench - before.bench) * scale,
                 postgres = (after.postgres - before.postgres) * scale,
                 nats = (after.nats - before.nats) * scale;
    return json{{"client", round_to(bench, 1)},
                {"postgres", round_to(postgres, 1)},
                {"nats_server", round_to(nats, 1)},
                {"total", round_to(bench + postgres + nats, 1)}};
}

pid_t postmaster_pid(const fs::path& data_dir) {
    return static_cast<pid_t>(std::stol(read_text(data_dir / "postmaster.pid")));
}

// --- steady producer load ----------------------------------------------------------

json latency_summary(const ProducerRun& run, const std::vector<std::int64_t>& done_us,
                     const SteadyLoad& load) {
    std::vector<double> latencies;
    std::vector<double> commit_lag;  // how late producers committed against the schedule
    std::uint64_t missing = 0, before_commit_returned = 0;
    const auto warmup = static_cast<std::size_t>(load.rate * load.warmup_seconds);
    for (std::size_t n = warmup; n < run.committed_us.size(); ++n) {
        if (run.committed_us[n] == 0) continue;  // failed transaction
        commit_lag.push_back(static_cast<double>(run.committed_us[n] - run.scheduled_us[n]) / 1000.0);
        if (done_us[n] == 0) {
            ++missing;
            continue;
        }
        auto latency = static_cast<double>(done_us[n] - run.committed_us[n]) / 1000.0;
        if (latency < 0) {
            // Downstream had it before COMMIT returned to the producer.
            ++before_commit_returned;
            latency = 0;
        }
        latencies.push_back(latency);
    }
    const double offered = static_cast<double>(run.committed_us.size()) / run.seconds;
    return json{{"events_measured", latencies.size()},
                {"events_total", run.committed_us.size()},
                {"offered_events_per_s", round_to(offered, 0)},
                {"producer_failures", run.failures},
                {"missing_acks", missing},
                {"acked_before_commit_returned", before_commit_returned},
                {"p50_ms", round_to(percentile(latencies, 0.50), 2)},
                {"p90_ms", round_to(percentile(latencies, 0.90), 2)},
                {"p99_ms", round_to(percentile(latencies, 0.99), 2)},
                {"max_ms", round_to(percentile(latencies, 1.0), 2)},
                {"producer_commit_lag_p99_ms", round_to(percentile(commit_lag, 0.99), 2)}};
}

// --- report ----------------------------------------------------------------------

std::string format_number(const json& value) {
    if (value.is_null()) return "n/a";
    if (value.is_number_float()) {
        std::ostringstream out;
        const double number = value.get<double>();
        out << std::fixed << std::setprecision(number >= 100 ? 0 : 2) << number;
        return out.str();
    }
    return value.dump();
}

void check_targets(json& targets, const json& figures) {
    for (auto& [key, goal] : targets.items()) {
        if (!figures.contains(key) || figures[key].is_null()) continue;
        const double value = figures[key].get<double>();
        goal["met"] =
            goal["op"] == ">=" ? value >= goal["value"].get<double>() : value <= goal["value"].get<double>();
    }
}

std::string machine_markdown(const json& environment) {
    std::ostringstream out;
    out << "**Machine**: " << environment.at("cpu_model").get<std::string>() << ", "
        << environment.at("cores").get<int>() << " cores, " << environment.at("memory").get<std::string>()
        << ", " << environment.at("kernel").get<std::string>() << "; load average at start "
        << environment.at("load_average_start").get<std::string>() << ", at end "
        << environment.at("load_average_end").get<std::string>() << ".\n\n";
    return out.str();
}

std::string figure_rows_markdown(const json& figures, const json& targets,
                                 const std::vector<std::pair<std::string, std::string>>& rows) {
    std::ostringstream out;
    out << "| figure | value | target | met |\n|---|---:|---:|:---:|\n";
    for (const auto& [key, label] : rows) {
        if (!figures.contains(key)) continue;
        std::string target, met;
        if (targets.contains(key)) {
            const auto& goal = targets.at(key);
            target = goal.at("op").get<std::string>() + " " + format_number(goal.at("value"));
            met = goal.value("met", false) ? "yes" : "**no**";
        }
        out << "| `" << key << "` " << label << " | " << format_number(figures.at(key)) << " | " << target
            << " | " << met << " |\n";
    }
    return out.str();
}

void write_report(const json& report, const std::string& table, const fs::path& dir, const std::string& name,
                  Clock::time_point bench_start) {
    fs::create_directories(dir);
    std::ofstream(dir / (name + ".json")) << report.dump(2) << "\n";
    std::ofstream(dir / (name + ".md")) << table;
    std::cout << table << std::flush;
    log("wrote " + (dir / (name + ".json")).string() + " and " + name + ".md in " +
        std::to_string(static_cast<int>(seconds_since(bench_start))) + " s");
}

}  // namespace seamq::bench
