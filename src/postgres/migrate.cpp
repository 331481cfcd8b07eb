#include "seamq/postgres/migrate.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <string_view>

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include "seamq/core/build_info.hpp"
#include "seamq/postgres/transaction.hpp"

namespace seamq::postgres {

namespace detail {
struct EmbeddedFile {
    std::string_view name;
    std::string_view bytes;
};
const std::vector<EmbeddedFile>& embedded_migration_files();  // generated at build time
}  // namespace detail

namespace {

std::string sha256_hex(std::string_view bytes) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
        raise(Errc::internal, "SHA-256 of a migration failed (OpenSSL EVP_Digest)");
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out += digits[digest[i] >> 4];
        out += digits[digest[i] & 0x0f];
    }
    return out;
}

// NNNN_name.sql; nullopt for files that are not migrations at all (README.md).
std::optional<Migration> parse_file(std::string_view file_name, std::string_view bytes,
                                    std::string_view where) {
    if (!file_name.ends_with(".sql")) return std::nullopt;
    static const std::regex pattern(R"(^([0-9]{4})_([a-z0-9_]+)\.sql$)");
    std::match_results<std::string_view::const_iterator> match;
    if (!std::regex_match(file_name.begin(), file_name.end(), match, pattern)) {
        raise(Errc::config,
              "migration file '{}' in {} is not named NNNN_name.sql (four digits, an underscore, "
              "lowercase letters, digits and underscores): rename it",
              file_name, where);
    }
    Migration migration;
    migration.version = std::stoi(match[1].str());
    migration.name = match[2].str();
    migration.sql = std::string(bytes);
    migration.checksum = sha256_hex(bytes);
    if (migration.version == 0) {
        raise(Errc::config, "migration file '{}' in {}: versions start at 0001", file_name, where);
    }
    return migration;
}

std::string file_name(const Migration& migration) {
    return fmt::format("{:04}_{}.sql", migration.version, migration.name);
}

void sort_and_check(std::vector<Migration>& migrations, std::string_view where) {
    std::sort(migrations.begin(), migrations.end(),
              [](const Migration& a, const Migration& b) { return a.version < b.version; });
    for (std::size_t i = 1; i < migrations.size(); ++i) {
        if (migrations[i].version == migrations[i - 1].version) {
            raise(Errc::config,
                  "migrations '{}' and '{}' in {} have the same version: give one the next free number",
                  file_name(migrations[i - 1]), file_name(migrations[i]), where);
        }
    }
}

struct AppliedMigration {
    std::string name;
    std::string checksum;
};

std::map<int, AppliedMigration> read_applied(Transaction& transaction) {
    std::map<int, AppliedMigration> applied;
    const auto rows = transaction.exec("SELECT version, name, checksum FROM seamq.schema_migrations");
    for (int row = 0; row < rows.rows(); ++row) {
        applied.emplace(rows.get<int>(row, 0),
                        AppliedMigration{rows.get<std::string>(row, 1), rows.get<std::string>(row, 2)});
    }
    return applied;
}

// Refuses to touch a database whose history disagrees with the files we have.
void verify_history(const std::map<int, AppliedMigration>& applied,
                    const std::vector<Migration>& migrations) {
    std::map<int, const Migration*> known;
    for (const auto& migration : migrations) known.emplace(migration.version, &migration);
    for (const auto& [version, record] : applied) {
        const auto found = known.find(version);
        if (found == known.end()) {
            raise(
                Errc::config,
                "the database has migration {:04}_{} applied, which this sea-mq does not have (it has {} "
                "migrations, up to {:04}): run `sea-mq db migrate` from the sea-mq version that applied it, "
                "or a newer one",
                version, record.name, migrations.size(), migrations.empty() ? 0 : migrations.back().version);
        }
        if (found->second->checksum != record.checksum) {
            raise(Errc::config,
                  "migration {} was changed after it was applied to this database (applied checksum {}, "
                  "file checksum {}): an applied migration must never change. Restore the file as it was and "
                  "put the change into a new migration with the next version",
                  file_name(*found->second), record.checksum.substr(0, 16),
                  found->second->checksum.substr(0, 16));
        }
    }
}

}  // namespace

