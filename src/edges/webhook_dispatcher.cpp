#include "seamq/edges/webhook_dispatcher.hpp"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/edges/secret_box.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/nats/pull_consumer.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/error.hpp"

namespace seamq::edges {

std::string webhook_consumer_name(const std::string& endpoint) {
    return "webhook-" + endpoint;
}

namespace {

struct EndpointRow {
    std::string name;
    std::string subject_filter;
    std::string url;
    std::string secret;
    bool ordered = false;
    friend bool operator==(const EndpointRow&, const EndpointRow&) = default;
};

postgres::ConnectOptions connect_options(const std::string& database) {
    return postgres::ConnectOptions{.conninfo = database,
                                    .connect_timeout = std::chrono::seconds(2),
                                    .application_name = "sea-mq-worker/webhooks",
                                    .statement_timeout = std::chrono::seconds(5)};
}

}  // namespace

struct WebhookDispatcher::Impl {
    // One endpoint's loop: its consumer, its attempts, its settling.
    struct Runner {
        EndpointRow endpoint;
        std::atomic<bool> stop{false};
        std::atomic<bool> finished{false};
        std::thread thread;
    };

    Impl(DispatcherOptions dispatcher_options, nats::JetStream& js, const contracts::Registry& registry,
         observability::Logger log, DispatcherHooks dispatcher_hooks)
        : options(std::move(dispatcher_options)),
          jetstream(js),
          contracts(registry),
          logger(std::move(log)),
          hooks(std::move(dispatcher_hooks)),
          sender(AddressPolicy(options.allow_networks)) {
        if (!options.secrets_key.empty()) box = SecretBox::parse(options.secrets_key);
    }

    void supervise() {
        std::unique_ptr<postgres::Connection> connection;
        bool declared = options.declared.empty();
        while (!stopping) {
            try {
                if (!connection || !connection->is_alive())
                    connection = std::make_unique<postgres::Connection>(connect_options(options.database));
                if (!declared) {
                    for (const auto& endpoint : options.declared) declare(*connection, endpoint, box);
                    declared = true;
                }
                const auto rows = connection->exec(
                    "SELECT name, subject_filter, url, secret, ordered FROM seamq.webhook_endpoints "
                    "WHERE enabled ORDER BY name");
                std::map<std::string, EndpointRow> wanted;
                for (int row = 0; row < rows.rows(); ++row) {
                    EndpointRow endpoint{rows.get<std::string>(row, 0), rows.get<std::string>(row, 1),
                                         rows.get<std::string>(row, 2), rows.get<std::string>(row, 3),
                                         rows.get<bool>(row, 4)};
                    wanted.emplace(endpoint.name, endpoint);
                }
                reconcile(wanted);
            } catch (const Error& e) {
                connection.reset();
                logger.warn("webhooks: reading seamq.webhook_endpoints failed: {}", e.what());
            }
            std::unique_lock lock(mutex);
            wake.wait_for(lock, options.refresh_interval, [this] { return stopping.load(); });
        }
    }

    static void declare(postgres::Connection& connection, const DeclaredEndpoint& endpoint,
                        const std::optional<SecretBox>& box) {
        try {
            connection.exec(
                "INSERT INTO seamq.webhook_endpoints (name, subject_filter, url, secret, ordered) VALUES "
                "($1, "
                "$2, $3, $4, $5) ON CONFLICT (name) DO UPDATE SET subject_filter = excluded.subject_filter, "
                "url "
                "= excluded.url, secret = excluded.secret, ordered = excluded.ordered",
                endpoint.name, endpoint.subject_filter, endpoint.url,
                box ? box->seal(endpoint.name, endpoint.secret) : endpoint.secret, endpoint.ordered);
        } catch (const postgres::SqlError& e) {
            // Not e.what(): a constraint error's detail quotes the row, secret included.
            raise(Errc::postgres, "declared endpoint {} refused by seamq.webhook_endpoints: {}{}",
                  endpoint.name, e.primary_message(),
                  e.sqlstate().empty() ? "" : " [SQLSTATE " + e.sqlstate() + "]");
        }
    }

