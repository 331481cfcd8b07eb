// infra/nats/nats.conf itself, run by a real 3-node cluster with the variables every
// environment gives it (ports, store, one password per user): each user can do its job
// and nothing else (docs/security.md, "Accounts and permissions"). Streams are applied
// with the operator user through the real `sea-mq`; the worker is the real
// `sea-mq-worker`, connecting with its user in the URL.
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>

#include "tests/cli/run_sea_mq.hpp"
#include "tests/relay/relay_fixture.hpp"
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"
#include "seamq/nats/pull_consumer.hpp"
#include "seamq/testing/nats_server.hpp"
#include "seamq/testing/postgres_server.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::security {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using cli::test::sea_mq_with_env;

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t count_of(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
        ++count;
    return count;
}

//! A password nats-server reads from the environment as a string: letters and digits,
//! starting with a letter (nats.conf says why).
std::string make_password() {
    static constexpr std::string_view letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    static constexpr std::string_view alphanumerics =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::random_device device;
    std::string password(1, letters[device() % letters.size()]);
    for (int i = 0; i < 31; ++i) password += alphanumerics[device() % alphanumerics.size()];
    return password;
}

//! The users of nats.conf and the variables holding their passwords.
const std::map<std::string, std::string>& password_variables() {
    static const std::map<std::string, std::string> variables = {
        {"monitor", "NATS_MONITOR_PASSWORD"},
        {"federation", "NATS_FEDERATION_PASSWORD"},
        {"operator", "NATS_OPERATOR_PASSWORD"},
        {"worker-sea", "NATS_WORKER_SEA_PASSWORD"},
        {"worker-vibespro", "NATS_WORKER_VIBESPRO_PASSWORD"},
        {"worker-governance", "NATS_WORKER_GOVERNANCE_PASSWORD"},
        {"service-sea", "NATS_SERVICE_SEA_PASSWORD"},
        {"service-vibespro", "NATS_SERVICE_VIBESPRO_PASSWORD"},
        {"service-governance", "NATS_SERVICE_GOVERNANCE_PASSWORD"},
    };
    return variables;
}

//! Three nodes running infra/nats/nats.conf on free loopback ports (the file's cluster
//! block needs peers: one node alone never elects a meta leader).
class Cluster {
public:
    Cluster() {
        for (const auto& [user, variable] : password_variables()) passwords_[user] = make_password();
        std::vector<unsigned short> cluster_ports;
        for (int i = 0; i < 3; ++i) cluster_ports.push_back(testing::free_port());
        std::string routes;
        for (const auto port : cluster_ports)
            routes += fmt::format("{}nats://127.0.0.1:{}", routes.empty() ? "" : ", ", port);
        for (int i = 0; i < 3; ++i) {
            testing::NatsServer::Options options;
            options.server_name = fmt::format("nats-{}", i + 1);
            options.cluster_port = cluster_ports[static_cast<std::size_t>(i)];
            options.wait_for_health = false;  // healthy only once the three elected a meta leader
            options.config_file = testing::source_dir() / "infra/nats/nats.conf";
            options.environment = [this, routes](const testing::NatsServer& node) {
                std::map<std::string, std::string> env = {
                    {"NATS_SERVER_NAME", node.name()},
                    {"NATS_HOST", "127.0.0.1"},
                    {"NATS_CLIENT_PORT", std::to_string(node.port())},
                    {"NATS_MONITOR_PORT", std::to_string(node.monitor_port())},
                    {"NATS_CLUSTER_PORT", std::to_string(node.cluster_port())},
                    {"NATS_CLUSTER_ROUTES", "[" + routes + "]"},
                    {"NATS_STORE_DIR", node.store_dir().string()},
                    // Not federated: its own domain, a leafnode port nobody uses, no remotes.
                    {"NATS_CLUSTER_NAME", "sea-nats"},
                    {"NATS_JETSTREAM_DOMAIN", "hub"},
                    {"NATS_LEAFNODE_PORT", std::to_string(testing::free_port())},
                    {"NATS_LEAFNODE_REMOTES", "[]"},
                };
                for (const auto& [user, variable] : password_variables()) env[variable] = passwords_.at(user);
                return env;
            };
            nodes_.push_back(std::make_unique<testing::NatsServer>(std::move(options)));
        }
        for (auto& node : nodes_) node->wait_healthy(60s);
    }

