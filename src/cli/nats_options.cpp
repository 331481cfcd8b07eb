#include "src/cli/nats_options.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "src/cli/command_line.hpp"

#include "seamq/core/error.hpp"

namespace seamq::cli {

namespace {

// A secret from `file` if given, else from the environment variable; "" when neither.
std::string secret(const std::string& file, const char* variable, std::string_view what) {
    if (!file.empty()) {
        nats::check_readable_file(file, what);
        std::ifstream in(file, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        auto value = text.str();
        while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
        if (value.empty()) raise(Errc::config, "{} '{}' is empty", what, file);
        return value;
    }
    const char* value = std::getenv(variable);
    return value != nullptr ? value : "";
}

}  // namespace

CLI::Option* add_nats_options(CLI::App* command, NatsArguments& arguments,
                              const std::string& urls_description) {
    auto* urls = add_env_option(command, "--nats", arguments.urls, urls_description, "SEAMQ_NATS_URL");
    const std::string group = "NATS authentication and TLS";
    add_env_option(command, "--nats-user", arguments.user,
                   "User name; the password comes from SEAMQ_NATS_PASSWORD or --nats-password-file",
                   "SEAMQ_NATS_USER")
        ->group(group);
    command->add_option("--nats-password-file", arguments.password_file, "File holding the password")
        ->group(group);
    command
        ->add_option("--nats-token-file", arguments.token_file,
                     "File holding the authentication token (or set SEAMQ_NATS_TOKEN)")
        ->group(group);
    add_env_option(command, "--nats-nkey", arguments.nkey, "File holding the user's NKey seed (SU...)",
                   "SEAMQ_NATS_NKEY")
        ->group(group);
    add_env_option(command, "--nats-creds", arguments.creds,
                   "Credentials file (.creds: user JWT and NKey seed)", "SEAMQ_NATS_CREDS")
        ->group(group);
    add_env_option(command, "--nats-inbox-prefix", arguments.inbox_prefix,
                   "Subject prefix of reply inboxes (default _INBOX); the one the user may subscribe to",
                   "SEAMQ_NATS_INBOX_PREFIX")
        ->group(group);
    add_env_option(command, "--nats-tls", arguments.tls,
                   "Speak TLS (also on with any --nats-tls-* file or a tls:// URL)", "SEAMQ_NATS_TLS_ENABLED")
        ->group(group);
    add_env_option(command, "--nats-tls-ca", arguments.tls_ca_file,
                   "PEM CA bundle the server certificates must chain to", "SEAMQ_NATS_TLS_CA_FILE")
        ->group(group);
    add_env_option(command, "--nats-tls-cert", arguments.tls_cert_file, "PEM client certificate (mutual TLS)",
                   "SEAMQ_NATS_TLS_CERT_FILE")
        ->group(group);
    add_env_option(command, "--nats-tls-key", arguments.tls_key_file, "PEM private key of --nats-tls-cert",
                   "SEAMQ_NATS_TLS_KEY_FILE")
        ->group(group);
    add_env_option(
        command, "--nats-tls-server-name", arguments.tls_server_name,
        "Host name the server certificates must carry (default: the URLs' host when they share one)",
        "SEAMQ_NATS_TLS_SERVER_NAME")
        ->group(group);
    add_env_option(command, "--nats-tls-min-version", arguments.tls_min_version,
                   "Lowest TLS version: 1.2 or 1.3", "SEAMQ_NATS_TLS_MIN_VERSION")
        ->check(CLI::IsMember({"1.2", "1.3"}))
        ->group(group);
    return urls;
}

nats::ConnectionOptions nats_connection_options(const NatsArguments& arguments, std::string name) {
    nats::ConnectionOptions options;
    options.name = std::move(name);
    for (const auto& entry : arguments.urls)
        for (auto& url : nats::ConnectionOptions::split_urls(entry))
            options.servers.push_back(std::move(url));
    auto& auth = options.auth;
    auth.user = arguments.user;
    if (!auth.user.empty())
        auth.password = secret(arguments.password_file, "SEAMQ_NATS_PASSWORD", "password file");
    // A token from the environment only when no flag chose another way: the flag wins.
    if (!arguments.token_file.empty() ||
        (auth.user.empty() && arguments.nkey.empty() && arguments.creds.empty()))
        auth.token = secret(arguments.token_file, "SEAMQ_NATS_TOKEN", "token file");
    auth.nkey_seed_file = arguments.nkey;
    auth.credentials_file = arguments.creds;
    options.inbox_prefix = arguments.inbox_prefix;
    auto& tls = options.tls;
    tls.enabled = arguments.tls;
    tls.ca_file = arguments.tls_ca_file;
    tls.certificate_file = arguments.tls_cert_file;
    tls.key_file = arguments.tls_key_file;
    tls.server_name = arguments.tls_server_name;
    tls.min_version = arguments.tls_min_version;
    return options;
}

}  // namespace seamq::cli
