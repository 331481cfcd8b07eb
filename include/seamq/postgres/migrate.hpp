#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "seamq/postgres/connection.hpp"

namespace seamq::postgres {

//! One versioned SQL file `NNNN_name.sql` from db/migrations/.
struct Migration {
    int version = 0;
    std::string name;  //!< the file name without version and extension, e.g. "outbox"
    std::string sql;
    std::string checksum;  //!< SHA-256 of the file's bytes, hex
};

//! What migrate() did.
struct MigrationReport {
    std::vector<Migration> applied;    //!< newly applied by this call, in order
    std::vector<int> already_applied;  //!< versions found in seamq.schema_migrations
};

//! Reads every `NNNN_name.sql` in `directory`, sorted by version. Throws
//! seamq::Error(Errc::config) for a missing directory, a malformed name or a repeated version.
std::vector<Migration> load_migrations(const std::filesystem::path& directory);

//! The migrations compiled into this binary from db/migrations/ at build time.
std::vector<Migration> embedded_migrations();

//! Where migrations come from when nobody says: $SEAMQ_MIGRATIONS_DIR if set, else the
//! source tree's db/migrations/ if it exists, else nullopt (use embedded_migrations()).
std::optional<std::filesystem::path> default_migrations_dir();

//! Applies the migrations not yet recorded in seamq.schema_migrations, each in its own
//! transaction holding a transaction-level advisory lock, so several processes may run it
//! at once. Refuses (seamq::Error, Errc::config) when an applied migration's checksum
//! changed, or the database has a version this list does not know.
MigrationReport migrate(Connection& connection, const std::vector<Migration>& migrations);
MigrationReport migrate(Connection& connection, const std::filesystem::path& directory);

//! Advisory-lock namespace (first int4) of the migration lock; see AdvisoryKey.
inline constexpr std::int32_t migration_lock_space = 0x5EA0;
//! Advisory-lock key (second int4) of the migration lock.
inline constexpr std::int32_t migration_lock_key = 1;

}  // namespace seamq::postgres
