// `sea-mq dlq list|show|replay|purge`: the operator's view of a context's dead letters
// (src/dead_letters/README.md).
#include <charconv>
#include <iostream>

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
    std::string nats_urls;
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
        try {
            result["payload"] = nlohmann::json::parse(letter.payload);
        } catch (const nlohmann::json::exception&) {
            result["payload_text"] = letter.payload;  // poison: not JSON
        }
    }
    return result;
}

struct Session {
    explicit Session(const DlqArguments& arguments)
        : connection(nats::ConnectionOptions::from_urls(arguments.nats_urls, "sea-mq dlq")),
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
        std::cout << result.dump(2) << "\n";
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
    std::cout << json.dump(2) << "\n";
}

void replay(const DlqArguments& arguments) {
    check_output(arguments);
    if (!has_filter(arguments) && !arguments.all)
        raise(Errc::invalid_argument,
              "dlq replay needs a filter (--consumer, --subject, --since, --until, --from-seq, --to-seq) or "
              "--all");
    Session session(arguments);
    const auto letters = session.queue.list(make_filter(arguments));
    nlohmann::json result = nlohmann::json::array();
    int failures = 0;
    for (const auto& letter : letters) {
        try {
            const auto outcome = session.queue.replay(letter);
            result.push_back({{"dlq_sequence", letter.dead_letter_sequence},
                              {"consumer", letter.consumer},
                              {"subject", letter.original_subject},
                              {"message_id", outcome.message_id},
                              {"stream", outcome.ack.stream},
                              {"stream_sequence", outcome.ack.sequence},
                              {"duplicate", outcome.ack.duplicate},
                              {"removed", outcome.removed}});
            if (arguments.output == "text")
                std::cout << fmt::format("replayed dead letter {} to {} ({} sequence {}{}) for consumer {}\n",
                                         letter.dead_letter_sequence, letter.original_subject,
                                         outcome.ack.stream, outcome.ack.sequence,
                                         outcome.ack.duplicate ? ", duplicate" : "", letter.consumer);
        } catch (const Error& error) {
            ++failures;
            std::cerr << fmt::format("sea-mq dlq: replaying dead letter {} failed (it stays in {}): {}\n",
                                     letter.dead_letter_sequence, session.queue.stream(), error.what());
        }
    }
    if (arguments.output == "json") std::cout << result.dump(2) << "\n";
    if (arguments.output == "text") std::cout << result.size() << " replayed, " << failures << " failed\n";
    if (failures > 0) throw CLI::RuntimeError(1);
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
        std::cout << nlohmann::json({{"removed", removed}, {"count", removed.size()}}).dump(2) << "\n";
    } else {
        std::cout << removed.size() << " dead letter(s) removed from " << session.queue.stream() << "\n";
    }
}

void add_common_options(CLI::App* command, DlqArguments& arguments, bool filters) {
    command->add_option("--context", arguments.context, "Bounded context whose DLQ to use, e.g. sea")
        ->required();
    command->add_option("--nats", arguments.nats_urls, "NATS server URLs, comma-separated")
        ->required()
        ->envname("SEAMQ_NATS_URL");
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
