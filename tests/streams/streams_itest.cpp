// `streams apply|status` against real nats-servers: idempotent apply checked against the
// server's stream info, deduplication inside the window, refused in-place changes, the
// real sea-mq binary, and R3 streams on a 3-node cluster.
#include <array>
#include <cstdio>
#include <fstream>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/nats/jetstream.hpp"
#include "seamq/streams/status_report.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/nats_server.hpp"

namespace seamq::streams {
namespace {

using namespace std::chrono_literals;
using seamq::testing::NatsCluster;
using seamq::testing::NatsServer;
using seamq::testing::TempDir;
using seamq::testing::wait_until;

std::filesystem::path shipped(const char* name) {
    return seamq::testing::source_dir() / "config" / name;
}

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

//! Runs the real sea-mq binary with a 60 s limit, capturing stdout and stderr apart.
CommandResult sea_mq(const std::vector<std::string>& arguments, const TempDir& scratch) {
    const auto err_file = scratch.path() / "stderr.txt";
    std::string command = "timeout 60 '" + (seamq::testing::bin_dir() / "sea-mq").string() + "'";
    for (const auto& argument : arguments) {
        std::string quoted = "'";
        for (const char c : argument) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        command += " " + quoted + "'";
    }
    command += " 2>'" + err_file.string() + "'";
    CommandResult result;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    std::array<char, 4096> buffer{};
    std::size_t read = 0;
    while ((read = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.out.append(buffer.data(), read);
    const int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream err(err_file);
    result.err.assign(std::istreambuf_iterator<char>(err), {});
    return result;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> result;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto end = text.find('\n', start);
        result.push_back(text.substr(start, end - start));
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return result;
}

nats::OutgoingMessage event(std::string subject, std::string id) {
    nats::OutgoingMessage message;
    message.subject = std::move(subject);
    message.payload = R"({"specversion":"1.0"})";
    message.message_id = std::move(id);
    return message;
}

TEST(StreamsApply, SecondRunChangesNothingAndTheStreamDeduplicatesMessageIds) {
    NatsServer server;
    nats::Connection connection(nats::ConnectionOptions::from_urls(server.url()));
    nats::JetStream jetstream(connection);
    StreamManager manager(jetstream);
    const auto config = load_streams_config(shipped("streams.yaml"));

    const auto first = manager.apply(config);
    ASSERT_EQ(first.size(), 6u);
    for (const auto& plan : first) EXPECT_EQ(plan.action, StreamAction::created) << plan.stream;

    std::map<std::string, nats::StreamInfo> before;
    for (const auto& desired : config.streams()) {
        const auto info = jetstream.stream_info(desired.name);
        ASSERT_TRUE(info) << desired.name;
        EXPECT_TRUE(diff_stream(info->config, desired).empty())
            << desired.name << ": server differs from the file";
        before[desired.name] = *info;
    }

    const auto second = manager.apply(config);
    for (const auto& plan : second) {
        EXPECT_EQ(plan.action, StreamAction::unchanged) << plan.stream;
        EXPECT_TRUE(plan.changes.empty()) << plan.stream;
    }
    for (const auto& [name, info] : before) {
        const auto after = jetstream.stream_info(name);
        ASSERT_TRUE(after);
        EXPECT_EQ(after->created_ns, info.created_ns) << name << " was recreated";
        EXPECT_TRUE(diff_stream(info.config, after->config).empty()) << name << " changed on the second run";
    }

    // Inside the 2 minute window the stream reports a repeated Nats-Msg-Id as duplicate.
    const auto original = jetstream.publish(event("sea.event.order-placed.v1", "evt-1"));
    const auto repeat = jetstream.publish(event("sea.event.order-placed.v1", "evt-1"));
    const auto dead_letter = jetstream.publish(event("dlq.sea.event.order-placed.v1", "evt-1"));
    EXPECT_EQ(original.stream, "SEA_EVENTS");
    EXPECT_FALSE(original.duplicate);
    EXPECT_TRUE(repeat.duplicate);
    EXPECT_EQ(repeat.sequence, original.sequence);
    EXPECT_EQ(dead_letter.stream, "SEA_DLQ");  // windows are per stream
    EXPECT_FALSE(dead_letter.duplicate);
    EXPECT_EQ(jetstream.stream_info("SEA_EVENTS")->state.messages, 1u);
    EXPECT_EQ(jetstream.stream_info("VIBESPRO_EVENTS")->state.messages, 0u);

    // A changed limit is updated in place and only that stream says so.
    auto longer = config;
    longer.contexts[0].events.max_age = std::chrono::hours(24 * 60);
    const auto third = manager.apply(longer);
    EXPECT_EQ(third[0].action, StreamAction::updated);
    ASSERT_EQ(third[0].changes.size(), 1u);
    EXPECT_EQ(third[0].changes[0].field, "max_age");
    EXPECT_EQ(third[0].changes[0].from, "30d");
    EXPECT_EQ(third[0].changes[0].to, "60d");
    for (std::size_t i = 1; i < third.size(); ++i) EXPECT_EQ(third[i].action, StreamAction::unchanged);
    EXPECT_EQ(jetstream.stream_info("SEA_EVENTS")->config.max_age,
              std::chrono::nanoseconds(std::chrono::hours(24 * 60)));
    EXPECT_EQ(jetstream.stream_info("SEA_EVENTS")->state.messages, 1u);  // kept its messages
}

TEST(StreamsApply, RefusesAStorageChangeAndChangesNothingElse) {
    NatsServer server;
    nats::Connection connection(nats::ConnectionOptions::from_urls(server.url()));
    nats::JetStream jetstream(connection);
    StreamManager manager(jetstream);
    const auto config = load_streams_config(shipped("streams.yaml"));
    manager.apply(config);

    auto changed = config;
    changed.contexts[0].events.storage = nats::StorageType::memory;   // cannot change in place
    changed.contexts[1].events.max_age = std::chrono::hours(24 * 7);  // could, but all or nothing
    const auto plan = manager.apply(changed);
    EXPECT_EQ(plan[0].action, StreamAction::refused);
    EXPECT_NE(plan[0].reason.find("storage cannot change in place (file -> memory)"), std::string::npos)
        << plan[0].reason;
    EXPECT_EQ(plan[2].action, StreamAction::updated);  // what it would have done

    EXPECT_EQ(jetstream.stream_info("SEA_EVENTS")->config.storage, nats::StorageType::file);
    EXPECT_EQ(jetstream.stream_info("VIBESPRO_EVENTS")->config.max_age,
              std::chrono::nanoseconds(std::chrono::hours(24 * 30)));
}

TEST(StreamsCommand, RealBinaryAppliesIdempotentlyReportsStatusAndRejectsBadInput) {
    NatsServer server;
    TempDir scratch("streams-cli");
    const auto file = shipped("streams.yaml").string();

    const auto first = sea_mq({"streams", "apply", "--file", file, "--nats", server.url()}, scratch);
    ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
    EXPECT_EQ(lines(first.out),
              (std::vector<std::string>{"SEA_EVENTS: created", "SEA_DLQ: created", "VIBESPRO_EVENTS: created",
                                        "VIBESPRO_DLQ: created", "GOVERNANCE_EVENTS: created",
                                        "GOVERNANCE_DLQ: created"}));
    const auto second = sea_mq({"streams", "apply", "--file", file, "--nats", server.url()}, scratch);
    ASSERT_EQ(second.exit_code, 0) << second.err;
    EXPECT_EQ(lines(second.out),
              (std::vector<std::string>{"SEA_EVENTS: unchanged", "SEA_DLQ: unchanged",
                                        "VIBESPRO_EVENTS: unchanged", "VIBESPRO_DLQ: unchanged",
                                        "GOVERNANCE_EVENTS: unchanged", "GOVERNANCE_DLQ: unchanged"}));

    {
        nats::Connection connection(nats::ConnectionOptions::from_urls(server.url()));
        nats::JetStream jetstream(connection);
        jetstream.publish(event("governance.event.policy-adopted.v1", "g-1"));
        jetstream.publish(event("governance.event.policy-adopted.v1", "g-2"));
    }
    const auto status =
        sea_mq({"streams", "status", "--nats", server.url(), "--file", file, "--output", "json"}, scratch);
    ASSERT_EQ(status.exit_code, 0) << status.err;
    const auto json = nlohmann::json::parse(status.out);
    ASSERT_EQ(json["streams"].size(), 6u);
    EXPECT_TRUE(json["missing"].empty());
    const auto& governance = json["streams"][4];
    EXPECT_EQ(governance["name"], "GOVERNANCE_EVENTS");
    EXPECT_EQ(governance["messages"], 2);
    EXPECT_EQ(governance["first_sequence"], 1);
    EXPECT_EQ(governance["last_sequence"], 2);
    EXPECT_GT(governance["bytes"].get<int>(), 0);
    EXPECT_EQ(governance["consumers"], 0);
    EXPECT_TRUE(governance["cluster"].is_null() || governance["cluster"]["replicas"].empty());
    const auto table = sea_mq({"streams", "status", "--nats", server.url()}, scratch);
    ASSERT_EQ(table.exit_code, 0) << table.err;
    EXPECT_NE(table.out.find("GOVERNANCE_EVENTS"), std::string::npos) << table.out;

    // A change JetStream cannot make in place: exit 1, the reason on stderr, nothing applied.
    const auto memory_file = scratch.path() / "memory.yaml";
    std::ofstream(memory_file) << "defaults:\n  storage: memory\ncontexts:\n  - name: sea\n";
    const auto refused =
        sea_mq({"streams", "apply", "--file", memory_file.string(), "--nats", server.url()}, scratch);
    EXPECT_EQ(refused.exit_code, 1) << refused.out << refused.err;
    EXPECT_NE(refused.out.find("SEA_EVENTS: refused (storage file -> memory"), std::string::npos)
        << refused.out;
    EXPECT_NE(refused.err.find("storage cannot change in place"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("nothing was changed"), std::string::npos) << refused.err;

    // A bad file: exit 2 with the key and the line, before any connection is made.
    const auto bad_file = scratch.path() / "bad.yaml";
    std::ofstream(bad_file) << "contexts:\n  - name: sea\n    duplicate_window: soon\n";
    const auto bad =
        sea_mq({"streams", "apply", "--file", bad_file.string(), "--nats", server.url()}, scratch);
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_NE(bad.err.find("bad.yaml:3:"), std::string::npos) << bad.err;
    EXPECT_NE(bad.err.find("contexts[0].duplicate_window"), std::string::npos) << bad.err;

    const auto missing = sea_mq({"streams", "apply", "--file", file}, scratch);  // no --nats
    EXPECT_EQ(missing.exit_code, 2);
}

TEST(StreamsCluster, HaFileCreatesR3StreamsWithALeaderAndTwoCurrentReplicas) {
    NatsCluster cluster(3);
    cluster.wait_meta_leader();
    TempDir scratch("streams-cluster");
    const auto file = shipped("streams-ha.yaml").string();

    const auto applied = sea_mq({"streams", "apply", "--file", file, "--nats", cluster.url_list()}, scratch);
    ASSERT_EQ(applied.exit_code, 0) << applied.out << applied.err;
    for (const auto& line : lines(applied.out)) EXPECT_NE(line.find(": created"), std::string::npos) << line;

    nats::Connection connection(nats::ConnectionOptions::from_urls(cluster.url_list()));
    nats::JetStream jetstream(connection);
    StreamManager manager(jetstream);
    const auto config = load_streams_config(file);
    std::vector<std::string> names;
    for (const auto& stream : config.streams()) names.push_back(stream.name);
    // Followers catch up within moments of creation; bounded wait.
    const bool settled = wait_until(
        [&] {
            for (const auto& info : manager.status(names)) {
                if (!info.cluster || info.cluster->leader.empty() || info.cluster->replicas.size() != 2)
                    return false;
                for (const auto& peer : info.cluster->replicas)
                    if (!peer.current || peer.offline) return false;
            }
            return true;
        },
        30s, 200ms);
    ASSERT_TRUE(settled) << format_status_table(manager.status(names));

    const auto status = sea_mq(
        {"streams", "status", "--nats", cluster.url_list(), "--file", file, "--output", "json"}, scratch);
    ASSERT_EQ(status.exit_code, 0) << status.err;
    const auto json = nlohmann::json::parse(status.out);
    ASSERT_EQ(json["streams"].size(), 6u);
    for (const auto& stream : json["streams"]) {
        EXPECT_EQ(stream["replicas"], 3) << stream.dump();
        ASSERT_TRUE(stream["cluster"].is_object()) << stream.dump();
        const auto leader = stream["cluster"]["leader"].get<std::string>();
        EXPECT_TRUE(cluster.index_of(leader)) << stream.dump();
        ASSERT_EQ(stream["cluster"]["replicas"].size(), 2u) << stream.dump();
        for (const auto& peer : stream["cluster"]["replicas"]) {
            EXPECT_TRUE(peer["current"].get<bool>()) << stream.dump();
            EXPECT_NE(peer["name"].get<std::string>(), leader);
        }
    }

    // Deduplication holds on the replicated stream too, and a second apply is a no-op.
    const auto original = jetstream.publish(event("vibespro.event.track-released.v1", "v-1"), 10s);
    const auto repeat = jetstream.publish(event("vibespro.event.track-released.v1", "v-1"), 10s);
    EXPECT_TRUE(repeat.duplicate);
    EXPECT_EQ(repeat.sequence, original.sequence);
    for (const auto& plan : manager.apply(config))
        EXPECT_EQ(plan.action, StreamAction::unchanged) << plan.stream;
}

}  // namespace
}  // namespace seamq::streams
