// `sea-mq webhooks list|add|disable|enable|test|attempts`: the outbound edge's endpoints
// (seamq.webhook_endpoints) and their delivery attempts, in the context's database.
#include <iostream>
#include <memory>

#include "src/cli/command_line.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/timestamp.hpp"
#include "seamq/edges/secret_box.hpp"
#include "seamq/edges/webhook_sender.hpp"
#include "seamq/envelope/envelope.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/error.hpp"

namespace seamq::cli {

namespace {

struct WebhookOptions {
    std::string database;
    std::string name;
    std::string url;
    std::string subject;
    std::string secret;
    std::string reason = "disabled by an operator";
    std::string event;
    std::string secrets_key;
    bool ordered = false;
    int limit = 20;
    std::vector<std::string> allow_networks;
    std::string output = "text";
};

void add_database(CLI::App* command, WebhookOptions& options) {
    add_env_option(command, "--database", options.database,
                   "PostgreSQL connection of the context: postgresql:// URL or libpq key=value string",
                   "SEAMQ_DATABASE_URL")
        ->required();
}

void add_secrets_key(CLI::App* command, WebhookOptions& options) {
    add_env_option(command, "--secrets-key", options.secrets_key,
                   "Key sealing endpoint secrets in the table (the worker's outbound.secrets_key): base64 of "
                   "32 bytes; empty: stored as given",
                   "SEAMQ_WEBHOOK_SECRETS_KEY");
}

std::optional<edges::SecretBox> secret_box(const WebhookOptions& options) {
    if (options.secrets_key.empty()) return std::nullopt;
    return edges::SecretBox::parse(options.secrets_key);
}

postgres::Connection connect(const WebhookOptions& options, const char* application) {
    return postgres::Connection(
        postgres::ConnectOptions{options.database, std::chrono::seconds(10), application});
}

void print_json(const nlohmann::json& value) {
    std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void run_list(const WebhookOptions& options) {
    auto connection = connect(options, "sea-mq webhooks list");
    const auto rows = connection.exec(
        "SELECT name, enabled, subject_filter, url, coalesce(disabled_reason, ''), "
        "coalesce(to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), ordered "
        "FROM seamq.webhook_endpoints ORDER BY name");
    nlohmann::json list = nlohmann::json::array();
    for (int row = 0; row < rows.rows(); ++row) {
        const bool enabled = rows.get<bool>(row, 1);
        if (options.output == "json") {
            list.push_back({{"name", rows.text(row, 0)},
                            {"enabled", enabled},
                            {"subject_filter", rows.text(row, 2)},
                            {"url", rows.text(row, 3)},
                            {"disabled_reason", rows.text(row, 4)},
                            {"failing_since", rows.text(row, 5)},
                            {"ordered", rows.get<bool>(row, 6)}});
        } else {
            std::cout << fmt::format(
                "{}  {}{}  {}  {}{}{}\n", rows.text(row, 0), enabled ? "enabled" : "DISABLED",
                rows.get<bool>(row, 6) ? "  ordered" : "", rows.text(row, 2), rows.text(row, 3),
                enabled ? "" : fmt::format("  ({})", rows.text(row, 4)),
                rows.text(row, 5).empty() ? "" : "  failing since " + std::string(rows.text(row, 5)));
        }
    }
    if (options.output == "json") {
        print_json(list);
    } else {
        std::cout << rows.rows() << " endpoint(s)\n";
    }
}

void run_add(const WebhookOptions& options) {
    if (auto problem = envelope::subject_problem(options.subject);
        problem && options.subject.find_first_of("*>") == std::string::npos) {
        raise(Errc::invalid_argument, "webhooks add: --subject '{}' is neither a type nor a filter: {}",
              options.subject, *problem);
    }
    const bool generated = options.secret.empty();
    const auto secret =
        generated ? edges::WebhookSecret::generate() : edges::WebhookSecret::parse(options.secret);
    const auto box = secret_box(options);
    const auto stored = box ? box->seal(options.name, secret.to_string()) : secret.to_string();
    auto connection = connect(options, "sea-mq webhooks add");
    try {
        connection.exec(
            "INSERT INTO seamq.webhook_endpoints (name, subject_filter, url, secret, ordered) VALUES ($1, "
            "$2, "
            "$3, $4, $5)",
            options.name, options.subject, options.url, stored, options.ordered);
    } catch (const postgres::SqlError& e) {
        // Not e.what(): a constraint error's detail quotes the row, secret included.
        raise(Errc::invalid_argument, "webhooks add: seamq.webhook_endpoints refused endpoint '{}': {}{}",
              options.name, e.primary_message(), e.hint().empty() ? "" : " (" + e.hint() + ")");
    }
    std::cout << fmt::format("added endpoint {}: {} -> {}{}\n", options.name, options.subject, options.url,
                             options.ordered ? " (ordered)" : "");
    // Shown once: the partner verifies with it; it is not printed by any other command.
    if (generated)
        std::cout << "secret (give it to the partner; it is not shown again): " << secret.to_string() << "\n";
}

void run_enable(const WebhookOptions& options, bool enable) {
    auto connection = connect(options, enable ? "sea-mq webhooks enable" : "sea-mq webhooks disable");
    const auto rows = enable
                          ? connection.exec(
                                "UPDATE seamq.webhook_endpoints SET enabled = true, disabled_reason = NULL, "
                                "disabled_at = NULL, failing_since = NULL WHERE name = $1 RETURNING name",
                                options.name)
                          : connection.exec(
                                "UPDATE seamq.webhook_endpoints SET enabled = false, disabled_reason = $2, "
                                "disabled_at = now() WHERE name = $1 RETURNING name",
                                options.name, options.reason);
    if (rows.empty())
        raise(Errc::not_found, "webhooks: no endpoint named '{}' (see `sea-mq webhooks list`)", options.name);
    std::cout << (enable ? "enabled " : "disabled ") << options.name << "\n";
}

void run_attempts(const WebhookOptions& options) {
    auto connection = connect(options, "sea-mq webhooks attempts");
    const auto rows = connection.exec(
        "SELECT to_char(attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), endpoint, "
        "event_id, "
        "attempt, outcome, coalesce(http_status, 0), duration_ms, coalesce(error, ''), coalesce(response, "
        "''), coalesce(failure_class, '') "
        "FROM seamq.webhook_attempts WHERE ($1 = '' OR endpoint = $1) AND ($2 = '' OR event_id = $2) "
        "ORDER BY id DESC LIMIT $3",
        options.name, options.event, options.limit);
    nlohmann::json list = nlohmann::json::array();
    for (int row = 0; row < rows.rows(); ++row) {
        if (options.output == "json") {
            list.push_back({{"attempted_at", rows.text(row, 0)},
                            {"endpoint", rows.text(row, 1)},
                            {"event_id", rows.text(row, 2)},
                            {"attempt", rows.get<std::int64_t>(row, 3)},
                            {"outcome", rows.text(row, 4)},
                            {"failure_class", rows.text(row, 9)},
                            {"http_status", rows.get<std::int64_t>(row, 5)},
                            {"duration_ms", rows.get<std::int64_t>(row, 6)},
                            {"error", rows.text(row, 7)},
                            {"response", rows.text(row, 8)}});
        } else {
            const std::string_view failure = rows.text(row, 9);
            std::cout << fmt::format(
                "{}  {}  {}  attempt {}  {}{}  {}  {} ms{}\n", rows.text(row, 0), rows.text(row, 1),
                rows.text(row, 2), rows.text(row, 3), rows.text(row, 4),
                failure.empty() || failure == "none" ? "" : fmt::format(" ({})", failure), rows.text(row, 5),
                rows.text(row, 6), rows.text(row, 7).empty() ? "" : "  " + std::string(rows.text(row, 7)));
        }
    }
    if (options.output == "json") {
        print_json(list);
    } else {
        std::cout << rows.rows() << " attempt(s), newest first\n";
    }
}

// Sends one signed test delivery now, through the same sender and guard as the worker.
void run_test(const WebhookOptions& options) {
    auto connection = connect(options, "sea-mq webhooks test");
    const auto rows =
        connection.exec("SELECT url, secret FROM seamq.webhook_endpoints WHERE name = $1", options.name);
    if (rows.empty()) raise(Errc::not_found, "webhooks test: no endpoint named '{}'", options.name);
    const edges::WebhookSender sender{edges::AddressPolicy(options.allow_networks)};
    const auto id = envelope::new_event_id();
    const nlohmann::json event = {{"specversion", "1.0"},
                                  {"id", id},
                                  {"type", "seamq.webhook.test"},
                                  {"source", "/sea-mq/webhooks"},
                                  {"time", now_rfc3339()},
                                  {"datacontenttype", "application/json"},
                                  {"data", {{"endpoint", options.name}, {"test", true}}}};
    edges::WebhookEndpoint endpoint;
    endpoint.name = options.name;
    endpoint.url = std::string(rows.text(0, 0));
    endpoint.secrets.push_back(edges::WebhookSecret::parse(
        edges::open_stored_secret(secret_box(options), options.name, rows.text(0, 1))));
    const auto attempt = sender.deliver(endpoint, id, event.dump());
    std::cout << fmt::format("{}: {} (HTTP {}, {} ms){}\n", options.name, edges::to_string(attempt.outcome),
                             attempt.http_status, attempt.duration.count(),
                             attempt.error.empty() ? "" : ": " + attempt.error);
    if (attempt.outcome != edges::AttemptOutcome::delivered) throw CLI::RuntimeError(1);
}

}  // namespace

void add_webhooks_commands(CLI::App& app) {
    auto* webhooks = app.add_subcommand(
        "webhooks", "Outbound webhook endpoints of a context (seamq.webhook_endpoints) and their attempts");
    webhooks->require_subcommand(1);

    auto list_options = std::make_shared<WebhookOptions>();
    auto* list = webhooks->add_subcommand(
        "list", "List endpoints: name, state, subject filter, URL (never the secret)");
    add_database(list, *list_options);
    list->add_option("--output", list_options->output, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    list->callback([list_options] { run_list(*list_options); });

    auto add_options = std::make_shared<WebhookOptions>();
    auto* add = webhooks->add_subcommand(
        "add", "Add an endpoint; the worker's outbound edge starts delivering to it within seconds");
    add_database(add, *add_options);
    add_secrets_key(add, *add_options);
    add->add_option("name", add_options->name, "Endpoint name ([A-Za-z0-9_-], at most 64)")->required();
    add->add_option("--url", add_options->url, "http:// or https:// URL the events are POSTed to")
        ->required();
    add->add_option("--subject", add_options->subject,
                    "Subject filter of the events to deliver, e.g. sea.event.> or sea.event.order-placed.v1")
        ->required();
    add->add_option("--secret", add_options->secret,
                    "whsec_ secret; default: a new random one, printed once");
    add->add_flag("--ordered", add_options->ordered,
                  "Send one event at a time in stream order: an event being retried holds back every later "
                  "one of this endpoint");
    add->callback([add_options] { run_add(*add_options); });

    for (const bool enable : {false, true}) {
        auto options = std::make_shared<WebhookOptions>();
        auto* command = webhooks->add_subcommand(
            enable ? "enable" : "disable",
            enable ? "Enable an endpoint again (clears its failure state); undelivered events follow"
                   : "Disable an endpoint; its undelivered events wait in its consumer");
        add_database(command, *options);
        command->add_option("name", options->name, "Endpoint name")->required();
        if (!enable) command->add_option("--reason", options->reason, "Why (shown by list)");
        command->callback([options, enable] { run_enable(*options, enable); });
    }

    auto attempts_options = std::make_shared<WebhookOptions>();
    auto* attempts = webhooks->add_subcommand(
        "attempts",
        "Delivery attempts, newest first: time, endpoint, event, attempt, outcome, status, duration");
    add_database(attempts, *attempts_options);
    attempts->add_option("name", attempts_options->name, "Only this endpoint");
    attempts->add_option("--event", attempts_options->event, "Only this event id");
    attempts->add_option("--limit", attempts_options->limit, "At most this many (default 20)");
    attempts->add_option("--output", attempts_options->output, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    attempts->callback([attempts_options] { run_attempts(*attempts_options); });

    auto test_options = std::make_shared<WebhookOptions>();
    auto* test = webhooks->add_subcommand(
        "test", "Send one signed test delivery to an endpoint now; exit 1 unless it answered 2xx");
    add_database(test, *test_options);
    add_secrets_key(test, *test_options);
    test->add_option("name", test_options->name, "Endpoint name")->required();
    test->add_option("--allow-network", test_options->allow_networks,
                     "CIDR block the SSRF guard lets through (repeatable), as outbound.allow_networks");
    test->callback([test_options] { run_test(*test_options); });
}

}  // namespace seamq::cli
