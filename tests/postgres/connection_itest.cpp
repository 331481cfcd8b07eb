// The libpq layer against a real PostgreSQL 15: parameters and typed values, errors with
// their SQLSTATE, transactions, LISTEN/NOTIFY, advisory locks, and surviving a restart.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <thread>

#include <gtest/gtest.h>

#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/transaction.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::postgres {
namespace {

using namespace std::chrono_literals;

template <typename Action>
SqlError expect_sql_error(Action&& action) {
    try {
        action();
    } catch (const SqlError& error) {
        return error;
    }
    ADD_FAILURE() << "no SqlError was thrown";
    return SqlError(SqlError::Fields{});
}

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

TEST(Connection, ParametersTypedValuesAndSqlErrors) {
    testing::PostgresServer server;
    Connection connection(ConnectOptions{server.url(), 5s, "seamq-test"});
    EXPECT_TRUE(connection.is_alive());
    EXPECT_GE(connection.server_version(), 150000);
    EXPECT_EQ(connection.exec("SELECT current_setting('application_name')").get<std::string>(0, 0),
              "seamq-test");

    const auto row = connection.exec(
        "SELECT $1::int8 AS big, $2::text AS word, $3::int4 AS nothing, $4::bool AS yes, $5::float8 AS "
        "ratio, "
        "$6::jsonb ->> 'k' AS from_json",
        std::int64_t{9007199254740993}, "héllo 'quoted'", std::nullopt, true, 0.25, R"({"k":"v"})");
    ASSERT_EQ(row.rows(), 1);
    EXPECT_EQ(row.columns(), 6);
    EXPECT_EQ(row.get<std::int64_t>(0, "big"), 9007199254740993);
    EXPECT_EQ(row.get<std::string>(0, "word"), "héllo 'quoted'");
    EXPECT_TRUE(row.is_null(0, "nothing"));
    EXPECT_EQ(row.get<std::optional<int>>(0, "nothing"), std::nullopt);
    EXPECT_EQ(row.get<std::optional<std::int64_t>>(0, 0), 9007199254740993);
    EXPECT_TRUE(row.get<bool>(0, "yes"));
    EXPECT_DOUBLE_EQ(row.get<double>(0, "ratio"), 0.25);
    EXPECT_EQ(row.get<std::string_view>(0, 5), "v");
    EXPECT_THROW(row.get<int>(0, "nothing"), Error);  // NULL read as non-optional
    EXPECT_THROW(row.get<int>(0, "word"), Error);     // not a number
    EXPECT_THROW(row.column("missing"), Error);
    EXPECT_THROW(row.text(1, 0), Error);

    // Many rows in one statement through array parameters.
    const std::vector<std::optional<std::string>> values = {std::string("a\"b"), std::nullopt,
                                                            std::string("c\\d"), std::string("")};
    const auto unnested = connection.exec(
        "SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n", array_literal(values));
    ASSERT_EQ(unnested.rows(), 4);
    EXPECT_EQ(unnested.get<std::string>(0, 0), "a\"b");
    EXPECT_TRUE(unnested.is_null(1, 0));
    EXPECT_EQ(unnested.get<std::string>(2, 0), "c\\d");
    EXPECT_EQ(unnested.get<std::string>(3, 0), "");
    EXPECT_EQ(
        connection.exec("SELECT length($1::bytea)", bytea_literal(std::string("\0\1\2", 3))).get<int>(0, 0),
        3);

    connection.exec("CREATE TABLE items (id text PRIMARY KEY, n int NOT NULL)");
    EXPECT_EQ(connection.exec("INSERT INTO items VALUES ($1, $2), ($3, $4)", "a", 1, "b", 2).affected_rows(),
              2);

    const auto duplicate =
        expect_sql_error([&] { connection.exec("INSERT INTO items VALUES ($1, 3)", "a"); });
    EXPECT_TRUE(duplicate.is_unique_violation());
    EXPECT_EQ(duplicate.sqlstate(), "23505");
    EXPECT_EQ(duplicate.code(), Errc::postgres);
    EXPECT_FALSE(duplicate.is_connection_lost());
    EXPECT_TRUE(contains(duplicate.detail(), "(id)=(a)")) << duplicate.detail();
    EXPECT_TRUE(contains(duplicate.what(), "INSERT INTO items")) << duplicate.what();
    EXPECT_TRUE(contains(duplicate.what(), "SQLSTATE 23505")) << duplicate.what();

    const auto syntax = expect_sql_error([&] { connection.exec("SELEC 1"); });
    EXPECT_EQ(syntax.sqlstate(), "42601");
    EXPECT_FALSE(syntax.is_unique_violation());

    const auto raised = expect_sql_error([&] {
        connection.exec_script(
            "DO $$ BEGIN RAISE EXCEPTION 'refused: %', 'x' USING DETAIL = 'some detail', HINT = 'do y'; END "
            "$$");
    });
    EXPECT_TRUE(raised.is_raise_exception());
    EXPECT_EQ(raised.primary_message(), "refused: x");
    EXPECT_EQ(raised.detail(), "some detail");
    EXPECT_EQ(raised.hint(), "do y");

    // Prepared statements: same SQL twice is fine, other SQL under the same name is not.
    connection.prepare("count_items", "SELECT count(*) FROM items WHERE n >= $1");
    connection.prepare("count_items", "SELECT count(*) FROM items WHERE n >= $1");
    EXPECT_EQ(connection.exec_prepared("count_items", 2).get<int>(0, 0), 1);
    EXPECT_THROW(connection.prepare("count_items", "SELECT 1"), Error);
    EXPECT_THROW(connection.exec_prepared("unknown"), Error);

    // Multi-statement scripts return the last result.
    EXPECT_EQ(connection.exec_script("SELECT 1; SELECT 2").get<int>(0, 0), 2);

    // A refused connection names the target without its password and counts as lost.
    const auto refused = expect_sql_error([&] {
        Connection(ConnectOptions{"postgresql://postgres:secret-word@127.0.0.1:" +
                                      std::to_string(testing::free_port()) + "/postgres",
                                  2s});
    });
    EXPECT_TRUE(refused.is_connection_lost());
    EXPECT_FALSE(contains(refused.what(), "secret-word")) << refused.what();
    EXPECT_TRUE(contains(refused.what(), "postgres:***@127.0.0.1")) << refused.what();
}

TEST(Connection, TransactionsCommitRollBackAndReportFailedCommits) {
    testing::PostgresServer server;
    Connection connection(server.connection_string());
    connection.exec("CREATE TABLE t (id int PRIMARY KEY)");
    const auto count = [&] { return connection.exec("SELECT count(*) FROM t").get<int>(0, 0); };

    {
        Transaction transaction(connection);
        transaction.exec("INSERT INTO t VALUES ($1)", 1);
        EXPECT_TRUE(connection.in_transaction());
        EXPECT_THROW(Transaction nested(connection), Error);
    }  // destroyed without commit: rolled back
    EXPECT_FALSE(connection.in_transaction());
    EXPECT_EQ(count(), 0);

    {
        Transaction transaction(connection, IsolationLevel::serializable);
        EXPECT_EQ(transaction.exec("SELECT current_setting('transaction_isolation')").get<std::string>(0, 0),
                  "serializable");
        transaction.exec("INSERT INTO t VALUES ($1)", 1);
        transaction.commit();
        EXPECT_FALSE(transaction.active());
        EXPECT_THROW(transaction.commit(), Error);
    }
    EXPECT_EQ(count(), 1);

    // A statement failed inside: COMMIT must not pretend the work was saved.
    {
        Transaction transaction(connection);
        transaction.exec("INSERT INTO t VALUES ($1)", 2);
        EXPECT_THROW(transaction.exec("INSERT INTO t VALUES ($1)", 1), SqlError);
        const auto failed = expect_sql_error([&] { transaction.commit(); });
        EXPECT_EQ(failed.sqlstate(), "25P02");
        EXPECT_TRUE(contains(failed.what(), "rolled back")) << failed.what();
    }
    EXPECT_FALSE(connection.in_transaction());
    EXPECT_EQ(count(), 1);

    // Explicit rollback, then the connection is usable for the next transaction.
    Transaction transaction(connection);
    transaction.exec("INSERT INTO t VALUES ($1)", 3);
    transaction.rollback();
    transaction.rollback();  // idempotent
    EXPECT_EQ(count(), 1);
}

// Queued writes (pipeline mode): nothing runs until the flush or COMMIT, which carries
// them; the first failure names its ticket; the session stays usable.
TEST(Connection, QueuedWritesRunAtTheFlushAndReportTheFirstFailureByTicket) {
    testing::PostgresServer server;
    Connection connection(server.connection_string());
    Connection observer(server.connection_string());
    connection.exec("CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL)");
    connection.prepare("insert_t", "INSERT INTO t VALUES ($1, $2)");
    const auto ids = [&] {
        const auto rows = observer.exec("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t");
        return rows.get<std::string>(0, 0);
    };

    // Outside a transaction: the statement waits in the queue, then runs at the flush.
    connection.queue_prepared("insert_t", 1, "one");
    EXPECT_EQ(connection.queued(), 1U);
    EXPECT_EQ(ids(), "");
    connection.flush_queued();
    EXPECT_EQ(connection.queued(), 0U);
    EXPECT_EQ(ids(), "1");

    // In a transaction: COMMIT goes with the queued writes.
    {
        Transaction transaction(connection);
        for (int id = 2; id <= 4; ++id) transaction.queue_prepared("insert_t", id, "n");
        EXPECT_EQ(connection.queued(), 3U);
        transaction.commit();
    }
    EXPECT_EQ(connection.queued(), 0U);
    EXPECT_EQ(ids(), "1,2,3,4");

    // The second of three fails: its position and cause are reported, none is saved, and
    // the session is out of the failed block.
    {
        Transaction transaction(connection);
        transaction.queue_prepared("insert_t", 5, "n");
        const auto duplicate = transaction.queue_prepared("insert_t", 1, "duplicate");
        EXPECT_EQ(connection.queued_tickets(), duplicate);
        transaction.queue_prepared("insert_t", 6, "n");
        const auto failed = expect_sql_error([&] { transaction.commit(); });
        EXPECT_TRUE(failed.is_unique_violation()) << failed.what();
        EXPECT_EQ(failed.queued_ticket(), std::optional<std::uint64_t>(duplicate));
        EXPECT_TRUE(contains(failed.what(), "insert_t")) << failed.what();
        EXPECT_FALSE(transaction.active());
    }
    EXPECT_FALSE(connection.in_transaction());
    EXPECT_EQ(ids(), "1,2,3,4");

    // A statement that reads first waits for what is queued (and sees it); a failure
    // undone by a savepoint leaves the rest of the transaction intact.
    {
        Transaction transaction(connection);
        transaction.queue_prepared("insert_t", 7, "n");
        EXPECT_EQ(transaction.exec("SELECT count(*) FROM t").get<int>(0, 0), 5);
        transaction.exec("SAVEPOINT s");
        const auto duplicate = transaction.queue_prepared("insert_t", 2, "duplicate");
        const auto failed = expect_sql_error([&] { transaction.flush_queued(); });
        EXPECT_EQ(failed.queued_ticket(), std::optional<std::uint64_t>(duplicate));
        transaction.exec("ROLLBACK TO SAVEPOINT s");
        transaction.queue_prepared("insert_t", 8, "n");
        transaction.commit();
    }
    EXPECT_EQ(ids(), "1,2,3,4,7,8");

    // Rolling back discards queued writes, failed or not, without throwing.
    {
        Transaction transaction(connection);
        transaction.queue_prepared("insert_t", 9, "n");
        transaction.queue_prepared("insert_t", 1, "duplicate");
        EXPECT_NO_THROW(transaction.rollback());
    }
    EXPECT_EQ(connection.queued(), 0U);
    EXPECT_EQ(ids(), "1,2,3,4,7,8");
    EXPECT_EQ(connection.exec("SELECT 1").get<int>(0, 0), 1);
    EXPECT_THROW(connection.queue_prepared("not_prepared", 1), Error);
}

TEST(Connection, NotificationsArriveAtCommitOnlyAndWaitsAreBounded) {
    testing::PostgresServer server;
    Connection listener(server.connection_string());
    Connection producer(server.connection_string());
    listener.listen("seamq_test-channel");

    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(listener.wait_for_notification(200ms), std::nullopt);
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_GE(waited, 190ms);
    EXPECT_LT(waited, 2s);

    {
        Transaction transaction(producer);
        producer.notify("seamq_test-channel", "rolled-back");
    }
    EXPECT_EQ(listener.wait_for_notification(300ms), std::nullopt);

    {
        Transaction transaction(producer);
        producer.notify("seamq_test-channel", "first");
        EXPECT_EQ(listener.wait_for_notification(100ms), std::nullopt);  // not before commit
        transaction.commit();
    }
    const auto first = listener.wait_for_notification(5s);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->channel, "seamq_test-channel");
    EXPECT_EQ(first->payload, "first");
    EXPECT_EQ(first->backend_pid, producer.backend_pid());

