// Text parameters and the migration file loader, without a server.
#include "seamq/postgres/param.hpp"

#include <fstream>

#include <gtest/gtest.h>

#include "seamq/postgres/migrate.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::postgres {
namespace {

TEST(Param, BuildsTextOrNullFromCommonTypes) {
    EXPECT_STREQ(Param(42).c_str(), "42");
    EXPECT_STREQ(Param(std::int64_t{-9007199254740993}).c_str(), "-9007199254740993");
    EXPECT_STREQ(Param(true).c_str(), "true");
    EXPECT_STREQ(Param(1.5).c_str(), "1.5");
    EXPECT_STREQ(Param("text").c_str(), "text");
    EXPECT_STREQ(Param(std::string_view("view")).c_str(), "view");
    EXPECT_TRUE(Param(std::nullopt).is_null());
    EXPECT_EQ(Param(std::nullopt).c_str(), nullptr);
    EXPECT_TRUE(Param(std::optional<int>()).is_null());
    EXPECT_STREQ(Param(std::optional<int>(7)).c_str(), "7");
}

TEST(Param, ArrayLiteralQuotesEveryElement) {
    const std::vector<std::string> values = {"plain", "with \"quote\"", "back\\slash", "", "{a,b}", "NULL"};
    EXPECT_EQ(array_literal(values), R"({"plain","with \"quote\"","back\\slash","","{a,b}","NULL"})");
    const std::vector<std::optional<std::string>> with_null = {std::string("x"), std::nullopt};
    EXPECT_EQ(array_literal(with_null), R"({"x",NULL})");
    EXPECT_EQ(array_literal(std::vector<std::string>{}), "{}");
    EXPECT_EQ(bytea_literal(std::string("\x00\xff\x10", 3)), "\\x00ff10");
}

TEST(Migrations, EmbeddedCopyEqualsTheSourceTree) {
    const auto embedded = embedded_migrations();
    const auto from_files =
        load_migrations(std::filesystem::path(std::getenv("SEAMQ_SOURCE_DIR")) / "db/migrations");
    ASSERT_FALSE(embedded.empty());
    ASSERT_EQ(embedded.size(), from_files.size());
    for (std::size_t i = 0; i < embedded.size(); ++i) {
        EXPECT_EQ(embedded[i].version, from_files[i].version);
        EXPECT_EQ(embedded[i].name, from_files[i].name);
        EXPECT_EQ(embedded[i].checksum, from_files[i].checksum) << embedded[i].name;
        EXPECT_EQ(embedded[i].checksum.size(), 64u);
    }
    EXPECT_EQ(embedded.front().version, 1);
    EXPECT_EQ(embedded.front().name, "outbox");
}

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
}

TEST(Migrations, LoaderRefusesMisnamedAndRepeatedVersions) {
    testing::TempDir dir("migrations");
    write_file(dir.path() / "0002_second.sql", "SELECT 2;");
    write_file(dir.path() / "0001_first.sql", "SELECT 1;");
    write_file(dir.path() / "README.md", "not a migration");
    const auto loaded = load_migrations(dir.path());
    ASSERT_EQ(loaded.size(), 2u);
    EXPECT_EQ(loaded[0].version, 1);
    EXPECT_EQ(loaded[0].name, "first");
    EXPECT_EQ(loaded[0].sql, "SELECT 1;");
    EXPECT_EQ(loaded[1].version, 2);

    write_file(dir.path() / "0002_again.sql", "SELECT 3;");
    try {
        load_migrations(dir.path());
        FAIL() << "a repeated version was accepted";
    } catch (const Error& error) {
        EXPECT_EQ(error.code(), Errc::config);
        EXPECT_NE(std::string(error.what()).find("same version"), std::string::npos) << error.what();
    }
    std::filesystem::remove(dir.path() / "0002_again.sql");

    write_file(dir.path() / "3_bad-name.sql", "SELECT 3;");
    try {
        load_migrations(dir.path());
        FAIL() << "a misnamed migration was accepted";
    } catch (const Error& error) {
        EXPECT_EQ(error.code(), Errc::config);
        EXPECT_NE(std::string(error.what()).find("3_bad-name.sql"), std::string::npos) << error.what();
    }

    EXPECT_THROW(load_migrations(dir.path() / "missing"), Error);
}

}  // namespace
}  // namespace seamq::postgres
