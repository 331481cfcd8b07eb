#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seamq/core/error.hpp"
#include "seamq/nats/credentials.hpp"

//! The worker's configuration: YAML file, environment overrides, secrets. Each struct
//! below is one YAML mapping; its keys, defaults, documentation and environment
//! variables are declared once, in src/worker/config_schema.hpp. To add a setting, add a
//! member here and one line there (docs/configuration.md and the example config are
//! checked against that declaration by tests).
namespace seamq::worker {

//! Durations in the file are "500ms", "2s", "1m", "1h30m", "7d"; stored in milliseconds.
using Duration = std::chrono::milliseconds;

//! A value that must never be logged or printed: database URLs with passwords, tokens.
//! No formatter or stream operator exists, so it cannot reach a log line by accident;
//! reveal() is the one way to read it. In YAML a secret is a literal string, a string
//! with `${ENV_VAR}` / `${ENV_VAR:-default}` references, or `{file: path}`.
class Secret {
public:
    Secret() = default;
    Secret(std::string value, std::string origin) : value_(std::move(value)), origin_(std::move(origin)) {}

    const std::string& reveal() const noexcept { return value_; }
    //! Where the value came from, safe to print: "literal", "${SEA_DATABASE_URL}",
    //! "file /run/secrets/db_url", "environment variable SEAMQ_CONTEXT_SEA_DATABASE_URL".
    const std::string& origin() const noexcept { return origin_; }
    bool empty() const noexcept { return value_.empty(); }
    //! "<secret from ORIGIN>", or "" when empty.
    std::string redacted() const;

    friend bool operator==(const Secret&, const Secret&) = default;

private:
    std::string value_;
    std::string origin_;
};

//! A byte count: 1048576, "512KiB", "8MiB", "1GB".
struct ByteSize {
    std::int64_t bytes = 0;
    friend bool operator==(const ByteSize&, const ByteSize&) = default;
};

//! `nats.tls:` TLS to the servers (on when enabled, when a file is given or a URL is tls://).
struct NatsTlsSettings {
    bool enabled = false;
    std::filesystem::path ca_file;
    std::filesystem::path cert_file;
    std::filesystem::path key_file;
    std::string server_name;
    std::string min_version = "1.2";
};

//! `nats:` the connection every component shares.
struct NatsSettings {
    std::vector<std::string> servers{"nats://127.0.0.1:4222"};
    std::string name = "sea-mq-worker";
    Duration connect_timeout{std::chrono::seconds(2)};
    bool retry_on_failed_connect = true;
    Duration reconnect_wait{std::chrono::milliseconds(500)};
    Duration reconnect_jitter{std::chrono::milliseconds(250)};
    ByteSize reconnect_buffer_bytes{std::int64_t{8} * 1024 * 1024};
    Duration ping_interval{std::chrono::seconds(5)};
    int max_pings_out = 2;
    std::string jetstream_domain;
    Duration api_timeout{std::chrono::seconds(5)};
    // Authentication: at most one of user/password, token, nkey (seed file), creds (.creds file).
    std::string user;
    Secret password;
    Secret token;
    std::filesystem::path nkey;
    std::filesystem::path creds;
    std::string inbox_prefix;  //!< "" = nats.c's _INBOX
    NatsTlsSettings tls;
};

//! `admin.tls:` HTTPS for the admin server; both files or neither.
struct AdminTlsSettings {
    std::filesystem::path certificate_file;  //!< PEM: the server certificate, then intermediates
    std::filesystem::path key_file;          //!< PEM: its private key (unencrypted)

    bool enabled() const { return !certificate_file.empty() || !key_file.empty(); }
};

//! `admin:` the HTTP server for /metrics, /healthz and /readyz.
struct AdminSettings {
    std::string listen = "127.0.0.1:9464";
    Duration readiness_check_timeout{std::chrono::seconds(2)};
    std::filesystem::path token_file;  //!< empty: no authentication
    AdminTlsSettings tls;