    testing::NatsServer& node(std::size_t index) { return *nodes_.at(index); }
    const std::string& password(const std::string& user) const { return passwords_.at(user); }

    //! Every node's URL with `user`'s name and password, comma-separated.
    std::string url(const std::string& user) const {
        std::string urls;
        for (const auto& node : nodes_)
            urls += fmt::format("{}nats://{}:{}@127.0.0.1:{}", urls.empty() ? "" : ",", user,
                                passwords_.at(user), node->port());
        return urls;
    }
    //! Every node's URL without credentials.
    std::string anonymous_url() const {
        std::string urls;
        for (const auto& node : nodes_)
            urls += fmt::format("{}nats://127.0.0.1:{}", urls.empty() ? "" : ",", node->port());
        return urls;
    }
    std::string server_logs() const {
        std::string logs;
        for (const auto& node : nodes_) logs += read_file(node->log_file());
        return logs;
    }

    //! `sea-mq <arguments> --nats <operator URL>`: the CLI as the operator runs it.
    cli::test::CommandResult operator_cli(std::vector<std::string> arguments) const {
        arguments.insert(arguments.end(), {"--nats", url("operator")});
        return sea_mq_with_env({}, arguments);
    }

    void apply_streams() const {
        const auto result = operator_cli(
            {"streams", "apply", "--file", (testing::source_dir() / "config/streams.yaml").string()});
        ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
        for (const auto* stream : {"SEA_EVENTS", "SEA_DLQ", "VIBESPRO_EVENTS", "VIBESPRO_DLQ",
                                   "GOVERNANCE_EVENTS", "GOVERNANCE_DLQ"})
            EXPECT_NE(result.out.find(std::string(stream) + ": created"), std::string::npos) << result.out;
    }

private:
    std::map<std::string, std::string> passwords_;
    std::vector<std::unique_ptr<testing::NatsServer>> nodes_;
};