    // A waiting listener wakes as soon as the notification is sent, not at its timeout.
    std::thread sender([&] {
        std::this_thread::sleep_for(100ms);
        producer.notify("seamq_test-channel", "woken");
    });
    const auto wait_started = std::chrono::steady_clock::now();
    const auto woken = listener.wait_for_notification(10s);
    sender.join();
    ASSERT_TRUE(woken.has_value());
    EXPECT_EQ(woken->payload, "woken");
    EXPECT_LT(std::chrono::steady_clock::now() - wait_started, 5s);

    producer.notify("seamq_test-channel", "a");
    producer.notify("seamq_test-channel", "b");
    std::vector<Notification> received;
    ASSERT_TRUE(testing::wait_until(
        [&] {
            for (auto& n : listener.consume_notifications()) received.push_back(std::move(n));
            return received.size() >= 2;
        },
        5s));
    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].payload, "a");
    EXPECT_EQ(received[1].payload, "b");

    listener.unlisten("seamq_test-channel");
    producer.notify("seamq_test-channel", "after unlisten");
    EXPECT_EQ(listener.wait_for_notification(200ms), std::nullopt);
}

TEST(Connection, AdvisoryLockIsExclusiveAndEndsWithTheSession) {
    testing::PostgresServer server;
    Connection first(server.connection_string());
    auto second = std::make_unique<Connection>(server.connection_string());

    const AdvisoryKey key = first.advisory_key(0x5EA2, "sea");
    EXPECT_EQ(key.space, 0x5EA2);
    EXPECT_EQ(key.key, first.exec("SELECT hashtext('sea')").get<std::int32_t>(0, 0));
    EXPECT_EQ(second->advisory_key(0x5EA2, "sea").key, key.key);

    EXPECT_TRUE(second->try_advisory_lock(key));
    EXPECT_FALSE(first.try_advisory_lock(key));
    EXPECT_TRUE(first.try_advisory_lock(first.advisory_key(0x5EA2, "vibespro")));  // other key: free
    EXPECT_TRUE(second->advisory_unlock(key));
    EXPECT_FALSE(second->advisory_unlock(key));
    EXPECT_TRUE(first.try_advisory_lock(key));
    EXPECT_FALSE(second->try_advisory_lock(key));

    // The holder's session ends: the lock is free for the other one at once.
    Connection third(server.connection_string());
    EXPECT_FALSE(third.try_advisory_lock(key));
    first = Connection(server.connection_string());  // old session closed by the move
    EXPECT_TRUE(testing::wait_until([&] { return third.try_advisory_lock(key); }, 5s));
}

