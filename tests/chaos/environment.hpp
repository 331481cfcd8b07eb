#pragma once

// What one chaos scenario runs against: a 3-node JetStream cluster with the R3 streams
// of config/streams-ha.yaml, an ephemeral PostgreSQL with sea-mq's migrations and the
// chaos application schema, and the real sea-mq-worker started from
// config/worker.ha.yaml (only addresses overridden).
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::chaos {

//! The context, stream and consumer the scenarios exercise (config/worker.ha.yaml's).
inline constexpr const char* event_stream = "SEA_EVENTS";
inline constexpr const char* dead_letter_stream = "SEA_DLQ";
inline constexpr const char* consumer_name = "sea-projector";
inline constexpr const char* event_type = "sea.event.chaos-tick.v1";

struct EnvironmentOptions {
    //! Overrides the relay's publish_timeout of config/worker.ha.yaml (e.g. "5s"); empty: as shipped.
    std::string publish_timeout;
    //! Overrides the consumer's ack_wait (e.g. "10s"): how long a delivery lost with a
    //! killed worker or consumer leader waits before it is redelivered. Empty: as shipped.
    std::string ack_wait;
    std::string log_level = "info";
};

class ChaosEnvironment {
public:
    //! Starts the cluster and PostgreSQL, migrates, creates the application schema and
    //! applies the streams. The worker is started separately (start_worker()).
    explicit ChaosEnvironment(EnvironmentOptions options);
    ~ChaosEnvironment();  //!< resumes paused nodes; members stop every process by PID
    ChaosEnvironment(const ChaosEnvironment&) = delete;
    ChaosEnvironment& operator=(const ChaosEnvironment&) = delete;

    testing::NatsCluster& cluster() { return cluster_; }
    testing::PostgresServer& postgres() { return postgres_; }
    //! libpq connection string of the `sea` context's database.
    const std::string& database() const { return database_; }

    //! Starts a new worker process (an incarnation); does not wait for readiness.
    void start_worker();
    //! Waits until the worker's /readyz answers 200; returns how long that took.
    std::chrono::milliseconds wait_worker_ready(std::chrono::milliseconds timeout);
    void kill_worker();  //!< SIGKILL, as a crash
    //! SIGTERM and wait (the worker finishes in-flight work); returns its exit code.
    int stop_worker();
    bool worker_running();
    unsigned short admin_port() const { return admin_port_; }
    //! Increases with every start_worker(); metrics are per incarnation.
    int worker_incarnation() const { return incarnation_.load(); }

    //! Index of the node the worker's NATS connection is on, if one node lists it.
    std::optional<std::size_t> worker_node();
    //! Index of the node leading the worker's durable consumer, as CONSUMER.INFO (answered
    //! by the consumer's leader) says; nullopt during an election.
    std::optional<std::size_t> consumer_leader();
    //! Pauses node `index` with SIGSTOP; the destructor resumes it if still paused.
    void pause_node(std::size_t index);
    void resume_node(std::size_t index);

    //! Copies every log (nodes, PostgreSQL, worker incarnations) into `directory`.
    void save_logs(const std::filesystem::path& directory);

private:
    void prepare_database();
    void apply_streams();

    EnvironmentOptions options_;
    testing::TempDir dir_{"chaos"};
    testing::NatsCluster cluster_{3, "seamq-chaos"};
    testing::PostgresServer postgres_;
    std::string database_;
    unsigned short admin_port_ = testing::free_port();
    std::atomic<int> incarnation_{0};
    std::optional<std::size_t> paused_node_;
    std::unique_ptr<nats::Connection> probe_connection_;
    std::unique_ptr<nats::JetStream> probe_;
    std::optional<testing::ChildProcess> worker_;  // last: dies first
};

}  // namespace seamq::chaos
