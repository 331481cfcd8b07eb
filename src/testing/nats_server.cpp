#include "seamq/testing/nats_server.hpp"

#include <fstream>
#include <map>
#include <sstream>

#include <httplib.h>
#include <nats/nats.h>
#include <signal.h>

#include "seamq/core/error.hpp"

namespace seamq::testing {

namespace fs = std::filesystem;

namespace {

std::string tail_of(const fs::path& file, std::size_t max_bytes = 2000) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    return text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
}

//! Whether the log, from `offset` on (from the start when the file is shorter: truncated
//! by a restart), says the server listens for clients.
bool says_ready(const fs::path& file, std::uintmax_t offset) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    return text.find("Server is ready", offset <= text.size() ? offset : 0) != std::string::npos;
}

}  // namespace

NatsServer::NatsServer() : NatsServer(Options{}) {}

NatsServer::NatsServer(Options options, bool start_now) : options_(std::move(options)) {
    dir_ = std::make_unique<TempDir>("nats-" + options_.server_name);
    store_dir_ = dir_->path() / "store";
    config_file_ = options_.config_file.empty() ? dir_->path() / "nats.conf" : options_.config_file;
    log_file_ = dir_->path() / "nats.log";
    fs::create_directories(store_dir_);
    port_ = free_port();
    monitor_port_ = free_port();
    if (!options_.cluster_name.empty() && options_.cluster_port == 0) options_.cluster_port = free_port();
    write_config();
    if (start_now) start();
}

NatsServer::~NatsServer() {
    process_.stop(std::chrono::seconds(10), SIGTERM);
}

void NatsServer::write_config() {
    if (!options_.config_file.empty()) return;  // a given file takes its values from the environment
    std::ofstream out(config_file_);
    out << "server_name: " << options_.server_name << "\n"
        << "listen: 127.0.0.1:" << port_ << "\n"
        << "http: 127.0.0.1:" << monitor_port_ << "\n"
        << "jetstream {\n"
        << "  store_dir: \"" << store_dir_.string() << "\"\n"
        << "  max_memory_store: 256MB\n"
        << "  max_file_store: 8GB\n";
    if (!options_.jetstream_domain.empty()) out << "  domain: " << options_.jetstream_domain << "\n";
    out << "}\n";
    if (!options_.cluster_name.empty()) {
        out << "cluster {\n"
            << "  name: " << options_.cluster_name << "\n"
            << "  listen: 127.0.0.1:" << options_.cluster_port << "\n"
            << "  routes: [\n";
        for (const auto route_port : options_.route_ports) {
            out << "    nats-route://127.0.0.1:" << route_port << "\n";
        }
        out << "  ]\n}\n";
    }
    out << options_.extra_config << "\n";
    if (!out) raise(Errc::io, "cannot write nats-server config {}", config_file_.string());
}

std::string NatsServer::url() const {
    return "nats://127.0.0.1:" + std::to_string(port_);
}

std::string NatsServer::monitor_url() const {
    return "http://127.0.0.1:" + std::to_string(monitor_port_);
}

bool NatsServer::running() {
    return process_.running();
}

void NatsServer::start() {
    if (process_.running()) return;
    // A port that was free when picked may be taken by the time the server binds it (other
    // tests run in parallel); on a first start the server simply moves to fresh ports.
    for (int attempt = 0;; ++attempt) {
        std::error_code no_log;
        const auto size = fs::file_size(log_file_, no_log);
        log_offset_ = no_log ? 0 : size;
        process_ = ChildProcess(ChildProcess::Options{
            .argv = {"nats-server", "-c", config_file_.string()},
            .log_file = log_file_,
            .run_as_user = std::nullopt,
            .env = options_.environment ? options_.environment(*this) : std::map<std::string, std::string>{},
            .working_directory = dir_->path(),
        });
        if (!options_.wait_for_health) return;
        try {
            wait_healthy();
            started_once_ = true;
            return;
        } catch (const Error&) {
            const bool port_taken =
                !process_.running() && tail_of(log_file_).find("address already in use") != std::string::npos;
            if (!port_taken || started_once_ || attempt >= 4) throw;
            port_ = free_port();
            monitor_port_ = free_port();
            write_config();
        }
    }
}

