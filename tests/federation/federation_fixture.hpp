// A real federation for tests: a hub and two cells, each a 3-node cluster running
// infra/nats/nats.conf with the variables scripts/federation gives it (cluster name,
// JetStream domain, leafnode port and remotes), one password per user; a PostgreSQL
// per cell; the real sea-mq CLI and sea-mq-worker.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "tests/cli/run_sea_mq.hpp"
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "seamq/core/error.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::federation::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

//! Letters and digits starting with a letter (nats.conf says why).
inline std::string make_password() {
    static constexpr std::string_view alphanumerics =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::random_device device;
    std::string password = "p";
    for (int i = 0; i < 31; ++i) password += alphanumerics[device() % alphanumerics.size()];
    return password;
}

inline const std::map<std::string, std::string>& password_variables() {
    static const std::map<std::string, std::string> variables = {
        {"monitor", "NATS_MONITOR_PASSWORD"},
        {"federation", "NATS_FEDERATION_PASSWORD"},
        {"operator", "NATS_OPERATOR_PASSWORD"},
        {"worker-sea", "NATS_WORKER_SEA_PASSWORD"},
        {"worker-vibespro", "NATS_WORKER_VIBESPRO_PASSWORD"},
        {"worker-governance", "NATS_WORKER_GOVERNANCE_PASSWORD"},
        {"service-sea", "NATS_SERVICE_SEA_PASSWORD"},
        {"service-vibespro", "NATS_SERVICE_VIBESPRO_PASSWORD"},
        {"service-governance", "NATS_SERVICE_GOVERNANCE_PASSWORD"},
    };
    return variables;
}

//! One 3-node cluster of the federation: the hub (domain hub, cluster sea-nats, no
//! remotes) or a cell (domain and cluster = its name, a remote to the hub's leafnodes).
class Cluster {
public:
    Cluster(std::string domain, const std::map<std::string, std::string>& passwords,
            std::vector<unsigned short> hub_leafnode_ports, bool is_hub)
        : domain_(std::move(domain)), passwords_(passwords) {
        std::vector<unsigned short> cluster_ports;
        for (int i = 0; i < 3; ++i) cluster_ports.push_back(testing::free_port());
        leafnode_ports_ = is_hub ? hub_leafnode_ports
                                 : std::vector<unsigned short>{testing::free_port(), testing::free_port(),
                                                               testing::free_port()};
        std::string routes;
        for (const auto port : cluster_ports)
            routes += fmt::format("{}nats://127.0.0.1:{}", routes.empty() ? "" : ", ", port);
        std::string remotes = "[]";
        if (!is_hub) {
            std::string urls;
            for (const auto port : hub_leafnode_ports)
                urls += fmt::format("{}\"nats://federation:{}@127.0.0.1:{}\"", urls.empty() ? "" : ", ",
                                    passwords_.at("federation"), port);
            remotes = fmt::format("[{{urls: [{}], account: SEAMQ}}]", urls);
        }
        for (int i = 0; i < 3; ++i) {
            testing::NatsServer::Options options;
            options.server_name = fmt::format("{}-{}", domain_, i + 1);
            options.cluster_port = cluster_ports[static_cast<std::size_t>(i)];
            options.wait_for_health = false;
            options.config_file = testing::source_dir() / "infra/nats/nats.conf";
            const auto leafnode_port = leafnode_ports_[static_cast<std::size_t>(i)];
            options.environment = [this, routes, remotes, is_hub,
                                   leafnode_port](const testing::NatsServer& node) {
                std::map<std::string, std::string> env = {
                    {"NATS_SERVER_NAME", node.name()},
                    {"NATS_HOST", "127.0.0.1"},
                    {"NATS_CLIENT_PORT", std::to_string(node.port())},
                    {"NATS_MONITOR_PORT", std::to_string(node.monitor_port())},
                    {"NATS_CLUSTER_PORT", std::to_string(node.cluster_port())},
                    {"NATS_CLUSTER_ROUTES", "[" + routes + "]"},
                    {"NATS_STORE_DIR", node.store_dir().string()},
                    {"NATS_CLUSTER_NAME", is_hub ? "sea-nats" : domain_},
                    {"NATS_JETSTREAM_DOMAIN", domain_},
                    {"NATS_LEAFNODE_PORT", std::to_string(leafnode_port)},
                    {"NATS_LEAFNODE_REMOTES", remotes},
                };
                for (const auto& [user, variable] : password_variables()) env[variable] = passwords_.at(user);
                return env;
            };
            nodes_.push_back(std::make_unique<testing::NatsServer>(std::move(options)));
        }
    }

