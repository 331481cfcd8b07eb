#pragma once

// The producers of a chaos run: threads committing one order and its event per
// transaction (`INSERT INTO chaos.orders`, `SELECT seamq.enqueue(...)`) at a steady
// total rate, through whatever the scenario does to PostgreSQL.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace seamq::chaos {

struct LoadOptions {
    std::string database;       //!< libpq connection string
    std::string id_prefix;      //!< event ids are <prefix>-p<producer>-<n>
    double rate = 300;          //!< transactions (= events) per second, all producers together
    int producers = 4;          //!< threads, one session each
    int keys_per_producer = 2;  //!< ordering keys; each belongs to one producer
};

//! One acknowledged commit: the event id and when COMMIT returned.
struct Commit {
    std::string id;
    std::string ordering_key;
    std::chrono::system_clock::time_point at;
};

//! What the producers saw. Truth about what committed is the database's chaos.orders;
//! this is what the clients were told.
struct LoadReport {
    std::vector<Commit> acknowledged;    //!< COMMIT returned success
    std::vector<std::string> failed;     //!< failed before COMMIT: rolled back for sure
    std::vector<std::string> uncertain;  //!< COMMIT itself failed: outcome unknown
    std::uint64_t reconnects = 0;
    std::string last_error;
};

class Producers {
public:
    explicit Producers(LoadOptions options);
    ~Producers();  //!< stop()
    Producers(const Producers&) = delete;
    Producers& operator=(const Producers&) = delete;

    void start();
    //! Stops the threads (a transaction in flight finishes or fails first) and joins them.
    void stop();
    //! Everything the producers saw; call after stop().
    LoadReport report() const;
    //! Commits acknowledged so far (any thread).
    std::uint64_t acknowledged() const { return acknowledged_count_.load(); }

private:
    void run(int producer, LoadReport& report);

    LoadOptions options_;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> acknowledged_count_{0};
    std::vector<LoadReport> reports_;
    std::vector<std::thread> threads_;
};

}  // namespace seamq::chaos
