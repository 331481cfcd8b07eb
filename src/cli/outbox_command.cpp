// `sea-mq outbox rejected|retry`: the events a stream refused for good, and putting them
// back in the queue once an operator fixed the cause.
#include <algorithm>
#include <iostream>
#include <memory>
#include <set>

#include "src/cli/command_line.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/outbox/schema.hpp"
#include "seamq/postgres/connection.hpp"
#include "seamq/postgres/param.hpp"

namespace seamq::cli {

namespace {

struct OutboxOptions {
    std::string database;
    std::vector<std::string> ids;
    std::string key;
    std::string context;
    bool all = false;
    std::string output = "text";
};

// Rejected rows chosen by the filters ($1 ids, $2 key, $3 context; empty = any), in
// publication order.
constexpr std::string_view filter_sql = R"sql(
    status = 'rejected'
    AND (cardinality($1::text[]) = 0 OR id = ANY ($1::text[]))
    AND ($2::text = '' OR subject = $2::text)
    AND ($3::text = '' OR context = $3::text))sql";

void add_filters(CLI::App* command, OutboxOptions& options) {
    add_env_option(command, "--database", options.database,
                   "PostgreSQL connection of the context: postgresql:// URL or libpq key=value string",
                   "SEAMQ_DATABASE_URL")
        ->required();
    command->add_option("--id", options.ids, "Only these event ids (repeatable)");
    command->add_option("--key", options.key, "Only events of this ordering key (the envelope's subject)");
    command->add_option("--context", options.context, "Only events of this context");
}

postgres::Connection connect(const OutboxOptions& options, const char* application) {
    return postgres::Connection(
        postgres::ConnectOptions{options.database, std::chrono::seconds(10), application});
}

void run_rejected(const OutboxOptions& options) {
    auto connection = connect(options, "sea-mq outbox rejected");
    const auto rows = connection.exec(
        fmt::format("SELECT id, context, subject, type, position, attempts, coalesce(last_error, '') "
                    "FROM seamq.outbox_events WHERE {} ORDER BY context, position",
                    filter_sql),
        postgres::array_literal(options.ids), options.key, options.context);
    nlohmann::json list = nlohmann::json::array();
    for (int row = 0; row < rows.rows(); ++row) {
        if (options.output == "json") {
            list.push_back({{"id", rows.text(row, 0)},
                            {"context", rows.text(row, 1)},
                            {"key", rows.text(row, 2)},
                            {"type", rows.text(row, 3)},
                            {"position", rows.get<std::int64_t>(row, 4)},
                            {"attempts", rows.get<std::int64_t>(row, 5)},
                            {"last_error", rows.text(row, 6)}});
        } else {
            std::cout << fmt::format("{}  context {}  key {}  {}  attempts {}: {}\n", rows.text(row, 0),
                                     rows.text(row, 1), rows.text(row, 2), rows.text(row, 3),
                                     rows.get<std::int64_t>(row, 5), rows.text(row, 6));
        }
    }
    if (options.output == "json") {
        std::cout << list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
        std::cout << rows.rows() << " rejected event(s)\n";
    }
}

void run_retry(const OutboxOptions& options) {
    if (options.ids.empty() && options.key.empty() && options.context.empty() && !options.all) {
        raise(Errc::invalid_argument,
              "outbox retry: say which rejected events to re-queue: --id, --key, --context, or --all");
    }
    auto connection = connect(options, "sea-mq outbox retry");
    // Back to pending with their original positions: the relay publishes them in their
    // original order. The NOTIFY wakes a sleeping relay at commit.
    connection.exec("BEGIN");
    const auto rows =
        connection.exec(fmt::format("UPDATE seamq.outbox_events SET status = 'pending' WHERE {} "
                                    "RETURNING id, context, subject, position",
                                    filter_sql),
                        postgres::array_literal(options.ids), options.key, options.context);
    std::set<std::string> contexts;
    for (int row = 0; row < rows.rows(); ++row) contexts.emplace(rows.text(row, 1));
    for (const auto& context : contexts) {
        connection.exec(fmt::format("SELECT pg_notify('{}', $1)", outbox::schema::notify_channel), context);
    }
    connection.exec("COMMIT");
    std::vector<std::pair<std::int64_t, std::string>> requeued;
    for (int row = 0; row < rows.rows(); ++row) {
        requeued.emplace_back(
            rows.get<std::int64_t>(row, 3),
            fmt::format("{} (context {}, key {})", rows.text(row, 0), rows.text(row, 1), rows.text(row, 2)));
    }
    std::sort(requeued.begin(), requeued.end());
    for (const auto& [position, line] : requeued) std::cout << "re-queued " << line << "\n";
    std::cout << requeued.size() << " rejected event(s) re-queued, in their original order\n";
    if (requeued.empty()) throw CLI::RuntimeError(1);
}

}  // namespace

void add_outbox_commands(CLI::App& app) {
    auto* outbox =
        app.add_subcommand("outbox", "Inspect and re-queue outbox events a stream refused for good");
    outbox->require_subcommand(1);

    auto list_options = std::make_shared<OutboxOptions>();
    auto* rejected = outbox->add_subcommand(
        "rejected",
        "List rejected outbox events (id, context, key, type, attempts, reason), in publication order");
    add_filters(rejected, *list_options);
    rejected->add_option("--output", list_options->output, "text or json")
        ->check(CLI::IsMember({"text", "json"}));
    rejected->callback([list_options] { run_rejected(*list_options); });

    auto retry_options = std::make_shared<OutboxOptions>();
    auto* retry = outbox->add_subcommand(
        "retry",
        "Re-queue rejected events after the cause was fixed (e.g. the stream's max_msg_size raised): they go "
        "back to pending and are published in their original order; exit 1 when none matched");
    add_filters(retry, *retry_options);
    retry->add_flag("--all", retry_options->all, "Every rejected event (of --context, if given)");
    retry->callback([retry_options] { run_retry(*retry_options); });
}

}  // namespace seamq::cli
