#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nats/nats.h>

#include "seamq/nats/message.hpp"

namespace seamq::nats {

//! Handler of a callback subscription; owns the message it is given.
using MessageHandler = std::function<void(Message message)>;

//! A core NATS subscription (RAII over natsSubscription). The destructor unsubscribes
//! and, for a callback subscription, waits (bounded) until the handler has returned for
//! the last time, so objects the handler captured may die right after.
class Subscription {
public:
    Subscription() = default;
    ~Subscription();
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    explicit operator bool() const noexcept { return subscription_ != nullptr; }
    //! Next message of a synchronous subscription; nullopt on timeout.
    std::optional<Message> next(std::chrono::milliseconds timeout);
    //! Messages delivered to this subscription so far.
    std::int64_t delivered() const;
    //! Messages dropped because the pending limit was hit (slow consumer).
    std::int64_t dropped() const;
    void unsubscribe();
    //! Lets in-flight messages be processed, then unsubscribes (bounded by `timeout`).
    void drain(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    natsSubscription* native() const noexcept { return subscription_; }

    struct HandlerState;  //!< shared with nats.c callbacks (defined in src/nats)

private:
    friend class Connection;
    Subscription(natsSubscription* subscription, natsConnection* connection,
                 std::shared_ptr<HandlerState> state);
    void reset() noexcept;

    natsSubscription* subscription_ = nullptr;
    natsConnection* connection_ = nullptr;
    std::shared_ptr<HandlerState> state_;
};

}  // namespace seamq::nats