    void wait_healthy() {
        for (auto& node : nodes_) node->wait_healthy(60s);
    }

    const std::string& domain() const { return domain_; }
    testing::NatsServer& node(std::size_t index) { return *nodes_.at(index); }
    std::size_t size() const { return nodes_.size(); }

    //! Every node's URL as `user`, comma-separated.
    std::string url(const std::string& user) const {
        std::string urls;
        for (const auto& node : nodes_)
            urls += fmt::format("{}nats://{}:{}@127.0.0.1:{}", urls.empty() ? "" : ",", user,
                                passwords_.at(user), node->port());
        return urls;
    }

    //! Leafnode links the running nodes hold (/leafz), in total.
    int leafnode_links() const {
        int links = 0;
        for (const auto& node : nodes_) {
            const auto leafz = node->monitor("leafz");
            if (leafz) links += leafz->value("leafnodes", 0);
        }
        return links;
    }

    std::string logs() const {
        std::string text;
        for (const auto& node : nodes_) text += read_file(node->log_file());
        return text;
    }

    //! `sea-mq <arguments> --nats <operator URL>`.
    cli::test::CommandResult operator_cli(std::vector<std::string> arguments) const {
        arguments.insert(arguments.end(), {"--nats", url("operator")});
        return cli::test::sea_mq_with_env({}, arguments);
    }

private:
    std::string domain_;
    const std::map<std::string, std::string>& passwords_;
    std::vector<unsigned short> leafnode_ports_;
    std::vector<std::unique_ptr<testing::NatsServer>> nodes_;
};

//! The hub and cells cell-a and cell-b, started together, healthy and linked.
class Federation {
public:
    Federation() {
        for (const auto& [user, variable] : password_variables()) passwords_[user] = make_password();
        const std::vector<unsigned short> hub_leafnodes{testing::free_port(), testing::free_port(),
                                                        testing::free_port()};
        hub_ = std::make_unique<Cluster>("hub", passwords_, hub_leafnodes, true);
        cell_a_ = std::make_unique<Cluster>("cell-a", passwords_, hub_leafnodes, false);
        cell_b_ = std::make_unique<Cluster>("cell-b", passwords_, hub_leafnodes, false);
        for (auto* cluster : {hub_.get(), cell_a_.get(), cell_b_.get()}) cluster->wait_healthy();
        wait_linked(60s);
    }

    Cluster& hub() { return *hub_; }
    Cluster& cell_a() { return *cell_a_; }
    Cluster& cell_b() { return *cell_b_; }
    const std::string& password(const std::string& user) const { return passwords_.at(user); }

    //! Waits until every cell node holds its link to the hub (the hub counts six).
    void wait_linked(std::chrono::milliseconds timeout) {
        const bool linked = testing::wait_until(
            [&] {
                return cell_a_->leafnode_links() == 3 && cell_b_->leafnode_links() == 3 &&
                       hub_->leafnode_links() == 6;
            },
            timeout, 100ms);
        if (!linked)
            throw std::runtime_error(fmt::format("leafnodes not linked: hub {}, cell-a {}, cell-b {}",
                                                 hub_->leafnode_links(), cell_a_->leafnode_links(),
                                                 cell_b_->leafnode_links()));
    }

private:
    std::map<std::string, std::string> passwords_;
    std::unique_ptr<Cluster> hub_;
    std::unique_ptr<Cluster> cell_a_;
    std::unique_ptr<Cluster> cell_b_;
};

