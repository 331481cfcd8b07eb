#include "seamq/nats/subscription.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "check.hpp"
#include <fmt/format.h>

#include "seamq/nats/connection.hpp"

namespace seamq::nats {

//! What a callback subscription's nats.c callbacks see; the heap holder passed as
//! closure is freed by the on-complete callback, which nats.c runs after the last
//! message callback has returned.
struct Subscription::HandlerState {
    MessageHandler handler;
    std::mutex mutex;
    std::condition_variable completed_changed;
    bool completed = false;
    std::atomic<std::thread::id> delivery_thread{};
};

namespace {

using HandlerHolder = std::shared_ptr<Subscription::HandlerState>;

void on_message(natsConnection* connection, natsSubscription*, natsMsg* message, void* closure) {
    auto& state = **static_cast<HandlerHolder*>(closure);
    state.delivery_thread = std::this_thread::get_id();
    try {
        state.handler(Message(message, connection));
    } catch (...) {
        // A throwing handler must not unwind into nats.c; the message was destroyed with
        // its Message, and a JetStream message will be redelivered since it was not acked.
    }
}

void on_complete(void* closure) {
    auto* holder = static_cast<HandlerHolder*>(closure);
    HandlerHolder state = *holder;
    delete holder;
    std::lock_guard lock(state->mutex);
    state->completed = true;
    state->completed_changed.notify_all();
}

}  // namespace

Subscription::Subscription(natsSubscription* subscription, natsConnection* connection,
                           std::shared_ptr<HandlerState> state)
    : subscription_(subscription), connection_(connection), state_(std::move(state)) {}

Subscription::~Subscription() {
    reset();
}

Subscription::Subscription(Subscription&& other) noexcept
    : subscription_(std::exchange(other.subscription_, nullptr)),
      connection_(other.connection_),
      state_(std::move(other.state_)) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
    if (this != &other) {
        reset();
        subscription_ = std::exchange(other.subscription_, nullptr);
        connection_ = other.connection_;
        state_ = std::move(other.state_);
    }
    return *this;
}

void Subscription::reset() noexcept {
    if (subscription_ == nullptr) return;
    natsSubscription_Unsubscribe(subscription_);  // fails harmlessly if already closed
    if (state_ && state_->delivery_thread != std::this_thread::get_id()) {
        std::unique_lock lock(state_->mutex);
        state_->completed_changed.wait_for(lock, std::chrono::seconds(10), [&] { return state_->completed; });
    }
    natsSubscription_Destroy(subscription_);
    subscription_ = nullptr;
    state_.reset();
}

std::optional<Message> Subscription::next(std::chrono::milliseconds timeout) {
    if (subscription_ == nullptr) raise(Errc::invalid_argument, "next() on an empty subscription");
    natsMsg* message = nullptr;
    const natsStatus status = natsSubscription_NextMsg(&message, subscription_, detail::to_millis(timeout));
    if (status == NATS_TIMEOUT) return std::nullopt;
    const char* subject = natsSubscription_GetSubject(subscription_);
    detail::check(status, fmt::format("reading from subscription '{}'", subject != nullptr ? subject : ""));
    return Message(message, connection_);
}

std::int64_t Subscription::delivered() const {
    std::int64_t count = 0;
    if (subscription_ != nullptr) natsSubscription_GetDelivered(subscription_, &count);
    return count;
}

std::int64_t Subscription::dropped() const {
    std::int64_t count = 0;
    if (subscription_ != nullptr) natsSubscription_GetDropped(subscription_, &count);
    return count;
}

void Subscription::unsubscribe() {
    reset();
}

void Subscription::drain(std::chrono::milliseconds timeout) {
    if (subscription_ == nullptr) return;
    detail::check(natsSubscription_DrainTimeout(subscription_, detail::to_millis(timeout)),
                  "draining subscription");
    natsSubscription_WaitForDrainCompletion(subscription_,
                                            detail::to_millis(timeout + std::chrono::seconds(1)));
    reset();
}

Subscription Connection::subscribe(std::string_view subject, MessageHandler handler,
                                   std::string_view queue_group) {
    if (!handler) raise(Errc::invalid_argument, "subscribe to '{}' without a handler", subject);
    auto state = std::make_shared<Subscription::HandlerState>();
    state->handler = std::move(handler);
    auto holder = std::make_unique<std::shared_ptr<Subscription::HandlerState>>(state);
    const std::string subject_string(subject);
    const std::string queue_string(queue_group);
    natsSubscription* native = nullptr;
    const natsStatus status =
        queue_group.empty()
            ? natsConnection_Subscribe(&native, connection_, subject_string.c_str(), on_message, holder.get())
            : natsConnection_QueueSubscribe(&native, connection_, subject_string.c_str(),
                                            queue_string.c_str(), on_message, holder.get());
    detail::check(status, fmt::format("subscribing to '{}'", subject));
    const natsStatus complete_status = natsSubscription_SetOnCompleteCB(native, on_complete, holder.get());
    if (complete_status != NATS_OK) {
        natsSubscription_Unsubscribe(native);
        natsSubscription_Destroy(native);
        static_cast<void>(holder.release());  // a message callback may still hold it: leak, don't free
        detail::check(complete_status, fmt::format("subscribing to '{}'", subject));
    }
    static_cast<void>(holder.release());  // freed by on_complete
    return Subscription(native, connection_, std::move(state));
}

Subscription Connection::subscribe_sync(std::string_view subject, std::string_view queue_group) {
    const std::string subject_string(subject);
    const std::string queue_string(queue_group);
    natsSubscription* native = nullptr;
    const natsStatus status = queue_group.empty()
                                  ? natsConnection_SubscribeSync(&native, connection_, subject_string.c_str())
                                  : natsConnection_QueueSubscribeSync(
                                        &native, connection_, subject_string.c_str(), queue_string.c_str());
    detail::check(status, fmt::format("subscribing to '{}'", subject));
    return Subscription(native, connection_, nullptr);
}

}  // namespace seamq::nats