    // Starts runners for new or changed endpoints, stops those no longer enabled.
    void reconcile(const std::map<std::string, EndpointRow>& wanted) {
        std::lock_guard lock(runners_mutex);
        for (auto it = runners.begin(); it != runners.end();) {
            const auto found = wanted.find(it->first);
            if (it->second->finished || found == wanted.end() || !(found->second == it->second->endpoint)) {
                it->second->stop = true;
                if (it->second->thread.joinable()) it->second->thread.join();
                it = runners.erase(it);
            } else {
                ++it;
            }
        }
        for (const auto& [name, endpoint] : wanted) {
            if (runners.contains(name)) continue;
            auto runner = std::make_unique<Runner>();
            runner->endpoint = endpoint;
            runner->thread = std::thread([this, raw = runner.get()] { run(*raw); });
            runners.emplace(name, std::move(runner));
        }
    }

    void run(Runner& runner) {
        const auto& endpoint = runner.endpoint;
        auto log = logger.with({.extra = {{"endpoint", endpoint.name}}});
        std::unique_ptr<postgres::Connection> connection;
        std::unique_ptr<nats::PullConsumer> consumer;
        WebhookEndpoint target;
        std::mt19937_64 random(std::random_device{}());
        std::string secret;
        try {
            secret = open_stored_secret(box, endpoint.name, endpoint.secret);
        } catch (const Error& e) {
            // Not the endpoint's fault: a missing or wrong key. Not served (its events
            // wait in its consumer) until the row or the worker's key changes.
            log.error("webhooks: endpoint {} not served: {}", endpoint.name, e.what());
            std::unique_lock lock(mutex);
            // Bounded waits: reconcile sets runner.stop without taking `mutex`.
            while (!stopping && !runner.stop) wake.wait_for(lock, std::chrono::milliseconds(200));
            return;
        }
        try {
            target = {endpoint.name, endpoint.url, {WebhookSecret::parse(secret)}, options.timeout};
        } catch (const Error& e) {
            disable(endpoint.name, std::string("its secret is unusable: ") + e.what(), log);
            runner.finished = true;
            return;
        }
        auto backoff = std::chrono::milliseconds(500);
        while (!runner.stop && !stopping) {
            try {
                if (!connection || !connection->is_alive())
                    connection = std::make_unique<postgres::Connection>(connect_options(options.database));
                if (!consumer) {
                    nats::ConsumerConfig config;
                    config.durable_name = webhook_consumer_name(endpoint.name);
                    config.description = "sea-mq webhook endpoint " + endpoint.name;
                    config.filter_subject = endpoint.subject_filter;
                    // Longer than one attempt: a worker that dies mid-attempt gets its
                    // message redelivered to the next one after this.
                    config.ack_wait = std::chrono::duration_cast<std::chrono::nanoseconds>(options.timeout) +
                                      std::chrono::seconds(30);
                    // Ordered: one message out at a time. A message nak'd with a delay stays
                    // pending in the server, so nothing behind it is delivered until it is
                    // acknowledged, across restarts too (the server keeps the state).
                    config.max_ack_pending = endpoint.ordered ? 1 : 1000;
                    if (jetstream.consumer_info(options.stream, config.durable_name)) {
                        jetstream.update_consumer(options.stream, config);
                    } else {
                        jetstream.add_consumer(options.stream, config);
                    }
                    consumer =
                        std::make_unique<nats::PullConsumer>(jetstream, options.stream, config.durable_name);
                }
                // What is there now, else wait for the next one: a batch that waits to fill
                // would add its filling time to every event's delivery latency.
                // Ordered: never a no-wait request. With its one message pending (nak'd
                // with a delay), nats-server 2.9 holds a no-wait request unanswered, and the
                // redelivery then waited for the client's 5 s timeout (measured).
                std::vector<nats::Message> messages;
                if (!endpoint.ordered) messages = consumer->fetch_no_wait(10);
                if (messages.empty()) messages = consumer->fetch(1, std::chrono::milliseconds(500));
                for (auto& message : messages) {
                    if (runner.stop || stopping) break;  // unsettled: redelivered after ack_wait
                    if (!handle(runner, target, message, *connection, random, log)) {
                        runner.finished = true;
                        return;
                    }
                }
                backoff = std::chrono::milliseconds(500);
            } catch (const std::exception& e) {
                log.warn("webhooks: endpoint {} loop failed, retrying in {} ms: {}", endpoint.name,
                         backoff.count(), e.what());
                consumer.reset();
                connection.reset();
                std::unique_lock lock(mutex);
                wake.wait_for(lock, backoff, [&] { return stopping || runner.stop; });
                backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
            }
        }
    }

