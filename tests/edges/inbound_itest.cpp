// The inbound edge in the real sea-mq-worker against a real nats-server and PostgreSQL:
// every documented answer of POST /v1/inbound/{partner} (accepted, replayed, tampered,
// stale, future, wrong secret, rotated secret, too large, bad payload, unknown partner),
// the command it becomes (outbox row, relayed to JetStream, correlation id = webhook-id),
// and a database outage answered 503 without losing or doubling anything.
#include <chrono>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "seamq/edges/webhook_signature.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/streams/stream_manager.hpp"
#include "seamq/streams/streams_config.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::edges {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string current_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const std::string next_secret = WebhookSecret::generate().to_string();

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct Reply {
    int status = 0;  // 0: no answer
    nlohmann::json body;
    std::string retry_after;
};

// A worker with context `integration` (relay on) and partner `acme` (secrets current and
// next, ordering key /shipment/id, 4 KiB bodies at most).
class InboundEdge : public ::testing::Test {
protected:
    void SetUp() override {
        postgres.create_database("integration");
        {
            postgres::Connection connection(postgres.url("integration"));
            postgres::migrate(connection, postgres::embedded_migrations());
        }
        std::ofstream(dir.path() / "streams.yaml") << "contexts:\n  - name: integration\n";
        nats::Connection connection(nats::ConnectionOptions::from_urls(nats.url(), "inbound-itest"));
        nats::JetStream jetstream(connection);
        streams::StreamManager(jetstream).apply(streams::load_streams_config(dir.path() / "streams.yaml"));
        std::ofstream(config_file) << "nats:\n"
                                   << "  servers: [" << nats.url() << "]\n"
                                   << "admin:\n"
                                   << "  listen: 127.0.0.1:" << admin_port << "\n"
                                   << "log:\n  level: debug\n"
                                   << "streams_file: streams.yaml\n"
                                   << "shutdown_deadline: 5s\n"
                                   << "contexts:\n"
                                   << "  - name: integration\n"
                                   << "    database:\n"
                                   << "      url: ${INTEGRATION_DATABASE_URL}\n"
                                   << "      connect_timeout: 2s\n"
                                   << "    relay:\n"
                                   << "      poll_interval: 200ms\n"
                                   << "      published_rows: keep\n"  // the commands' rows are read below
                                   << "inbound:\n"
                                   << "  enabled: true\n"
                                   << "  listen: 127.0.0.1:" << inbound_port << "\n"
                                   << "  deliveries_retention: 1d\n"
                                   << "  retention_interval: 300ms\n"
                                   << "  contracts_dir: "
                                   << (testing::source_dir() / "schemas/events").string() << "\n"
                                   << "  partners:\n"
                                   << "    - name: acme\n"
                                   << "      command: integration.command.partner-signal.v1\n"
                                   << "      secrets:\n"
                                   << "        current: ${ACME_CURRENT}\n"
                                   << "        next: {file: next.secret}\n"
                                   << "      subject_pointer: /shipment/id\n"
                                   << "      max_body_bytes: 4KiB\n";
        std::ofstream(dir.path() / "next.secret") << next_secret << "\n";
        start_worker();
    }

    void start_worker() {
        worker = testing::ChildProcess(
            {.argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config", config_file.string()},
             .log_file = log_file,
             .run_as_user = std::nullopt,
             .env = {{"INTEGRATION_DATABASE_URL", postgres.url("integration")},
                     {"ACME_CURRENT", current_secret}},
             .working_directory = {}});
        httplib::Client admin("127.0.0.1", admin_port);
        admin.set_connection_timeout(1s);
        ASSERT_TRUE(testing::wait_until(
            [&] {
                const auto response = admin.Get("/readyz");
                return response && response->status == 200;
            },
            20s))
            << read_file(log_file);
    }

