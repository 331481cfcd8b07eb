#include "tests/chaos/observers.hpp"

#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace seamq::chaos {

using namespace std::chrono_literals;

PubAckTap::PubAckTap(const std::vector<std::string>& node_urls, std::string stream)
    : stream_prefix_("{\"stream\":\"" + stream + "\"") {
    for (std::size_t index = 0; index < node_urls.size(); ++index) {
        nats::ConnectionOptions options;
        options.servers = {node_urls[index]};
        options.name = "seamq-chaos-tap-" + std::to_string(index);
        options.retry_on_failed_connect = true;
        options.reconnect_wait = 100ms;
        options.reconnect_jitter = 50ms;
        connections_.push_back(std::make_unique<nats::Connection>(options));
        subscriptions_.push_back(connections_.back()->subscribe(
            "_INBOX.>", [this](nats::Message message) { on_message(message); }));
    }
    for (auto& connection : connections_) connection->flush(5s);
}

PubAckTap::~PubAckTap() {
    subscriptions_.clear();
    connections_.clear();
}

void PubAckTap::on_message(const nats::Message& message) {
    // Replies to pull requests and API calls share the inbox space; only PubAcks of the
    // stream start like this ({"stream":"SEA_EVENTS","seq":N[,"duplicate":true]}).
    const auto payload = message.payload();
    if (payload.substr(0, stream_prefix_.size()) != stream_prefix_) return;
    const auto ack = nlohmann::json::parse(payload, nullptr, false);
    if (ack.is_discarded() || !ack.contains("seq")) return;
    std::string reply(message.subject());
    std::lock_guard lock(mutex_);
    if (ack.value("duplicate", false)) duplicates_.insert(reply);
    acknowledged_.insert(std::move(reply));
}

PubAckTap::Counts PubAckTap::counts() const {
    std::lock_guard lock(mutex_);
    return {acknowledged_.size(), duplicates_.size()};
}

std::map<std::string, double> sum_samples(const std::string& exposition) {
    std::map<std::string, double> sums;
    std::istringstream lines(exposition);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line.front() == '#') continue;
        const auto name_end = line.find_first_of("{ ");
        const auto value_start = line.rfind(' ');
        if (name_end == std::string::npos || value_start == std::string::npos) continue;
        try {
            sums[line.substr(0, name_end)] += std::stod(line.substr(value_start + 1));
        } catch (const std::exception&) {
            // NaN/Inf or a malformed line: not a counter the chaos report reads
        }
    }
    return sums;
}

MetricsScraper::MetricsScraper(unsigned short port, std::function<int()> incarnation)
    : port_(port), incarnation_(std::move(incarnation)), thread_([this] { loop(); }) {}

MetricsScraper::~MetricsScraper() {
    stop();
}

void MetricsScraper::stop() {
    stopping_.store(true);
    if (thread_.joinable()) thread_.join();
}

void MetricsScraper::scrape_now() {
    const int before = incarnation_();
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(1s);
    client.set_read_timeout(3s);
    const auto response = client.Get("/metrics");
    if (!response || response->status != 200) return;
    // A scrape that straddles a worker restart could file the new worker's values under
    // the old incarnation; drop it.
    if (incarnation_() != before) return;
    auto samples = sum_samples(response->body);
    std::lock_guard lock(mutex_);
    auto& last = last_by_incarnation_[before];
    for (const auto& [name, value] : samples) {
        if (name.starts_with("seamq_") && name.ends_with("_total")) last[name] = value;
    }
}

void MetricsScraper::loop() {
    while (!stopping_.load()) {
        scrape_now();
        for (int slice = 0; slice < 10 && !stopping_.load(); ++slice) std::this_thread::sleep_for(50ms);
    }
}

std::map<std::string, double> MetricsScraper::totals() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, double> totals;
    for (const auto& [incarnation, values] : last_by_incarnation_) {
        for (const auto& [name, value] : values) totals[name] += value;
    }
    return totals;
}

}  // namespace seamq::chaos
