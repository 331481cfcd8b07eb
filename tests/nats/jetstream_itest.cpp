// JetStream publishing and management against a real single-node nats-server:
// duplicates, async publish at volume, ack timeouts while the server hangs, error kinds.
#include <atomic>
#include <mutex>
#include <set>

#include <gtest/gtest.h>

#include "seamq/nats/jetstream.hpp"
#include "seamq/testing/nats_server.hpp"

namespace seamq::nats {
namespace {

using namespace std::chrono_literals;
using seamq::testing::NatsServer;
using seamq::testing::wait_until;

StreamConfig test_stream(const std::string& name = "TEST", const std::string& subjects = "t.>") {
    StreamConfig config;
    config.name = name;
    config.subjects = {subjects};
    config.duplicate_window = 2min;
    return config;
}

OutgoingMessage message(std::string subject, std::string payload, std::string id) {
    OutgoingMessage result;
    result.subject = std::move(subject);
    result.payload = std::move(payload);
    result.message_id = std::move(id);
    return result;
}

TEST(JetStream, DuplicateMessageIdIsReportedAsDuplicateWithTheOriginalSequence) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));
    JetStream jetstream(connection);
    jetstream.add_stream(test_stream());

    const PubAck first = jetstream.publish(message("t.a", "one", "id-1"));
    const PubAck other = jetstream.publish(message("t.a", "two", "id-2"));
    const PubAck again = jetstream.publish(message("t.a", "one again", "id-1"));

    EXPECT_EQ(first.stream, "TEST");
    EXPECT_EQ(first.sequence, 1u);
    EXPECT_FALSE(first.duplicate);
    EXPECT_EQ(other.sequence, 2u);
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.sequence, 1u);
    const auto info = jetstream.stream_info("TEST");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->state.messages, 2u);
    EXPECT_EQ(info->state.last_sequence, 2u);
}

TEST(JetStream, AsyncPublishOfTenThousandMessagesIsAllAcknowledgedInOrder) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));
    std::mutex mutex;
    std::vector<AsyncPublishResult> results;
    JetStreamOptions options;
    options.max_pending_async = 1000;  // bounded memory: publish_async stalls beyond it
    options.on_publish_result = [&](const AsyncPublishResult& result) {
        std::lock_guard lock(mutex);
        results.push_back(result);
    };
    JetStream jetstream(connection, options);
    jetstream.add_stream(test_stream());

    constexpr int count = 10000;
    const std::string payload(256, 'x');
    for (int i = 0; i < count; ++i)
        jetstream.publish_async(message("t.bulk", payload, "bulk-" + std::to_string(i)));
    ASSERT_TRUE(jetstream.wait_async_complete(60s));

    std::lock_guard lock(mutex);
    ASSERT_EQ(results.size(), static_cast<std::size_t>(count));
    std::set<std::string> ids;
    std::set<std::uint64_t> sequences;
    for (const auto& result : results) {
        ASSERT_TRUE(result.ok()) << result.message_id << ": " << result.error;
        EXPECT_FALSE(result.ack->duplicate);
        EXPECT_EQ(result.subject, "t.bulk");
        ids.insert(result.message_id);
        sequences.insert(result.ack->sequence);
    }
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(count));
    EXPECT_EQ(*sequences.begin(), 1u);
    EXPECT_EQ(*sequences.rbegin(), static_cast<std::uint64_t>(count));
    const auto counters = jetstream.async_counters();
    EXPECT_EQ(counters.published, static_cast<std::uint64_t>(count));
    EXPECT_EQ(counters.acked, static_cast<std::uint64_t>(count));
    EXPECT_EQ(counters.failed, 0u);
    EXPECT_EQ(jetstream.pending_async(), 0);
    EXPECT_EQ(jetstream.stream_info("TEST")->state.messages, static_cast<std::uint64_t>(count));
}

TEST(JetStream, AsyncAcksTimeOutWhileTheServerHangsAndTheRetryWithTheSameIdIsDuplicate) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));
    std::mutex mutex;
    std::vector<AsyncPublishResult> results;
    JetStreamOptions options;
    options.publish_timeout = 500ms;
    options.on_publish_result = [&](const AsyncPublishResult& result) {
        std::lock_guard lock(mutex);
        results.push_back(result);
    };
    JetStream jetstream(connection, options);
    jetstream.add_stream(test_stream());

    struct Resume {
        NatsServer& server;
        ~Resume() { server.resume(); }
    } resume_on_exit{server};
    server.pause();
    for (int i = 0; i < 5; ++i) jetstream.publish_async(message("t.hang", "p", "hang-" + std::to_string(i)));
    const bool all_failed = wait_until(
        [&] {
            std::lock_guard lock(mutex);
            return results.size() == 5;
        },
        5s);
    server.resume();
    ASSERT_TRUE(all_failed) << "acks did not time out: MaxWait not applied?";
    {
        std::lock_guard lock(mutex);
        std::set<std::string> ids;
        for (const auto& result : results) {
            EXPECT_FALSE(result.ok());
            EXPECT_EQ(result.status, NATS_TIMEOUT) << result.error;
            EXPECT_EQ(result.kind, ErrorKind::transient);
            ids.insert(result.message_id);
        }
        EXPECT_EQ(ids, (std::set<std::string>{"hang-0", "hang-1", "hang-2", "hang-3", "hang-4"}));
    }
    EXPECT_EQ(jetstream.async_counters().failed, 5u);

    // The server was only hung: the writes reached it. Resending with the same ids (what
    // the relay does after a timeout) is absorbed by the duplicate window.
    for (int i = 0; i < 5; ++i) {
        const PubAck ack = jetstream.publish(message("t.hang", "p", "hang-" + std::to_string(i)), 10s);
        EXPECT_TRUE(ack.duplicate) << "hang-" << i;
    }
    EXPECT_EQ(jetstream.stream_info("TEST")->state.messages, 5u);
}