std::vector<Migration> load_migrations(const std::filesystem::path& directory) {
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) {
        raise(Errc::config,
              "migrations directory '{}' does not exist or is not a directory: pass --dir, set "
              "SEAMQ_MIGRATIONS_DIR, or leave both out to use the migrations built into sea-mq",
              directory.string());
    }
    std::vector<Migration> migrations;
    for (const auto& entry : std::filesystem::directory_iterator(directory)) {
        if (!entry.is_regular_file()) continue;
        const std::string name = entry.path().filename().string();
        if (!name.ends_with(".sql")) continue;
        std::ifstream in(entry.path(), std::ios::binary);
        if (!in) raise(Errc::io, "cannot read migration file '{}'", entry.path().string());
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (auto migration = parse_file(name, bytes, directory.string()))
            migrations.push_back(std::move(*migration));
    }
    sort_and_check(migrations, directory.string());
    return migrations;
}

std::vector<Migration> embedded_migrations() {
    std::vector<Migration> migrations;
    for (const auto& file : detail::embedded_migration_files()) {
        if (auto migration = parse_file(file.name, file.bytes, "the sea-mq binary")) {
            migrations.push_back(std::move(*migration));
        }
    }
    sort_and_check(migrations, "the sea-mq binary");
    return migrations;
}

std::optional<std::filesystem::path> default_migrations_dir() {
    // NOLINTNEXTLINE(concurrency-mt-unsafe): sea-mq never changes its environment
    if (const char* from_environment = std::getenv("SEAMQ_MIGRATIONS_DIR");
        from_environment != nullptr && *from_environment != '\0') {
        return std::filesystem::path(from_environment);
    }
    const auto in_source_tree = std::filesystem::path(build_info::source_dir) / "db" / "migrations";
    std::error_code error;
    if (std::filesystem::is_directory(in_source_tree, error)) return in_source_tree;
    return std::nullopt;
}

MigrationReport migrate(Connection& connection, const std::filesystem::path& directory) {
    return migrate(connection, load_migrations(directory));
}

MigrationReport migrate(Connection& connection, const std::vector<Migration>& unsorted) {
    std::vector<Migration> migrations = unsorted;
    sort_and_check(migrations, "the given migrations");
    if (migrations.empty()) raise(Errc::config, "no migrations to apply: the migrations directory is empty");

    // Every step takes the same transaction-level advisory lock: concurrent migrators
    // queue up, and each one re-reads the history after getting the lock.
    const auto take_lock = [](Transaction& transaction) {
        transaction.exec("SELECT pg_advisory_xact_lock($1::int4, $2::int4)", migration_lock_space,
                         migration_lock_key);
    };
    {
        Transaction transaction(connection);
        take_lock(transaction);
        connection.exec_script(
            "CREATE SCHEMA IF NOT EXISTS seamq;"
            "CREATE TABLE IF NOT EXISTS seamq.schema_migrations ("
            "  version integer PRIMARY KEY,"
            "  name text NOT NULL,"
            "  checksum text NOT NULL,"
            "  applied_at timestamptz NOT NULL DEFAULT now())");
        transaction.commit();
    }

    MigrationReport report;
    bool first = true;
    // One migration per round; bounded by the number of migrations.
    for (std::size_t round = 0; round <= migrations.size(); ++round) {
        Transaction transaction(connection);
        take_lock(transaction);
        const auto applied = read_applied(transaction);
        verify_history(applied, migrations);
        if (first) {
            for (const auto& [version, record] : applied) report.already_applied.push_back(version);
            first = false;
        }
        const auto next = std::find_if(migrations.begin(), migrations.end(),
                                       [&](const Migration& m) { return !applied.contains(m.version); });
        if (next == migrations.end()) {
            transaction.commit();
            return report;
        }
        if (!applied.empty() && applied.rbegin()->first > next->version) {
            raise(Errc::config,
                  "migration {} is not applied but the later {:04} is: a new migration needs a version above "
                  "the latest applied one; renumber it",
                  file_name(*next), applied.rbegin()->first);
        }
        try {
            connection.exec_script(next->sql);
        } catch (const SqlError& error) {
            throw SqlError(SqlError::Fields{fmt::format("migration {}", file_name(*next)), error.sqlstate(),
                                            error.primary_message(), error.detail(), error.hint(),
                                            error.is_connection_lost()});
        }
        transaction.exec("INSERT INTO seamq.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                         next->version, next->name, next->checksum);
        transaction.commit();
        spdlog::info("applied migration {}", file_name(*next));
        report.applied.push_back(*next);
    }
    raise(Errc::internal, "migrate: more rounds than migrations; the history changed while migrating");
}

}  // namespace seamq::postgres