TEST(Connection, ReconnectsAfterServerRestartWithStatementsAndChannels) {
    testing::PostgresServer server;
    Connection connection(server.connection_string());
    Connection listener(server.connection_string());
    connection.exec("CREATE TABLE kept (v text)");
    connection.exec("INSERT INTO kept VALUES ('before restart')");
    connection.prepare("read_kept", "SELECT v FROM kept");
    listener.listen("seamq_restart");
    const int old_pid = connection.backend_pid();

    server.restart();

    // The first statement on the dead session says so, and is recognisable.
    const auto lost = expect_sql_error([&] { connection.exec("SELECT 1"); });
    EXPECT_TRUE(lost.is_connection_lost()) << lost.what();
    EXPECT_FALSE(connection.is_alive());
    EXPECT_FALSE(connection.ping());
    const auto listener_lost = expect_sql_error([&] { listener.wait_for_notification(5s); });
    EXPECT_TRUE(listener_lost.is_connection_lost()) << listener_lost.what();

    connection.reconnect();
    listener.reconnect();
    EXPECT_TRUE(connection.is_alive());
    EXPECT_TRUE(connection.ping());
    EXPECT_NE(connection.backend_pid(), old_pid);
    EXPECT_EQ(connection.exec_prepared("read_kept").get<std::string>(0, 0), "before restart");
    connection.notify("seamq_restart", "again");
    const auto notification = listener.wait_for_notification(5s);
    ASSERT_TRUE(notification.has_value());
    EXPECT_EQ(notification->payload, "again");

    // Reconnecting while the server is down fails clearly; later it works.
    server.stop();
    const auto down = expect_sql_error([&] { connection.reconnect(); });
    EXPECT_TRUE(down.is_connection_lost());
    server.start();
    connection.reconnect();
    EXPECT_EQ(connection.exec_prepared("read_kept").rows(), 1);
}