//! A connection as one user, keeping every asynchronous error nats.c reports (that is
//! where the server's "Permissions Violation" arrives).
class Client {
public:
    //! `inbox_prefix`: the one nats.conf lets the user subscribe to (workers and services).
    Client(const std::string& urls, const std::string& name, const std::string& inbox_prefix = "") {
        auto options = nats::ConnectionOptions::from_urls(urls, name);
        options.max_reconnect = 0;
        options.inbox_prefix = inbox_prefix;
        options.on_event = [this](nats::ConnectionEvent event, const std::string& detail) {
            if (event != nats::ConnectionEvent::error) return;
            std::lock_guard lock(mutex_);
            errors_.push_back(detail);
        };
        connection_ = std::make_unique<nats::Connection>(std::move(options));
        nats::JetStreamOptions js_options;
        // A refused API request is never answered: it ends on this timeout.
        js_options.api_timeout = 1500ms;
        js_options.publish_timeout = 1500ms;
        jetstream_ = std::make_unique<nats::JetStream>(*connection_, js_options);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    nats::Connection& connection() { return *connection_; }
    nats::JetStream& jetstream() { return *jetstream_; }

    std::vector<std::string> errors() const {
        std::lock_guard lock(mutex_);
        return errors_;
    }
    std::string all_errors() const {
        std::string text;
        for (const auto& error : errors()) text += error + "\n";
        return text;
    }
    //! Waits (bounded) for the server's violation of `operation` ("Publish to" or
    //! "Subscription to") on `subject`, as nats.c reports it.
    bool refused(const std::string& operation, const std::string& subject) const {
        const auto wanted = fmt::format("Permissions Violation for {} \"{}\"", operation, subject);
        return testing::wait_until(
            [&] {
                const auto seen = errors();
                return std::any_of(seen.begin(), seen.end(), [&](const std::string& error) {
                    return error.find(wanted) != std::string::npos;
                });
            },
            5s, 20ms);
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> errors_;
    std::unique_ptr<nats::Connection> connection_;
    std::unique_ptr<nats::JetStream> jetstream_;
};

nats::OutgoingMessage event(const std::string& subject, const std::string& id) {
    nats::OutgoingMessage message;
    message.subject = subject;
    message.message_id = id;
    message.payload = fmt::format(
        R"({{"specversion":"1.0","id":"{}","source":"/tests/security","type":"{}","subject":"k","data":{{}}}})",
        id, subject);
    return message;
}

//! Runs `call` (a JetStream API call the user may not make) and returns how it failed:
//! the nats.c status text, or "succeeded".
template <typename Call>
std::string failure_of(Call&& call) {
    try {
        call();
        return "succeeded";
    } catch (const nats::NatsError& error) {
        return natsStatus_GetText(static_cast<natsStatus>(error.status()));
    }
}

TEST(Accounts, NobodyConnectsWithoutAUserOrWithAnotherUsersPassword) {
    Cluster cluster;
    EXPECT_THROW(nats::Connection(nats::ConnectionOptions::from_urls(cluster.anonymous_url())),
                 nats::NatsError);
    const auto wrong = fmt::format("nats://worker-sea:{}@127.0.0.1:{}", cluster.password("worker-vibespro"),
                                   cluster.node(0).port());
    try {
        nats::Connection connection(nats::ConnectionOptions::from_urls(wrong));
        ADD_FAILURE() << "worker-sea connected with worker-vibespro's password";
    } catch (const nats::NatsError& error) {
        EXPECT_NE(std::string(error.what()).find("Authorization Violation"), std::string::npos)
            << error.what();
        // The message names the URL without its password.
        EXPECT_EQ(std::string(error.what()).find(cluster.password("worker-vibespro")), std::string::npos)
            << error.what();
    }
    // The servers log both refusals; the second names the user.
    const auto logs = cluster.server_logs();
    EXPECT_GE(count_of(logs, "authentication error"), 2U) << logs;
    EXPECT_NE(logs.find("authentication error - User \"worker-sea\""), std::string::npos) << logs;
}

TEST(Accounts, TheWorkerOfSeaCannotPublishToVibesproNorReadItsStream) {
    Cluster cluster;
    cluster.apply_streams();
    // Something to read: one vibespro event, and a vibespro consumer (both by the operator).
    Client operator_client(cluster.url("operator"), "security-itest operator");
    auto& operator_js = operator_client.jetstream();
    operator_js.publish(event("vibespro.event.plan-approved.v1", "vibespro-1"));
    nats::ConsumerConfig projector;
    projector.durable_name = "vibespro-projector";
    operator_js.add_consumer("VIBESPRO_EVENTS", projector);

    Client worker(cluster.url("worker-sea"), "security-itest worker-sea", "_INBOX_worker-sea");
    auto& js = worker.jetstream();
    // Its own stream answers: the refusals below are about vibespro, not a broken connection.
    ASSERT_TRUE(js.stream_info("SEA_EVENTS").has_value());
    EXPECT_TRUE(worker.errors().empty()) << worker.all_errors();

    // Publishing: core and JetStream. The server drops the message and says why; a
    // JetStream publish waits for a PubAck that never comes.
    worker.connection().publish("vibespro.event.plan-approved.v1", "{}");
    worker.connection().flush();
    EXPECT_TRUE(worker.refused("Publish to", "vibespro.event.plan-approved.v1")) << worker.all_errors();
    EXPECT_EQ(failure_of([&] { js.publish(event("vibespro.event.plan-approved.v1", "from-sea")); }),
              "Timeout");

    // Reading: stream info, a message by sequence, a consumer of its own, the existing one.
    EXPECT_EQ(failure_of([&] { js.stream_info("VIBESPRO_EVENTS"); }), "Timeout");
    EXPECT_TRUE(worker.refused("Publish to", "$JS.API.STREAM.INFO.VIBESPRO_EVENTS")) << worker.all_errors();
    EXPECT_EQ(failure_of([&] { js.get_message("VIBESPRO_EVENTS", 1); }), "Timeout");
    EXPECT_TRUE(worker.refused("Publish to", "$JS.API.STREAM.MSG.GET.VIBESPRO_EVENTS"))
        << worker.all_errors();
    nats::ConsumerConfig spy;
    spy.durable_name = "sea-spy";
    EXPECT_EQ(failure_of([&] { js.add_consumer("VIBESPRO_EVENTS", spy); }), "Timeout");
    EXPECT_TRUE(worker.refused("Publish to", "$JS.API.CONSUMER.DURABLE.CREATE.VIBESPRO_EVENTS.sea-spy"))
        << worker.all_errors();
    EXPECT_EQ(failure_of([&] { js.consumer_info("VIBESPRO_EVENTS", "vibespro-projector"); }), "Timeout");
    nats::PullConsumer pull(js, "VIBESPRO_EVENTS", "vibespro-projector");
    EXPECT_TRUE(pull.fetch(1, 500ms).empty());
    EXPECT_TRUE(worker.refused("Publish to", "$JS.API.CONSUMER.MSG.NEXT.VIBESPRO_EVENTS.vibespro-projector"))
        << worker.all_errors();
    // Plain subscriptions to vibespro's subjects.
    auto subscription = worker.connection().subscribe_sync("vibespro.>");
    worker.connection().flush();
    EXPECT_TRUE(worker.refused("Subscription to", "vibespro.>")) << worker.all_errors();
    EXPECT_FALSE(subscription.next(300ms).has_value());
    // Nor overhear the replies of others (pulled vibespro messages travel as replies): only
    // its own inbox prefix is open to it.
    auto overhear = worker.connection().subscribe_sync("_INBOX.>");
    worker.connection().flush();
    EXPECT_TRUE(worker.refused("Subscription to", "_INBOX.>")) << worker.all_errors();

    // Nothing happened to vibespro: one message, still undelivered to its consumer, no
    // consumer of the worker's.
    const auto stream = operator_js.stream_info("VIBESPRO_EVENTS");
    ASSERT_TRUE(stream.has_value());
    EXPECT_EQ(stream->state.messages, 1U);
    EXPECT_EQ(stream->state.consumers, 1U);
    const auto consumer = operator_js.consumer_info("VIBESPRO_EVENTS", "vibespro-projector");
    ASSERT_TRUE(consumer.has_value());
    EXPECT_EQ(consumer->delivered.stream_sequence, 0U);
    EXPECT_EQ(consumer->num_pending, 1U);
    // vibespro's own worker pulls it; the reply carrying it is not worker-sea's to read.
    Client vibespro_worker(cluster.url("worker-vibespro"), "security-itest worker-vibespro",
                           "_INBOX_worker-vibespro");
    nats::PullConsumer vibespro_pull(vibespro_worker.jetstream(), "VIBESPRO_EVENTS", "vibespro-projector");
    const auto pulled = vibespro_pull.fetch(1, 5s);
    ASSERT_EQ(pulled.size(), 1U) << vibespro_worker.all_errors();
    EXPECT_FALSE(overhear.next(500ms).has_value()) << "worker-sea read a reply meant for worker-vibespro";
    EXPECT_TRUE(vibespro_worker.errors().empty()) << vibespro_worker.all_errors();
    // The servers logged each refusal against the user.
    const auto logs = cluster.server_logs();
    for (
        const auto* line :
        {R"(Publish Violation - User "worker-sea", Subject "vibespro.event.plan-approved.v1")",
         R"(Publish Violation - User "worker-sea", Subject "$JS.API.STREAM.INFO.VIBESPRO_EVENTS")",
         R"(Publish Violation - User "worker-sea", Subject "$JS.API.CONSUMER.MSG.NEXT.VIBESPRO_EVENTS.vibespro-projector")",
         R"(Subscription Violation - User "worker-sea", Subject "vibespro.>")",
         R"(Subscription Violation - User "worker-sea", Subject "_INBOX.>")"})
        EXPECT_NE(logs.find(line), std::string::npos) << line;
    EXPECT_TRUE(operator_client.errors().empty()) << operator_client.all_errors();
}

// A worker config for context `sea` run as user worker-sea: the sea relay, a projector
// applying each event once, and a consumer that refuses everything (dead letters).
struct SeaWorker {
    testing::TempDir dir{"security-worker"};
    unsigned short admin_port = testing::free_port();
    fs::path config_file = dir.path() / "worker.yaml";
    fs::path log_file = dir.path() / "worker.log";

    explicit SeaWorker(const std::string& nats_urls) {
        std::ofstream(config_file) << "nats:\n"
                                   << "  servers: [" << nats_urls << "]\n"
                                   << "  inbox_prefix: _INBOX_worker-sea\n"
                                   << "admin:\n"
                                   << "  listen: 127.0.0.1:" << admin_port << "\n"
                                   << "log:\n"
                                   << "  level: debug\n"
                                   << "streams_file: "
                                   << (testing::source_dir() / "config/streams.yaml").string() << "\n"
                                   << "shutdown_deadline: 10s\n"
                                   << "contexts:\n"
                                   << "  - name: sea\n"
                                   << "    database:\n"
                                   << "      url: ${SEA_DATABASE_URL}\n"
                                   << "    relay:\n"
                                   << "      enabled: true\n"
                                   << "      poll_interval: 200ms\n"
                                   << "consumers:\n"
                                   << "  - name: sea-projector\n"
                                   << "    context: sea\n"
                                   << "    stream: SEA_EVENTS\n"
                                   << "    handler:\n"
                                   << "      kind: sql\n"
                                   << "      function: apply_effect\n"
                                   << "  - name: sea-refuser\n"
                                   << "    context: sea\n"
                                   << "    stream: SEA_EVENTS\n"
                                   << "    filter_subject: sea.event.refused.v1\n"
                                   << "    handler:\n"
                                   << "      kind: sql\n"
                                   << "      function: refuse\n";
    }
};

int ready_status(unsigned short port, std::string* body) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2s);
    client.set_read_timeout(10s);
    auto response = client.Get("/readyz");
    if (!response) return 0;
    *body = response->body;
    return response->status;
}

