#pragma once

// Watching a chaos run from outside the worker, without changing what it sees.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/subscription.hpp"

namespace seamq::chaos {

//! Counts the PubAcks a stream sends, and those flagged duplicate (a publish the
//! duplicate window absorbed), by listening on `_INBOX.>` (where nats.c's publish replies
//! go) with one connection per node, so a dead or frozen node's tap is covered by the
//! others. A PubAck is identified by its reply subject, unique per publish attempt.
//! It does not subscribe to the event subjects: that interest would turn the "no
//! responders" a publisher gets during an election into a timeout.
class PubAckTap {
public:
    PubAckTap(const std::vector<std::string>& node_urls, std::string stream);
    ~PubAckTap();
    PubAckTap(const PubAckTap&) = delete;
    PubAckTap& operator=(const PubAckTap&) = delete;

    struct Counts {
        std::uint64_t acknowledgements = 0;  //!< distinct PubAcks of the stream
        std::uint64_t duplicates = 0;        //!< of which flagged duplicate
    };
    Counts counts() const;

private:
    void on_message(const nats::Message& message);

    std::string stream_prefix_;
    mutable std::mutex mutex_;
    std::unordered_set<std::string> acknowledged_;
    std::unordered_set<std::string> duplicates_;
    std::vector<std::unique_ptr<nats::Connection>> connections_;
    std::vector<nats::Subscription> subscriptions_;  // after connections_: unsubscribed first
};

//! Scrapes the worker's /metrics every half second and keeps, per worker incarnation,
//! the last value of each sea-mq counter, so counters of a killed worker are not lost
//! (except what it counted after its last scrape). totals() sums over incarnations.
class MetricsScraper {
public:
    MetricsScraper(unsigned short port, std::function<int()> incarnation);
    ~MetricsScraper();  //!< stop()
    MetricsScraper(const MetricsScraper&) = delete;
    MetricsScraper& operator=(const MetricsScraper&) = delete;

    void scrape_now();  //!< one scrape, e.g. right before a graceful stop
    void stop();
    //! Counter name -> sum over incarnations of the last scraped value (all label sets summed).
    std::map<std::string, double> totals() const;

private:
    void loop();

    unsigned short port_;
    std::function<int()> incarnation_;
    mutable std::mutex mutex_;
    std::map<int, std::map<std::string, double>> last_by_incarnation_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

//! Sums the samples of every metric in a Prometheus text exposition by family name
//! (labels dropped); histogram series keep their _bucket/_sum/_count names.
std::map<std::string, double> sum_samples(const std::string& exposition);

}  // namespace seamq::chaos
