// Migrations against a real PostgreSQL: idempotent, safe from many threads and processes
// at once, refusing a changed history, atomic per migration.
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <gtest/gtest.h>

#include "seamq/postgres/migrate.hpp"
#include "seamq/testing/postgres_server.hpp"

namespace seamq::postgres {
namespace {

using namespace std::chrono_literals;

std::filesystem::path source_migrations() {
    return std::filesystem::path(std::getenv("SEAMQ_SOURCE_DIR")) / "db" / "migrations";
}

std::filesystem::path sea_mq_binary() {
    return std::filesystem::path(std::getenv("SEAMQ_BIN_DIR")) / "sea-mq";
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

//! A migrations directory: the real ones plus test migrations.
class MigrationsDir {
public:
    MigrationsDir() : dir_("migrations") {
        for (const auto& entry : std::filesystem::directory_iterator(source_migrations())) {
            std::filesystem::copy_file(entry.path(), dir_.path() / entry.path().filename());
        }
    }
    void write(const std::string& name, const std::string& sql) { std::ofstream(dir_.path() / name) << sql; }
    const std::filesystem::path& path() const { return dir_.path(); }

private:
    testing::TempDir dir_;
};

int run_cli(const std::vector<std::string>& arguments, const std::filesystem::path& log) {
    std::vector<std::string> argv = {sea_mq_binary().string()};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    testing::ChildProcess process(testing::ChildProcess::Options{argv, log, {}, {}, {}});
    const auto status = process.wait_for_exit(60s);
    if (!status) return -1000;
    return testing::ChildProcess::exit_code(*status);
}

TEST(Migrate, TwiceIsIdempotentAndRecordsEachMigrationWithItsChecksum) {
    testing::PostgresServer server;
    Connection connection(server.connection_string());
    const auto migrations = load_migrations(source_migrations());

    const auto first = migrate(connection, source_migrations());
    ASSERT_EQ(first.applied.size(), migrations.size());
    EXPECT_TRUE(first.already_applied.empty());
    EXPECT_EQ(first.applied.front().name, "outbox");

    const auto second = migrate(connection, source_migrations());
    EXPECT_TRUE(second.applied.empty());
    EXPECT_EQ(second.already_applied.size(), migrations.size());

    const auto rows = connection.exec(
        "SELECT version, name, checksum, applied_at <= now() FROM seamq.schema_migrations ORDER BY version");
    ASSERT_EQ(rows.rows(), static_cast<int>(migrations.size()));
    for (int row = 0; row < rows.rows(); ++row) {
        EXPECT_EQ(rows.get<int>(row, 0), migrations[static_cast<std::size_t>(row)].version);
        EXPECT_EQ(rows.get<std::string>(row, 1), migrations[static_cast<std::size_t>(row)].name);
        EXPECT_EQ(rows.get<std::string>(row, 2), migrations[static_cast<std::size_t>(row)].checksum);
        EXPECT_TRUE(rows.get<bool>(row, 3));
    }
    EXPECT_EQ(connection.exec("SELECT to_regclass('seamq.outbox_events')::text").get<std::string>(0, 0),
              "seamq.outbox_events");
    EXPECT_EQ(connection
                  .exec("SELECT count(*) FROM pg_proc WHERE proname = 'enqueue' AND "
                        "pronamespace = 'seamq'::regnamespace")
                  .get<int>(0, 0),
              1);

    // The copy built into the binary is the same history: nothing to do, nothing refused.
    EXPECT_TRUE(migrate(connection, embedded_migrations()).applied.empty());

    // Through the CLI: also idempotent, exit code 0, and `db status` agrees.
    testing::TempDir logs("cli");
    EXPECT_EQ(run_cli({"db", "migrate", "--database", server.url(), "--dir", source_migrations().string()},
                      logs.path() / "migrate.log"),
              0)
        << read_file(logs.path() / "migrate.log");
    EXPECT_NE(read_file(logs.path() / "migrate.log").find("0 applied now"), std::string::npos);
    EXPECT_EQ(run_cli({"db", "status", "--database", server.url()}, logs.path() / "status.log"), 0)
        << read_file(logs.path() / "status.log");
    EXPECT_NE(read_file(logs.path() / "status.log").find("0001_outbox.sql  applied"), std::string::npos)
        << read_file(logs.path() / "status.log");
}

TEST(Migrate, ConcurrentThreadsAndProcessesApplyEachMigrationOnce) {
    testing::PostgresServer server;
    MigrationsDir dir;
    // A slow second migration widens the window in which migrators overlap.
    dir.write("0900_slow_test.sql",
              "CREATE TABLE seamq.migration_probe (n int); SELECT pg_sleep(0.3); "
              "INSERT INTO seamq.migration_probe VALUES (1);");

    constexpr int thread_count = 4;
    constexpr int process_count = 3;
    std::vector<testing::ChildProcess> processes;
    testing::TempDir logs("cli");
    for (int i = 0; i < process_count; ++i) {
        processes.emplace_back(
            testing::ChildProcess::Options{{sea_mq_binary().string(), "db", "migrate", "--database",
                                            server.url(), "--dir", dir.path().string()},
                                           logs.path() / ("migrate-" + std::to_string(i) + ".log"),
                                           {},
                                           {},
                                           {}});
    }
    std::vector<std::size_t> applied_counts(thread_count, 0);
    std::vector<std::string> failures(thread_count);
    std::vector<std::thread> threads;
    for (int i = 0; i < thread_count; ++i) {
        threads.emplace_back([&, i] {
            try {
                Connection connection(server.connection_string());
                applied_counts[static_cast<std::size_t>(i)] = migrate(connection, dir.path()).applied.size();
            } catch (const std::exception& error) {
                failures[static_cast<std::size_t>(i)] = error.what();
            }
        });
    }
    for (auto& thread : threads) thread.join();
    std::size_t applied_by_processes = 0;
    for (int i = 0; i < process_count; ++i) {
        const auto status = processes[static_cast<std::size_t>(i)].wait_for_exit(60s);
        const auto log = read_file(logs.path() / ("migrate-" + std::to_string(i) + ".log"));
        ASSERT_TRUE(status.has_value());
        EXPECT_EQ(testing::ChildProcess::exit_code(*status), 0) << log;
        for (std::size_t at = log.find("applied 0"); at != std::string::npos;
             at = log.find("applied 0", at + 1)) {
            ++applied_by_processes;
        }
    }
    for (const auto& failure : failures) EXPECT_EQ(failure, "");
    std::size_t applied_by_threads = 0;
    for (const auto count : applied_counts) applied_by_threads += count;

    const std::size_t expected = load_migrations(dir.path()).size();
    EXPECT_EQ(applied_by_threads + applied_by_processes, expected);
    EXPECT_EQ(server.query_value("SELECT count(*) FROM seamq.schema_migrations"), std::to_string(expected));
    EXPECT_EQ(server.query_value("SELECT count(*) FROM seamq.migration_probe"), "1");
}

TEST(Migrate, RefusesAChangedOrUnknownHistoryAndRollsBackAFailedMigration) {
    testing::PostgresServer server;
    Connection connection(server.connection_string());
    MigrationsDir dir;
    migrate(connection, dir.path());

    // An applied migration edited afterwards: refused, nothing else happens.
    dir.write("0001_outbox.sql", read_file(source_migrations() / "0001_outbox.sql") + "\n-- edited\n");
    dir.write("0901_after.sql", "CREATE TABLE seamq.after_change (n int);");
    try {
        migrate(connection, dir.path());
        FAIL() << "a changed migration was accepted";
    } catch (const Error& error) {
        EXPECT_EQ(error.code(), Errc::config);
        const std::string message = error.what();
        EXPECT_NE(message.find("0001_outbox.sql was changed after it was applied"), std::string::npos)
            << message;
        EXPECT_NE(message.find("new migration"), std::string::npos) << message;
    }
    EXPECT_EQ(server.query_value("SELECT to_regclass('seamq.after_change') IS NULL"), "t");
    testing::TempDir logs("cli");
    EXPECT_EQ(run_cli({"db", "migrate", "--database", server.url(), "--dir", dir.path().string()},
                      logs.path() / "changed.log"),
              2);
    EXPECT_NE(read_file(logs.path() / "changed.log").find("changed after it was applied"), std::string::npos)
        << read_file(logs.path() / "changed.log");
    EXPECT_EQ(run_cli({"db", "status", "--database", server.url(), "--dir", dir.path().string()},
                      logs.path() / "status.log"),
              1);
    EXPECT_NE(read_file(logs.path() / "status.log").find("CHANGED"), std::string::npos);
    EXPECT_NE(read_file(logs.path() / "status.log").find("0901_after.sql  pending"), std::string::npos);
    dir.write("0001_outbox.sql", read_file(source_migrations() / "0001_outbox.sql"));

    // A failing migration: named in the error, and none of its statements stay.
    dir.write("0901_after.sql", "CREATE TABLE seamq.after_change (n int); SELEC broken;");
    try {
        migrate(connection, dir.path());
        FAIL() << "a broken migration was accepted";
    } catch (const SqlError& error) {
        EXPECT_EQ(error.sqlstate(), "42601");
        EXPECT_NE(std::string(error.what()).find("migration 0901_after.sql"), std::string::npos)
            << error.what();
    }
    EXPECT_EQ(server.query_value("SELECT to_regclass('seamq.after_change') IS NULL"), "t");
    EXPECT_EQ(server.query_value("SELECT count(*) FROM seamq.schema_migrations WHERE version = 901"), "0");
    EXPECT_FALSE(connection.in_transaction());

    // Fixed: applies.
    dir.write("0901_after.sql", "CREATE TABLE seamq.after_change (n int);");
    EXPECT_EQ(migrate(connection, dir.path()).applied.size(), 1u);

    // A version between applied ones would run out of order: refused.
    dir.write("0500_late.sql", "SELECT 1;");
    EXPECT_THROW(migrate(connection, dir.path()), Error);
    std::filesystem::remove(dir.path() / "0500_late.sql");

    // The database knows a migration this binary does not: refused.
    std::filesystem::remove(dir.path() / "0901_after.sql");
    try {
        migrate(connection, dir.path());
        FAIL() << "an unknown applied migration was ignored";
    } catch (const Error& error) {
        EXPECT_EQ(error.code(), Errc::config);
        EXPECT_NE(std::string(error.what()).find("0901_after"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace seamq::postgres
