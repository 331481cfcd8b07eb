#include "seamq/nats/pull_consumer.hpp"

#include "check.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace seamq::nats {

namespace {
// A pull request expires on the server after `expires`; the 408 that says so needs a
// round trip to come back. Waiting a little longer than `expires` lets the fetch end on
// that 408 instead of on the client's clock, which keeps stale statuses rare.
constexpr std::chrono::milliseconds status_grace{250};
}  // namespace

PullConsumer::PullConsumer(JetStream& jetstream, std::string stream, std::string consumer)
    : jetstream_(jetstream),
      stream_(std::move(stream)),
      consumer_(std::move(consumer)),
      request_subject_(fmt::format("{}.CONSUMER.MSG.NEXT.{}.{}", jetstream.api_prefix(), stream_, consumer_)),
      inbox_(jetstream.connection().new_inbox()),
      subscription_(jetstream.connection().subscribe_sync(inbox_ + ".*")) {
    // A pull consumer must not be throttled by the client's pending limits.
    natsSubscription_SetPendingLimits(subscription_.native(), -1, -1);
}

std::vector<Message> PullConsumer::fetch(int batch, std::chrono::milliseconds expires) {
    if (expires < std::chrono::milliseconds(10))
        raise(Errc::invalid_argument, "fetch from '{}/{}': expires {}ms is too short (at least 10ms)",
              stream_, consumer_, expires.count());
    return request(batch, expires, false, expires + status_grace);
}

std::vector<Message> PullConsumer::fetch_no_wait(int batch, std::chrono::milliseconds timeout) {
    return request(batch, std::chrono::milliseconds(0), true, timeout);
}

std::vector<Message> PullConsumer::request(int batch, std::chrono::milliseconds expires, bool no_wait,
                                           std::chrono::milliseconds client_timeout) {
    if (batch <= 0)
        raise(Errc::invalid_argument, "fetch from '{}/{}': batch must be positive, got {}", stream_,
              consumer_, batch);
    std::vector<Message> messages;
    last_status_ = 0;
    last_status_description_.clear();

    // Messages delivered for an earlier request after it ended are real deliveries (their
    // ack wait is running): hand them out first, without waiting.
    while (static_cast<int>(messages.size()) < batch) {
        auto message = subscription_.next(std::chrono::milliseconds(0));
        if (!message) break;
        if (message->status_code()) {
            ++stale_statuses_;
            continue;
        }
        messages.push_back(std::move(*message));
    }
    if (static_cast<int>(messages.size()) >= batch) return messages;

    const int wanted = batch - static_cast<int>(messages.size());
    const std::string reply = fmt::format("{}.{}", inbox_, ++request_counter_);
    nlohmann::json body = {{"batch", wanted}};
    if (no_wait)
        body["no_wait"] = true;
    else
        body["expires"] = std::chrono::duration_cast<std::chrono::nanoseconds>(expires).count();
    const std::string payload = body.dump();
    detail::check(
        natsConnection_PublishRequest(jetstream_.connection().native(), request_subject_.c_str(),
                                      reply.c_str(), payload.data(), static_cast<int>(payload.size())),
        fmt::format("sending pull request to consumer '{}' on stream '{}'", consumer_, stream_));

    const auto deadline = std::chrono::steady_clock::now() + client_timeout;
    while (static_cast<int>(messages.size()) < batch) {
        const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (remaining <= std::chrono::milliseconds(0)) break;
        auto message = subscription_.next(remaining);
        if (!message) break;  // client deadline
        if (const auto status = message->status_code()) {
            if (message->subject() != reply) {
                ++stale_statuses_;  // answers an earlier request: must not end this one
                continue;
            }
            if (*status == 100) continue;  // heartbeat
            last_status_ = *status;
            last_status_description_ = message->header("Description").value_or("");
            break;  // 404 no messages, 408 expired, 409 e.g. max waiting exceeded / leadership change
        }
        messages.push_back(std::move(*message));
    }
    return messages;
}

}  // namespace seamq::nats
