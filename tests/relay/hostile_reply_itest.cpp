// The relay never dies of what it observes: hooks that throw and odd replies to its
// publishes, against a real nats-server and PostgreSQL.
#include <atomic>
#include <thread>

#include "tests/relay/relay_fixture.hpp"

#include "seamq/relay/relay.hpp"

namespace seamq::relay::testing {
namespace {

RelayOptions relay_options(const std::string& database, const std::string& context = "sea") {
    auto options = fast_options(database);
    options.context = context;
    options.expected_stream = context == "sea" ? "SEA_EVENTS" : "ODD_EVENTS";
    options.publish_timeout = 1000ms;
    options.retry_max = 500ms;
    return options;
}

TEST_F(RelayTest, HooksThatThrowChangeNothingThatIsPublished) {
    add_stream(*jetstream, "SEA_EVENTS", {"sea.>"});
    enqueue_events(database, "evt-", 0, 300, 7);
    std::atomic<int> published_calls{0};
    RelayHooks hooks;
    hooks.on_puback_latency = [](std::chrono::nanoseconds) {
        throw 7;  // NOLINT(hicpp-exception-baseclass): the worst a hook can throw
    };
    hooks.on_published = [&](const std::string&) {
        ++published_calls;
        throw std::runtime_error("metrics backend is down");
    };
    Relay relay(relay_options(database), *connection, hooks);
    relay.start();
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 300; }, 30s));
    relay.stop();

    expect_exactly_once(read_stream(*jetstream, "SEA_EVENTS"), "evt-", 0, 300);
    const auto statistics = relay.statistics();
    EXPECT_EQ(published_calls.load(), 300) << "every hook call was made, each threw";
    EXPECT_EQ(statistics.hook_errors, 600U);
    EXPECT_EQ(statistics.restarts, 0U);
    EXPECT_EQ(statistics.leadership_changes, 1U) << "one term: a hook never ends the leadership";
    EXPECT_TRUE(relay.health().healthy);
}

TEST_F(RelayTest, OddRepliesToPublishesKeepTheRowPendingAndTheRelayRunning) {
    // Something that is not JetStream answers the context's subjects (a stray service, a
    // misconfigured import): every reply is malformed or names the wrong stream.
    auto impostor = connection->subscribe_sync("odd.>");
    std::atomic<bool> answering{true};
    std::atomic<int> answered{0};
    std::thread responder([&] {
        const std::vector<std::string> replies = {
            "not json", R"({"stream":5,"seq":"x"})", R"({"error":"a string"})", R"({"error":{"code":"x"}})",
            "{}", "[]", R"({"stream":"OTHER","seq":7})", std::string("\xff\xfe", 2),
            R"({"stream":"ODD_EVENTS","seq":-1})",
            // A JetStream error code this relay does not know (a newer server's).
            R"({"error":{"code":503,"err_code":19999,"description":"something new"}})"};
        const auto until = std::chrono::steady_clock::now() + 30s;  // bounded whatever the test does
        while (answering && std::chrono::steady_clock::now() < until) {
            auto request = impostor.next(100ms);
            if (!request || request->reply().empty()) continue;
            connection->publish(request->reply(), replies[answered++ % replies.size()]);
        }
    });
    enqueue_events(database, "odd-", 0, 3, 1, "odd.event.thing-happened.v1");
    Relay relay(relay_options(database, "odd"), *connection);
    relay.start();
    const bool saw_all_replies = wait_until([&] { return answered >= 20; }, 20s);
    answering = false;
    responder.join();
    impostor = {};
    ASSERT_TRUE(saw_all_replies) << "answered " << answered;

    EXPECT_EQ(count_rows(database, "status = 'rejected'"), 0)
        << "an odd reply is no reason to give up an event";
    EXPECT_EQ(count_rows(database, "status = 'published'"), 0) << "an odd reply is no PubAck";
    EXPECT_EQ(count_rows(database, "status = 'pending' AND attempts > 0 AND last_error IS NOT NULL"), 1)
        << "the key's first event was tried and failed; the others wait behind it";

    // The real stream appears: the events are published, once each, in order.
    add_stream(*jetstream, "ODD_EVENTS", {"odd.>"});
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == 3; }, 20s));
    relay.stop();
    const auto events = read_stream(*jetstream, "ODD_EVENTS");
    ASSERT_EQ(events.size(), 3U);
    for (int n = 0; n < 3; ++n) EXPECT_EQ(events[n].message_id, "odd-" + std::to_string(n));
    EXPECT_EQ(relay.statistics().restarts, 0U);
}

}  // namespace
}  // namespace seamq::relay::testing