    Reply post(const std::string& partner, const std::string& body, const httplib::Headers& headers) {
        httplib::Client client("127.0.0.1", inbound_port);
        client.set_connection_timeout(2s);
        client.set_read_timeout(10s);
        const auto response =
            client.Post(("/v1/inbound/" + partner).c_str(), headers, body, "application/json");
        if (!response) return {};
        return {response->status, nlohmann::json::parse(response->body, nullptr, false),
                response->get_header_value("Retry-After")};
    }

    //! Signed with `secrets` at `timestamp` (now by default).
    Reply deliver(const std::string& id, const std::string& body, const std::vector<std::string>& secrets,
                  std::optional<std::int64_t> timestamp = std::nullopt, const std::string& partner = "acme") {
        const auto at = timestamp.value_or(unix_now());
        std::vector<WebhookSecret> keys;
        for (const auto& secret : secrets) keys.push_back(WebhookSecret::parse(secret));
        return post(partner, body,
                    {{"webhook-id", id},
                     {"webhook-timestamp", std::to_string(at)},
                     {"webhook-signature", signature_header(keys, id, at, body)}});
    }

    std::string query(const std::string& sql) { return postgres.query_value(sql, "integration"); }
    std::string commands_with_correlation(const std::string& id) {
        return query("SELECT count(*) FROM seamq.outbox_events WHERE envelope->>'correlationid' = '" + id +
                     "'");
    }

    testing::NatsServer nats;
    testing::PostgresServer postgres;
    testing::TempDir dir{"inbound"};
    fs::path config_file = dir.path() / "worker.yaml";
    fs::path log_file = dir.path() / "worker.log";
    unsigned short admin_port = testing::free_port();
    unsigned short inbound_port = testing::free_port();
    testing::ChildProcess worker;
};