    //! token_file's content, read by the loader (not a setting of its own); empty when
    //! no token_file is given.
    Secret token;
};

//! `log:`
struct LogSettings {
    std::string level = "info";
};

//! `contexts[].database:`
struct DatabaseSettings {
    Secret url;
    Duration connect_timeout{std::chrono::seconds(5)};
};

//! `contexts[].relay:` moving committed outbox rows to JetStream.
struct RelaySettings {
    bool enabled = true;
    Duration poll_interval{std::chrono::milliseconds(500)};
    int batch_size = 100;
    int max_in_flight = 1000;
    Duration publish_timeout{std::chrono::seconds(5)};
    std::string published_rows = "log";  //!< relay::PublishedRows: log, keep or discard
    Duration published_retention{
        std::chrono::hours(24 * 7)};                    //!< 0: records of published events kept forever
    Duration vacuum_interval{std::chrono::seconds(1)};  //!< relay::RelayOptions::vacuum_interval; 0: off
};

//! `contexts[]:` one bounded context: its database and its relay.
struct ContextSettings {
    std::string name;
    DatabaseSettings database;
    RelaySettings relay;
};

//! `consumers[].handler:` what applies a message's effects.
struct HandlerSettings {
    std::string kind;      //!< "sql", "http" or "export"
    std::string function;  //!< sql: schema-qualified function taking the envelope (jsonb)
    std::string url;       //!< http: where the envelope is POSTed
    Duration timeout{std::chrono::seconds(5)};
    std::map<std::string, Secret> headers;  //!< http: extra request headers (tokens...)
    std::filesystem::path contracts;        //!< export: the events directory (schemas/events)
};

//! `consumers[]:` one durable JetStream consumer feeding one context's inbox.
struct ConsumerSettings {
    std::string name;
    std::string context;
    std::string stream;
    std::string filter_subject;
    int max_deliver = 5;
    std::vector<Duration> retry_delays{std::chrono::seconds(1), std::chrono::seconds(5),
                                       std::chrono::seconds(30)};
    Duration ack_wait{std::chrono::seconds(4)};
    int max_ack_pending = 1000;
    int batch_size = 100;
    Duration retention{std::chrono::hours(24 * 7)};
    HandlerSettings handler;
};

//! `inbound.partners[]:` one partner that posts Standard Webhooks-signed signals to
//! `POST /v1/inbound/{name}`.
struct InboundPartnerSettings {
    std::string name;
    //! The canonical type each delivery becomes, `{context}.command.{name}.v{n}`; its
    //! context (from contexts[]) holds the dedupe table and the outbox that takes it.
    std::string command;
    //! label -> `whsec_...`; several while a secret is rotated (any one verifies).
    std::map<std::string, Secret> secrets;
    std::string subject_pointer;  //!< JSON pointer to the ordering key in the payload; "": the partner
    std::string payload_pointer;  //!< JSON pointer to the part kept as data.payload; "": all of it
    ByteSize max_body_bytes{std::int64_t{256} * 1024};
    Duration tolerance{std::chrono::minutes(5)};
};

//! `inbound:` the inbound edge, its own HTTP listener.
struct InboundSettings {
    bool enabled = false;
    std::string listen = "127.0.0.1:9470";
    //! Events directory with the commands' contracts; "": the installed schemas/events.
    std::filesystem::path contracts_dir;
    //! seamq.inbound_deliveries rows (deduplication) older than this are deleted (0: kept
    //! forever); at least twice every partner's tolerance (validate_config).
    Duration deliveries_retention{std::chrono::hours(24 * 7)};
    Duration retention_interval{std::chrono::minutes(1)};  //!< between two retention passes
    std::vector<InboundPartnerSettings> partners;
};

//! `outbound.endpoints[]:` a webhook endpoint declared in the configuration.
struct OutboundEndpointSettings {
    std::string name;
    std::string url;
    std::string subject_filter;
    Secret secret;         //!< whsec_
    bool ordered = false;  //!< one event at a time: a retried event holds back later ones
};

//! `outbound:` the outbound edge: webhook endpoints (seamq.webhook_endpoints, managed with
//! `sea-mq webhooks`) fed from one context's events stream.
struct OutboundSettings {
    bool enabled = false;
    std::string context;                      //!< from contexts[]: its database and <CONTEXT>_EVENTS
    std::vector<std::string> allow_networks;  //!< CIDR blocks exempt from the SSRF guard
    std::vector<Duration> retry_delays{std::chrono::seconds(5),  std::chrono::seconds(30),
                                       std::chrono::minutes(2),  std::chrono::minutes(10),
                                       std::chrono::minutes(30), std::chrono::hours(1)};
    Duration failing_period{std::chrono::hours(24)};
    Duration timeout{std::chrono::seconds(10)};
    //! base64 of 32 bytes: secrets in seamq.webhook_endpoints are sealed with it
    //! (edges::SecretBox); empty: stored as given.
    Secret secrets_key;
    //! seamq.webhook_attempts rows older than this are deleted (0: kept forever).
    Duration attempts_retention{std::chrono::hours(24 * 30)};
    Duration retention_interval{std::chrono::minutes(1)};  //!< between two retention passes
    std::vector<OutboundEndpointSettings> endpoints;
};

//! `federation:` what the worker watches of its cell's federation links (docs/federation.md):
//! gauges and the degraded note of /readyz; never readiness itself.
struct FederationSettings {
    //! nats-server monitoring URLs (http://host:8222) of this cell's servers, for /leafz.
    std::vector<std::string> monitor_urls;
    Duration poll_interval{std::chrono::seconds(15)};
    Duration timeout{std::chrono::seconds(2)};
    Duration max_inactive{std::chrono::seconds(30)};
};

//! The whole file.
struct Config {
    NatsSettings nats;
    AdminSettings admin;
    LogSettings log;
    std::filesystem::path streams_file;  //!< resolved against the config file's directory
    Duration shutdown_deadline{std::chrono::seconds(30)};
    std::vector<ContextSettings> contexts;
    std::vector<ConsumerSettings> consumers;
    InboundSettings inbound;
    OutboundSettings outbound;
    FederationSettings federation;

