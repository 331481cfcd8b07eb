#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/message.hpp"
#include "seamq/nats/subscription.hpp"

namespace seamq::nats {

//! Fetches batches from an existing durable pull consumer (create it with
//! JetStream::add_consumer; this class never creates or deletes consumers).
//!
//! Avoids nats.c 3.4.1's Fetch pitfall (one reply subject shared by all fetches, so a
//! late 404/408 of an earlier request ends a later fetch early): each fetch sends its own
//! pull request to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` with a reply subject
//! of its own under one wildcard inbox. Status messages (404/408/409) only end the fetch
//! whose request they answer; stale ones are dropped and counted. Messages that arrive
//! for an earlier request are real deliveries and are returned by the next fetch.
//! One thread at a time per PullConsumer.
class PullConsumer {
public:
    PullConsumer(JetStream& jetstream, std::string stream, std::string consumer);
    PullConsumer(const PullConsumer&) = delete;
    PullConsumer& operator=(const PullConsumer&) = delete;

    //! Up to `batch` messages; waits at most about `expires` (the request's server-side
    //! expiry) for the batch to fill. Returns what arrived (possibly nothing).
    std::vector<Message> fetch(int batch, std::chrono::milliseconds expires);
    //! Up to `batch` messages that are available now; does not wait for more.
    std::vector<Message> fetch_no_wait(int batch,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(5));

    const std::string& stream() const noexcept { return stream_; }
    const std::string& consumer() const noexcept { return consumer_; }
    //! Status messages of earlier requests that arrived late and were dropped.
    std::uint64_t stale_statuses() const noexcept { return stale_statuses_; }
    //! Status code that ended the last fetch (404 no messages, 408 expired, 409 ...), 0 if
    //! it ended because the batch was full or the client deadline passed.
    int last_status() const noexcept { return last_status_; }
    std::string last_status_description() const { return last_status_description_; }

private:
    std::vector<Message> request(int batch, std::chrono::milliseconds expires, bool no_wait,
                                 std::chrono::milliseconds client_timeout);

    JetStream& jetstream_;
    std::string stream_;
    std::string consumer_;
    std::string request_subject_;
    std::string inbox_;
    Subscription subscription_;
    std::uint64_t request_counter_ = 0;
    std::uint64_t stale_statuses_ = 0;
    int last_status_ = 0;
    std::string last_status_description_;
};

}  // namespace seamq::nats