void NatsServer::stop() {
    process_.stop(std::chrono::seconds(15), SIGTERM);
}

void NatsServer::kill() {
    process_.kill();
}

void NatsServer::restart() {
    stop();
    start();
}

namespace {

//! The state letter of /proc/<pid>/stat ('T' when stopped), or 0 when unreadable.
char process_state(pid_t pid) {
    std::ifstream stat_file("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(stat_file, stat);
    const auto close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? '\0' : stat[close + 2];
}

}  // namespace

void NatsServer::pause() {
    process_.signal(SIGSTOP);
    // SIGSTOP is asynchronous: a thread already running may still answer one request.
    wait_until([&] { return process_state(process_.pid()) == 'T'; }, std::chrono::seconds(5),
               std::chrono::milliseconds(5));
}

void NatsServer::resume() {
    process_.signal(SIGCONT);
}

std::optional<nlohmann::json> NatsServer::monitor(const std::string& path_and_query) const {
    httplib::Client client("127.0.0.1", monitor_port_);
    client.set_connection_timeout(std::chrono::seconds(1));
    client.set_read_timeout(std::chrono::seconds(2));
    const auto path =
        path_and_query.empty() || path_and_query.front() != '/' ? "/" + path_and_query : path_and_query;
    auto response = client.Get(path.c_str());
    if (!response) return std::nullopt;
    auto body = nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return std::nullopt;
    body["_http_status"] = response->status;
    return body;
}

void NatsServer::wait_healthy(std::chrono::milliseconds timeout) {
    const bool healthy = wait_until(
        [&] {
            if (!process_.running()) {
                raise(Errc::io, "nats-server {} exited while starting; log {}:\n{}", options_.server_name,
                      log_file_.string(), tail_of(log_file_));
            }
            // nats-server answers on its monitoring port before it binds the client port:
            // healthy alone may be a server about to exit on "address already in use",
            // while clients reach whatever else listens there.
            if (!says_ready(log_file_, log_offset_)) return false;
            const auto health = monitor("/healthz");
            return health && health->value("_http_status", 0) == 200;
        },
        timeout);
    if (!healthy) {
        raise(Errc::timeout, "nats-server {} not healthy within {} ms; log {}:\n{}", options_.server_name,
              timeout.count(), log_file_.string(), tail_of(log_file_));
    }
}

NatsCluster::NatsCluster(std::size_t nodes, const std::string& cluster_name) {
    if (nodes == 0) raise(Errc::invalid_argument, "a cluster needs at least one node");
    std::vector<unsigned short> cluster_ports;
    for (std::size_t i = 0; i < nodes; ++i) cluster_ports.push_back(free_port());
    for (std::size_t i = 0; i < nodes; ++i) {
        NatsServer::Options options;
        options.server_name = "n" + std::to_string(i);
        options.cluster_name = cluster_name;
        options.cluster_port = cluster_ports[i];
        for (std::size_t peer = 0; peer < nodes; ++peer) {
            if (peer != i) options.route_ports.push_back(cluster_ports[peer]);
        }
        // A lone clustered node reports unhealthy until a meta leader exists, so the
        // nodes start together and the cluster as a whole is waited for below.
        options.wait_for_health = false;
        nodes_.push_back(std::make_unique<NatsServer>(std::move(options), true));
    }
    wait_meta_leader();
    // A meta leader is not yet a formed cluster: until every node counts the whole meta
    // group and the leader sees the others current, placing an R3 stream fails with "no
    // suitable peers for placement". scripts/nats-ha's `up` waits for the same.
    const auto formed = [&] {
        const auto leader = meta_leader();
        if (!leader) return false;
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            const auto jsz = nodes_[i]->monitor("/jsz");
            if (!jsz || !jsz->contains("meta_cluster")) return false;
            const auto& meta = (*jsz)["meta_cluster"];
            if (meta.value("cluster_size", 0U) != nodes_.size()) return false;
            if (i != *leader) continue;
            std::size_t current = 0;
            for (const auto& replica : meta.value("replicas", nlohmann::json::array()))
                current += replica.value("current", false) ? 1 : 0;
            if (current + 1 != nodes_.size()) return false;
        }
        return true;
    };
    if (!wait_until(formed, std::chrono::seconds(30)))
        raise(Errc::timeout, "the {}-node cluster did not form within 30 s (meta group size, current peers)",
              nodes_.size());
}

