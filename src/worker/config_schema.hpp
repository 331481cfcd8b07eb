#pragma once

// The one declaration of every worker setting: key, member, documentation and the
// checks that need only the value itself. Three visitors walk it: the loader (YAML +
// environment -> Config), the describer (docs/configuration.md) and the dumper
// (--print-config). Checks across settings live in config.cpp (validate_config).
//
// A visitor provides:
//   field(key, member, doc [, check])     optional; the member's initial value is the default
//   required(key, member, doc [, check])  must be given
//   identifier(key, member, doc, check)   a list item's required name (no environment
//                                         override: the environment addresses items by it)
//   section(key, member, doc)             a nested mapping, visited by its own visit()
//   list(key, env_word, member, doc)      a sequence of mappings with a `name` each; the
//                                         environment names its items env_word_<NAME>_...
// A check is `std::string(const T&)` returning "" when the value is fine, else the reason.

#include <string>

#include "seamq/observability/logging.hpp"
#include "seamq/relay/relay.hpp"
#include "seamq/worker/config.hpp"

namespace seamq::worker::schema {

inline std::string positive(const int& value) {
    return value > 0 ? "" : "must be at least 1";
}
inline std::string non_negative(const int& value) {
    return value >= 0 ? "" : "must not be negative";
}
inline std::string positive_duration(const Duration& value) {
    return value.count() > 0 ? "" : "must be longer than 0";
}
inline std::string non_negative_duration(const Duration& value) {
    return value.count() >= 0 ? "" : "must not be negative";
}
inline std::string retention_duration(const Duration& value) {
    return value >= std::chrono::minutes(2) ? "" : "must be at least 2m (the streams' duplicate window)";
}
inline std::string not_empty(const std::string& value) {
    return value.empty() ? "must not be empty" : "";
}
inline std::string log_level(const std::string& value) {
    return observability::parse_log_level(value) ? ""
                                                 : "'" + value +
                                                       "' is not a log level (trace, debug, info, warn, "
                                                       "error, critical, off)";
}
inline std::string published_rows(const std::string& value) {
    return relay::parse_published_rows(value) ? "" : "'" + value + "' is not one of log, keep, discard";
}
inline std::string listen_address(const std::string& value) {
    return parse_listen_address(value) ? ""
                                       : "'" + value +
                                             "' is not a listen address (HOST:PORT, e.g. 127.0.0.1:9464; "
                                             "[::1]:9464)";
}
std::string nats_urls(const std::vector<std::string>& servers);
std::string context_name(const std::string& value);
std::string consumer_name(const std::string& value);
std::string stream_name(const std::string& value);
std::string subject_filter(const std::string& value);
std::string handler_kind(const std::string& value);

std::string tls_version(const std::string& value);

template <typename Visitor>
void visit(Visitor& v, NatsTlsSettings& s) {
    v.field("enabled", s.enabled,
            "Speak TLS to the servers. Also on when a file below is given or a server URL is tls://.");
    v.field("ca_file", s.ca_file,
            "PEM CA bundle the servers' certificates must chain to; relative to this file. Without it the "
            "system's trust store is used.");
    v.field("cert_file", s.cert_file, "PEM client certificate (chain) for mutual TLS; needs key_file.");
    v.field("key_file", s.key_file, "PEM private key of cert_file.");
    v.field("server_name", s.server_name,
            "Host name the server certificates must carry. Empty: the host of nats.servers when they all "
            "name one host; otherwise only the certificate chain is checked, so set it for a cluster whose "
            "certificates share a name.");
    v.field("min_version", s.min_version,
            "Lowest TLS version accepted: 1.2 or 1.3. nats.c has no setting for it: 1.3 is set in OpenSSL's "
            "process-wide configuration, so every TLS connection of the process (PostgreSQL and HTTPS "
            "included) then refuses TLS 1.2.",
            tls_version);
}

template <typename Visitor>
void visit(Visitor& v, NatsSettings& s) {
    v.field("servers", s.servers,
            "Server URLs of the cluster (nats:// or tls://); the client tries them all, in random order, and "
            "reconnects to any of them.",
            nats_urls);
    v.field("name", s.name, "Connection name shown in the servers' /connz.", not_empty);
    v.field("connect_timeout", s.connect_timeout, "Timeout of one connection attempt to one server.",
            positive_duration);
    v.field("retry_on_failed_connect", s.retry_on_failed_connect,
            "When no server answers at start, keep trying in the background (the worker reports not ready) "
            "instead of exiting.");
    v.field("reconnect_wait", s.reconnect_wait,
            "Pause between reconnect rounds through the server list; reconnects never stop.",
            positive_duration);
    v.field("reconnect_jitter", s.reconnect_jitter,
            "Random extra pause added to reconnect_wait, so workers do not reconnect in lockstep.");
    v.field(
        "reconnect_buffer_bytes", s.reconnect_buffer_bytes,
        "Bytes of publishes buffered while disconnected (1048576, 512KiB, 8MiB); beyond it a publish fails "
        "at once and the outbox row is retried later.");
    v.field(
        "ping_interval", s.ping_interval,
        "Interval of client pings that detect a dead connection; a server that vanished without a reset is "
        "noticed within ping_interval x (max_pings_out + 1).",
        positive_duration);
    v.field("max_pings_out", s.max_pings_out, "Unanswered pings after which the connection counts as lost.",
            positive);
    v.field("jetstream_domain", s.jetstream_domain,
            "JetStream domain to address (leafnode setups); empty for none.");
    v.field("api_timeout", s.api_timeout, "Timeout of JetStream API requests (stream and consumer info).",
            positive_duration);
    v.field("user", s.user, "User name, with password (nats-server `authorization.users`).");
    v.field("password", s.password,
            "Password of user. A secret: write ${ENV_VAR} or {file: path}, never the password itself.");
    v.field("token", s.token,
            "Authentication token (nats-server `authorization.token`). A secret, like password.");
    v.field("nkey", s.nkey, "File holding the user's NKey seed (SU...): nats-server `nkey:` users.");
    v.field("creds", s.creds,
            "Credentials file (.creds: user JWT and NKey seed) for decentralized JWT auth. Read again at "
            "every reconnect, so a replaced file takes effect without a restart.");
    v.field("inbox_prefix", s.inbox_prefix,
            "Subject prefix of the worker's reply inboxes (requests, PubAcks, pull batches); empty: _INBOX. "
            "Give each NATS user its own (_INBOX_worker-sea) and allow it only that prefix.> to subscribe: "
            "with the shared _INBOX.> any user of the account can overhear the others' replies.");
    v.section("tls", s.tls, "TLS to the servers.");
}

template <typename Visitor>
void visit(Visitor& v, AdminTlsSettings& s) {
    v.field("certificate_file", s.certificate_file,
            "PEM file with the admin server's certificate, then any intermediates. With key_file the admin "
            "server speaks HTTPS only (TLS 1.2 or newer); empty: plain HTTP. Read at start (restart the "
            "worker to load a renewed certificate).");
    v.field("key_file", s.key_file,
            "PEM file with the certificate's private key (unencrypted); required with certificate_file.");
}

template <typename Visitor>
void visit(Visitor& v, AdminSettings& s) {
    v.field("listen", s.listen,
            "Address of the admin HTTP server (/metrics, /healthz, /readyz). Loopback by default; on any "
            "other address set token_file (and tls), or keep the address on a network only Prometheus and "
            "operators reach.",
            listen_address);
    v.field("readiness_check_timeout", s.readiness_check_timeout,
            "Bound on each readiness check /readyz runs (database ping, stream lookup).", positive_duration);
    v.field("token_file", s.token_file,
            "File holding the admin bearer token: its content without the trailing newline, at least 16 "
            "visible ASCII characters (e.g. `openssl rand -hex 32`). When set, /metrics and /readyz answer "
            "401 unless the request carries `Authorization: Bearer TOKEN`; /healthz stays open for liveness "
            "probes. Empty: no authentication. Read at start.");
    v.section("tls", s.tls, "HTTPS for the admin server.");
}

template <typename Visitor>
void visit(Visitor& v, LogSettings& s) {
    v.field("level", s.level,
            "trace, debug, info, warn, error, critical or off. Logs are JSON lines on stderr.", log_level);
}

template <typename Visitor>
void visit(Visitor& v, DatabaseSettings& s) {
    v.required("url", s.url,
               "libpq connection string or postgresql:// URL of the context's database. A secret: write "
               "${ENV_VAR} or {file: path} rather than a password.");
    v.field("connect_timeout", s.connect_timeout, "Timeout of one connection attempt.", positive_duration);
}

template <typename Visitor>
void visit(Visitor& v, RelaySettings& s) {
    v.field("enabled", s.enabled, "Run this context's relay in this worker (one worker per context leads).");
    v.field("poll_interval", s.poll_interval,
            "Longest pause between outbox polls when no NOTIFY arrives (NOTIFY wakes the relay at once).",
            positive_duration);
    v.field("batch_size", s.batch_size, "Outbox rows read per query at most.", positive);
    v.field("max_in_flight", s.max_in_flight, "Published events awaiting their PubAck at most.", positive);
    v.field("publish_timeout", s.publish_timeout,
            "Time a PubAck may take; after it the event is published again with the same Nats-Msg-Id.",
            positive_duration);
    v.field("published_rows", s.published_rows,
            "What a published row leaves behind: log (the row is deleted and its id, position and stream "
            "sequence go to the publication log, seamq.outbox_published: the outbox table holds only what "
            "is unpublished), keep (the row stays, marked published: twice the database work of log), or "
            "discard (deleted, no record; the stream has every event). Rejected rows are always kept.",
            published_rows);
    v.field("published_retention", s.published_retention,
            "Records of published events (log entries, kept rows) older than this are deleted by the relay "
            "leader every minute, in short batches (never pending or rejected rows; producers are never "
            "blocked); 0s keeps them forever.",
            non_negative_duration);
    v.field("vacuum_interval", s.vacuum_interval,
            "The leading relay VACUUMs seamq.outbox_events at most this often while it settles rows, so that "
            "the table holds the backlog and about this long of dead rows instead of an autovacuum naptime's "
            "worth (needs the table's or the database's owner; otherwise autovacuum alone); 0s: autovacuum "
            "alone.",
            non_negative_duration);
}

template <typename Visitor>
void visit(Visitor& v, ContextSettings& s) {
    v.identifier("name", s.name, "Bounded context name ([a-z][a-z0-9_-]*): sea, vibespro, governance.",
                 context_name);
    v.section("database", s.database, "The context's PostgreSQL database (outbox and inbox tables).");
    v.section("relay", s.relay, "Relaying the context's outbox to its stream.");
}

template <typename Visitor>
void visit(Visitor& v, HandlerSettings& s) {
    v.required("kind", s.kind,
               "sql: call a database function in the inbox transaction; http: POST the envelope to a URL; "
               "export: publish the external copy of each external event to the context's export stream "
               "(docs/federation.md).",
               handler_kind);
    v.field(
        "function", s.function,
        "kind sql: schema-qualified function taking the envelope as jsonb, run in the same transaction as "
        "the inbox row.");
    v.field("url", s.url, "kind http: URL the envelope is POSTed to (2xx = done, 4xx = permanent failure).");
    v.field("timeout", s.timeout, "Longest a handler call may take before it counts as failed.",
            positive_duration);
    v.field("headers", s.headers, "kind http: extra request headers; values are secrets (Authorization...).");
    v.field("contracts", s.contracts,
            "kind export: the events directory of the payload contracts (schemas/events), which say what "
            "may leave the context and which fields are redacted. Relative to this file.");
}

template <typename Visitor>
void visit(Visitor& v, ConsumerSettings& s) {
    v.identifier("name", s.name, "Durable consumer name ([A-Za-z0-9_-]+), also the inbox's consumer key.",
                 consumer_name);
    v.required("context", s.context, "Context (from contexts[]) whose database holds the inbox and effects.",
               not_empty);
    v.required("stream", s.stream, "Stream the consumer reads, e.g. SEA_EVENTS.", stream_name);
    v.field("filter_subject", s.filter_subject, "Subject filter, e.g. sea.event.order_placed.v1; empty: all.",
            subject_filter);
    v.field("max_deliver", s.max_deliver,
            "Deliveries of a message before it is dead-lettered; must exceed the number of retry_delays.",
            positive);
    v.field("retry_delays", s.retry_delays,
            "Delay before each redelivery after a failure (nak with delay); the last one repeats.");
    v.field("ack_wait", s.ack_wait,
            "Time without an ack before the server redelivers a message: how soon a crashed worker's "
            "messages go to another (at least 1s). The worker keeps the messages it holds in progress "
            "(+WPI every third of it), so a handler may run longer.",
            positive_duration);
    v.field("max_ack_pending", s.max_ack_pending, "Messages delivered and not yet acknowledged, at most.",
            positive);
    v.field("batch_size", s.batch_size, "Messages fetched per pull request.", positive);
    v.field(
        "retention", s.retention,
        "Processed inbox rows are kept at least this long (at least 2m), and always as long as the stream "
        "can redeliver their message: its max_age plus 10m, or forever when the stream has no max_age "
        "(a consumer recreated from the start of the stream then finds every row).",
        retention_duration);
    v.section("handler", s.handler, "What applies the message's effects.");
}

std::string json_pointer(const std::string& value);
std::string command_type(const std::string& value);
std::string partner_name(const std::string& value);
inline std::string positive_size(const ByteSize& value) {
    return value.bytes > 0 ? "" : "must be at least 1 byte";
}

template <typename Visitor>
void visit(Visitor& v, InboundPartnerSettings& s) {
    v.identifier("name", s.name,
                 "Partner name ([a-z][a-z0-9_-]*, at most 64): the path segment of POST /v1/inbound/{name}.",
                 partner_name);
    v.required("command", s.command,
               "Type each delivery becomes, {context}.command.{name}.v{n} (e.g. "
               "integration.command.partner-signal.v1); its contract must exist in contracts_dir, and its "
               "context in contexts[]: that database dedupes deliveries and its outbox takes the command.",
               command_type);
    v.field("secrets", s.secrets,
            "label -> whsec_ secret (Standard Webhooks). Give the new one beside the old while rotating: "
            "a delivery signed with any of them is accepted. Values are secrets (${ENV_VAR}, {file: path}).");
    v.field("subject_pointer", s.subject_pointer,
            "JSON pointer (RFC 6901, e.g. /order/id) to a string or number in the partner's payload that "
            "becomes the envelope subject (ordering key); empty: the partner name.",
            json_pointer);
    v.field("payload_pointer", s.payload_pointer,
            "JSON pointer to the part of the payload kept as data.payload; empty: the whole payload.",
            json_pointer);
    v.field("max_body_bytes", s.max_body_bytes, "Largest request body accepted (413 above).", positive_size);
    v.field("tolerance", s.tolerance,
            "How far webhook-timestamp may be from now, either way (401 outside it).", positive_duration);
}

template <typename Visitor>
void visit(Visitor& v, InboundSettings& s) {
    v.field("enabled", s.enabled, "Run the inbound edge: POST /v1/inbound/{partner} on its own listener.");
    v.field("listen", s.listen,
            "Address of the inbound HTTP listener, apart from admin.listen: partners reach this one (through "
            "your TLS-terminating proxy), operators and Prometheus the other.",
            listen_address);
    v.field("contracts_dir", s.contracts_dir,
            "Events directory holding the commands' contracts (schemas/events); relative to this file. "
            "Empty: the schemas installed with sea-mq.");
    v.field("deliveries_retention", s.deliveries_retention,
            "seamq.inbound_deliveries rows (the deduplication of webhook-ids) older than this are deleted by "
            "the worker, in batches of 1000 (at most 100 batches a pass); 0s keeps them forever. At least "
            "twice every partner's tolerance: a delivery is replayable for that long. Partners re-sign their "
            "retries with a new timestamp, so keep it longer than their retry horizon (days).",
            non_negative_duration);
    v.field("retention_interval", s.retention_interval,
            "Time between two passes of the deliveries retention.", positive_duration);
    v.list("partners", "PARTNER", s.partners, "Partners allowed to post signed signals.");
}

std::string cidr_blocks(const std::vector<std::string>& value);
std::string webhook_url(const std::string& value);

template <typename Visitor>
void visit(Visitor& v, OutboundEndpointSettings& s) {
    v.identifier("name", s.name, "Endpoint name ([A-Za-z0-9_-], at most 64), as `sea-mq webhooks` shows it.",
                 consumer_name);
    v.required("url", s.url, "http:// or https:// URL the events are POSTed to.", webhook_url);
    v.required("subject_filter", s.subject_filter,
               "Subject filter, e.g. sea.event.> or sea.event.order-placed.v1.", subject_filter);
    v.required("secret", s.secret, "whsec_ secret the partner verifies with (${ENV_VAR} or {file: path}).");
    v.field("ordered", s.ordered,
            "Send one event at a time, in stream order: an event being retried holds back every later one "
            "of this endpoint (all ordering keys; src/edges/README.md says why). Off: later events keep "
            "flowing while one is retried.");
}

template <typename Visitor>
void visit(Visitor& v, OutboundSettings& s) {
    v.field("enabled", s.enabled,
            "Run the outbound edge: deliver the context's external events to the enabled endpoints of "
            "seamq.webhook_endpoints (`sea-mq webhooks add`), one durable consumer per endpoint.");
    v.field("context", s.context,
            "Context (from contexts[]) whose database holds the endpoints and attempts and whose "
            "<CONTEXT>_EVENTS stream is read.");
    v.field(
        "allow_networks", s.allow_networks,
        "CIDR blocks a delivery may reach although the SSRF guard refuses them (loopback, private, "
        "link-local, metadata), e.g. [10.20.0.0/16] for an internal partner. Empty: only public addresses.",
        cidr_blocks);
    v.field("retry_delays", s.retry_delays,
            "Delay before each retry of a failed delivery (x random 0.8..1.2, never below the endpoint's "
            "Retry-After); the last one repeats.");
    v.field("failing_period", s.failing_period,
            "An endpoint without a delivery for this long is disabled (logged at error level).",
            positive_duration);
    v.field("timeout", s.timeout, "Longest one delivery attempt may take.", positive_duration);
    v.field("secrets_key", s.secrets_key,
            "Key sealing the endpoints' secrets in seamq.webhook_endpoints (AES-256-GCM): base64 of 32 bytes "
            "(`openssl rand -base64 32`), a secret (${ENV_VAR} or {file: path}); the CLI takes the same key "
            "(--secrets-key, SEAMQ_WEBHOOK_SECRETS_KEY). Empty: secrets are stored as given. Rows stored "
            "before a key was set keep working; an endpoint whose secret is sealed and cannot be opened is "
            "not served (logged at error level).");
    v.field("attempts_retention", s.attempts_retention,
            "seamq.webhook_attempts rows older than this are deleted by the worker, in batches of 1000 (at "
            "most 100 batches a pass); 0s keeps them forever.",
            non_negative_duration);
    v.field("retention_interval", s.retention_interval, "Time between two passes of the attempts retention.",
            positive_duration);
    v.list(
        "endpoints", "ENDPOINT", s.endpoints,
        "Endpoints declared here are written into seamq.webhook_endpoints at start (URL, filter and secret; "
        "enabled when new); `sea-mq webhooks` adds others and enables or disables any.");
}

std::string monitor_urls(const std::vector<std::string>& value);

template <typename Visitor>
void visit(Visitor& v, FederationSettings& s) {
    v.field("monitor_urls", s.monitor_urls,
            "Monitoring URLs (http://host:8222) of this cell's NATS servers: their /leafz gives the leafnode "
            "links' gauges and the degraded note of /readyz. Empty: links are not watched.",
            monitor_urls);
    v.field("poll_interval", s.poll_interval,
            "How often the links (/leafz) and the sources of the import streams of this worker's contexts "
            "(stream info) "
            "are read.",
            positive_duration);
    v.field("timeout", s.timeout, "Longest one /leafz request or stream info request may take.",
            positive_duration);
    v.field("max_inactive", s.max_inactive,
            "A source not heard from (messages or heartbeats) for this long counts as stalled.",
            positive_duration);
}

template <typename Visitor>
void visit(Visitor& v, Config& s) {
    v.section("nats", s.nats, "The NATS connection shared by every component.");
    v.section("admin", s.admin, "The admin HTTP server.");
    v.section("log", s.log, "Logging.");
    v.field(
        "streams_file", s.streams_file,
        "Streams file (config/streams.yaml); the streams it declares for this worker's contexts must exist "
        "for /readyz. Relative to this file.");
    v.field("shutdown_deadline", s.shutdown_deadline,
            "After SIGTERM or SIGINT, time to finish in-flight work; a second signal exits at once.",
            positive_duration);
    v.list("contexts", "CONTEXT", s.contexts, "Bounded contexts served by this worker (at least one).");
    v.list("consumers", "CONSUMER", s.consumers, "Inbox consumers run by this worker.");
    v.section("inbound", s.inbound, "The inbound edge: signed partner signals into commands.");
    v.section("outbound", s.outbound, "The outbound edge: signed webhooks of external events.");
    v.section("federation", s.federation,
              "Watching this cell's federation links and import sources (gauges; /readyz says degraded, "
              "never unready).");
}

}  // namespace seamq::worker::schema