    // Returns false when the endpoint was disabled (its runner ends).
    bool handle(Runner& runner, const WebhookEndpoint& target, nats::Message& message,
                postgres::Connection& connection, std::mt19937_64& random, const observability::Logger& log) {
        std::optional<envelope::Envelope> event;
        try {
            event = envelope::Envelope::parse(message.payload());
        } catch (const Error& e) {
            log.error("webhooks: {} is not a valid envelope, not delivered: {}", message.message_id(),
                      e.what());
            message.term();
            return true;
        }
        std::string body;
        try {
            body = contracts::external_copy(*event, contracts).to_json();
        } catch (const Error&) {
            // Internal (or without an external contract): never leaves the context.
            if (hooks.skipped) hooks.skipped(target.name);
            message.ack();
            return true;
        }
        const auto number = static_cast<int>(message.metadata().num_delivered);
        const auto attempt = sender.deliver(target, event->id(), body);
        connection.exec(
            "INSERT INTO seamq.webhook_attempts (endpoint, event_id, attempt, outcome, failure_class, "
            "http_status, response, error, address, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
            "$10)",
            target.name, event->id(), number, std::string(to_string(attempt.outcome)),
            std::string(to_string(attempt.failure)),
            attempt.http_status ? std::optional<int>(attempt.http_status) : std::nullopt, attempt.response,
            attempt.error.empty() ? std::nullopt : std::optional<std::string>(attempt.error), attempt.address,
            static_cast<std::int64_t>(attempt.duration.count()));
        if (hooks.attempted) hooks.attempted(target.name, attempt);
        switch (attempt.outcome) {
            case AttemptOutcome::delivered:
                message.ack_sync();
                connection.exec("UPDATE seamq.webhook_endpoints SET failing_since = NULL WHERE name = $1",
                                target.name);
                return true;
            case AttemptOutcome::gone:
                message.nak();  // nobody fetches it until the endpoint is enabled again
                disable(target.name, "the endpoint answered 410 Gone", log);
                return false;
            case AttemptOutcome::refused:
                message.nak();  // nobody fetches it until the endpoint is enabled again
                disable(target.name, "delivery refused: " + attempt.error, log);
                return false;
            case AttemptOutcome::retry: break;
        }
        const auto failing = connection.exec(
            "UPDATE seamq.webhook_endpoints SET failing_since = coalesce(failing_since, now()) WHERE name = "
            "$1 "
            "RETURNING now() - failing_since >= make_interval(secs => $2::float8 / 1000)",
            target.name, static_cast<std::int64_t>(options.failing_period.count()));
        if (!failing.empty() && failing.get<bool>(0, 0)) {
            message.nak();  // nobody fetches it until the endpoint is enabled again
            disable(
                target.name,
                fmt::format("no delivery for {} s (last: {})",
                            std::chrono::duration_cast<std::chrono::seconds>(options.failing_period).count(),
                            attempt.error),
                log);
            return false;
        }
        const auto delay = options.schedule.delay_after(number, attempt.retry_after, random);
        log.info("webhooks: {} to {} failed (attempt {}: {}), next in {} ms", event->id(), target.name,
                 number, attempt.error, delay.count());
        message.nak_with_delay(delay);
        (void)runner;
        return true;
    }

