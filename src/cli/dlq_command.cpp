// `sea-mq dlq list|show|replay|purge`: the operator's view of a context's dead letters
// (src/dead_letters/README.md).
#include <charconv>
#include <iostream>

#include "src/cli/command_line.hpp"
#include "src/cli/nats_options.hpp"
#include "src/cli/output.hpp"
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/dead_letters/dead_letter_queue.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/nats/jetstream.hpp"

namespace seamq::cli {

namespace {

struct DlqArguments {
    NatsArguments nats;
    std::string context;
    std::string stream;
    std::string consumer;
    std::string subject;
    std::string since;
    std::string until;
    std::uint64_t from_sequence = 0;
    std::uint64_t to_sequence = 0;
    std::size_t limit = 0;
    std::string output = "text";
    bool all = false;
    std::uint64_t sequence = 0;  // show
};

// RFC 3339, or a duration ago: 90s, 15m, 2h, 7d.
std::chrono::system_clock::time_point parse_time_argument(const std::string& option,
                                                          const std::string& text) {
    if (const auto time = dead_letters::parse_time(text)) return *time;
    if (text.size() >= 2) {
        const char unit = text.back();
        std::int64_t amount = 0;
        const auto digits = std::string_view(text).substr(0, text.size() - 1);
        const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), amount);
        if (error == std::errc() && end == digits.data() + digits.size() && amount >= 0) {
            const auto now = std::chrono::system_clock::now();
            switch (unit) {
                case 's': return now - std::chrono::seconds(amount);
                case 'm': return now - std::chrono::minutes(amount);
                case 'h': return now - std::chrono::hours(amount);
                case 'd': return now - std::chrono::hours(24 * amount);
                default: break;
            }
        }
    }
    raise(Errc::invalid_argument,
          "{} '{}' is not a time: use RFC 3339 (2024-05-01T12:00:00Z) or a duration ago (90s, 15m, 2h, 7d)",
          option, text);
}

dead_letters::Filter make_filter(const DlqArguments& arguments) {
    dead_letters::Filter filter;
    filter.consumer = arguments.consumer;
    filter.subject = arguments.subject;
    if (!arguments.since.empty()) filter.since = parse_time_argument("--since", arguments.since);
    if (!arguments.until.empty()) filter.until = parse_time_argument("--until", arguments.until);
    filter.from_sequence = arguments.from_sequence;
    filter.to_sequence = arguments.to_sequence;
    filter.limit = arguments.limit;
    if (filter.to_sequence != 0 && filter.from_sequence > filter.to_sequence)
        raise(Errc::invalid_argument, "--from-seq {} is after --to-seq {}", filter.from_sequence,
              filter.to_sequence);
    return filter;
}

bool has_filter(const DlqArguments& arguments) {
    return !arguments.consumer.empty() || !arguments.subject.empty() || !arguments.since.empty() ||
           !arguments.until.empty() || arguments.from_sequence != 0 || arguments.to_sequence != 0;
}

nlohmann::json to_json(const dead_letters::DeadLetter& letter, bool with_payload) {
    nlohmann::json result = {
        {"dlq_stream", letter.dead_letter_stream},
        {"dlq_sequence", letter.dead_letter_sequence},
        {"dlq_subject", letter.dead_letter_subject},
        {"dead_lettered_at", dead_letters::format_time(letter.dead_lettered_at)},
        {"consumer", letter.consumer},
        {"context", letter.context},
        {"original_subject", letter.original_subject},
        {"original_stream", letter.original_stream},
        {"original_sequence", letter.original_sequence},
        {"original_message_id", letter.original_message_id},
        {"deliveries", letter.deliveries},
        {"error_class", std::string(dead_letters::to_string(letter.error_class))},
        {"error", letter.error_message},
        {"first_failure", dead_letters::format_time(letter.first_failure)},
        {"last_failure", dead_letters::format_time(letter.last_failure)},
    };
    if (with_payload) {
        nlohmann::json headers = nlohmann::json::object();
        for (const auto& [name, value] : letter.original_headers) headers[name] = value;
        result["headers"] = headers;
        put_payload(result, letter.payload);  // poison: payload_text or payload_base64
    }
    return result;
}

struct Session {
    explicit Session(const DlqArguments& arguments)
        : connection(nats_connection_options(arguments.nats, "sea-mq dlq")),
          jetstream(connection),
          queue(jetstream, arguments.context, arguments.stream) {}
    nats::Connection connection;
    nats::JetStream jetstream;
    dead_letters::DeadLetterQueue queue;
};

void check_output(const DlqArguments& arguments) {
    if (arguments.output != "text" && arguments.output != "json")
        raise(Errc::invalid_argument, "--output '{}': use text or json", arguments.output);
}

