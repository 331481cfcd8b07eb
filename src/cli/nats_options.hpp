#pragma once

// The NATS connection options every verb that talks to NATS shares: servers,
// authentication and TLS, each a flag with the environment variable the worker's
// configuration reads for the same setting (SEAMQ_NATS_CREDS, SEAMQ_NATS_TLS_CA_FILE...),
// so one environment serves both. Passwords and tokens never go on a command line (other
// users can read it in ps): they come from SEAMQ_NATS_PASSWORD / SEAMQ_NATS_TOKEN or a file.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "seamq/nats/connection.hpp"

namespace seamq::cli {

struct NatsArguments {
    std::vector<std::string> urls;  //!< each may be a comma-separated list
    std::string user;
    std::string password_file;
    std::string token_file;
    std::string nkey;
    std::string creds;
    std::string inbox_prefix;
    bool tls = false;
    std::string tls_ca_file;
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_server_name;
    std::string tls_min_version = "1.2";
};

//! Adds --nats (SEAMQ_NATS_URL) and the authentication and TLS options to `command`;
//! returns the --nats option.
CLI::Option* add_nats_options(
    CLI::App* command, NatsArguments& arguments,
    const std::string& urls_description = "NATS server URLs, comma-separated or repeated");

//! Connection options for `arguments` (servers as given; secrets read from the environment
//! or their files). Throws seamq::Error(config) for an unreadable password or token file.
nats::ConnectionOptions nats_connection_options(const NatsArguments& arguments, std::string name);

}  // namespace seamq::cli