TEST_F(InboundEdge, EachDeliveryGetsItsDocumentedAnswerAndOnlyAcceptedOnesBecomeCommands) {
    const std::string body = R"({"shipment": {"id": "SH-1", "status": "delivered"}})";

    // Accepted: 202 after the outbox commit; the relay publishes it (PubAck recorded).
    const auto accepted = deliver("msg_accepted_1", body, {current_secret});
    ASSERT_EQ(accepted.status, 202) << accepted.body.dump() << read_file(log_file);
    EXPECT_EQ(accepted.body["status"], "accepted");
    const auto event_id = accepted.body["event_id"].get<std::string>();
    const auto row = nlohmann::json::parse(
        query("SELECT envelope FROM seamq.outbox_events WHERE id = '" + event_id + "'"));
    EXPECT_EQ(row["type"], "integration.command.partner-signal.v1");
    EXPECT_EQ(row["source"], "/partners/acme");
    EXPECT_EQ(row["subject"], "SH-1");
    EXPECT_EQ(row["correlationid"], "msg_accepted_1");
    EXPECT_EQ(row["data"]["partner"], "acme");
    EXPECT_EQ(row["data"]["signal_id"], "msg_accepted_1");
    EXPECT_EQ(row["data"]["payload"], nlohmann::json::parse(body));
    EXPECT_TRUE(testing::wait_until(
        [&] {
            return query("SELECT status FROM seamq.outbox_events WHERE id = '" + event_id + "'") ==
                   "published";
        },
        10s))
        << read_file(log_file);

    // Replayed id: 2xx duplicate naming the first event; nothing new is stored.
    const auto replay = deliver("msg_accepted_1", body, {current_secret});
    EXPECT_EQ(replay.status, 200) << replay.body.dump();
    EXPECT_EQ(replay.body["status"], "duplicate");
    EXPECT_EQ(replay.body["event_id"], event_id);
    EXPECT_EQ(commands_with_correlation("msg_accepted_1"), "1");

    // Rotation: the new secret alone, and a sender signing with an unknown and the new one.
    const auto rotated = deliver("msg_rotated_1", body, {next_secret});
    EXPECT_EQ(rotated.status, 202) << rotated.body.dump();
    const auto both = deliver("msg_rotated_2", body, {WebhookSecret::generate().to_string(), next_secret});
    EXPECT_EQ(both.status, 202) << both.body.dump();

    // Refusals: 401 with the reason, nothing stored.
    const auto now = unix_now();
    {
        const std::string id = "msg_tampered";
        const auto signature = signature_header({WebhookSecret::parse(current_secret)}, id, now, body);
        const auto tampered = post("acme", R"({"shipment": {"id": "SH-1", "status": "lost"}})",
                                   {{"webhook-id", id},
                                    {"webhook-timestamp", std::to_string(now)},
                                    {"webhook-signature", signature}});
        EXPECT_EQ(tampered.status, 401) << tampered.body.dump();
        EXPECT_EQ(tampered.body["reason"], "no_matching_signature");
    }
    const auto stale = deliver("msg_stale", body, {current_secret}, now - 301);
    EXPECT_EQ(stale.status, 401);
    EXPECT_EQ(stale.body["reason"], "timestamp_too_old");
    const auto future = deliver("msg_future", body, {current_secret}, now + 301);
    EXPECT_EQ(future.status, 401);
    EXPECT_EQ(future.body["reason"], "timestamp_too_new");
    const auto wrong = deliver("msg_wrong", body, {WebhookSecret::generate().to_string()});
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(wrong.body["reason"], "no_matching_signature");
    const auto unsigned_delivery = post("acme", body, {{"webhook-id", "msg_unsigned"}});
    EXPECT_EQ(unsigned_delivery.status, 401);
    EXPECT_EQ(unsigned_delivery.body["reason"], "missing_header");
    // A refused delivery leaves its id free: the correctly signed retry is accepted.
    EXPECT_EQ(deliver("msg_stale", body, {current_secret}).status, 202);

    // 413 above the partner's limit (4 KiB), 400 for what is not JSON or lacks the key,
    // 404 for a partner nobody configured.
    const auto large =
        deliver("msg_large", R"({"shipment": {"id": "SH-2", "x": ")" + std::string(5000, 'x') + R"("}})",
                {current_secret});
    EXPECT_EQ(large.status, 413) << large.body.dump();
    EXPECT_EQ(large.body["error"], "too_large");
    const auto not_json = deliver("msg_not_json", "shipment=SH-3", {current_secret});
    EXPECT_EQ(not_json.status, 400);
    EXPECT_EQ(not_json.body["error"], "bad_payload");
    const auto no_key = deliver("msg_no_key", R"({"order": 7})", {current_secret});
    EXPECT_EQ(no_key.status, 400);
    EXPECT_NE(no_key.body["message"].get<std::string>().find("/shipment/id"), std::string::npos)
        << no_key.body.dump();
    const auto stranger = deliver("msg_stranger", body, {current_secret}, std::nullopt, "globex");
    EXPECT_EQ(stranger.status, 404);
    EXPECT_EQ(stranger.body["error"], "unknown_partner");

    for (const char* id : {"msg_tampered", "msg_future", "msg_wrong", "msg_unsigned", "msg_large",
                           "msg_not_json", "msg_no_key", "msg_stranger"}) {
        EXPECT_EQ(commands_with_correlation(id), "0") << id;
    }
    EXPECT_EQ(query("SELECT count(*) FROM seamq.outbox_events"), "4");
    EXPECT_EQ(query("SELECT count(*) FROM seamq.inbound_deliveries"), "4");
    // Counted by outcome, a label per configured partner only.
    httplib::Client admin("127.0.0.1", admin_port);
    const auto metrics = admin.Get("/metrics");
    ASSERT_TRUE(metrics);
    for (const char* sample :
         {R"(seamq_inbound_requests_total{partner="acme",outcome="accepted"} 4)",
          R"(seamq_inbound_requests_total{partner="acme",outcome="duplicate"} 1)",
          R"(seamq_inbound_requests_total{partner="acme",outcome="invalid_signature"} 5)",
          R"(seamq_inbound_requests_total{partner="acme",outcome="too_large"} 1)",
          R"(seamq_inbound_requests_total{partner="acme",outcome="bad_payload"} 2)",
          R"(seamq_inbound_requests_total{partner="",outcome="unknown_partner"} 1)"}) {
        EXPECT_NE(metrics->body.find(sample), std::string::npos) << sample << "\n" << metrics->body;
    }
    // Secrets stay out of the log.
    const auto log = read_file(log_file);
    EXPECT_EQ(log.find("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string::npos);
    EXPECT_EQ(log.find(next_secret.substr(6)), std::string::npos);
}

TEST_F(InboundEdge, DatabaseOutageAnswers503AndTheRetriedDeliveriesAreStoredOnce) {
    const std::string body = R"({"shipment": {"id": "SH-9"}})";
    ASSERT_EQ(deliver("msg_before", body, {current_secret}).status, 202);

    postgres.stop();
    const auto refused = deliver("msg_during", body, {current_secret});
    EXPECT_EQ(refused.status, 503) << refused.body.dump();
    EXPECT_EQ(refused.body["error"], "not_ready");
    EXPECT_EQ(refused.retry_after, "5");
    postgres.start();

    // The partner retries (same id, new timestamp) until accepted; then once more.
    Reply retried;
    ASSERT_TRUE(testing::wait_until(
        [&] { return (retried = deliver("msg_during", body, {current_secret})).status == 202; }, 15s))
        << retried.body.dump();
    EXPECT_EQ(deliver("msg_during", body, {current_secret}).status, 200);
    EXPECT_EQ(commands_with_correlation("msg_during"), "1");
    EXPECT_EQ(commands_with_correlation("msg_before"), "1");
    EXPECT_TRUE(
        testing::wait_until([&] { return query("SELECT count(*) FROM seamq.outbox_published") == "2"; }, 15s))
        << read_file(log_file);
}

// Retention of the deduplication rows: older than inbound.deliveries_retention they go
// (batch by batch), younger ones stay and a replay within the window is still a duplicate.
TEST_F(InboundEdge, RetentionDeletesOldDeduplicationRowsAndKeepsTheWindow) {
    const std::string body = R"({"shipment": {"id": "SH-9", "status": "delivered"}})";
    const auto recent = deliver("msg_recent", body, {current_secret});
    ASSERT_EQ(recent.status, 202) << recent.body.dump();
    // 2500 rows from 2 days ago (three batches of 1000), one of them a delivery we replay below.
    query(
        "INSERT INTO seamq.inbound_deliveries (partner, webhook_id, event_id, received_at) "
        "SELECT 'acme', 'msg_old_' || n, gen_random_uuid()::text, now() - interval '2 days' "
        "FROM generate_series(1, 2500) AS n");
    query(
        "INSERT INTO seamq.inbound_deliveries (partner, webhook_id, event_id, received_at) VALUES ('acme', "
        "'msg_23h', gen_random_uuid()::text, now() - interval '23 hours')");
    ASSERT_TRUE(testing::wait_until(
        [&] {
            return query("SELECT count(*) FROM seamq.inbound_deliveries WHERE webhook_id LIKE 'msg_old_%'") ==
                   "0";
        },
        20s))
        << read_file(log_file);
    EXPECT_EQ(query("SELECT string_agg(webhook_id, ',' ORDER BY webhook_id) FROM seamq.inbound_deliveries"),
              "msg_23h,msg_recent");

    // Within the window: still a duplicate, nothing appended.
    const auto replay = deliver("msg_recent", body, {current_secret});
    EXPECT_EQ(replay.status, 200) << replay.body.dump();
    EXPECT_EQ(replay.body["status"], "duplicate");
    EXPECT_EQ(commands_with_correlation("msg_recent"), "1");
    EXPECT_EQ(deliver("msg_23h", body, {current_secret}).status, 200);
    // Past it (a partner re-signing a delivery two days later): accepted as new.
    EXPECT_EQ(deliver("msg_old_7", body, {current_secret}).status, 202);

    httplib::Client admin("127.0.0.1", admin_port);
    const auto metrics = admin.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_NE(
        metrics->body.find(
            R"(seamq_edge_retention_deleted_total{context="integration",table="inbound_deliveries"} 2500)"),
        std::string::npos)
        << metrics->body;
}

}  // namespace
}  // namespace seamq::edges
