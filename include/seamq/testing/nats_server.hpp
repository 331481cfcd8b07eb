#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/testing/process.hpp"

namespace seamq::testing {

//! One real nats-server with JetStream on free loopback ports and its own store
//! directory. Ports and store survive stop/kill/start, so a restart is the same node.
class NatsServer {
public:
    struct Options {
        std::string server_name = "n0";
        std::string cluster_name;                 //!< empty: no cluster block
        unsigned short cluster_port = 0;          //!< 0: picked when cluster_name is set
        std::vector<unsigned short> route_ports;  //!< peers' cluster ports
        std::string jetstream_domain;             //!< empty: none
        std::string extra_config;                 //!< appended verbatim to the config file
        bool wait_for_health = true;              //!< start() waits for /healthz = ok
        //! Run this file (e.g. infra/nats/nats.conf) instead of writing one: the options
        //! above except server_name, cluster_port and wait_for_health are then unused,
        //! and `environment` gives the file its variables from this node's ports and store.
        std::filesystem::path config_file;
        std::function<std::map<std::string, std::string>(const NatsServer&)> environment;
    };

    NatsServer();  //!< single node with default options, started
    explicit NatsServer(Options options, bool start_now = true);
    ~NatsServer();
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;

    std::string url() const;          //!< nats://127.0.0.1:<port>
    std::string monitor_url() const;  //!< http://127.0.0.1:<monitor port>
    unsigned short port() const { return port_; }
    unsigned short monitor_port() const { return monitor_port_; }
    unsigned short cluster_port() const { return options_.cluster_port; }
    const std::string& name() const { return options_.server_name; }
    const std::filesystem::path& store_dir() const { return store_dir_; }
    const std::filesystem::path& config_file() const { return config_file_; }
    const std::filesystem::path& log_file() const { return log_file_; }
    pid_t pid() const { return process_.pid(); }
    bool running();

    void start();    //!< starts on the same ports and store; waits for health if configured
    void stop();     //!< SIGTERM (clean shutdown), waits
    void kill();     //!< SIGKILL, as a crash
    void restart();  //!< stop() + start()
    void pause();    //!< SIGSTOP: alive but silent, as a hung or partitioned node
    void resume();   //!< SIGCONT

    //! Waits until GET /healthz answers 200; throws seamq::Error on timeout.
    void wait_healthy(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    //! GET <monitor>/<path_and_query> as JSON; nullopt when the server does not answer.
    std::optional<nlohmann::json> monitor(const std::string& path_and_query) const;

private:
    void write_config();

    Options options_;
    bool started_once_ = false;
    std::uintmax_t log_offset_ = 0;  //!< the log's size when the server last started
    unsigned short port_ = 0;
    unsigned short monitor_port_ = 0;
    std::unique_ptr<TempDir> dir_;
    std::filesystem::path store_dir_;
    std::filesystem::path config_file_;
    std::filesystem::path log_file_;
    ChildProcess process_;
};

//! An N-node nats-server cluster (default 3) with routes between all nodes and
//! JetStream on each; server names n0..n{N-1}.
class NatsCluster {
public:
    explicit NatsCluster(std::size_t nodes = 3, const std::string& cluster_name = "seamq-test");
    NatsCluster(const NatsCluster&) = delete;
    NatsCluster& operator=(const NatsCluster&) = delete;

    std::size_t size() const { return nodes_.size(); }
    NatsServer& node(std::size_t index) { return *nodes_.at(index); }
    std::vector<std::string> urls() const;  //!< every node's client URL
    std::string url_list() const;           //!< the same, comma-separated (nats.c style)

    //! Index of the node that is JetStream meta leader, as the live nodes see it.
    std::optional<std::size_t> meta_leader() const;
    //! Waits until a meta leader is elected and every running node agrees on it.
    std::size_t wait_meta_leader(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
    //! Index of the node leading `stream` (account $G), nullopt if none now.
    std::optional<std::size_t> stream_leader(const std::string& stream) const;
    //! Waits for a stream leader; returns its index.
    std::size_t wait_stream_leader(const std::string& stream,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
    //! Index of the node named `server_name` (n0, n1, ...).
    std::optional<std::size_t> index_of(const std::string& server_name) const;

    void kill(std::size_t index) { node(index).kill(); }
    void stop(std::size_t index) { node(index).stop(); }
    void start(std::size_t index) { node(index).start(); }
    void restart(std::size_t index) { node(index).restart(); }

private:
    std::vector<std::unique_ptr<NatsServer>> nodes_;
};

}  // namespace seamq::testing
