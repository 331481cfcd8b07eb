#include "tests/chaos/load.hpp"

#include <memory>

#include "tests/chaos/environment.hpp"

#include "seamq/postgres/connection.hpp"

namespace seamq::chaos {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Producers::Producers(LoadOptions options) : options_(std::move(options)) {}

Producers::~Producers() {
    stop();
}

void Producers::start() {
    reports_.resize(static_cast<std::size_t>(options_.producers));
    for (int producer = 0; producer < options_.producers; ++producer) {
        threads_.emplace_back(
            [this, producer] { run(producer, reports_[static_cast<std::size_t>(producer)]); });
    }
}

void Producers::stop() {
    stopping_.store(true);
    for (auto& thread : threads_) {
        if (thread.joinable()) thread.join();
    }
}

LoadReport Producers::report() const {
    LoadReport total;
    for (const auto& report : reports_) {
        total.acknowledged.insert(total.acknowledged.end(), report.acknowledged.begin(),
                                  report.acknowledged.end());
        total.failed.insert(total.failed.end(), report.failed.begin(), report.failed.end());
        total.uncertain.insert(total.uncertain.end(), report.uncertain.begin(), report.uncertain.end());
        total.reconnects += report.reconnects;
        if (!report.last_error.empty()) total.last_error = report.last_error;
    }
    return total;
}

void Producers::run(int producer, LoadReport& report) {
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(static_cast<double>(options_.producers) / options_.rate));
    std::vector<int> next_n(static_cast<std::size_t>(options_.keys_per_producer), 0);
    std::unique_ptr<postgres::Connection> connection;
    auto next = Clock::now() + interval * producer / options_.producers;  // spread the producers
    for (std::uint64_t attempt = 0; !stopping_.load(); ++attempt) {
        // Steady rate: sleep until the next slot; after a stall, resume the rate rather
        // than burst to make up more than a second of missed transactions.
        while (!stopping_.load() && Clock::now() < next)
            std::this_thread::sleep_for(std::min(next - Clock::now(), Clock::duration(20ms)));
        if (stopping_.load()) break;
        if (Clock::now() - next > 1s) next = Clock::now();
        next += interval;

        if (!connection) {
            try {
                connection = std::make_unique<postgres::Connection>(postgres::ConnectOptions{
                    .conninfo = options_.database,
                    .connect_timeout = 2s,
                    .application_name = "seamq-chaos/producer-" + std::to_string(producer)});
                if (attempt > 0) ++report.reconnects;
            } catch (const Error& error) {
                report.last_error = error.what();
                std::this_thread::sleep_for(100ms);
                continue;
            }
        }

        const auto key_index = static_cast<std::size_t>(attempt % next_n.size());
        const int key_number = producer * options_.keys_per_producer + static_cast<int>(key_index);
        const std::string ordering_key = "key-" + std::to_string(key_number);
        const std::string id =
            options_.id_prefix + "-p" + std::to_string(producer) + "-" + std::to_string(attempt);
        // Per key, n grows with commit order (one producer owns the key), so the stream's
        // order per key can be checked; a rolled-back n is simply skipped.
        const int n = next_n[key_index]++;
        bool committing = false;
        try {
            connection->exec("BEGIN");
            connection->exec("INSERT INTO chaos.orders (event_id, ordering_key, n) VALUES ($1, $2, $3)", id,
                             ordering_key, n);
            connection->exec(
                "SELECT seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', $1::text, 'source', "
                "'/chaos/producer', 'type', $2::text, 'subject', $3::text, 'data', "
                "jsonb_build_object('n', $4::integer, 'producer', $5::integer)))",
                id, std::string(event_type), ordering_key, n, producer);
            committing = true;
            connection->exec("COMMIT");
            report.acknowledged.push_back({id, ordering_key, std::chrono::system_clock::now()});
            acknowledged_count_.fetch_add(1);
        } catch (const Error& error) {
            report.last_error = error.what();
            (committing ? report.uncertain : report.failed).push_back(id);
            if (connection->is_alive() && connection->in_transaction()) {
                try {
                    connection->exec("ROLLBACK");
                } catch (const Error&) {
                    connection.reset();
                }
            } else if (!connection->is_alive()) {
                connection.reset();
            }
        }
    }
}

}  // namespace seamq::chaos