//! A connection as one user that keeps every asynchronous error nats.c reports (where
//! the server's "Permissions Violation" arrives).
class Client {
public:
    Client(const std::string& urls, const std::string& name, const std::string& inbox_prefix = "") {
        auto options = nats::ConnectionOptions::from_urls(urls, name);
        options.max_reconnect = 0;
        options.inbox_prefix = inbox_prefix;
        options.on_event = [this](nats::ConnectionEvent event, const std::string& detail) {
            if (event != nats::ConnectionEvent::error) return;
            std::lock_guard lock(mutex_);
            errors_.push_back(detail);
        };
        connection_ = std::make_unique<nats::Connection>(std::move(options));
        nats::JetStreamOptions js_options;
        js_options.api_timeout = 3000ms;
        jetstream_ = std::make_unique<nats::JetStream>(*connection_, js_options);
    }

    nats::Connection& connection() { return *connection_; }
    nats::JetStream& jetstream() { return *jetstream_; }

    //! The reply's payload, or nullopt when none came (refused, no responders, timeout).
    std::optional<std::string> request(const std::string& subject, const std::string& payload,
                                       std::chrono::milliseconds timeout) {
        try {
            return connection_->request(subject, payload, timeout).payload_string();
        } catch (const seamq::Error&) {
            return std::nullopt;
        }
    }

    std::string all_errors() const {
        std::lock_guard lock(mutex_);
        std::string text;
        for (const auto& error : errors_) text += error + "\n";
        return text;
    }
    //! Waits (bounded) for the server's violation of `operation` ("Publish to",
    //! "Subscription to") on `subject`.
    bool refused(const std::string& operation, const std::string& subject) const {
        const auto wanted = fmt::format("Permissions Violation for {} \"{}\"", operation, subject);
        return testing::wait_until([&] { return all_errors().find(wanted) != std::string::npos; }, 5s, 20ms);
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> errors_;
    std::unique_ptr<nats::Connection> connection_;
    std::unique_ptr<nats::JetStream> jetstream_;
};

//! A running sea-mq-worker from a YAML text written to a temporary file.
class WorkerProcess {
public:
    WorkerProcess(const std::string& label, const std::string& yaml, std::map<std::string, std::string> env)
        : dir_(label) {
        config_file_ = dir_.path() / "worker.yaml";
        log_file_ = dir_.path() / "worker.log";
        std::ofstream(config_file_) << yaml;
        process_ = std::make_unique<testing::ChildProcess>(testing::ChildProcess::Options{
            .argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config", config_file_.string()},
            .log_file = log_file_,
            .run_as_user = std::nullopt,
            .env = std::move(env),
            .working_directory = {}});
    }

    std::string log() const { return read_file(log_file_); }
    testing::ChildProcess& process() { return *process_; }

    //! GET /readyz: (status, body); status 0 when nothing answers.
    static std::pair<int, std::string> readyz(unsigned short port) {
        httplib::Client client("127.0.0.1", port);
        client.set_connection_timeout(2s);
        client.set_read_timeout(10s);
        auto response = client.Get("/readyz");
        if (!response) return {0, ""};
        return {response->status, response->body};
    }
    static std::string metrics(unsigned short port) {
        httplib::Client client("127.0.0.1", port);
        client.set_connection_timeout(2s);
        client.set_read_timeout(10s);
        auto response = client.Get("/metrics");
        return response ? response->body : "";
    }

private:
    testing::TempDir dir_;
    fs::path config_file_;
    fs::path log_file_;
    std::unique_ptr<testing::ChildProcess> process_;
};

constexpr int keys = 10;  //!< ordering keys key-0..key-9 of the test events

inline fs::path write_file(const testing::TempDir& dir, const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path) << text;
    return path;
}

