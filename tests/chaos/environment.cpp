#include "tests/chaos/environment.hpp"

#include <httplib.h>

#include "seamq/core/error.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::chaos {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// The application the producers and the consumer belong to. `orders` is the producers'
// business table, written in the transaction that enqueues the event: it is the record
// of what committed. `effects` has no unique key on purpose, so an effect applied twice
// is a second row. sea_app.apply_event is the handler config/worker.ha.yaml names; the
// worker runs it in the transaction that records the message in its inbox.
constexpr std::string_view application_schema = R"sql(
CREATE SCHEMA chaos;
CREATE TABLE chaos.orders (
    event_id     text PRIMARY KEY,
    ordering_key text NOT NULL,
    n            integer NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE chaos.effects (
    event_id     text NOT NULL,
    ordering_key text,
    n            integer,
    applied_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE SCHEMA sea_app;
CREATE FUNCTION sea_app.apply_event(envelope jsonb) RETURNS void LANGUAGE sql AS $$
    INSERT INTO chaos.effects (event_id, ordering_key, n)
    VALUES (envelope ->> 'id', envelope ->> 'subject', (envelope #>> '{data,n}')::integer)
$$;
)sql";

}  // namespace

ChaosEnvironment::ChaosEnvironment(EnvironmentOptions options) : options_(std::move(options)) {
    database_ = postgres_.create_database("sea");
    prepare_database();
    apply_streams();
}

ChaosEnvironment::~ChaosEnvironment() {
    // A stopped (SIGSTOP) node would make its own shutdown wait out the grace period.
    if (paused_node_) cluster_.node(*paused_node_).resume();
}

void ChaosEnvironment::prepare_database() {
    postgres::Connection connection(database_);
    postgres::migrate(connection, postgres::embedded_migrations());
    connection.exec_script(application_schema);
}

void ChaosEnvironment::apply_streams() {
    nats::Connection connection(nats::ConnectionOptions::from_urls(cluster_.url_list(), "seamq-chaos-setup"));
    nats::JetStream jetstream(connection);
    // NatsCluster is ready once the cluster has formed, so R3 placement succeeds at once.
    const auto plans = streams::StreamManager(jetstream).apply(
        streams::load_streams_config(testing::source_dir() / "config" / "streams-ha.yaml"));
    for (const auto& plan : plans) {
        if (plan.action == streams::StreamAction::refused) {
            raise(Errc::internal, "streams-ha.yaml: stream {} refused on a fresh cluster: {}", plan.stream,
                  plan.reason);
        }
    }
    cluster_.wait_stream_leader(event_stream, 30s);
}

void ChaosEnvironment::start_worker() {
    if (worker_ && worker_->running()) raise(Errc::internal, "start_worker: a worker is already running");
    const int incarnation = incarnation_.load() + 1;
    std::map<std::string, std::string> env = {
        {"SEAMQ_NATS_SERVERS", cluster_.url_list()},
        {"SEAMQ_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(admin_port_)},
        {"SEAMQ_LOG_LEVEL", options_.log_level},
        // The suite stops the worker only once everything is applied; its NATS drain
        // can take the whole deadline (30 s as shipped), which would only add waiting.
        {"SEAMQ_SHUTDOWN_DEADLINE", "5s"},
        {"SEA_DATABASE_URL", postgres_.url("sea")},
    };
    if (!options_.publish_timeout.empty())
        env["SEAMQ_CONTEXT_SEA_RELAY_PUBLISH_TIMEOUT"] = options_.publish_timeout;
    // The working directory under the test root lets the leak check find a stray worker.
    worker_.emplace(testing::ChildProcess::Options{
        .argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config",
                 (testing::source_dir() / "config" / "worker.ha.yaml").string()},
        .log_file = dir_.path() / ("worker-" + std::to_string(incarnation) + ".log"),
        .run_as_user = std::nullopt,
        .env = std::move(env),
        .working_directory = dir_.path()});
    incarnation_.store(incarnation);
}

std::chrono::milliseconds ChaosEnvironment::wait_worker_ready(std::chrono::milliseconds timeout) {
    const auto started = std::chrono::steady_clock::now();
    httplib::Client client("127.0.0.1", admin_port_);
    client.set_connection_timeout(1s);
    client.set_read_timeout(5s);
    const bool ready = testing::wait_until(
        [&] {
            if (!worker_ || !worker_->running()) {
                raise(Errc::io, "sea-mq-worker exited while starting; log {}",
                      (dir_.path() / ("worker-" + std::to_string(incarnation_.load()) + ".log")).string());
            }
            const auto response = client.Get("/readyz");
            return response && response->status == 200;
        },
        timeout, 100ms);
    if (!ready) raise(Errc::timeout, "sea-mq-worker not ready within {} ms", timeout.count());
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
}

void ChaosEnvironment::kill_worker() {
    if (worker_) worker_->kill();
}

int ChaosEnvironment::stop_worker() {
    if (!worker_) return 0;
    return testing::ChildProcess::exit_code(worker_->stop(40s));
}

bool ChaosEnvironment::worker_running() {
    return worker_ && worker_->running();
}

std::optional<std::size_t> ChaosEnvironment::worker_node() {
    std::optional<std::size_t> found;
    for (std::size_t index = 0; index < cluster_.size(); ++index) {
        if (paused_node_ == index || !cluster_.node(index).running()) continue;
        const auto connz = cluster_.node(index).monitor("/connz?limit=1024");
        if (!connz || !connz->contains("connections")) continue;
        for (const auto& connection : (*connz)["connections"]) {
            if (connection.value("name", std::string()) == "sea-mq-worker") found = index;
        }
    }
    return found;
}

std::optional<std::size_t> ChaosEnvironment::consumer_leader() {
    try {
        if (!probe_) {
            auto options = nats::ConnectionOptions::from_urls(cluster_.url_list(), "seamq-chaos-probe");
            options.reconnect_wait = 100ms;
            probe_connection_ = std::make_unique<nats::Connection>(std::move(options));
            nats::JetStreamOptions probe_options;
            probe_options.api_timeout = 1s;
            probe_ = std::make_unique<nats::JetStream>(*probe_connection_, probe_options);
        }
        const auto info = probe_->consumer_info(event_stream, consumer_name);
        if (!info || !info->cluster || info->cluster->leader.empty()) return std::nullopt;
        return cluster_.index_of(info->cluster->leader);
    } catch (const Error&) {
        return std::nullopt;  // no leader to answer, or the probe's node is down
    }
}

void ChaosEnvironment::pause_node(std::size_t index) {
    cluster_.node(index).pause();
    paused_node_ = index;
}

void ChaosEnvironment::resume_node(std::size_t index) {
    cluster_.node(index).resume();
    if (paused_node_ == index) paused_node_.reset();
}

void ChaosEnvironment::save_logs(const fs::path& directory) {
    std::error_code error;
    fs::create_directories(directory, error);
    for (std::size_t index = 0; index < cluster_.size(); ++index) {
        auto& node = cluster_.node(index);
        fs::copy_file(node.log_file(), directory / (node.name() + ".log"),
                      fs::copy_options::overwrite_existing, error);
    }
    fs::copy_file(postgres_.log_file(), directory / "postgres.log", fs::copy_options::overwrite_existing,
                  error);
    for (int incarnation = 1; incarnation <= incarnation_.load(); ++incarnation) {
        const auto name = "worker-" + std::to_string(incarnation) + ".log";
        fs::copy_file(dir_.path() / name, directory / name, fs::copy_options::overwrite_existing, error);
    }
}

}  // namespace seamq::chaos