TEST(Accounts, TheWorkerOfSeaDoesItsWholeJobWithItsUserAndNoViolation) {
    Cluster cluster;
    cluster.apply_streams();
    testing::PostgresServer postgres;
    const auto database = postgres.create_database("sea");
    relay::testing::apply_migrations(database);
    postgres.query_value(
        "CREATE TABLE effects (id text NOT NULL); "
        "CREATE FUNCTION apply_effect(envelope jsonb) RETURNS void LANGUAGE sql AS "
        "$$ INSERT INTO effects VALUES (envelope ->> 'id') $$; "
        "CREATE FUNCTION refuse(envelope jsonb) RETURNS void LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused' USING ERRCODE = 'SQ100'; END $$; SELECT 1",
        "sea");

    SeaWorker setup(cluster.url("worker-sea"));
    testing::ChildProcess worker(
        {.argv = {(testing::bin_dir() / "sea-mq-worker").string(), "--config", setup.config_file.string()},
         .log_file = setup.log_file,
         .run_as_user = std::nullopt,
         .env = {{"SEA_DATABASE_URL", postgres.url("sea")}},
         .working_directory = {}});
    std::string ready;
    ASSERT_TRUE(testing::wait_until([&] { return ready_status(setup.admin_port, &ready) == 200; }, 30s))
        << ready << "\n"
        << read_file(setup.log_file);
    // Ready on its own streams; the other contexts' are not its business.
    EXPECT_NE(ready.find("present: SEA_DLQ, SEA_EVENTS\""), std::string::npos) << ready;

    constexpr int events = 300;
    constexpr int refused = 5;
    relay::testing::enqueue_events(postgres.connection_string("sea"), "order-", 0, events, 10);
    relay::testing::enqueue_events(postgres.connection_string("sea"), "refused-", 0, refused, 1,
                                   "sea.event.refused.v1");
    ASSERT_TRUE(testing::wait_until(
        [&] {
            return postgres.query_value("SELECT count(*) FROM effects", "sea") ==
                   std::to_string(events + refused);
        },
        60s))
        << read_file(setup.log_file);
    Client service(cluster.url("operator"), "security-itest operator");
    ASSERT_TRUE(testing::wait_until(
        [&] {
            const auto dlq = service.jetstream().stream_info("SEA_DLQ");
            return dlq && dlq->state.messages == static_cast<std::uint64_t>(refused);
        },
        30s))
        << read_file(setup.log_file);
    EXPECT_EQ(relay::testing::count_rows(postgres.connection_string("sea"), "status = 'published'"),
              events + refused);

    worker.signal(SIGTERM);
    const auto status = worker.wait_for_exit(20s);
    ASSERT_TRUE(status.has_value()) << read_file(setup.log_file);
    EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << read_file(setup.log_file);

    // Relayed once each, applied once each (the projector reads every sea event).
    const auto stream = relay::testing::read_stream(service.jetstream(), "SEA_EVENTS");
    EXPECT_EQ(stream.size(), static_cast<std::size_t>(events + refused));
    relay::testing::expect_exactly_once(stream, "order-", 0, events);
    relay::testing::expect_exactly_once(stream, "refused-", 0, refused);
    EXPECT_EQ(postgres.query_value("SELECT count(DISTINCT id) FROM effects", "sea"),
              std::to_string(events + refused));

    const auto log = read_file(setup.log_file);
    EXPECT_EQ(count_of(log, "Permissions Violation"), 0U) << log;
    EXPECT_EQ(count_of(log, "Not Permitted"), 0U) << log;
    EXPECT_EQ(count_of(log, "NATS asynchronous error"), 0U) << log;
    EXPECT_EQ(count_of(log, cluster.password("worker-sea")), 0U) << "the worker logged its NATS password";
    EXPECT_NE(log.find("connected to NATS at nats://worker-sea:***@127.0.0.1:"), std::string::npos) << log;
    const auto logs = cluster.server_logs();  // "Publish Violation - User ..." when refused
    EXPECT_EQ(count_of(logs, "Violation"), 0U) << logs;
    EXPECT_EQ(count_of(logs, "authentication error"), 0U) << logs;
}

