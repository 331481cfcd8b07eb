// The relay leader's database vanishes without a reset (packets dropped, as in a network
// partition or a dead VM), not a clean kill: a standby must lead within seconds, the old
// leader must stop publishing before it does, and after healing the old leader must come
// back as a standby.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "tests/relay/relay_fixture.hpp"
#include <unistd.h>

#include "seamq/relay/relay.hpp"

namespace seamq::relay::testing {
namespace {

using Clock = std::chrono::steady_clock;

//! Runs `nft` with `arguments`; its output goes to `log`. True on exit code 0.
bool run_nft(const std::vector<std::string>& arguments, const std::filesystem::path& log) {
    std::vector<std::string> argv = {"nft"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    ChildProcess nft(ChildProcess::Options{.argv = argv, .log_file = log});
    const auto status = nft.wait_for_exit(10s);
    return status && ChildProcess::exit_code(*status) == 0;
}

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

//! Drops every TCP packet to and from `address:port` on arrival (input hook: the sender
//! sees no error and no reset, its packets just never arrive), in an nftables table of its
//! own that the destructor deletes, also when the test fails.
class Blackhole {
public:
    Blackhole(const std::string& address, unsigned short port, std::filesystem::path log)
        : table_("seamq_test_blackhole_" + std::to_string(::getpid())), log_(std::move(log)) {
        const std::string port_text = std::to_string(port);
        active_ = run_nft({"add", "table", "ip", table_}, log_);
        active_ = active_ && run_nft({"add", "chain", "ip", table_, "input",
                                      "{ type filter hook input priority -300 ; policy accept ; }"},
                                     log_);
        active_ = active_ && run_nft({"add", "rule", "ip", table_, "input", "ip", "daddr", address, "tcp",
                                      "dport", port_text, "drop"},
                                     log_);
        active_ = active_ && run_nft({"add", "rule", "ip", table_, "input", "ip", "saddr", address, "tcp",
                                      "sport", port_text, "drop"},
                                     log_);
        if (!active_) heal();
    }
    ~Blackhole() { heal(); }
    Blackhole(const Blackhole&) = delete;
    Blackhole& operator=(const Blackhole&) = delete;

    bool active() const { return active_; }
    //! Deletes the table (the chain and rules go with it).
    void heal() {
        if (healed_) return;
        healed_ = true;
        if (!run_nft({"delete", "table", "ip", table_}, log_))
            ADD_FAILURE() << "could not delete nftables table " << table_ << ": " << read_file(log_);
    }

private:
    std::string table_;
    std::filesystem::path log_;
    bool active_ = false;
    bool healed_ = false;
};

//! Runs `action` when it goes out of scope.
struct OnExit {
    explicit OnExit(std::function<void()> on_exit) : action(std::move(on_exit)) {}
    OnExit(const OnExit&) = delete;
    OnExit& operator=(const OnExit&) = delete;
    ~OnExit() { action(); }
    std::function<void()> action;
};

bool nft_available() {
    for (const char* dir : {"/usr/sbin", "/sbin", "/usr/bin", "/bin"}) {
        if (std::filesystem::exists(std::filesystem::path(dir) / "nft")) return true;
    }
    return false;
}

//! The holders of granted relay leadership locks (space 24226), by application_name.
std::vector<std::string> leaders(const std::string& database) {
    postgres::Connection connection(database);
    const auto result = connection.exec(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.classid = 24226 AND l.granted");
    std::vector<std::string> names;
    for (int row = 0; row < result.rows(); ++row) names.emplace_back(result.text(row, 0));
    return names;
}

//! PubAcks a relay received, with their arrival times.
struct PubAckLog {
    std::mutex mutex;
    std::vector<Clock::time_point> at;
    Clock::time_point last() {
        std::lock_guard lock(mutex);
        return at.empty() ? Clock::time_point{} : at.back();
    }
    RelayHooks hooks() {
        RelayHooks hooks;
        hooks.on_published = [this](const std::string&) {
            std::lock_guard lock(mutex);
            at.push_back(Clock::now());
        };
        return hooks;
    }
};

RelayOptions relay_options(const std::string& database, const std::string& name) {
    RelayOptions options;
    options.context = "sea";
    options.database = database;
    options.expected_stream = "SEA_EVENTS";
    options.instance_name = name;
    options.batch_size = 100;
    options.poll_interval = 200ms;
    options.election_interval = 100ms;
    options.publish_timeout = 2000ms;
    options.retry_initial = 50ms;
    options.retry_max = 1000ms;
    return options;
}

TEST(RelayPartitionTest, LeaderCutOffFromTheDatabaseHandsOverWithoutPublishingTwice) {
    if (!nft_available()) GTEST_SKIP() << "nft not found: install the Debian package nftables";
    PostgresServer postgres_server("127.0.0.1,127.0.0.2");
    NatsServer nats_server;
    TempDir logs("relay-partition");
    const std::string database = postgres_server.create_database("orders");
    apply_migrations(database);
    // The leader reaches the database through 127.0.0.2, which the partition cuts off.
    const std::string cut_off_database = "host=127.0.0.2 port=" + std::to_string(postgres_server.port()) +
                                         " user=postgres dbname=orders connect_timeout=5";
    nats::Connection client(nats::ConnectionOptions::from_urls(nats_server.url()));
    nats::JetStream jetstream(client);
    add_stream(jetstream, "SEA_EVENTS", {"sea.>"});  // duplicate window: the default 2 minutes

    nats::Connection nats_a(nats::ConnectionOptions::from_urls(nats_server.url()));
    nats::Connection nats_b(nats::ConnectionOptions::from_urls(nats_server.url()));
    PubAckLog acks_a, acks_b;
    Relay relay_a(relay_options(cut_off_database, "relay-a"), nats_a, acks_a.hooks());
    Relay relay_b(relay_options(database, "relay-b"), nats_b, acks_b.hooks());
    relay_a.start();
    ASSERT_TRUE(wait_until([&] { return relay_a.is_leader(); }, 10s));
    relay_b.start();

    // Steady load: 5 events per transaction, a transaction every 10 ms, over 127.0.0.1.
    std::atomic<bool> producing{true};
    std::atomic<int> committed{0};
    std::thread producer([&] {
        try {
            postgres::Connection connection(database);
            for (int round = 0; producing && round < 20000; ++round) {
                connection.exec(
                    "SELECT count(seamq.enqueue(jsonb_build_object('specversion', '1.0', 'id', 'e-' || g, "
                    "'source', '/tests/relay', 'type', 'sea.event.order-placed.v1', 'subject', 'key-' || (g "
                    "% "
                    "10), 'data', jsonb_build_object('n', g)))) FROM generate_series($1::int, $1::int + 4) "
                    "AS g",
                    committed.load());
                committed += 5;
                std::this_thread::sleep_for(10ms);
            }
        } catch (const std::exception& error) {
            ADD_FAILURE() << "producer: " << error.what();
        }
    });
    const auto stop_producer = [&] {
        producing = false;
        if (producer.joinable()) producer.join();
    };
    // Also when an assertion returns early (a joinable thread must not be destroyed).
    const OnExit producer_guard{stop_producer};

    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") >= 500; }, 30s));
    EXPECT_FALSE(relay_b.is_leader());

    Blackhole blackhole("127.0.0.2", postgres_server.port(), logs.path() / "nft.log");
    if (!blackhole.active()) {
        stop_producer();
        GTEST_SKIP() << "cannot add nftables rules here (CAP_NET_ADMIN?): "
                     << read_file(logs.path() / "nft.log");
    }
    const auto cut_at = Clock::now();
    const auto published_a_at_cut = relay_a.statistics().published;

    ASSERT_TRUE(wait_until([&] { return relay_b.is_leader(); }, 30s)) << "no standby took over";
    const auto b_leads_at = Clock::now();
    const auto handover = std::chrono::duration_cast<std::chrono::milliseconds>(b_leads_at - cut_at);
    ASSERT_TRUE(wait_until([&] { return relay_b.statistics().published > 0; }, 10s));
    const auto first_publish = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - cut_at);
    // The old leader stopped publishing before the standby could take the lock.
    const auto last_ack_a = acks_a.last();
    const auto a_quiet_for = std::chrono::duration_cast<std::chrono::milliseconds>(b_leads_at - last_ack_a);
    EXPECT_LT(last_ack_a, b_leads_at) << "the old leader published after the standby took over";
    EXPECT_LT(handover, 15s);

    // The partition lasts on; the new leader keeps up with the load and the old one
    // publishes nothing.
    const auto published_a_after_handover = relay_a.statistics().published;
    std::this_thread::sleep_for(5s);
    EXPECT_EQ(relay_a.statistics().published, published_a_after_handover);
    EXPECT_FALSE(relay_a.is_leader()) << "the cut-off relay still believes it leads";
    const auto leaders_during = leaders(database);
    EXPECT_EQ(leaders_during, std::vector<std::string>{"relay-b/leadership"});
    // Still cut off: the stream holds no event twice.
    std::map<std::string, int> seen_during;
    for (const auto& event : read_stream(jetstream, "SEA_EVENTS")) ++seen_during[event.message_id];
    int twice_during = 0;
    for (const auto& [id, times] : seen_during) twice_during += times > 1 ? 1 : 0;
    EXPECT_EQ(twice_during, 0) << "events in the stream more than once during the partition";
    EXPECT_GT(seen_during.size(), 0U);

    blackhole.heal();
    const auto healed_at = Clock::now();
    // The old leader reconnects and stands by: its leadership session shows up while
    // relay-b keeps the lock, and it never leads meanwhile.
    const bool a_back = wait_until(
        [&] {
            return postgres_server.query_value(
                       "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'relay-a/leadership'",
                       "orders") == "1";
        },
        30s);
    EXPECT_TRUE(a_back) << "the old leader did not reconnect after healing";
    bool two_leaders = false;
    for (const auto until = Clock::now() + 2s; Clock::now() < until;) {
        if (relay_a.is_leader() || !relay_b.is_leader()) two_leaders = true;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_FALSE(two_leaders) << "after healing relay-a led again or relay-b stopped leading";
    EXPECT_EQ(leaders(database), std::vector<std::string>{"relay-b/leadership"});
    const auto rejoined = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - healed_at);

    stop_producer();
    const int total = committed.load();
    ASSERT_TRUE(wait_until([&] { return count_rows(database, "status = 'published'") == total; }, 60s))
        << count_rows(database, "status = 'pending'") << " of " << total << " still pending";
    relay_a.stop();
    relay_b.stop();

    const auto events = read_stream(jetstream, "SEA_EVENTS");
    EXPECT_EQ(events.size(), static_cast<std::size_t>(total));
    expect_exactly_once(events, "e-", 0, total);
    const auto stats_a = relay_a.statistics(), stats_b = relay_b.statistics();
    EXPECT_EQ(stats_a.leadership_changes, 1U);
    EXPECT_EQ(stats_b.leadership_changes, 1U);
    std::cout << "blackhole hand-over: standby leads " << handover.count() << " ms after the cut, first "
              << "publishes " << first_publish.count() << " ms after it; old leader's last PubAck "
              << a_quiet_for.count() << " ms before the standby led ("
              << (stats_a.published - published_a_at_cut)
              << " PubAcks after the cut); new leader's duplicate PubAcks: " << stats_b.duplicates << " of "
              << stats_b.published << "; old leader back as standby " << rejoined.count()
              << " ms after healing; " << total << " events, each once in the stream\n";
}

}  // namespace
}  // namespace seamq::relay::testing