std::vector<std::string> NatsCluster::urls() const {
    std::vector<std::string> result;
    for (const auto& node : nodes_) result.push_back(node->url());
    return result;
}

std::string NatsCluster::url_list() const {
    std::string result;
    for (const auto& url : urls()) result += (result.empty() ? "" : ",") + url;
    return result;
}

std::optional<std::size_t> NatsCluster::index_of(const std::string& server_name) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i]->name() == server_name) return i;
    }
    return std::nullopt;
}

std::optional<std::size_t> NatsCluster::meta_leader() const {
    std::optional<std::string> agreed;
    for (const auto& node : nodes_) {
        if (!node->running()) continue;
        const auto jsz = node->monitor("/jsz");
        if (!jsz || !jsz->contains("meta_cluster")) return std::nullopt;
        const auto leader = (*jsz)["meta_cluster"].value("leader", std::string());
        if (leader.empty() || (agreed && *agreed != leader)) return std::nullopt;
        agreed = leader;
    }
    if (!agreed) return std::nullopt;
    const auto index = index_of(*agreed);
    if (!index || !nodes_[*index]->running()) return std::nullopt;
    return index;
}

std::size_t NatsCluster::wait_meta_leader(std::chrono::milliseconds timeout) const {
    std::optional<std::size_t> leader;
    if (!wait_until([&] { return (leader = meta_leader()).has_value(); }, timeout)) {
        std::string logs;
        for (const auto& node : nodes_)
            logs += "\n--- " + node->name() + ":\n" + tail_of(node->log_file(), 800);
        raise(Errc::timeout, "no JetStream meta leader within {} ms{}", timeout.count(), logs);
    }
    return *leader;
}

std::optional<std::size_t> NatsCluster::stream_leader(const std::string& stream) const {
    // STREAM.INFO is answered by the stream's leader, so its answer is authoritative;
    // the monitoring endpoint of a follower can lag behind an election.
    for (const auto& node : nodes_) {
        if (!node->running()) continue;
        natsOptions* options = nullptr;
        natsConnection* connection = nullptr;
        jsCtx* js = nullptr;
        jsStreamInfo* info = nullptr;
        std::optional<std::size_t> result;
        if (natsOptions_Create(&options) == NATS_OK &&
            natsOptions_SetURL(options, node->url().c_str()) == NATS_OK &&
            natsOptions_SetTimeout(options, 1000) == NATS_OK &&
            natsOptions_SetMaxReconnect(options, 0) == NATS_OK &&
            natsConnection_Connect(&connection, options) == NATS_OK) {
            jsOptions js_options;
            jsOptions_Init(&js_options);
            js_options.Wait = 2000;
            jsErrCode error_code{};
            if (natsConnection_JetStream(&js, connection, &js_options) == NATS_OK &&
                js_GetStreamInfo(&info, js, stream.c_str(), nullptr, &error_code) == NATS_OK &&
                info != nullptr && info->Cluster != nullptr && info->Cluster->Leader != nullptr) {
                result = index_of(info->Cluster->Leader);
            }
        }
        jsStreamInfo_Destroy(info);
        jsCtx_Destroy(js);
        natsConnection_Destroy(connection);
        natsOptions_Destroy(options);
        if (result && nodes_[*result]->running()) return result;
    }
    return std::nullopt;
}

std::size_t NatsCluster::wait_stream_leader(const std::string& stream,
                                            std::chrono::milliseconds timeout) const {
    std::optional<std::size_t> leader;
    if (!wait_until([&] { return (leader = stream_leader(stream)).has_value(); }, timeout,
                    std::chrono::milliseconds(200))) {
        raise(Errc::timeout, "stream {} has no leader within {} ms", stream, timeout.count());
    }
    return *leader;
}

}  // namespace seamq::testing