TEST(Accounts, TheServiceOfSeaReadsItsStreamButCannotPublishToIt) {
    Cluster cluster;
    cluster.apply_streams();
    Client operator_client(cluster.url("operator"), "security-itest operator");
    for (int i = 0; i < 20; ++i)
        operator_client.jetstream().publish(event("sea.event.order-placed.v1", fmt::format("order-{}", i)));

    Client service(cluster.url("service-sea"), "security-itest service-sea", "_INBOX_service-sea");
    // Reads: plain subscription, stream info, a message by sequence, its own consumer.
    auto live = service.connection().subscribe_sync("sea.>");
    service.connection().flush();
    const auto info = service.jetstream().stream_info("SEA_EVENTS");
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->state.messages, 20U);
    const auto first = service.jetstream().get_message("SEA_EVENTS", 1);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->subject(), "sea.event.order-placed.v1");
    const auto read = relay::testing::read_stream(service.jetstream(), "SEA_EVENTS");
    relay::testing::expect_exactly_once(read, "order-", 0, 20);
    EXPECT_TRUE(service.errors().empty()) << service.all_errors();

    // An event the operator publishes now reaches the service's plain subscription.
    operator_client.jetstream().publish(event("sea.event.order-placed.v1", "order-live"));
    const auto seen = live.next(5s);
    ASSERT_TRUE(seen.has_value());
    EXPECT_EQ(seen->message_id(), "order-live");

    // Writes: refused, core and JetStream alike; the stream keeps its 21 messages.
    service.connection().publish("sea.event.order-placed.v1", "{}");
    service.connection().flush();
    EXPECT_TRUE(service.refused("Publish to", "sea.event.order-placed.v1")) << service.all_errors();
    EXPECT_EQ(failure_of([&] { service.jetstream().publish(event("sea.event.order-placed.v1", "forged")); }),
              "Timeout");
    // Nor may it touch the dead letters or delete messages.
    EXPECT_EQ(failure_of([&] { service.jetstream().stream_info("SEA_DLQ"); }), "Timeout");
    EXPECT_TRUE(service.refused("Publish to", "$JS.API.STREAM.INFO.SEA_DLQ")) << service.all_errors();
    EXPECT_EQ(failure_of([&] { service.jetstream().purge_stream("SEA_EVENTS"); }), "Timeout");
    EXPECT_TRUE(service.refused("Publish to", "$JS.API.STREAM.PURGE.SEA_EVENTS")) << service.all_errors();
    const auto after = operator_client.jetstream().stream_info("SEA_EVENTS");
    ASSERT_TRUE(after.has_value());
    EXPECT_EQ(after->state.messages, 21U);
}

