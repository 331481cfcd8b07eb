#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace seamq::worker {

//! Something the worker runs in the background: a context's relay, an inbox consumer,
//! an edge. The worker starts components in the order they were added and stops them
//! in reverse order: first request_stop() on all of them (stop taking new work, at once),
//! then stop(deadline) on each (finish in-flight work: outstanding PubAcks, handler
//! transactions, acks; then release connections).
class Component {
public:
    virtual ~Component() = default;

    //! Short, unique within the worker: "relay sea", "consumer sea-projector".
    virtual std::string name() const = 0;
    //! Starts background work and returns promptly. Throwing aborts the worker's start.
    //! Losing PostgreSQL or NATS later is not an error to throw: keep retrying, report
    //! not ready through a readiness check, recover by yourself.
    virtual void start() = 0;
    //! Stop claiming outbox rows / fetching messages; must not block.
    virtual void request_stop() {}
    //! Finishes in-flight work and stops by `deadline`. Returns true when everything in
    //! flight was finished, false when it had to give up (the work is then redone after a
    //! restart: at-least-once still holds).
    virtual bool stop(std::chrono::steady_clock::time_point deadline) = 0;
};

//! A Component from functions, for small pieces that need no class of their own.
class FunctionComponent final : public Component {
public:
    FunctionComponent(std::string name, std::function<void()> start,
                      std::function<bool(std::chrono::steady_clock::time_point)> stop,
                      std::function<void()> request_stop = {})
        : name_(std::move(name)),
          start_(std::move(start)),
          stop_(std::move(stop)),
          request_stop_(std::move(request_stop)) {}

    std::string name() const override { return name_; }
    void start() override {
        if (start_) start_();
    }
    void request_stop() override {
        if (request_stop_) request_stop_();
    }
    bool stop(std::chrono::steady_clock::time_point deadline) override {
        return stop_ ? stop_(deadline) : true;
    }

private:
    std::string name_;
    std::function<void()> start_;
    std::function<bool(std::chrono::steady_clock::time_point)> stop_;
    std::function<void()> request_stop_;
};

}  // namespace seamq::worker
