// Connections against a real nats-server: reconnect after a restart with events and
// counters, retrying a first connect, core publish/subscribe and request/reply.
#include <atomic>
#include <mutex>

#include <gtest/gtest.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/testing/nats_server.hpp"

namespace seamq::nats {
namespace {

using namespace std::chrono_literals;
using seamq::testing::NatsServer;
using seamq::testing::wait_until;

struct EventLog {
    std::mutex mutex;
    std::vector<std::pair<ConnectionEvent, std::string>> events;
    auto handler() {
        return [this](ConnectionEvent event, const std::string& detail) {
            std::lock_guard lock(mutex);
            events.emplace_back(event, detail);
        };
    }
    int count(ConnectionEvent event) {
        std::lock_guard lock(mutex);
        int n = 0;
        for (const auto& [e, detail] : events) n += e == event ? 1 : 0;
        return n;
    }
};

TEST(Connection, ReconnectsAfterTheServerRestartsAndCountsIt) {
    NatsServer server;
    EventLog log;
    ConnectionOptions options = ConnectionOptions::from_urls(server.url(), "reconnect-test");
    options.reconnect_wait = 100ms;
    options.reconnect_jitter = 50ms;
    options.on_event = log.handler();
    {
        Connection connection(options);
        EXPECT_TRUE(connection.is_connected());
        EXPECT_EQ(connection.status(), ConnectionStatus::connected);
        EXPECT_EQ(connection.connected_url(), server.url());
        JetStream jetstream(connection);
        StreamConfig stream;
        stream.name = "TEST";
        stream.subjects = {"t.>"};
        jetstream.add_stream(stream);

        server.restart();
        ASSERT_TRUE(wait_until(
            [&] { return connection.counters().reconnects >= 1 && connection.is_connected(); }, 20s));
        const auto counters = connection.counters();
        EXPECT_GE(counters.disconnects, 1u);
        EXPECT_GE(counters.reconnects, 1u);
        EXPECT_FALSE(counters.closed);
        EXPECT_GE(log.count(ConnectionEvent::disconnected), 1);
        EXPECT_GE(log.count(ConnectionEvent::reconnected), 1);

        // The stream survived on disk and publishing works again (JetStream may need a
        // moment after a restart: bounded retry).
        std::optional<PubAck> ack;
        wait_until(
            [&] {
                try {
                    ack = jetstream.publish({"t.after", "p", "after-1", "", {}}, 1s);
                    return true;
                } catch (const NatsError& e) {
                    return !e.transient();
                }
            },
            10s, 100ms);
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->stream, "TEST");
    }
    EXPECT_EQ(log.count(ConnectionEvent::closed), 1);  // the destructor closed it
}

TEST(Connection, RetriesAFailedFirstConnectInTheBackground) {
    NatsServer server(NatsServer::Options{}, /*start_now=*/false);
    EventLog log;
    ConnectionOptions options = ConnectionOptions::from_urls(server.url());
    options.retry_on_failed_connect = true;
    options.reconnect_wait = 100ms;
    options.connect_timeout = 500ms;
    options.on_event = log.handler();
    Connection connection(options);
    EXPECT_FALSE(connection.is_connected());
    EXPECT_EQ(connection.connected_url(), "");

    server.start();
    ASSERT_TRUE(wait_until([&] { return connection.is_connected(); }, 20s));
    EXPECT_TRUE(wait_until([&] { return log.count(ConnectionEvent::connected) == 1; }, 5s));
    connection.flush();
}

TEST(Connection, FailsClearlyWithoutRetryWhenNoServerListens) {
    NatsServer server(NatsServer::Options{}, /*start_now=*/false);
    ConnectionOptions options = ConnectionOptions::from_urls(server.url());
    options.connect_timeout = 500ms;
    try {
        Connection connection(options);
        FAIL() << "expected a connect failure";
    } catch (const NatsError& e) {
        EXPECT_EQ(e.status(), NATS_NO_SERVER) << e.what();
        EXPECT_TRUE(e.transient());
        EXPECT_NE(std::string(e.what()).find(server.url()), std::string::npos) << e.what();
    }
}

TEST(Connection, CorePublishSubscribeAndRequestReply) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));

    std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> received;  // subject, traceparent
    Subscription tail = connection.subscribe("sea.>", [&](Message message) {
        std::lock_guard lock(mutex);
        received.emplace_back(std::string(message.subject()), message.header("traceparent").value_or(""));
    });
    Subscription responder = connection.subscribe("svc.echo", [&](Message message) {
        connection.publish(std::string(message.reply()), "echo:" + message.payload_string());
    });
    Subscription sync = connection.subscribe_sync("sync.*");

    connection.publish({"sea.event.a.v1", "1", "", "", {{"traceparent", "tp-1"}}});
    connection.publish("sea.event.b.v1", "2");
    connection.publish("other.x", "ignored");
    connection.publish("sync.one", "s");
    connection.flush();

    const Message reply = connection.request("svc.echo", "ping", 2s);
    EXPECT_EQ(reply.payload(), "echo:ping");
    const auto next = sync.next(2s);
    ASSERT_TRUE(next);
    EXPECT_EQ(next->subject(), "sync.one");
    EXPECT_FALSE(sync.next(50ms));

    ASSERT_TRUE(wait_until(
        [&] {
            std::lock_guard lock(mutex);
            return received.size() == 2;
        },
        5s));
    tail.unsubscribe();  // waits for the handler: `received` may be read without races now
    EXPECT_EQ(received[0], (std::pair<std::string, std::string>{"sea.event.a.v1", "tp-1"}));
    EXPECT_EQ(received[1], (std::pair<std::string, std::string>{"sea.event.b.v1", ""}));

    try {
        connection.request("svc.nobody", "x", 1s);
        FAIL() << "expected no responders";
    } catch (const NatsError& e) {
        EXPECT_TRUE(e.no_responders()) << e.what();
    }
}

}  // namespace
}  // namespace seamq::nats
