// The cell's federation links and import sources, read on an interval (never at scrape
// or probe time: a slow monitor or a stream leader election must not stall /metrics or
// /readyz), with the same reading and verdicts as `sea-mq federation status`.
#include "src/worker/federation_component.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/federation/status.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::worker {

namespace {

class FederationComponent final : public Component {
public:
    FederationComponent(const FederationSettings& settings, std::vector<std::string> import_streams,
                        const WorkerServices& services)
        : settings_(settings),
          import_streams_(std::move(import_streams)),
          jetstream_(services.jetstream),
          logger_(services.logger.with({.component = "federation"})) {
        using namespace observability;
        for (const auto& url : settings_.monitor_urls) {
            const auto monitor = url.ends_with('/') ? url.substr(0, url.size() - 1) : url;
            registrations_.push_back(services.metrics.family(metric::federation_link_up)
                                         .add_callback({monitor}, [this, monitor]() -> std::optional<double> {
                                             std::lock_guard lock(mutex_);
                                             const auto found = links_.find(monitor);
                                             if (found == links_.end()) return std::nullopt;
                                             return found->second.up() ? 1.0 : 0.0;
                                         }));
            registrations_.push_back(services.metrics.family(metric::federation_link_rtt_seconds)
                                         .add_callback({monitor}, [this, monitor]() -> std::optional<double> {
                                             std::lock_guard lock(mutex_);
                                             const auto found = links_.find(monitor);
                                             if (found == links_.end() || !found->second.up())
                                                 return std::nullopt;
                                             return found->second.worst_rtt_seconds();
                                         }));
        }
        // Sources are known only once read (their domains come from the stream's info):
        // register_source adds their gauges when a poll first sees them.
        registrations_.push_back(services.readiness.add_advisory("federation", [this] { return verdict(); }));
        metrics_ = &services.metrics;
    }

    ~FederationComponent() override {
        request_stop();
        if (thread_.joinable()) thread_.join();
        registrations_.clear();
    }

    std::string name() const override { return "federation"; }

    void start() override {
        thread_ = std::thread([this] { run(); });
        logger_.info("watching federation: {} monitor(s), import streams [{}], every {} ms",
                     settings_.monitor_urls.size(), fmt::join(import_streams_, ", "),
                     std::chrono::duration_cast<std::chrono::milliseconds>(settings_.poll_interval).count());
    }

    void request_stop() override {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        wake_.notify_all();
    }

    bool stop(std::chrono::steady_clock::time_point) override {
        request_stop();
        if (thread_.joinable()) thread_.join();  // a round is bounded by the timeouts
        return true;
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            poll();
            lock.lock();
            wake_.wait_for(lock, settings_.poll_interval, [this] { return stopping_; });
        }
    }