//! Commits `count` events of `type` into A's outbox, `per_transaction` per transaction, in
//! key order: event g has ordering key key-(g % keys) and total_cents g, so each key's
//! events must be applied with increasing total_cents.
inline void enqueue(const std::string& conninfo, const std::string& prefix, const std::string& type,
                    const std::string& visibility, int first, int count) {
    postgres::Connection connection(conninfo);
    const bool placed = type == "sea.event.order-placed.v1";
    const std::string data =
        placed
            ? "jsonb_build_object('order_id', 'order-' || g, 'customer', jsonb_build_object('id', 'c-' || g, "
              "'email', 'secret-' || g || '@example.com', 'name', 'Secret Name ' || g), 'lines', "
              "jsonb_build_array(jsonb_build_object('sku', 'SKU-1', 'quantity', 1, 'unit_price_cents', g)), "
              "'total_cents', g, 'currency', 'EUR')"
            : "jsonb_build_object('order_id', 'order-' || g, 'reason', 'customer-request', 'note', "
              "'secret-note ' || g)";
    for (int start = first; start < first + count; start += 20) {
        const int chunk = std::min(20, first + count - start);
        connection.exec("BEGIN");
        connection.exec(
            "SELECT count(seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', $1 || g, 'source', "
            "'/cell-a/orders', 'type', $2::text, 'subject', 'key-' || (g % $5), 'visibility', $6::text, "
            "'data', " +
                data + "))) FROM generate_series($3::int, $3::int + $4::int - 1) AS g",
            prefix, type, start, chunk, keys, visibility);
        connection.exec("COMMIT");
    }
}

//! Cell A's worker (context sea, user worker-sea): the relay, the export stage and
//! `extra_consumers` (YAML list entries).
inline std::string cell_a_worker_yaml(Cluster& cell_a, unsigned short admin_port,
                                      const fs::path& streams_file, const std::string& extra_consumers = "") {
    return fmt::format(
        "nats:\n  servers: [{}]\n  inbox_prefix: _INBOX_worker-sea\n"
        "admin:\n  listen: 127.0.0.1:{}\n"
        "streams_file: {}\nshutdown_deadline: 10s\n"
        "contexts:\n  - name: sea\n    database:\n      url: ${{SEA_DATABASE_URL}}\n"
        "    relay:\n      poll_interval: 200ms\n"
        "consumers:\n  - name: sea-export\n    context: sea\n    stream: SEA_EVENTS\n"
        "    max_deliver: 2\n    retry_delays: [200ms]\n"
        "    handler:\n      kind: export\n      contracts: {}\n{}",
        cell_a.url("worker-sea"), admin_port, streams_file.string(),
        (testing::source_dir() / "schemas/events").string(), extra_consumers);
}

//! Cell B's worker: the ordinary inbox consumer of SEA_IMPORTS (SQL function apply_imported),
//! watching the federation: `monitors` (comma-separated monitoring URLs) read every second.
inline std::string cell_b_worker_yaml(Cluster& cell_b, unsigned short admin_port,
                                      const fs::path& streams_file, const std::string& monitors = "") {
    return fmt::format(
        "nats:\n  servers: [{}]\n  inbox_prefix: _INBOX_worker-sea\n"
        "admin:\n  listen: 127.0.0.1:{}\n"
        "streams_file: {}\nshutdown_deadline: 10s\n"
        "contexts:\n  - name: sea\n    database:\n      url: ${{SEA_DATABASE_URL}}\n"
        "    relay:\n      enabled: false\n"
        "consumers:\n  - name: sea-imported-orders\n    context: sea\n    stream: SEA_IMPORTS\n"
        "    handler:\n      kind: sql\n      function: apply_imported\n"
        "federation:\n  monitor_urls: [{}]\n  poll_interval: 1s\n  timeout: 1s\n  max_inactive: 10s\n",
        cell_b.url("worker-sea"), admin_port, streams_file.string(), monitors);
}

}  // namespace seamq::federation::test
