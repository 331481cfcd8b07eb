// The streams file: the shipped files parse, settings cascade, and every kind of mistake
// is reported with the key and the line it is on.
#include "seamq/streams/streams_config.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "seamq/streams/stream_manager.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::streams {
namespace {

using namespace std::chrono_literals;

std::string config_error(const std::string& yaml) {
    try {
        parse_streams_config(yaml, "test.yaml");
    } catch (const seamq::Error& e) {
        EXPECT_EQ(e.code(), Errc::config) << e.what();
        return e.what();
    }
    ADD_FAILURE() << "expected a config error for:\n" << yaml;
    return "";
}

TEST(StreamsConfig, ShippedFilesDeclareEventAndDeadLetterStreamsPerContext) {
    const auto config = load_streams_config(seamq::testing::source_dir() / "config/streams.yaml");
    ASSERT_EQ(config.contexts.size(), 3u);
    std::vector<std::string> names;
    for (const auto& stream : config.streams()) names.push_back(stream.name);
    EXPECT_EQ(names, (std::vector<std::string>{"SEA_EVENTS", "SEA_DLQ", "VIBESPRO_EVENTS", "VIBESPRO_DLQ",
                                               "GOVERNANCE_EVENTS", "GOVERNANCE_DLQ"}));
    const auto& sea = config.contexts[0];
    EXPECT_EQ(sea.events.subjects, std::vector<std::string>{"sea.>"});
    EXPECT_EQ(sea.dead_letters.subjects, std::vector<std::string>{"dlq.sea.>"});
    for (const auto& stream : config.streams()) {
        EXPECT_EQ(stream.storage, nats::StorageType::file);
        EXPECT_EQ(stream.replicas, 1);
        EXPECT_EQ(stream.duplicate_window, std::chrono::nanoseconds(2min));
        EXPECT_EQ(stream.max_message_size, 1024 * 1024);
    }
    EXPECT_EQ(sea.events.max_age, std::chrono::nanoseconds(std::chrono::hours(24 * 30)));
    EXPECT_EQ(sea.dead_letters.max_age, std::chrono::nanoseconds(std::chrono::hours(24 * 90)));
    EXPECT_EQ(config.contexts[2].events.max_age, std::chrono::nanoseconds(std::chrono::hours(24 * 365)));
    EXPECT_EQ(config.contexts[2].dead_letters.max_age, std::chrono::nanoseconds(std::chrono::hours(24 * 90)));

    const auto ha = load_streams_config(seamq::testing::source_dir() / "config/streams-ha.yaml");
    for (const auto& stream : ha.streams()) EXPECT_EQ(stream.replicas, 3) << stream.name;
    // Apart from replicas, the HA file declares exactly the same streams.
    const auto single = config.streams();
    const auto replicated = ha.streams();
    ASSERT_EQ(single.size(), replicated.size());
    for (std::size_t i = 0; i < single.size(); ++i) {
        const auto changes = diff_stream(single[i], replicated[i]);
        ASSERT_EQ(changes.size(), 1u) << single[i].name;
        EXPECT_EQ(changes[0].field, "replicas");
    }
}

TEST(StreamsConfig, DefaultsAreFileStorageOneReplicaTwoMinuteWindowNoLimits) {
    const auto config = parse_streams_config("contexts:\n  - name: billing-eu\n");
    const auto& events = config.contexts.at(0).events;
    EXPECT_EQ(events.name, "BILLING_EU_EVENTS");
    EXPECT_EQ(config.contexts[0].dead_letters.name, "BILLING_EU_DLQ");
    EXPECT_EQ(events.storage, nats::StorageType::file);
    EXPECT_EQ(events.replicas, 1);
    EXPECT_EQ(events.duplicate_window, std::chrono::nanoseconds(2min));
    EXPECT_EQ(events.max_age.count(), 0);
    EXPECT_EQ(events.max_bytes, -1);
    EXPECT_EQ(events.max_message_size, -1);
}

TEST(StreamsConfig, MistakesNameTheKeyAndTheLine) {
    auto error = config_error("contexts:\n  - name: sea\n    max_agee: 3d\n");
    EXPECT_NE(error.find("test.yaml:3:"), std::string::npos) << error;
    EXPECT_NE(error.find("contexts[0].max_agee: unknown key"), std::string::npos) << error;

    error = config_error("defaults:\n  duplicate_window: 2 minutes\ncontexts:\n  - name: sea\n");
    EXPECT_NE(error.find("test.yaml:2:"), std::string::npos) << error;
    EXPECT_NE(error.find("defaults.duplicate_window"), std::string::npos) << error;
    EXPECT_NE(error.find("bad duration '2 minutes'"), std::string::npos) << error;

    error = config_error("contexts:\n  - name: sea\n    events:\n      replicas: 7\n");
    EXPECT_NE(error.find("test.yaml:4:"), std::string::npos) << error;
    EXPECT_NE(error.find("contexts[0].events.replicas: '7' is not a replica count"), std::string::npos)
        << error;

    error = config_error("contexts:\n  - name: sea\n  - name: dlq\n");
    EXPECT_NE(error.find("test.yaml:3:"), std::string::npos) << error;
    EXPECT_NE(error.find("'dlq' is reserved"), std::string::npos) << error;

    error = config_error("contexts:\n  - name: sea\n  - name: sea\n");
    EXPECT_NE(error.find("already uses"), std::string::npos) << error;

    error = config_error("contexts:\n  - name: Sea.Ops\n");
    EXPECT_NE(error.find("is not a context name"), std::string::npos) << error;

    error = config_error("contexts:\n  - name: sea\n    storage: disk\n");
    EXPECT_NE(error.find("contexts[0].storage: 'disk' is not a storage type"), std::string::npos) << error;

    error = config_error("contexts:\n  - name: sea\n    max_bytes: 10 parsecs\n");
    EXPECT_NE(error.find("contexts[0].max_bytes"), std::string::npos) << error;

    error = config_error("contexts:\n  - name: sea\n    max_age: 1m\n");
    EXPECT_NE(error.find("duplicate_window 2m is longer than max_age 1m"), std::string::npos) << error;

    error = config_error("contexts: [\n");
    EXPECT_NE(error.find("not valid YAML"), std::string::npos) << error;

    error = config_error("defaults:\n  replicas: 1\n");
    EXPECT_NE(error.find("contexts: missing"), std::string::npos) << error;
}

TEST(StreamsConfig, AKeyThatIsAListOrMappingIsAConfigError) {
    // An uncaught YAML::BadConversion ended the process (found by fuzzing).
    for (const auto* text :
         {"? [contexts]\n: x\n", "contexts:\n  - name: sea\n    events:\n      ? {a: 1}\n      : 2\n",
          "defaults:\n  ? max_bytes\n  ? - 1\n"}) {
        const auto error = config_error(text);
        EXPECT_NE(error.find("keys must be plain names"), std::string::npos) << text << "\n" << error;
    }
}

// Federation (docs/federation.md): an exporting context gets <CONTEXT>_EXPORT with the
// events' settings; each imported context one <CONTEXT>_IMPORTS sourcing <CONTEXT>_EXPORT
// of every listed cell through $JS.<cell>.API, with one subject of its own for replays.
TEST(StreamsConfig, ExportsAndImportsDeclareTheFederationStreams) {
    const auto config = parse_streams_config(
        "defaults:\n  replicas: 3\n  events:\n    max_age: 30d\n"
        "contexts:\n  - name: sea\n    export: true\n  - name: vibespro\n"
        "imports:\n  - context: governance\n    cells: [cell-a, cell-b]\n    max_age: 7d\n",
        "federation.yaml");
    std::vector<std::string> names;
    for (const auto& stream : config.streams()) names.push_back(stream.name);
    EXPECT_EQ(names, (std::vector<std::string>{"SEA_EVENTS", "SEA_DLQ", "SEA_EXPORT", "VIBESPRO_EVENTS",
                                               "VIBESPRO_DLQ", "GOVERNANCE_IMPORTS"}));
    const auto& exports = *config.contexts[0].exports;
    EXPECT_EQ(exports.subjects, std::vector<std::string>{"export.sea.>"});
    EXPECT_EQ(exports.replicas, 3);
    EXPECT_EQ(exports.max_age, std::chrono::hours(24 * 30));
    EXPECT_FALSE(config.contexts[1].exports.has_value());
    ASSERT_EQ(config.imports.size(), 1u);
    const auto& imported = config.imports[0].stream;
    EXPECT_EQ(imported.subjects, std::vector<std::string>{"import.governance.>"});
    EXPECT_EQ(imported.max_age, std::chrono::hours(24 * 7));
    EXPECT_EQ(imported.duplicate_window, std::chrono::minutes(2));
    ASSERT_EQ(imported.sources.size(), 2u);
    EXPECT_EQ(imported.sources[0], (nats::StreamSource{"GOVERNANCE_EXPORT", "$JS.cell-a.API", ""}));
    EXPECT_EQ(imported.sources[1], (nats::StreamSource{"GOVERNANCE_EXPORT", "$JS.cell-b.API", ""}));
    EXPECT_EQ(export_subject("sea.event.order-placed.v1"), "export.sea.event.order-placed.v1");
    // A changed list of cells is a change `streams apply` makes in place.
    auto fewer = imported;
    fewer.sources.pop_back();
    const auto changes = diff_stream(imported, fewer);
    ASSERT_EQ(changes.size(), 1u);
    EXPECT_EQ(changes[0].field, "sources");
    EXPECT_EQ(changes[0].to, "GOVERNANCE_EXPORT@$JS.cell-a.API");
}

TEST(StreamsConfig, FederationMistakesNameTheKey) {
    EXPECT_NE(config_error("contexts:\n  - name: sea\n    export: maybe\n").find("contexts[0].export"),
              std::string::npos);
    EXPECT_NE(config_error("contexts:\n  - name: sea\nimports:\n  - context: sea\n")
                  .find("imports[0].cells: missing"),
              std::string::npos);
    EXPECT_NE(config_error("contexts:\n  - name: sea\nimports:\n  - context: sea\n    cells: [a.b]\n")
                  .find("imports[0].cells[0]: 'a.b' is not a JetStream domain"),
              std::string::npos);
    EXPECT_NE(config_error("contexts:\n  - name: sea\nimports:\n  - context: sea\n    cells: [a]\n"
                           "  - context: sea\n    cells: [b]\n")
                  .find("imported twice"),
              std::string::npos);
    for (const auto* reserved : {"export", "import"})
        EXPECT_NE(config_error(fmt::format("contexts:\n  - name: {}\n", reserved)).find("is reserved"),
                  std::string::npos)
            << reserved;
}

TEST(Durations, ParseAndFormatRoundTrip) {
    EXPECT_EQ(parse_duration("2m"), std::chrono::nanoseconds(2min));
    EXPECT_EQ(parse_duration("1h30m"), std::chrono::nanoseconds(90min));
    EXPECT_EQ(parse_duration("500ms"), std::chrono::nanoseconds(500ms));
    EXPECT_EQ(parse_duration("0"), std::chrono::nanoseconds(0));
    EXPECT_THROW(parse_duration("2"), seamq::Error);
    EXPECT_THROW(parse_duration("m"), seamq::Error);
    EXPECT_THROW(parse_duration("2w"), seamq::Error);
    EXPECT_EQ(format_duration(std::chrono::hours(24 * 30)), "30d");
    EXPECT_EQ(format_duration(90min), "1h30m");
    EXPECT_EQ(format_duration(std::chrono::nanoseconds(0)), "0s");
    EXPECT_EQ(parse_size("1MiB"), 1024 * 1024);
    EXPECT_EQ(parse_size("5GB"), 5'000'000'000LL);
    EXPECT_EQ(parse_size("-1"), -1);
    EXPECT_THROW(parse_size("1.5GiB"), seamq::Error);
}

TEST(StreamDiff, StorageRetentionAndUnsetDenyAreRefusedWithWhatToDo) {
    nats::StreamConfig current;
    current.name = "SEA_EVENTS";
    current.subjects = {"sea.>"};
    auto desired = current;
    EXPECT_TRUE(diff_stream(current, desired).empty());

    desired.max_age = std::chrono::hours(24);
    desired.replicas = 3;
    auto changes = diff_stream(current, desired);
    ASSERT_EQ(changes.size(), 2u);
    EXPECT_EQ(changes[0].field, "replicas");
    EXPECT_EQ(changes[1].field, "max_age");
    EXPECT_EQ(changes[1].from, "unlimited");
    EXPECT_EQ(changes[1].to, "1d");
    EXPECT_EQ(refusal_reason("SEA_EVENTS", changes), "");

    desired.storage = nats::StorageType::memory;
    const auto reason = refusal_reason("SEA_EVENTS", diff_stream(current, desired));
    EXPECT_NE(reason.find("storage cannot change in place (file -> memory)"), std::string::npos) << reason;
    EXPECT_NE(reason.find("run `streams apply` again"), std::string::npos) << reason;

    desired = current;
    desired.retention = nats::RetentionPolicy::work_queue;
    EXPECT_NE(refusal_reason("X", diff_stream(current, desired)).find("retention"), std::string::npos);
    current.deny_delete = true;
    desired = current;
    desired.deny_delete = false;
    EXPECT_NE(refusal_reason("X", diff_stream(current, desired)).find("deny_delete cannot be turned off"),
              std::string::npos);
}

}  // namespace
}  // namespace seamq::streams