    //! One round: every monitor's /leafz, every import stream's sources.
    void poll() {
        const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.timeout);
        std::map<std::string, federation::LinkProbe> links;
        for (const auto& url : settings_.monitor_urls) {
            auto probe = federation::probe_links(url, timeout);
            links.emplace(probe.monitor, std::move(probe));
        }
        std::vector<federation::SourceStatus> sources;
        std::vector<std::string> unread;
        const auto max_inactive = std::chrono::duration_cast<std::chrono::seconds>(settings_.max_inactive);
        for (const auto& stream : import_streams_) {
            try {
                const auto reply = jetstream_.stream_sources(stream, timeout);
                if (!reply) {
                    unread.push_back(fmt::format("stream {}: not found", stream));
                    continue;
                }
                for (auto& source : federation::judge_sources(*reply, max_inactive))
                    sources.push_back(std::move(source));
            } catch (const Error& e) {
                unread.push_back(fmt::format("stream {}: {}", stream, e.what()));
            }
        }
        std::vector<federation::SourceStatus> first_seen;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [monitor, probe] : links) {
                const auto before = links_.find(monitor);
                if (before != links_.end() && before->second.up() != probe.up()) {
                    if (probe.up())
                        logger_.info("federation link up again at {}", monitor);
                    else
                        logger_.warn("federation link down: {}", probe.problem().value_or(""));
                }
            }
            links_ = std::move(links);
            for (const auto& source : sources) {
                const auto key = source.stream + "\n" + source.domain;
                sources_[key] = source;
                if (!known_sources_.contains(key)) first_seen.push_back(source);
            }
            unread_ = std::move(unread);
            polled_ = true;
        }
        // Outside the lock: a scrape holds the family's lock while it calls ours.
        for (const auto& source : first_seen) {
            const auto key = source.stream + "\n" + source.domain;
            known_sources_.insert(key);
            register_source(source.stream, source.domain, key);
        }
    }

    void register_source(const std::string& stream, const std::string& domain, const std::string& key) {
        using namespace observability;
        const std::vector<std::string> labels{stream, domain};
        auto read = [this, key](auto field) {
            return [this, key, field]() -> std::optional<double> {
                std::lock_guard lock(mutex_);
                const auto found = sources_.find(key);
                if (found == sources_.end()) return std::nullopt;
                return field(found->second);
            };
        };
        source_registrations_.push_back(metrics_->family(metric::federation_source_lag_messages)
                                            .add_callback(labels, read([](const federation::SourceStatus& s) {
                                                              return std::optional<double>(
                                                                  static_cast<double>(s.lag));
                                                          })));
        source_registrations_.push_back(metrics_->family(metric::federation_source_last_seen_seconds)
                                            .add_callback(labels, read([](const federation::SourceStatus& s) {
                                                              return s.last_seen_seconds;
                                                          })));
        source_registrations_.push_back(metrics_->family(metric::federation_source_active)
                                            .add_callback(labels, read([](const federation::SourceStatus& s) {
                                                              return std::optional<double>(s.flowing() ? 1.0
                                                                                                       : 0.0);
                                                          })));
    }

    observability::CheckOutcome verdict() const {
        std::lock_guard lock(mutex_);
        if (!polled_) return {true, "not read yet"};
        std::vector<std::string> problems = unread_;
        int up = 0;
        for (const auto& [monitor, probe] : links_) {
            if (probe.up()) ++up;
            if (const auto problem = probe.problem()) problems.push_back(*problem);
        }
        int flowing = 0;
        for (const auto& [key, source] : sources_) {
            if (source.flowing()) ++flowing;
            if (const auto problem = source.problem()) problems.push_back(*problem);
        }
        if (!problems.empty()) return {false, fmt::format("degraded: {}", fmt::join(problems, "; "))};
        return {true, fmt::format("{} of {} link(s) up, {} source(s) flowing", up, links_.size(), flowing)};
    }

    // The registrations are declared last so they go first: their callbacks read the state.
    FederationSettings settings_;
    std::vector<std::string> import_streams_;
    nats::JetStream& jetstream_;
    observability::Logger logger_;
    observability::MetricsRegistry* metrics_ = nullptr;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    bool polled_ = false;
    std::map<std::string, federation::LinkProbe> links_;
    std::map<std::string, federation::SourceStatus> sources_;  // by stream and domain
    std::set<std::string> known_sources_;                      // the polling thread's own
    std::vector<std::string> unread_;
    std::thread thread_;

    std::vector<observability::Registration> registrations_;
    std::vector<observability::Registration> source_registrations_;
};

}  // namespace

std::unique_ptr<Component> make_federation_component(const WorkerServices& services) {
    const auto& config = services.config;
    std::vector<std::string> import_streams;
    if (!config.streams_file.empty()) {
        try {
            // Only its own contexts' imports: worker-<context> may read <CONTEXT>_IMPORTS
            // and no other (infra/nats/nats.conf).
            for (const auto& imported : streams::load_streams_config(config.streams_file).imports)
                if (config.find_context(imported.context) != nullptr)
                    import_streams.push_back(imported.stream.name);
        } catch (const Error&) {
            // the loader already checked the file; nothing to watch from it
        }
    }
    if (config.federation.monitor_urls.empty() && import_streams.empty()) return nullptr;
    return std::make_unique<FederationComponent>(config.federation, std::move(import_streams), services);
}

}  // namespace seamq::worker