void list(const DlqArguments& arguments) {
    check_output(arguments);
    Session session(arguments);
    const auto letters = session.queue.list(make_filter(arguments));
    if (arguments.output == "json") {
        nlohmann::json result = nlohmann::json::array();
        for (const auto& letter : letters) result.push_back(to_json(letter, false));
        std::cout << dump_json(result, 2) << "\n";
        return;
    }
    std::cout << fmt::format("{:>8}  {:<24}  {:<20}  {:<32}  {:>8}  {:<9}  {:>5}  {}\n", "DLQ SEQ",
                             "DEAD-LETTERED", "CONSUMER", "SUBJECT", "ORIG SEQ", "CLASS", "DELIV", "ERROR");
    for (const auto& letter : letters) {
        std::cout << fmt::format(
            "{:>8}  {:<24}  {:<20}  {:<32}  {:>8}  {:<9}  {:>5}  {}\n", letter.dead_letter_sequence,
            dead_letters::format_time(letter.dead_lettered_at), letter.consumer, letter.original_subject,
            letter.original_sequence, dead_letters::to_string(letter.error_class), letter.deliveries,
            letter.error_message.substr(0, 120));
    }
    std::cout << letters.size() << " dead letter(s) in " << session.queue.stream() << "\n";
}

void show(const DlqArguments& arguments) {
    check_output(arguments);
    Session session(arguments);
    const auto letter = session.queue.get(arguments.sequence);
    if (!letter)
        raise(Errc::not_found, "no dead letter at sequence {} of {}", arguments.sequence,
              session.queue.stream());
    const auto json = to_json(*letter, true);
    std::cout << dump_json(json, 2) << "\n";
}

// Each dead letter is replayed on its own: whatever goes wrong with one (the server
// refuses it, answers something unexpected, the dead letter lacks its headers) is
// reported with its sequence and the rest go on. The summary is printed in every case.
void replay(const DlqArguments& arguments) {
    check_output(arguments);
    if (!has_filter(arguments) && !arguments.all)
        raise(Errc::invalid_argument,
              "dlq replay needs a filter (--consumer, --subject, --since, --until, --from-seq, --to-seq) or "
              "--all");
    const bool text = arguments.output == "text";
    nlohmann::json replayed = nlohmann::json::array();
    nlohmann::json failed = nlohmann::json::array();
    nlohmann::json skipped = nlohmann::json::array();
    std::size_t not_removed = 0;
    std::string stream = arguments.stream;
    std::string listing_error;
    try {
        Session session(arguments);
        stream = session.queue.stream();
        const auto letters = session.queue.list(make_filter(arguments));
        for (const auto& letter : letters) {
            nlohmann::json entry = {{"dlq_sequence", letter.dead_letter_sequence},
                                    {"consumer", letter.consumer},
                                    {"subject", letter.original_subject}};
            if (letter.consumer.empty() || letter.original_subject.empty()) {
                entry["reason"] =
                    "not a replayable dead letter: header " +
                    std::string(letter.consumer.empty() ? dead_letters::header::consumer
                                                        : dead_letters::header::original_subject) +
                    " is missing";
                std::cerr << fmt::format("sea-mq dlq: skipped dead letter {} (it stays in {}): {}\n",
                                         letter.dead_letter_sequence, stream,
                                         entry["reason"].get<std::string>());
                skipped.push_back(std::move(entry));
                continue;
            }
            try {
                const auto outcome = session.queue.replay(letter);
                entry.update({{"message_id", outcome.message_id},
                              {"stream", outcome.ack.stream},
                              {"stream_sequence", outcome.ack.sequence},
                              {"duplicate", outcome.ack.duplicate},
                              {"removed", outcome.removed}});
                if (!outcome.remove_error.empty()) {
                    ++not_removed;
                    entry["remove_error"] = outcome.remove_error;
                    std::cerr << fmt::format("sea-mq dlq: dead letter {} was replayed but stays in {}: {}\n",
                                             letter.dead_letter_sequence, stream, outcome.remove_error);
                }
                if (text)
                    std::cout << fmt::format(
                        "replayed dead letter {} to {} ({} sequence {}{}) for consumer {}\n",
                        letter.dead_letter_sequence, letter.original_subject, outcome.ack.stream,
                        outcome.ack.sequence, outcome.ack.duplicate ? ", duplicate" : "", letter.consumer);
                replayed.push_back(std::move(entry));
            } catch (const std::exception& error) {
                entry["error"] = error.what();
                std::cerr << fmt::format("sea-mq dlq: replaying dead letter {} failed (it stays in {}): {}\n",
                                         letter.dead_letter_sequence, stream, error.what());
                failed.push_back(std::move(entry));
            }
        }
    } catch (const std::exception& error) {
        // Connecting or listing failed (each replay catches its own): nothing was replayed.
        listing_error = error.what();
        std::cerr << "sea-mq dlq: " << listing_error << "\n";
    }
    const nlohmann::json summary = {
        {"replayed", replayed.size()}, {"failed", failed.size()}, {"skipped", skipped.size()}};
    if (text) {
        std::cout << fmt::format("{} replayed, {} failed, {} skipped", replayed.size(), failed.size(),
                                 skipped.size())
                  << (not_removed > 0 ? fmt::format(" ({} replayed but still in {})", not_removed, stream)
                                      : std::string())
                  << "\n";
    } else {
        nlohmann::json document = {
            {"replayed", replayed}, {"failed", failed}, {"skipped", skipped}, {"summary", summary}};
        if (!listing_error.empty()) document["error"] = listing_error;
        std::cout << dump_json(document, 2) << "\n";
    }
    if (!listing_error.empty() || !failed.empty() || !skipped.empty() || not_removed > 0)
        throw CLI::RuntimeError(1);
}