TEST(JetStream, TakesBackPendingAsyncMessagesForResendWithTheirIdsAndHeaders) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));
    JetStreamOptions options;
    options.publish_timeout = 30s;
    JetStream jetstream(connection, options);
    jetstream.add_stream(test_stream());

    struct Resume {
        NatsServer& server;
        ~Resume() { server.resume(); }
    } resume_on_exit{server};
    server.pause();
    OutgoingMessage outgoing = message("t.pending", "payload", "pending-1");
    outgoing.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
    jetstream.publish_async(outgoing);
    const auto pending = jetstream.take_pending_async_messages();
    server.resume();
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].subject, "t.pending");
    EXPECT_EQ(pending[0].payload, "payload");
    EXPECT_EQ(pending[0].message_id, "pending-1");
    ASSERT_EQ(pending[0].headers.size(), 1u);
    EXPECT_EQ(pending[0].headers[0].first, "traceparent");

    const PubAck ack = jetstream.publish(pending[0], 10s);
    EXPECT_TRUE(ack.duplicate);  // the first copy was stored once the server woke up
    EXPECT_EQ(jetstream.stream_info("TEST")->state.messages, 1u);
}

TEST(JetStream, ErrorsNameTheCauseAndAreClassified) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));
    JetStream jetstream(connection);
    StreamConfig small = test_stream();
    small.max_message_size = 100;
    jetstream.add_stream(small);
    jetstream.add_stream(test_stream("OTHER", "o.>"));

    // A subject no stream captures: "no responders", which an election also produces.
    try {
        jetstream.publish(message("nowhere.x", "p", "n-1"), 2s);
        FAIL() << "expected no responders";
    } catch (const NatsError& e) {
        EXPECT_TRUE(e.no_responders()) << e.what();
        EXPECT_NE(std::string(e.what()).find("nowhere.x"), std::string::npos) << e.what();
    }
    EXPECT_EQ(jetstream.stream_for_subject("nowhere.x"), std::nullopt);  // tells the two apart
    EXPECT_EQ(jetstream.stream_for_subject("t.a"), "TEST");
    EXPECT_EQ(jetstream.stream_for_subject("o.deep.er"), "OTHER");

    OutgoingMessage wrong_stream = message("t.a", "p", "w-1");
    wrong_stream.expected_stream = "OTHER";
    try {
        jetstream.publish(wrong_stream);
        FAIL() << "expected a stream mismatch";
    } catch (const NatsError& e) {
        EXPECT_EQ(e.js_error_code(), JSStreamNotMatchErr) << e.what();
        EXPECT_EQ(e.kind(), ErrorKind::permanent);
    }

    try {
        jetstream.publish(message("t.a", std::string(200, 'x'), "big-1"));
        FAIL() << "expected message too large";
    } catch (const NatsError& e) {
        EXPECT_EQ(e.js_error_code(), JSStreamMessageExceedsMaximumErr) << e.what();
        EXPECT_EQ(e.kind(), ErrorKind::permanent);
    }
    EXPECT_EQ(jetstream.stream_info("TEST")->state.messages, 0u);
}

TEST(JetStream, ManagesStreamsAndConsumersWithoutSubscriptions) {
    NatsServer server;
    Connection connection(ConnectionOptions::from_urls(server.url()));
    JetStream jetstream(connection);

    EXPECT_EQ(jetstream.stream_info("TEST"), std::nullopt);
    EXPECT_TRUE(jetstream.stream_names().empty());
    StreamConfig config = test_stream();
    config.max_age = 1h;
    config.max_bytes = 1 << 20;
    const StreamInfo created = jetstream.add_stream(config);
    EXPECT_EQ(created.config.max_age, std::chrono::nanoseconds(1h));
    EXPECT_EQ(created.config.max_bytes, 1 << 20);
    EXPECT_EQ(created.config.duplicate_window, std::chrono::nanoseconds(2min));
    EXPECT_FALSE(created.cluster && !created.cluster->replicas.empty());

    config.max_age = 2h;
    EXPECT_EQ(jetstream.update_stream(config).config.max_age, std::chrono::nanoseconds(2h));
    EXPECT_EQ(jetstream.stream_names(), std::vector<std::string>{"TEST"});

    ConsumerConfig consumer;
    consumer.durable_name = "worker";
    consumer.filter_subject = "t.>";
    consumer.ack_wait = 10s;
    consumer.max_deliver = 5;
    consumer.backoff = {1s, 2s};
    const ConsumerInfo info = jetstream.add_consumer("TEST", consumer);
    EXPECT_EQ(info.name, "worker");
    EXPECT_EQ(info.config.max_deliver, 5);
    EXPECT_EQ(info.config.backoff.size(), 2u);
    consumer.description = "the worker";
    EXPECT_EQ(jetstream.update_consumer("TEST", consumer).config.description, "the worker");
    EXPECT_EQ(jetstream.consumer_names("TEST"), std::vector<std::string>{"worker"});
    EXPECT_EQ(jetstream.stream_info("TEST")->state.consumers, 1);
    EXPECT_EQ(jetstream.account_info().streams, 1);

    EXPECT_TRUE(jetstream.delete_consumer("TEST", "worker"));
    EXPECT_FALSE(jetstream.delete_consumer("TEST", "worker"));
    EXPECT_EQ(jetstream.consumer_info("TEST", "worker"), std::nullopt);
    EXPECT_TRUE(jetstream.delete_stream("TEST"));
    EXPECT_FALSE(jetstream.delete_stream("TEST"));
}

}  // namespace
}  // namespace seamq::nats