    std::string source;  //!< the file name (or "<string>"), for messages
    //! Not errors, but worth a log line: SEAMQ_ variables that match no setting.
    std::vector<std::string> warnings;

    const ContextSettings* find_context(std::string_view name) const;
};

//! One thing wrong with a configuration, located precisely.
struct ConfigProblem {
    std::string key;                //!< "consumers[1].retry_delays[0]"
    std::string location;           //!< "worker.yaml:12:7" or "environment variable SEAMQ_LOG_LEVEL"
    std::string reason;             //!< "'5x' is not a duration (use e.g. 500ms, 2s, 1m)"
    int line = 0;                   //!< 1-based; 0 when the value did not come from the file
    int column = 0;                 //!< 1-based; 0 when the value did not come from the file
    std::string to_string() const;  //!< "LOCATION: KEY: REASON"
};

//! Every problem found in a configuration (all of them, not just the first); what()
//! lists one per line. Errc::config: exit code 2.
class ConfigError : public seamq::Error {
public:
    explicit ConfigError(std::vector<ConfigProblem> problems);
    const std::vector<ConfigProblem>& problems() const noexcept { return problems_; }

private:
    std::vector<ConfigProblem> problems_;
};

//! Where environment variables come from: the process, or a fixed map in tests.
class Environment {
public:
    static Environment process();
    explicit Environment(std::map<std::string, std::string> variables) : variables_(std::move(variables)) {}

    std::optional<std::string> get(const std::string& name) const;
    std::vector<std::string> names_with_prefix(std::string_view prefix) const;

private:
    std::map<std::string, std::string> variables_;
};

//! Reads, overrides from the environment, resolves secrets and validates. Throws
//! ConfigError listing every problem with key, line and reason.
Config load_config(const std::filesystem::path& file,
                   const Environment& environment = Environment::process());
//! The same from text; relative paths resolve against `base_directory`.
Config parse_config(std::string_view yaml_text, std::string source,
                    const std::filesystem::path& base_directory, const Environment& environment);

//! The effective configuration as YAML, secrets redacted: what `--print-config` shows.
std::string dump_config(const Config& config);

//! One accepted setting, as the reference documents it.
struct SettingDescription {
    std::string key;            //!< "contexts[].relay.poll_interval"
    std::string type;           //!< "duration", "string", "list of duration", "secret" ...
    std::string default_value;  //!< "" when required or empty
    bool required = false;
    std::string environment;  //!< "SEAMQ_CONTEXT_<NAME>_RELAY_POLL_INTERVAL", "" if none
    std::string description;
};

//! Every setting the loader accepts, in file order.
std::vector<SettingDescription> describe_settings();
//! The Markdown table docs/configuration.md carries between
//! `<!-- BEGIN GENERATED: configuration -->` and `<!-- END GENERATED: configuration -->`.
std::string configuration_reference_markdown();

//! The NATS layer's view of `nats:`'s authentication and TLS settings.
nats::Authentication nats_authentication(const NatsSettings& settings);
nats::TlsOptions nats_tls(const NatsTlsSettings& settings);

//! seamq::parse_duration (core/units.hpp: "500ms", "2s", "1m30s", "7d", "0"); nullopt when
//! malformed.
std::optional<Duration> parse_duration(std::string_view text);
//! The inverse, compact: 90000ms -> "1m30s", 0 -> "0s".
std::string format_duration(Duration duration);
//! seamq::parse_byte_size ("1048576", "512KiB", "8MiB", "1GB"); nullopt when malformed or
//! negative.
std::optional<std::int64_t> parse_byte_size(std::string_view text);

//! A listen address split into host and port; nullopt when malformed ("host:port",
//! "[::1]:port"; port 0..65535, 0 meaning any free port).
struct ListenAddress {
    std::string host;
    int port = 0;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace seamq::worker