void purge(const DlqArguments& arguments) {
    check_output(arguments);
    if (!has_filter(arguments) && !arguments.all)
        raise(Errc::invalid_argument,
              "dlq purge needs a filter (--consumer, --subject, --since, --until, --from-seq, --to-seq) or "
              "--all");
    Session session(arguments);
    const auto letters = session.queue.list(make_filter(arguments));
    std::vector<std::uint64_t> removed;
    for (const auto& letter : letters) {
        if (session.queue.remove(letter.dead_letter_sequence)) removed.push_back(letter.dead_letter_sequence);
    }
    if (arguments.output == "json") {
        std::cout << dump_json({{"removed", removed}, {"count", removed.size()}}, 2) << "\n";
    } else {
        std::cout << removed.size() << " dead letter(s) removed from " << session.queue.stream() << "\n";
    }
}

void add_common_options(CLI::App* command, DlqArguments& arguments, bool filters) {
    command->add_option("--context", arguments.context, "Bounded context whose DLQ to use, e.g. sea")
        ->required();
    add_nats_options(command, arguments.nats)->required();
    command->add_option("--stream", arguments.stream, "DLQ stream (default: <CONTEXT>_DLQ)");
    command->add_option("--output", arguments.output, "text or json")->capture_default_str();
    if (!filters) return;
    command->add_option("--consumer", arguments.consumer, "Only this consumer's dead letters");
    command->add_option("--subject", arguments.subject, "Original subject, exact or with * and >");
    command->add_option("--since", arguments.since,
                        "Dead-lettered at or after (RFC 3339, or 2h = 2 hours ago)");
    command->add_option("--until", arguments.until, "Dead-lettered before (RFC 3339, or a duration ago)");
    command->add_option("--from-seq", arguments.from_sequence, "First DLQ stream sequence (inclusive)");
    command->add_option("--to-seq", arguments.to_sequence, "Last DLQ stream sequence (inclusive)");
    command->add_option("--limit", arguments.limit, "At most this many");
}

}  // namespace

void add_dlq_commands(CLI::App& app) {
    auto* dlq = app.add_subcommand("dlq", "Inspect, replay and purge dead letters");
    dlq->require_subcommand(1);

    auto list_arguments = std::make_shared<DlqArguments>();
    auto* list_command = dlq->add_subcommand("list", "List dead letters matching the filters");
    add_common_options(list_command, *list_arguments, true);
    list_command->callback([list_arguments] { list(*list_arguments); });

    auto show_arguments = std::make_shared<DlqArguments>();
    auto* show_command = dlq->add_subcommand("show", "Show one dead letter with its headers and payload");
    add_common_options(show_command, *show_arguments, false);
    show_command->add_option("sequence", show_arguments->sequence, "DLQ stream sequence")->required();
    show_command->callback([show_arguments] { show(*show_arguments); });

    auto replay_arguments = std::make_shared<DlqArguments>();
    auto* replay_command = dlq->add_subcommand(
        "replay",
        "Republish matching dead letters to their original subject for their consumer, then remove them");
    replay_command->footer(
        "Each dead letter is replayed on its own: one that fails (the server refuses the publish, e.g. no "
        "stream captures its subject any more, or answers unexpectedly) is reported on standard error with "
        "its DLQ sequence and the reason, stays in the DLQ, and the others go on; one without the headers "
        "that say which consumer and subject it came from is skipped (it stays too). The last line is the "
        "summary: N replayed, N failed, N skipped. --output json prints one object {replayed, failed, "
        "skipped, summary: {replayed, failed, skipped}}, each list with dlq_sequence, consumer and subject "
        "(and error for the failed, reason for the skipped). Exit 0 when every matching dead letter was "
        "replayed and "
        "removed, 1 otherwise, 2 on usage errors.");
    add_common_options(replay_command, *replay_arguments, true);
    replay_command->add_flag("--all", replay_arguments->all, "Replay every dead letter of the context");
    replay_command->callback([replay_arguments] { replay(*replay_arguments); });

    auto purge_arguments = std::make_shared<DlqArguments>();
    auto* purge_command = dlq->add_subcommand("purge", "Delete matching dead letters");
    add_common_options(purge_command, *purge_arguments, true);
    purge_command->add_flag("--all", purge_arguments->all, "Delete every dead letter of the context");
    purge_command->callback([purge_arguments] { purge(*purge_arguments); });
}

}  // namespace seamq::cli