TEST(Accounts, TheOperatorRunsTheCliAndTheMonitorSeesTheServers) {
    Cluster cluster;
    cluster.apply_streams();
    // Applying again changes nothing; status, dead letters and tail work as the operator.
    const auto again = cluster.operator_cli(
        {"streams", "apply", "--file", (testing::source_dir() / "config/streams.yaml").string()});
    EXPECT_EQ(again.exit_code, 0) << again.err;
    const auto status = cluster.operator_cli({"streams", "status"});
    EXPECT_EQ(status.exit_code, 0) << status.err;
    EXPECT_NE(status.out.find("GOVERNANCE_EVENTS"), std::string::npos) << status.out;
    const auto dlq = cluster.operator_cli({"dlq", "list", "--context", "vibespro"});
    EXPECT_EQ(dlq.exit_code, 0) << dlq.out << dlq.err;
    testing::TempDir dir("security-tail");
    testing::ChildProcess tail(
        {.argv = {(testing::bin_dir() / "sea-mq").string(), "tail", "governance.>", "--nats",
                  cluster.url("operator"), "--count", "1", "--timeout", "20s", "--output", "json"},
         .log_file = dir.path() / "tail.log",
         .run_as_user = std::nullopt,
         .env = {},
         .working_directory = {}});
    ASSERT_TRUE(testing::wait_until(
        [&] { return read_file(dir.path() / "tail.log").find("following") != std::string::npos; }, 10s))
        << read_file(dir.path() / "tail.log");
    Client operator_client(cluster.url("operator"), "security-itest operator");
    operator_client.jetstream().publish(event("governance.event.decision-made.v1", "decision-1"));
    const auto tail_status = tail.wait_for_exit(20s);
    ASSERT_TRUE(tail_status.has_value());
    EXPECT_EQ(testing::ChildProcess::exit_code(*tail_status), 0) << read_file(dir.path() / "tail.log");
    EXPECT_NE(read_file(dir.path() / "tail.log").find("decision-1"), std::string::npos);
    EXPECT_EQ(read_file(dir.path() / "tail.log").find(cluster.password("operator")), std::string::npos)
        << "sea-mq tail printed the operator's password";

    // The monitor, in the system account, asks every server for its /varz over NATS.
    Client monitor(cluster.url("monitor"), "security-itest monitor");
    auto replies = monitor.connection().subscribe_sync("_INBOX.security-itest.>");
    ASSERT_EQ(natsConnection_PublishRequestString(monitor.connection().native(), "$SYS.REQ.SERVER.PING.VARZ",
                                                  "_INBOX.security-itest.varz", ""),
              NATS_OK);
    std::set<std::string> servers;
    while (servers.size() < 3) {
        auto reply = replies.next(5s);
        if (!reply) break;
        const auto body = nlohmann::json::parse(reply->payload(), nullptr, false);
        if (body.contains("server")) servers.insert(body["server"].value("name", ""));
    }
    EXPECT_EQ(servers, (std::set<std::string>{"nats-1", "nats-2", "nats-3"}));
    // ... but may not change the cluster: the system JetStream API is not its.
    monitor.connection().publish("$JS.API.META.LEADER.STEPDOWN", "");
    monitor.connection().flush();
    EXPECT_TRUE(monitor.refused("Publish to", "$JS.API.META.LEADER.STEPDOWN")) << monitor.all_errors();
    // An application user has no $SYS at all: its account has no such subjects' answers.
    Client worker(cluster.url("worker-sea"), "security-itest worker-sea", "_INBOX_worker-sea");
    worker.connection().publish("$SYS.REQ.SERVER.PING.VARZ", "");
    worker.connection().flush();
    EXPECT_TRUE(worker.refused("Publish to", "$SYS.REQ.SERVER.PING.VARZ")) << worker.all_errors();
}

}  // namespace
}  // namespace seamq::security
