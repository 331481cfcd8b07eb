// The harness itself, against real servers: a cluster survives the loss of a stream
// leader, PostgreSQL keeps committed rows across restarts and crashes, and children die
// with their parent.
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nats/nats.h>
#include <signal.h>
#include <unistd.h>

#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::testing {
namespace {

using namespace std::chrono_literals;

//! Raw nats.c, so the harness is checked without sea-mq's own client layer.
class RawJetStream {
public:
    explicit RawJetStream(const std::string& urls) {
        natsOptions* options = nullptr;
        EXPECT_EQ(natsOptions_Create(&options), NATS_OK);
        natsOptions_SetServers(options, split(urls).data(), static_cast<int>(split(urls).size()));
        natsOptions_SetMaxReconnect(options, -1);
        natsOptions_SetReconnectWait(options, 100);
        natsOptions_SetTimeout(options, 2000);
        EXPECT_EQ(natsConnection_Connect(&connection_, options), NATS_OK) << nats_GetLastError(nullptr);
        natsOptions_Destroy(options);
        jsOptions js_options;
        jsOptions_Init(&js_options);
        js_options.Wait = 3000;
        EXPECT_EQ(natsConnection_JetStream(&js_, connection_, &js_options), NATS_OK);
    }
    ~RawJetStream() {
        jsCtx_Destroy(js_);
        natsConnection_Destroy(connection_);
    }
    RawJetStream(const RawJetStream&) = delete;
    RawJetStream& operator=(const RawJetStream&) = delete;

    void add_stream(const std::string& name, const std::string& subjects, int replicas) {
        jsStreamConfig config;
        jsStreamConfig_Init(&config);
        config.Name = name.c_str();
        const char* subject_list[] = {subjects.c_str()};
        config.Subjects = subject_list;
        config.SubjectsLen = 1;
        config.Storage = js_FileStorage;
        config.Replicas = replicas;
        jsStreamInfo* info = nullptr;
        jsErrCode error_code{};
        ASSERT_EQ(js_AddStream(&info, js_, &config, nullptr, &error_code), NATS_OK)
            << nats_GetLastError(nullptr) << " (JetStream error " << error_code << ")";
        jsStreamInfo_Destroy(info);
    }

    //! Publishes with a message id, retrying the same id through elections (bounded).
    //! Returns {sequence, duplicate} of the ack that finally came back.
    std::pair<uint64_t, bool> publish(const std::string& subject, const std::string& id,
                                      std::chrono::milliseconds budget = 20s) {
        const auto deadline = std::chrono::steady_clock::now() + budget;
        while (true) {
            jsPubOptions options;
            jsPubOptions_Init(&options);
            options.MsgId = id.c_str();
            options.MaxWait = 2000;
            jsPubAck* ack = nullptr;
            jsErrCode error_code{};
            const natsStatus status = js_Publish(&ack, js_, subject.c_str(), id.data(),
                                                 static_cast<int>(id.size()), &options, &error_code);
            if (status == NATS_OK) {
                std::pair<uint64_t, bool> result{ack->Sequence, ack->Duplicate};
                jsPubAck_Destroy(ack);
                return result;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                ADD_FAILURE() << "publish " << id << " kept failing: " << natsStatus_GetText(status);
                return {0, false};
            }
            std::this_thread::sleep_for(200ms);
        }
    }

    uint64_t stream_messages(const std::string& name) {
        jsStreamInfo* info = nullptr;
        jsErrCode error_code{};
        if (js_GetStreamInfo(&info, js_, name.c_str(), nullptr, &error_code) != NATS_OK) return 0;
        const uint64_t messages = info->State.Msgs;
        jsStreamInfo_Destroy(info);
        return messages;
    }

private:
    static std::vector<const char*> split(const std::string& urls) {
        static thread_local std::vector<std::string> storage;
        storage.clear();
        std::string::size_type start = 0;
        while (start <= urls.size()) {
            const auto end = urls.find(',', start);
            storage.push_back(urls.substr(start, end == std::string::npos ? std::string::npos : end - start));
            if (end == std::string::npos) break;
            start = end + 1;
        }
        std::vector<const char*> pointers;
        for (const auto& url : storage) pointers.push_back(url.c_str());
        return pointers;
    }

    natsConnection* connection_ = nullptr;
    jsCtx* js_ = nullptr;
};

//! Messages of `stream` as one node's own store reports them (not the leader's view).
uint64_t messages_on_node(NatsServer& node, const std::string& stream) {
    const auto jsz = node.monitor("/jsz?accounts=true&streams=true");
    if (!jsz || !jsz->contains("account_details")) return 0;
    for (const auto& account : (*jsz)["account_details"]) {
        for (const auto& detail : account.value("stream_detail", nlohmann::json::array())) {
            if (detail.value("name", "") == stream) return detail["state"].value("messages", 0ULL);
        }
    }
    return 0;
}

TEST(NatsClusterHarness, SurvivesLossOfStreamLeaderAndKilledNodeCatchesUp) {
    NatsCluster cluster(3);
    ASSERT_TRUE(cluster.meta_leader().has_value());

    RawJetStream js(cluster.url_list());
    js.add_stream("ORDERS", "orders.>", 3);
    for (int i = 0; i < 100; ++i) {
        const auto [sequence, duplicate] = js.publish("orders.created", "before-" + std::to_string(i));
        ASSERT_EQ(sequence, static_cast<uint64_t>(i + 1));
        ASSERT_FALSE(duplicate);
    }

    const auto old_leader = cluster.wait_stream_leader("ORDERS");
    cluster.kill(old_leader);
    const auto killed_at = std::chrono::steady_clock::now();

    std::optional<std::size_t> new_leader;
    ASSERT_TRUE(wait_until(
        [&] {
            new_leader = cluster.stream_leader("ORDERS");
            return new_leader.has_value() && *new_leader != old_leader;
        },
        30s, 200ms))
        << "no new stream leader after killing n" << old_leader;
    const auto election =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at);
    std::cout << "stream leader n" << old_leader << " killed; n" << *new_leader << " leads after "
              << election.count() << " ms\n";