    void disable(const std::string& name, const std::string& reason, const observability::Logger& log) {
        try {
            postgres::Connection connection(connect_options(options.database));
            connection.exec("BEGIN");
            connection.exec(
                "UPDATE seamq.webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = "
                "now() "
                "WHERE name = $1",
                name, reason);
            if (!options.context.empty()) {
                const auto event = disabled_event(name, reason);
                connection.exec("SELECT seamq.enqueue($1::jsonb)", event.to_json());
            }
            connection.exec("COMMIT");
        } catch (const Error& e) {
            log.error("webhooks: disabling endpoint {} failed: {}", name, e.what());
        }
        // Also for the logs: an error-level line with the endpoint and the reason.
        log.error("webhooks: endpoint {} disabled: {}; `sea-mq webhooks enable {}` resumes it", name, reason,
                  name);
        if (hooks.disabled) hooks.disabled(name, reason);
    }

    // Validated against its contract when the context has one
    // (schemas/events/<context>/webhook-endpoint-disabled.v1.schema.json).
    envelope::Envelope disabled_event(const std::string& name, const std::string& reason) const {
        const auto type = options.context + ".event.webhook-endpoint-disabled.v1";
        envelope::EnvelopeBuilder builder(type, "/sea-mq/webhooks", name);
        // The reason quotes curl's or the server's words: bounded like the contract says.
        builder.data({{"endpoint", name}, {"reason", reason.substr(0, 1000)}});
        if (!contracts.find(type)) return builder.build();
        const envelope::Validator validator(envelope::Limits{}, &contracts);
        return builder.build(validator);
    }

    DispatcherOptions options;
    nats::JetStream& jetstream;
    const contracts::Registry& contracts;
    observability::Logger logger;
    DispatcherHooks hooks;
    WebhookSender sender;
    std::optional<SecretBox> box;

    std::atomic<bool> stopping{false};
    std::mutex mutex;
    std::condition_variable wake;
    std::thread supervisor;
    mutable std::mutex runners_mutex;
    std::map<std::string, std::unique_ptr<Runner>> runners;
};

WebhookDispatcher::WebhookDispatcher(DispatcherOptions options, nats::JetStream& jetstream,
                                     const contracts::Registry& contracts, observability::Logger logger,
                                     DispatcherHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), jetstream, contracts, std::move(logger),
                                   std::move(hooks))) {}

WebhookDispatcher::~WebhookDispatcher() {
    stop(std::chrono::steady_clock::now());
}

void WebhookDispatcher::start() {
    if (impl_->supervisor.joinable()) return;
    impl_->supervisor = std::thread([impl = impl_.get()] { impl->supervise(); });
}

void WebhookDispatcher::request_stop() {
    {
        std::lock_guard lock(impl_->mutex);
        impl_->stopping = true;
    }
    impl_->wake.notify_all();
}

bool WebhookDispatcher::stop(std::chrono::steady_clock::time_point /*deadline*/) {
    request_stop();
    if (impl_->supervisor.joinable()) impl_->supervisor.join();
    std::lock_guard lock(impl_->runners_mutex);
    for (auto& [name, runner] : impl_->runners) {
        runner->stop = true;
        if (runner->thread.joinable()) runner->thread.join();
    }
    impl_->runners.clear();
    return true;
}

std::size_t WebhookDispatcher::running_endpoints() const {
    std::lock_guard lock(impl_->runners_mutex);
    std::size_t running = 0;
    for (const auto& [name, runner] : impl_->runners)
        if (!runner->finished) ++running;
    return running;
}

}  // namespace seamq::edges
