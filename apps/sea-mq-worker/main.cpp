// sea-mq-worker: the daemon that runs relays, consumers and edges for its contexts.
//
//   sea-mq-worker --config FILE             run until SIGTERM/SIGINT
//   sea-mq-worker --check-config FILE       validate FILE and exit
//   sea-mq-worker --reference metrics|configuration   print a docs/*.md reference table
//
// Exit codes: 0 ok (also: stopped cleanly after a signal), 1 the worker failed (admin
// address in use, unclean shutdown...), 2 usage or configuration error,
// 128+N when a second signal N ended a graceful stop.
#include <algorithm>
#include <csignal>
#include <iostream>
#include <mutex>
#include <optional>

#include <CLI/CLI.hpp>

#include "seamq/core/build_info.hpp"
#include "seamq/core/error.hpp"
#include "seamq/observability/logging.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/worker/config.hpp"
#include "seamq/worker/signals.hpp"
#include "seamq/worker/worker.hpp"

namespace {

// Grace beyond shutdown_deadline before the signal watcher ends a stuck shutdown.
constexpr std::chrono::seconds shutdown_grace{5};

int report_config_error(const std::string& file, const seamq::worker::ConfigError& error) {
    const auto& problems = error.problems();
    std::cerr << "sea-mq-worker: " << file << ": " << problems.size() << " configuration problem"
              << (problems.size() == 1 ? "" : "s") << ":\n";
    for (const auto& problem : problems) std::cerr << "  " << problem.to_string() << "\n";
    return 2;
}

int check_config(const std::string& file, bool print) {
    try {
        const auto config = seamq::worker::load_config(file);
        for (const auto& warning : config.warnings)
            std::cerr << "sea-mq-worker: warning: " << warning << "\n";
        std::cout << file << ": configuration is valid (" << config.contexts.size() << " context(s), "
                  << config.consumers.size() << " consumer(s))\n";
        if (print) std::cout << seamq::worker::dump_config(config);
        return 0;
    } catch (const seamq::worker::ConfigError& e) {
        return report_config_error(file, e);
    }
}

int run_worker(const std::string& file, bool print) {
    // First, before any thread exists: every thread inherits the blocked signals.
    seamq::worker::ShutdownSignals signals;
    // httplib writes to sockets without MSG_NOSIGNAL: a scraper hanging up must not kill us.
    std::signal(SIGPIPE, SIG_IGN);

    std::optional<seamq::worker::Config> loaded;
    try {
        loaded = seamq::worker::load_config(file);
    } catch (const seamq::worker::ConfigError& e) {
        return report_config_error(file, e);
    }
    auto& config = *loaded;
    if (print) std::cout << seamq::worker::dump_config(config) << std::flush;

    const auto level = seamq::observability::parse_log_level(config.log.level).value_or(spdlog::level::info);
    seamq::observability::Logger logger(seamq::observability::install_json_logging(level));
    for (const auto& warning : config.warnings) logger.warn("{}", warning);
    logger.with({.component = "worker"}).info("configuration {} loaded", file);

    try {
        const auto hard_deadline =
            std::chrono::duration_cast<std::chrono::milliseconds>(config.shutdown_deadline + shutdown_grace);
        // One Worker per NATS connection: when the servers refuse the credentials, nats.c
        // closes the connection for good, so a new Worker (new connection, credential files
        // read again) takes over after a growing delay, the process staying up and not ready.
        std::mutex mutex;
        seamq::worker::Worker* current = nullptr;
        bool stop_requested = false;
        signals.watch(
            logger.with({.component = "worker"}),
            [&] {
                std::lock_guard lock(mutex);
                stop_requested = true;
                if (current != nullptr) current->stop();
            },
            hard_deadline);
        auto refusal_delay = std::chrono::milliseconds(std::chrono::seconds(2));
        for (;;) {
            seamq::worker::Worker worker(config, logger, refusal_delay);
            seamq::worker::add_configured_components(worker);
            {
                std::lock_guard lock(mutex);
                if (stop_requested) return 0;
                current = &worker;
            }
            const int code = worker.run();
            {
                std::lock_guard lock(mutex);
                current = nullptr;
                if (stop_requested || !worker.nats_gave_up()) return code;
            }
            refusal_delay = std::min<std::chrono::milliseconds>(refusal_delay * 2, std::chrono::seconds(30));
            // Rotated secrets ({file: ...}, ${ENV} are fixed, files are not) take effect now.
            try {
                config = seamq::worker::load_config(file);
            } catch (const seamq::worker::ConfigError& e) {
                logger.with({.component = "worker"})
                    .error("reloading {} failed, keeping the configuration loaded before: {}", file,
                           e.what());
            }
        }
    } catch (const seamq::Error& e) {
        logger.with({.component = "worker"}).critical("{}", e.what());
        const auto code = e.code();
        return (code == seamq::Errc::config || code == seamq::Errc::invalid_argument) ? 2 : 1;
    } catch (const std::exception& e) {
        logger.with({.component = "worker"}).critical("{}", e.what());
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"sea-mq-worker: relays outboxes to JetStream and runs inbox consumers", "sea-mq-worker"};
    app.set_version_flag("--version", std::string("sea-mq-worker ") + seamq::build_info::version);
    std::string config_file;
    std::string check_file;
    std::string reference;
    bool print_config = false;
    auto* config_option = app.add_option("--config", config_file, "Run with this configuration file (YAML)");
    auto* check_option = app.add_option("--check-config", check_file,
                                        "Validate this configuration file and exit: 0 valid, 2 invalid "
                                        "(every problem is listed with key and line)");
    auto* reference_option =
        app.add_option(
               "--reference", reference,
               "Print the Markdown reference table of `metrics` or `configuration` (as in docs/) and exit")
            ->check(CLI::IsMember({"metrics", "configuration"}));
    app.add_flag("--print-config", print_config,
                 "With --config or --check-config: print the effective configuration, secrets redacted");
    config_option->excludes(check_option)->excludes(reference_option);
    check_option->excludes(reference_option);
    app.footer(
        "Environment variables SEAMQ_<SECTION>_<KEY> override settings, e.g. SEAMQ_NATS_SERVERS, "
        "SEAMQ_ADMIN_LISTEN, SEAMQ_LOG_LEVEL, SEAMQ_CONTEXT_<NAME>_DATABASE_URL (see "
        "docs/configuration.md).\n"
        "Exit codes: 0 ok, 1 failed, 2 usage or configuration error.");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }

    if (!reference.empty()) {
        std::cout << (reference == "metrics" ? seamq::observability::metric::reference_markdown()
                                             : seamq::worker::configuration_reference_markdown());
        return 0;
    }
    if (!check_file.empty()) return check_config(check_file, print_config);
    if (!config_file.empty()) return run_worker(config_file, print_config);
    std::cerr << "sea-mq-worker: give --config FILE, --check-config FILE or --reference (see --help)\n";
    return 2;
}