    // The stream still accepts writes with one node down.
    for (int i = 0; i < 100; ++i) {
        const auto [sequence, duplicate] = js.publish("orders.created", "after-" + std::to_string(i));
        ASSERT_EQ(sequence, static_cast<uint64_t>(101 + i));
        ASSERT_FALSE(duplicate);
    }
    EXPECT_EQ(js.stream_messages("ORDERS"), 200U);

    // The killed node rejoins on its old store and catches up with what it missed.
    cluster.start(old_leader);
    ASSERT_TRUE(
        wait_until([&] { return messages_on_node(cluster.node(old_leader), "ORDERS") == 200; }, 30s, 200ms))
        << "rejoined node holds " << messages_on_node(cluster.node(old_leader), "ORDERS")
        << " of 200 messages";
    cluster.wait_meta_leader();
}

TEST(NatsServerHarness, KillAndRestartKeepsTheStoreAndPorts) {
    NatsServer server;
    const auto url = server.url();
    {
        RawJetStream js(server.url());
        js.add_stream("EVENTS", "events.>", 1);
        for (int i = 0; i < 10; ++i) js.publish("events.x", "id-" + std::to_string(i));
    }
    server.kill();
    EXPECT_FALSE(server.running());
    EXPECT_FALSE(server.monitor("/healthz").has_value());
    server.start();
    EXPECT_EQ(server.url(), url);
    RawJetStream js(server.url());
    // nats-server syncs its file store lazily, but a killed process (not a killed OS)
    // leaves the page cache intact, so every acknowledged write is still there.
    EXPECT_EQ(js.stream_messages("EVENTS"), 10U);
}

TEST(NatsServerHarness, PausedServerDoesNotAnswerUntilResumed) {
    NatsServer server;
    server.pause();
    EXPECT_FALSE(server.monitor("/healthz").has_value());
    server.resume();
    server.wait_healthy(10s);
}

TEST(PostgresHarness, RestartKeepsCommittedRowsAndDropsUncommittedOnes) {
    PostgresServer postgres;
    postgres.create_database("harness");
    postgres.query_value("CREATE TABLE facts (id int PRIMARY KEY, body text)", "harness");
    postgres.query_value("INSERT INTO facts SELECT g, 'row ' || g FROM generate_series(1, 500) g", "harness");
    postgres.query_value("BEGIN; INSERT INTO facts VALUES (1000, 'never committed'); ROLLBACK", "harness");

    postgres.restart();
    EXPECT_EQ(postgres.query_value("SELECT count(*) FROM facts", "harness"), "500");

    // A crash (kill -9 of the postmaster and its backends) must keep them as well:
    // fsync is on, so recovery replays the WAL.
    postgres.query_value("INSERT INTO facts VALUES (501, 'just before the crash')", "harness");
    postgres.kill();
    EXPECT_FALSE(postgres.running());
    postgres.start();
    EXPECT_EQ(postgres.query_value("SELECT count(*) FROM facts", "harness"), "501");
    EXPECT_EQ(postgres.query_value("SELECT body FROM facts WHERE id = 501", "harness"),
              "just before the crash");
    EXPECT_EQ(postgres.query_value("SELECT count(*) FROM facts WHERE id = 1000", "harness"), "0");
}

TEST(ChildProcessHarness, ChildDiesWhenItsParentIsKilled) {
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t parent = ::fork();
    ASSERT_GE(parent, 0);
    if (parent == 0) {
        // Stand-in for a test binary that crashes while a server it started is running.
        ::close(pipe_fds[0]);
        ChildProcess child(ChildProcess::Options{.argv = {"sleep", "300"}});
        const pid_t pid = child.pid();
        (void)!::write(pipe_fds[1], &pid, sizeof(pid));
        ::pause();
        ::_exit(0);
    }
    ::close(pipe_fds[1]);
    pid_t grandchild = -1;
    ASSERT_EQ(::read(pipe_fds[0], &grandchild, sizeof(grandchild)), static_cast<ssize_t>(sizeof(grandchild)));
    ::close(pipe_fds[0]);
    ASSERT_EQ(::kill(grandchild, 0), 0) << "the child should be running";

    ::kill(parent, SIGKILL);
    int status = 0;
    ::waitpid(parent, &status, 0);
    // The orphan is reparented and reaped by init once the death signal kills it.
    EXPECT_TRUE(wait_until([&] { return ::kill(grandchild, 0) != 0; }, 5s))
        << "child " << grandchild << " outlived its killed parent";
}

TEST(ChildProcessHarness, StopEscalatesToKillAndReportsTheSignal) {
    // A shell that ignores SIGTERM: stop() must fall back to SIGKILL after the grace.
    ChildProcess child(ChildProcess::Options{.argv = {"sh", "-c", "trap '' TERM; sleep 300 & wait"}});
    std::this_thread::sleep_for(200ms);
    const auto status = child.stop(300ms);
    EXPECT_EQ(ChildProcess::exit_code(status), -SIGKILL);
    EXPECT_FALSE(child.running());
}

}  // namespace
}  // namespace seamq::testing
