#include "seamq/worker/config.hpp"

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "tests/observability/run_command.hpp"
#include "tests/worker/test_certificates.hpp"
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "seamq/testing/process.hpp"

namespace seamq::worker {
namespace {

namespace fs = std::filesystem;

fs::path source_dir() {
    return test_support::environment_or("SEAMQ_SOURCE_DIR", ".");
}
fs::path worker_binary() {
    return fs::path(test_support::environment_or("SEAMQ_BIN_DIR", "bin")) / "sea-mq-worker";
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

constexpr std::string_view minimal = R"(contexts:
  - name: sea
    database:
      url: postgresql://postgres@127.0.0.1:5432/sea
)";

Config parse(std::string_view text, std::map<std::string, std::string> environment = {},
             const fs::path& base = "/tmp") {
    return parse_config(text, "test.yaml", base, Environment(std::move(environment)));
}

std::vector<ConfigProblem> problems_of(std::string_view text,
                                       std::map<std::string, std::string> environment = {}) {
    try {
        parse(text, std::move(environment));
    } catch (const ConfigError& e) {
        return e.problems();
    }
    return {};
}

TEST(ConfigValues, Durations) {
    EXPECT_EQ(parse_duration("500ms"), Duration(500));
    EXPECT_EQ(parse_duration("2s"), Duration(2000));
    EXPECT_EQ(parse_duration("1m30s"), Duration(90'000));
    EXPECT_EQ(parse_duration("1h"), Duration(3'600'000));
    EXPECT_EQ(parse_duration("7d"), Duration(7 * 86'400'000LL));
    EXPECT_EQ(parse_duration("0"), Duration(0));
    for (const auto* bad : {"", "5", "5x", "1.5s", "-1s", "s", "1s ", "99999999999999999999s"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
    }
    EXPECT_EQ(format_duration(Duration(90'000)), "1m30s");
    EXPECT_EQ(format_duration(Duration(500)), "500ms");
    EXPECT_EQ(format_duration(Duration(0)), "0s");
}

TEST(ConfigValues, SizesAndListenAddresses) {
    EXPECT_EQ(parse_byte_size("1048576"), 1048576);
    EXPECT_EQ(parse_byte_size("8MiB"), 8 * 1024 * 1024);
    EXPECT_EQ(parse_byte_size("1GB"), 1'000'000'000);
    EXPECT_EQ(parse_byte_size("8 MiB"), 8 * 1024 * 1024);  // the streams file always took a space
    EXPECT_EQ(parse_byte_size("1TiB"), std::int64_t{1} << 40);
    EXPECT_FALSE(parse_byte_size("8MiB ").has_value());
    EXPECT_FALSE(parse_byte_size("-1").has_value());
    EXPECT_EQ(parse_listen_address("127.0.0.1:9464")->port, 9464);
    EXPECT_EQ(parse_listen_address("[::1]:80")->host, "::1");
    EXPECT_EQ(parse_listen_address("0.0.0.0:0")->port, 0);
    for (const auto* bad : {"localhost", ":9464", "127.0.0.1:", "127.0.0.1:70000", "::1:80", "a b:1"}) {
        EXPECT_FALSE(parse_listen_address(bad).has_value()) << bad;
    }
}

TEST(Config, DefaultsFillWhatTheFileLeavesOut) {
    const auto config = parse(minimal);
    EXPECT_EQ(config.nats.servers, std::vector<std::string>{"nats://127.0.0.1:4222"});
    EXPECT_EQ(config.admin.listen, "127.0.0.1:9464");
    EXPECT_EQ(config.shutdown_deadline, std::chrono::seconds(30));
    ASSERT_EQ(config.contexts.size(), 1U);
    EXPECT_TRUE(config.contexts[0].relay.enabled);
    EXPECT_EQ(config.contexts[0].relay.poll_interval, std::chrono::milliseconds(500));
    EXPECT_EQ(config.contexts[0].database.url.reveal(), "postgresql://postgres@127.0.0.1:5432/sea");
    EXPECT_EQ(config.contexts[0].database.url.origin(), "literal");
}

TEST(Config, EnvironmentOverridesTheFile) {
    const auto config = parse(std::string(minimal) + "log:\n  level: info\n",
                              {{"SEAMQ_NATS_SERVERS", "nats://10.0.0.1:4222, nats://10.0.0.2:4222"},
                               {"SEAMQ_LOG_LEVEL", "debug"},
                               {"SEAMQ_ADMIN_LISTEN", "127.0.0.1:0"},
                               {"SEAMQ_CONTEXT_SEA_DATABASE_URL", "postgresql://app:hunter2@db/sea"},
                               {"SEAMQ_CONTEXT_SEA_RELAY_ENABLED", "false"},
                               {"SEAMQ_SHUTDOWN_DEADLINE", "5s"}});
    EXPECT_EQ(config.nats.servers,
              (std::vector<std::string>{"nats://10.0.0.1:4222", "nats://10.0.0.2:4222"}));
    EXPECT_EQ(config.log.level, "debug");
    EXPECT_EQ(config.admin.listen, "127.0.0.1:0");
    EXPECT_EQ(config.shutdown_deadline, std::chrono::seconds(5));
    EXPECT_FALSE(config.contexts[0].relay.enabled);
    EXPECT_EQ(config.contexts[0].database.url.reveal(), "postgresql://app:hunter2@db/sea");
    EXPECT_EQ(config.contexts[0].database.url.origin(),
              "environment variable SEAMQ_CONTEXT_SEA_DATABASE_URL");
    EXPECT_TRUE(config.warnings.empty());
}

TEST(Config, ABadEnvironmentValueIsReportedAsSuch) {
    const auto problems = problems_of(minimal, {{"SEAMQ_NATS_CONNECT_TIMEOUT", "soon"}});
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, "nats.connect_timeout");
    EXPECT_EQ(problems[0].location, "environment variable SEAMQ_NATS_CONNECT_TIMEOUT");
}

TEST(Config, AnInboxPrefixIsSubjectTokensWithoutWildcards) {
    EXPECT_EQ(parse(minimal, {{"SEAMQ_NATS_INBOX_PREFIX", "_INBOX_worker-sea"}}).nats.inbox_prefix,
              "_INBOX_worker-sea");
    for (const auto* bad : {"_INBOX.>", "_INBOX.*.x", "_INBOX.", "a..b", "has space"}) {
        const auto problems = problems_of(minimal, {{"SEAMQ_NATS_INBOX_PREFIX", bad}});
        ASSERT_EQ(problems.size(), 1U) << bad;
        EXPECT_EQ(problems[0].key, "nats.inbox_prefix") << bad;
    }
}

TEST(Config, AnEnvironmentTypoIsAWarning) {
    const auto config = parse(minimal, {{"SEAMQ_LOG_LEVLE", "debug"}, {"SEAMQ_TEST_ROOT", "/tmp/x"}});
    ASSERT_EQ(config.warnings.size(), 1U);
    EXPECT_NE(config.warnings[0].find("SEAMQ_LOG_LEVLE"), std::string::npos);
}

TEST(Config, SecretsComeFromTheEnvironmentOrFilesAndAreNeverPrinted) {
    testing::TempDir dir("config");
    std::ofstream(dir.path() / "token") << "Bearer s3cr3t-token\n";
    const std::string text = std::string(minimal) + R"(    relay:
      enabled: true
  - name: governance
    database:
      url: postgresql://app:${DB_PASSWORD}@db/governance?x=$${literal}
consumers:
  - name: audit
    context: governance
    stream: SEA_EVENTS
    handler:
      kind: http
      url: http://127.0.0.1:8081/audit
      headers:
        Authorization: {file: token}
        X-Default: ${UNSET_VARIABLE:-fallback-value}
)";
    const auto config =
        parse_config(text, "test.yaml", dir.path(),
                     Environment(std::map<std::string, std::string>{{"DB_PASSWORD", "pa55word"}}));
    const auto& url = config.contexts[1].database.url;
    EXPECT_EQ(url.reveal(), "postgresql://app:pa55word@db/governance?x=${literal}");
    EXPECT_EQ(url.origin(), "${DB_PASSWORD}");
    const auto& headers = config.consumers[0].handler.headers;
    EXPECT_EQ(headers.at("Authorization").reveal(), "Bearer s3cr3t-token");
    EXPECT_EQ(headers.at("Authorization").origin(), "file " + (dir.path() / "token").string());
    EXPECT_EQ(headers.at("X-Default").reveal(), "fallback-value");

    const auto dump = dump_config(config);
    for (const auto* secret : {"pa55word", "s3cr3t", "fallback-value", "postgres@127.0.0.1"}) {
        EXPECT_EQ(dump.find(secret), std::string::npos) << secret << " leaked into:\n" << dump;
    }
    EXPECT_NE(dump.find("<secret from ${DB_PASSWORD}>"), std::string::npos) << dump;
    // The dump is itself a valid configuration shape (secrets aside): it parses as YAML.
    EXPECT_NO_THROW(YAML::Load(dump));
}

TEST(Config, ListItemsWithoutANameAndSecretMappingsWithoutAFileAreProblems) {
    // Each ended the process with an uncaught YAML::InvalidNode (found by fuzzing).
    auto problems = problems_of("contexts:\n  - database:\n      url: postgresql://x@127.0.0.1/sea\n");
    ASSERT_FALSE(problems.empty());
    EXPECT_EQ(problems[0].key, "contexts[0].name");
    problems = problems_of("contexts:\n  - name: sea\n    database:\n      url: {path: /x}\n");
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, "contexts[0].database.url");
    EXPECT_NE(problems[0].reason.find("exactly {file: PATH}"), std::string::npos) << problems[0].to_string();
}

TEST(Config, ASecretFileIsReadOnlyUpToItsLimit) {
    // /dev/zero never ends: reading it whole never returned.
    const std::string text = std::string(minimal) + R"(consumers:
  - name: audit
    context: sea
    stream: SEA_EVENTS
    handler:
      kind: http
      url: http://127.0.0.1:8081/audit
      headers:
        Authorization: {file: /dev/zero}
)";
    const auto problems = problems_of(text);
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_NE(problems[0].reason.find("larger than 64 KiB"), std::string::npos) << problems[0].to_string();
}

constexpr std::string_view admin_token = "4f1c2b9e0d7a6f35c8e1b2a390d4e5f6";

// `admin:` section text followed by the minimal contexts.
std::string with_admin(const std::string& admin) {
    return "admin:\n" + admin + std::string(minimal);
}

std::vector<ConfigProblem> problems_in(const fs::path& dir, const std::string& text,
                                       std::map<std::string, std::string> environment = {}) {
    try {
        parse_config(text, "test.yaml", dir, Environment(std::move(environment)));
    } catch (const ConfigError& e) {
        return e.problems();
    }
    return {};
}

TEST(Config, TheAdminTokenIsReadFromItsFileTrimmedAndNeverPrinted) {
    testing::TempDir dir("config");
    std::ofstream(dir.path() / "admin-token") << admin_token << "\n";
    auto config =
        parse_config(with_admin("  token_file: admin-token\n"), "test.yaml", dir.path(), Environment({}));
    EXPECT_EQ(config.admin.token_file, dir.path() / "admin-token");
    EXPECT_EQ(config.admin.token.reveal(), admin_token);
    EXPECT_EQ(config.admin.token.origin(), "file " + (dir.path() / "admin-token").string());
    const auto dump = dump_config(config);
    EXPECT_EQ(dump.find(admin_token), std::string::npos) << dump;
    EXPECT_NE(dump.find("token_file: " + (dir.path() / "admin-token").string()), std::string::npos) << dump;

    // Windows line ending, and from the environment (relative to the file's directory).
    std::ofstream(dir.path() / "other-token") << "other-" << admin_token << "\r\n";
    config = parse_config(
        std::string(minimal), "test.yaml", dir.path(),
        Environment(std::map<std::string, std::string>{{"SEAMQ_ADMIN_TOKEN_FILE", "other-token"}}));
    EXPECT_EQ(config.admin.token.reveal(), "other-" + std::string(admin_token));

    // No token_file, no token: today's open admin server.
    EXPECT_TRUE(parse(minimal).admin.token.empty());
}

TEST(Config, AnUnusableAdminTokenFileIsAProblemOfItsKey) {
    testing::TempDir dir("config");
    std::ofstream(dir.path() / "empty");
    std::ofstream(dir.path() / "newline") << "\n";
    std::ofstream(dir.path() / "short") << "abc123\n";
    std::ofstream(dir.path() / "two-lines") << admin_token << "\n" << admin_token << "\n";
    std::ofstream(dir.path() / "spaced") << "Bearer " << admin_token << "\n";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"missing",
         "cannot read secret file " + (dir.path() / "missing").string() + ": No such file or directory"},
        {"empty", "secret file " + (dir.path() / "empty").string() + " is empty"},
        {"newline", "secret file " + (dir.path() / "newline").string() + " is empty"},
        {"short", "has 6 characters, fewer than 16"},
        {"two-lines", "has spaces, line breaks or non-ASCII characters"},
        {"spaced", "has spaces, line breaks or non-ASCII characters"},
    };
    for (const auto& [file, reason] : cases) {
        SCOPED_TRACE(file);
        const auto problems = problems_in(dir.path(), with_admin("  token_file: " + file + "\n"));
        ASSERT_EQ(problems.size(), 1U);
        EXPECT_EQ(problems[0].key, "admin.token_file");
        EXPECT_EQ(problems[0].line, 2);
        EXPECT_NE(problems[0].reason.find(reason), std::string::npos) << problems[0].to_string();
        EXPECT_EQ(problems[0].reason.find(admin_token), std::string::npos) << "the token leaked";
    }
}

TEST(Config, AnAdminAddressOffLoopbackWithoutTokenOrTlsIsAWarning) {
    testing::TempDir dir("config");
    const auto certificates = test::make_test_certificates(dir.path());
    std::ofstream(dir.path() / "token") << admin_token << "\n";
    const auto warnings_for = [&](const std::string& admin) {
        return parse_config(with_admin(admin), "test.yaml", dir.path(), Environment({})).warnings;
    };
    const auto tls = "  tls:\n    certificate_file: " + certificates.certificate.string() +
                     "\n    key_file: " + certificates.key.string() + "\n";

    for (const auto* loopback : {"127.0.0.1:9464", "127.0.0.5:0", "localhost:9464", "[::1]:9464"}) {
        EXPECT_TRUE(warnings_for(std::string("  listen: \"") + loopback + "\"\n").empty()) << loopback;
    }
    auto warnings = warnings_for("  listen: 0.0.0.0:9464\n");
    ASSERT_EQ(warnings.size(), 1U);
    EXPECT_NE(
        warnings[0].find("admin.listen 0.0.0.0:9464 is not a loopback address and admin.token_file is not "
                         "set"),
        std::string::npos)
        << warnings[0];
    warnings = warnings_for("  listen: 10.0.3.7:9464\n  token_file: token\n");
    ASSERT_EQ(warnings.size(), 1U);
    EXPECT_NE(warnings[0].find("admin.tls is not set: the admin token crosses the network in clear text"),
              std::string::npos)
        << warnings[0];
    EXPECT_TRUE(warnings_for("  listen: 10.0.3.7:9464\n  token_file: token\n" + tls).empty());
}

TEST(Config, AdminTlsNeedsACertificateAndItsKey) {
    testing::TempDir dir("config");
    const auto certificates = test::make_test_certificates(dir.path());
    const auto big = dir.path() / "big.pem";
    std::ofstream(big) << std::string(1536 * 1024, 'A');
    // Without a password callback OpenSSL would ask for it on the terminal.
    const auto encrypted = dir.path() / "encrypted.key";
    ASSERT_EQ(test_support::run_command({"openssl", "pkey", "-in", certificates.key.string(), "-aes256",
                                         "-passout", "pass:secret-password", "-out", encrypted.string()})
                  .exit_code,
              0);
    const auto tls = [](const fs::path& certificate, const fs::path& key) {
        std::string text = "  tls:\n";
        if (!certificate.empty()) text += "    certificate_file: " + certificate.string() + "\n";
        if (!key.empty()) text += "    key_file: " + key.string() + "\n";
        return with_admin(text);
    };

    const auto config = parse_config(tls(certificates.certificate, certificates.key), "test.yaml", dir.path(),
                                     Environment({}));
    EXPECT_EQ(config.admin.tls.certificate_file, certificates.certificate);
    EXPECT_EQ(config.admin.tls.key_file, certificates.key);

    const struct {
        fs::path certificate;
        fs::path key;
        std::string key_name;
        std::string reason;
    } cases[] = {
        {certificates.certificate, {}, "admin.tls.key_file", "is required with admin.tls.certificate_file"},
        {{}, certificates.key, "admin.tls.certificate_file", "is required with admin.tls.key_file"},
        {dir.path() / "nope.pem", certificates.key, "admin.tls.certificate_file",
         (dir.path() / "nope.pem").string() + " does not exist or is not a readable file"},
        {certificates.certificate, dir.path(), "admin.tls.key_file",
         dir.path().string() + " does not exist or is not a readable file"},
        {certificates.certificate, certificates.other_key, "admin.tls.key_file",
         certificates.other_key.string() + " is not the private key of the certificate in " +
             certificates.certificate.string()},
        {certificates.key, certificates.key, "admin.tls.certificate_file",
         certificates.key.string() + " holds no usable PEM certificate"},
        {certificates.certificate, certificates.certificate, "admin.tls.key_file",
         certificates.certificate.string() + " holds no usable unencrypted PEM private key"},
        {big, certificates.key, "admin.tls.certificate_file", big.string() + " is larger than 1 MiB"},
        {certificates.certificate, encrypted, "admin.tls.key_file",
         encrypted.string() + " holds no usable unencrypted PEM private key"},
    };
    for (const auto& expected : cases) {
        SCOPED_TRACE(expected.key_name + ": " + expected.reason);
        const auto problems = problems_in(dir.path(), tls(expected.certificate, expected.key));
        ASSERT_EQ(problems.size(), 1U);
        EXPECT_EQ(problems[0].key, expected.key_name);
        EXPECT_NE(problems[0].reason.find(expected.reason), std::string::npos) << problems[0].to_string();
    }
}

TEST(Config, ReportsEveryProblemWithKeyAndLine) {
    const auto problems = problems_of(R"(nats:
  servers: []
  reconnect_wiat: 1s
contexts:
  - name: sea
    database: {url: "x"}
    relay: {batch_size: -3, poll_interval: soon}
consumers:
  - name: "bad name"
    context: sea
    stream: SEA_EVENTS
    filter_subject: "sea..x"
    handler: {kind: sql}
)");
    std::set<std::pair<std::string, int>> found;
    for (const auto& problem : problems) found.emplace(problem.key, problem.line);
    const std::set<std::pair<std::string, int>> expected = {
        {"nats.servers", 2},
        {"nats.reconnect_wiat", 3},
        {"contexts[0].relay.batch_size", 7},
        {"contexts[0].relay.poll_interval", 7},
        {"consumers[0].name", 9},
        {"consumers[0].filter_subject", 12},
        {"consumers[0].handler", 13},
    };
    EXPECT_EQ(found, expected);
    for (std::size_t i = 1; i < problems.size(); ++i) EXPECT_LE(problems[i - 1].line, problems[i].line);
}

TEST(Config, EmptyFileNeedsAContext) {
    const auto problems = problems_of("");
    ASSERT_EQ(problems.size(), 1U);
    EXPECT_EQ(problems[0].key, "contexts");
}

// Every setting the loader accepts is documented in the example, and the example is valid.
TEST(ConfigExample, HasEverySettingAndIsValid) {
    const auto example = source_dir() / "config" / "worker.example.yaml";
    EXPECT_NO_THROW(load_config(example, Environment({})));

    std::set<std::string> present;
    std::function<void(const YAML::Node&, const std::string&)> walk = [&](const YAML::Node& node,
                                                                          const std::string& path) {
        if (node.IsMap()) {
            for (auto it = node.begin(); it != node.end(); ++it) {
                const auto key = path.empty() ? it->first.Scalar() : path + "." + it->first.Scalar();
                present.insert(key);
                if (!key.ends_with(".headers")) walk(it->second, key);  // header names are free
            }
        } else if (node.IsSequence()) {
            for (const auto& item : node) {
                if (item.IsMap()) walk(item, path + "[]");
            }
        }
    };
    walk(YAML::LoadFile(example.string()), "");
    for (const auto& setting : describe_settings()) {
        EXPECT_TRUE(present.contains(setting.key)) << setting.key << " is missing from " << example;
    }
}

// The reference in docs/configuration.md is exactly what the code declares.
TEST(ConfigDocs, ConfigurationMdCarriesTheGeneratedReference) {
    const auto text = read_file(source_dir() / "docs" / "configuration.md");
    const std::string begin = "<!-- BEGIN GENERATED: configuration -->\n";
    const auto start = text.find(begin);
    const auto stop = text.find("<!-- END GENERATED: configuration -->");
    ASSERT_NE(start, std::string::npos);
    ASSERT_NE(stop, std::string::npos);
    EXPECT_EQ(text.substr(start + begin.size(), stop - start - begin.size()),
              configuration_reference_markdown())
        << "docs/configuration.md is out of date: regenerate with `sea-mq-worker --reference configuration`";
}

// The real binary: the example passes --check-config.
TEST(WorkerBinary, ExampleConfigPassesCheckConfig) {
    const auto result = test_support::run_command({worker_binary().string(), "--check-config",
                                                   (source_dir() / "config" / "worker.example.yaml").string(),
                                                   "--print-config"});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("configuration is valid (3 context(s), 3 consumer(s))"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("url: <secret from ${SEA_DATABASE_URL}>"), std::string::npos)
        << result.output;
    EXPECT_EQ(result.output.find("local-development-only"), std::string::npos) << result.output;
}

// The real binary: each broken config fails with exit 2 and exactly one problem, at the
// key and line its first line announces (`# expect: KEY line N [environment NAME=VALUE]`).
TEST(WorkerBinary, EachBrokenConfigFailsWithTheRightKeyAndLine) {
    const auto directory = source_dir() / "tests" / "worker" / "configs" / "broken";
    const std::regex expectation(R"(# expect: (\S+) line (\d+)(?: environment (\w+)=(\S+))?)");
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(directory)) {
        if (entry.path().extension() != ".yaml") continue;
        std::string first_line;
        std::getline(std::ifstream(entry.path()) >> std::ws, first_line);
        std::smatch match;
        ASSERT_TRUE(std::regex_match(first_line, match, expectation)) << entry.path() << ": " << first_line;
        const std::string key = match[1];
        const int line = std::stoi(match[2]);
        std::vector<std::string> argv;
        if (match[3].matched) argv = {"env", std::string(match[3]) + "=" + std::string(match[4])};
        argv.push_back(worker_binary().string());
        argv.push_back("--check-config");
        argv.push_back(entry.path().string());
        const auto result = test_support::run_command(argv);
        SCOPED_TRACE(entry.path().filename().string() + ":\n" + result.output);
        EXPECT_EQ(result.exit_code, 2);
        EXPECT_NE(result.output.find(": 1 configuration problem:"), std::string::npos);
        const std::string where = line > 0 ? entry.path().string() + ":" + std::to_string(line) + ":"
                                           : "environment variable " + std::string(match[3]);
        EXPECT_NE(result.output.find(where), std::string::npos) << "expected location " << where;
        EXPECT_NE(result.output.find(": " + key + ": "), std::string::npos) << "expected key " << key;
        ++checked;
    }
    EXPECT_GE(checked, 15);
}

// The real binary, started with --config as a service manager would: an unusable admin
// token or TLS setting stops it before anything starts, with exit 2 and the key named.
TEST(WorkerBinary, AnUnusableAdminTokenOrTlsSettingStopsTheStartWithExit2) {
    testing::TempDir dir("worker-config");
    const auto certificates = test::make_test_certificates(dir.path());
    std::ofstream(dir.path() / "empty-token");
    const struct {
        std::string admin;
        std::string expected;
    } cases[] = {
        {"  token_file: no-such-token\n", ": admin.token_file: cannot read secret file " +
                                              (dir.path() / "no-such-token").string() +
                                              ": No such file or directory"},
        {"  token_file: empty-token\n",
         ": admin.token_file: secret file " + (dir.path() / "empty-token").string() + " is empty"},
        {"  tls:\n    certificate_file: " + certificates.certificate.string() + "\n",
         ": admin.tls.key_file: is required with admin.tls.certificate_file"},
        {"  tls:\n    certificate_file: " + certificates.certificate.string() +
             "\n    key_file: " + certificates.other_key.string() + "\n",
         ": admin.tls.key_file: " + certificates.other_key.string() +
             " is not the private key of the certificate"},
    };
    for (const auto& [admin, expected] : cases) {
        const auto file = dir.path() / "worker.yaml";
        std::ofstream(file) << "admin:\n  listen: 127.0.0.1:0\n" << admin << minimal;
        const auto result = test_support::run_command({worker_binary().string(), "--config", file.string()});
        SCOPED_TRACE(admin + "\n" + result.output);
        EXPECT_EQ(result.exit_code, 2);
        EXPECT_NE(result.output.find(": 1 configuration problem:"), std::string::npos);
        EXPECT_NE(result.output.find(expected), std::string::npos) << "expected: " << expected;
    }

    // The same settings, usable, pass --check-config.
    std::ofstream(dir.path() / "token") << admin_token << "\n";
    const auto file = dir.path() / "worker.yaml";
    std::ofstream(file) << "admin:\n  token_file: token\n  tls:\n    certificate_file: "
                        << certificates.certificate.string()
                        << "\n    key_file: " << certificates.key.string() << "\n"
                        << minimal;
    const auto result = test_support::run_command(
        {worker_binary().string(), "--check-config", file.string(), "--print-config"});
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output.find(admin_token), std::string::npos) << result.output;
}

}  // namespace
}  // namespace seamq::worker
