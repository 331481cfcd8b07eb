// `sea-mq db migrate|status`: the seamq schema in a PostgreSQL database.
#include <iostream>
#include <map>

#include "src/cli/command_line.hpp"

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/postgres/migrate.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::cli {

namespace {

struct DatabaseOptions {
    std::string database;
    std::string directory;
};

// --dir, else $SEAMQ_MIGRATIONS_DIR, else the source tree's db/migrations, else the
// copy compiled into this binary.
std::vector<postgres::Migration> resolve_migrations(const DatabaseOptions& options, std::string& origin) {
    if (!options.directory.empty()) {
        origin = options.directory;
        return postgres::load_migrations(options.directory);
    }
    if (const auto directory = postgres::default_migrations_dir()) {
        origin = directory->string();
        return postgres::load_migrations(*directory);
    }
    origin = "built into sea-mq";
    return postgres::embedded_migrations();
}

void add_database_options(CLI::App* command, DatabaseOptions& options) {
    add_env_option(command, "--database", options.database,
                   "PostgreSQL connection: postgresql:// URL or libpq key=value string", "SEAMQ_DATABASE_URL")
        ->required();
    command->add_option("--dir", options.directory,
                        "Migrations directory (default: $SEAMQ_MIGRATIONS_DIR, else the source tree's "
                        "db/migrations, else the migrations built into sea-mq)");
}

std::string file_name(int version, const std::string& name) {
    return fmt::format("{:04}_{}.sql", version, name);
}

void run_migrate(const DatabaseOptions& options) {
    std::string origin;
    const auto migrations = resolve_migrations(options, origin);
    postgres::Connection connection(
        postgres::ConnectOptions{options.database, std::chrono::seconds(10), "sea-mq db migrate"});
    const auto report = postgres::migrate(connection, migrations);
    for (const auto& migration : report.applied) {
        std::cout << "applied " << file_name(migration.version, migration.name) << "\n";
    }
    std::cout << "database is up to date: " << migrations.size() << " migration(s) from " << origin << ", "
              << report.applied.size() << " applied now, " << report.already_applied.size() << " before\n";
}

void run_status(const DatabaseOptions& options) {
    std::string origin;
    const auto migrations = resolve_migrations(options, origin);
    postgres::Connection connection(
        postgres::ConnectOptions{options.database, std::chrono::seconds(10), "sea-mq db status"});
    std::map<int, std::pair<std::string, std::string>> applied;  // version -> checksum, applied_at
    const bool has_table =
        connection.exec("SELECT to_regclass('seamq.schema_migrations') IS NOT NULL").get<bool>(0, 0);
    if (has_table) {
        const auto rows = connection.exec(
            "SELECT version, checksum, to_char(applied_at AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
            "FROM seamq.schema_migrations ORDER BY version");
        for (int row = 0; row < rows.rows(); ++row) {
            applied[rows.get<int>(row, 0)] = {rows.get<std::string>(row, 1), rows.get<std::string>(row, 2)};
        }
    }
    bool pending = false;
    bool changed = false;
    for (const auto& migration : migrations) {
        const auto found = applied.find(migration.version);
        std::string state = "pending";
        if (found == applied.end()) {
            pending = true;
        } else if (found->second.first != migration.checksum) {
            state = "CHANGED after it was applied (checksum differs)";
            changed = true;
        } else {
            state = "applied " + found->second.second;
        }
        std::cout << file_name(migration.version, migration.name) << "  " << state << "\n";
        if (found != applied.end()) applied.erase(found);
    }
    for (const auto& [version, record] : applied) {
        std::cout << fmt::format("{:04}", version) << "  applied " << record.second
                  << ", UNKNOWN to this sea-mq (a newer version applied it)\n";
        changed = true;
    }
    std::cout << "migrations from " << origin << "\n";
    if (changed) throw CLI::RuntimeError(1);
    if (pending) throw CLI::RuntimeError(1);
}

}  // namespace

void add_db_commands(CLI::App& app) {
    auto* db = app.add_subcommand("db", "Manage sea-mq's tables and functions (schema seamq) in PostgreSQL");
    db->require_subcommand(1);

    auto options = std::make_shared<DatabaseOptions>();
    auto* migrate = db->add_subcommand(
        "migrate",
        "Apply the migrations not yet applied (idempotent; safe from several processes at once; refuses when "
        "an applied migration has changed)");
    add_database_options(migrate, *options);
    migrate->callback([options] { run_migrate(*options); });

    auto status_options = std::make_shared<DatabaseOptions>();
    auto* status = db->add_subcommand(
        "status", "List migrations as applied, pending or changed; exit 1 unless all are applied unchanged");
    add_database_options(status, *status_options);
    status->callback([status_options] { run_status(*status_options); });
}

}  // namespace seamq::cli