int socket_option(int socket, int level, int name) {
    int value = -1;
    socklen_t length = sizeof value;
    if (::getsockopt(socket, level, name, &value, &length) != 0) return -1;
    return value;
}

TEST(Connection, VanishedPeersAreBoundedAtBothEndsAndTheConninfoWins) {
    testing::PostgresServer server;
    // Client side: keepalives and a TCP user timeout on every session's socket...
    Connection plain(server.connection_string());
    EXPECT_EQ(socket_option(plain.socket(), SOL_SOCKET, SO_KEEPALIVE), 1);
    EXPECT_EQ(socket_option(plain.socket(), IPPROTO_TCP, TCP_KEEPIDLE), 10);
    EXPECT_EQ(socket_option(plain.socket(), IPPROTO_TCP, TCP_KEEPINTVL), 5);
    EXPECT_EQ(socket_option(plain.socket(), IPPROTO_TCP, TCP_KEEPCNT), 3);
    EXPECT_EQ(socket_option(plain.socket(), IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
    // ...unless the user's conninfo says otherwise.
    Connection custom(server.connection_string() + " keepalives_idle=42 tcp_user_timeout=1234");
    EXPECT_EQ(socket_option(custom.socket(), IPPROTO_TCP, TCP_KEEPIDLE), 42);
    EXPECT_EQ(socket_option(custom.socket(), IPPROTO_TCP, TCP_USER_TIMEOUT), 1234);
    EXPECT_EQ(socket_option(custom.socket(), IPPROTO_TCP, TCP_KEEPINTVL), 5);

    // Server side: the server's defaults unless asked...
    EXPECT_EQ(plain.exec("SHOW tcp_user_timeout").get<std::string>(0, 0), "0");
    EXPECT_EQ(plain.exec("SHOW statement_timeout").get<std::string>(0, 0), "0");
    // ...and set after every connect when asked, whatever the conninfo's options say.
    Connection guarded(
        ConnectOptions{.conninfo = server.connection_string() + " options='-c statement_timeout=0'",
                       .server_tcp_user_timeout = 8s,
                       .statement_timeout = 1500ms});
    const auto expect_guarded = [&] {
        EXPECT_EQ(guarded.exec("SHOW tcp_user_timeout").get<std::string>(0, 0), "8000");
        EXPECT_EQ(guarded.exec("SHOW tcp_keepalives_idle").get<std::string>(0, 0), "1");
        EXPECT_EQ(guarded.exec("SHOW tcp_keepalives_interval").get<std::string>(0, 0), "1");
        EXPECT_EQ(guarded.exec("SHOW tcp_keepalives_count").get<std::string>(0, 0), "9");
        EXPECT_EQ(guarded.exec("SHOW statement_timeout").get<std::string>(0, 0), "1500ms");
    };
    expect_guarded();
    const auto cancelled = expect_sql_error([&] { guarded.exec("SELECT pg_sleep(5)"); });
    EXPECT_EQ(cancelled.sqlstate(), "57014") << cancelled.what();
    guarded.reconnect();
    expect_guarded();
}

}  // namespace
}  // namespace seamq::postgres
