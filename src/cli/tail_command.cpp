// `sea-mq tail SUBJECT`: follow a subject and pretty-print what goes by. A core NATS
// subscription: it sees what is published from now on (JetStream subjects included),
// creates nothing on the server and acknowledges nothing.
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>

#include "src/cli/command_line.hpp"
#include "src/cli/nats_options.hpp"
#include "src/cli/output.hpp"
#include <nlohmann/json.hpp>
#include <signal.h>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/timestamp.hpp"
#include "seamq/nats/connection.hpp"
#include "seamq/streams/streams_config.hpp"

namespace seamq::cli {

namespace {

struct TailArguments {
    std::string subject;
    NatsArguments nats;
    std::size_t count = 0;
    std::string timeout;
    std::string output = "text";
    bool no_headers = false;
};

std::string utc_now() {
    return now_rfc3339(TimePrecision::microseconds);
}

nlohmann::json headers_json(const nats::Headers& headers) {
    // A header named twice keeps all its values (as an array); once, a plain string.
    nlohmann::json result = nlohmann::json::object();
    for (const auto& [name, value] : headers) {
        if (!result.contains(name)) {
            result[name] = value;
        } else {
            if (!result[name].is_array()) result[name] = nlohmann::json::array({result[name]});
            result[name].push_back(value);
        }
    }
    return result;
}

void print_message(const TailArguments& arguments, std::size_t number, const nats::Message& message) {
    const auto payload = message.payload();
    const auto received = utc_now();
    if (arguments.output == "json") {
        nlohmann::json line = {{"number", number},
                               {"received_at", received},
                               {"subject", message.subject()},
                               {"headers", headers_json(message.headers())}};
        if (!message.reply().empty()) line["reply"] = message.reply();
        put_payload(line, payload);
        std::cout << dump_json(line) << std::endl;
        return;
    }
    std::cout << "#" << number << " " << message.subject() << "  (" << payload.size() << " bytes, received "
              << received << ")\n";
    if (!arguments.no_headers)
        for (const auto& [name, value] : message.headers())
            std::cout << "  " << name << ": " << value << "\n";
    const auto parsed = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) {
        // Indented two spaces more than the headers, so messages stay apart when scrolling.
        const auto text = parsed.dump(2);
        std::size_t start = 0;
        while (start <= text.size()) {
            const auto end = text.find('\n', start);
            std::cout << "  "
                      << text.substr(start, end == std::string::npos ? std::string::npos : end - start)
                      << "\n";
            if (end == std::string::npos) break;
            start = end + 1;
        }
    } else if (is_utf8(payload)) {
        std::cout << "  " << payload << "\n";
    } else {
        std::cout << "  (not UTF-8, base64) " << encode_base64(payload) << "\n";
    }
    std::cout << std::endl;
}

void run_tail(const TailArguments& arguments) {
    std::optional<std::chrono::nanoseconds> timeout;
    if (!arguments.timeout.empty()) timeout = streams::parse_duration(arguments.timeout);
    if (arguments.subject.empty() || arguments.subject.find_first_of(" \t\r\n") != std::string::npos)
        raise(Errc::invalid_argument,
              "SUBJECT '{}' is not a NATS subject (no spaces; wildcards * and > are fine)",
              arguments.subject);

    // SIGINT/SIGTERM end the tail cleanly; blocked before nats.c starts its threads so
    // only the polling below sees them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    auto options = nats_connection_options(arguments.nats, "sea-mq tail");
    options.connect_timeout = std::chrono::seconds(5);
    nats::Connection connection(options);
    auto subscription = connection.subscribe_sync(arguments.subject);
    connection.flush();  // the subscription is registered: whatever is published from now on arrives
    std::cerr << "sea-mq tail: following " << arguments.subject << " on " << connection.connected_url()
              << (arguments.count ? fmt::format(", until {} message(s)", arguments.count) : std::string())
              << (timeout ? fmt::format(", for at most {}", arguments.timeout) : std::string()) << std::endl;

    const auto started = std::chrono::steady_clock::now();
    std::size_t received = 0;
    const timespec no_wait{0, 0};
    while (arguments.count == 0 || received < arguments.count) {
        auto wait = std::chrono::milliseconds(200);
        if (timeout) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                *timeout - (std::chrono::steady_clock::now() - started));
            if (left <= std::chrono::milliseconds(0)) break;
            wait = std::min(wait, left);
        }
        if (auto message = subscription.next(wait)) print_message(arguments, ++received, *message);
        if (sigtimedwait(&stop_signals, nullptr, &no_wait) > 0) break;
    }
    if (const auto dropped = subscription.dropped(); dropped > 0)
        std::cerr << "sea-mq tail: " << dropped << " message(s) dropped: this terminal could not keep up\n";
    std::cerr << "sea-mq tail: " << received << " message(s)\n";
    if (arguments.count != 0 && received < arguments.count) {
        std::cerr << "sea-mq tail: expected " << arguments.count << " message(s), got " << received << "\n";
        throw CLI::RuntimeError(1);
    }
}

}  // namespace

void add_tail_commands(CLI::App& app) {
    auto arguments = std::make_shared<TailArguments>();
    auto* tail = app.add_subcommand("tail", "Follow a subject and pretty-print each message as it goes by");
    tail->footer(
        "A core NATS subscription (wildcards allowed): it sees what is published from now on, JetStream "
        "subjects "
        "included, and creates nothing on the server. Text shows the subject, the headers (Nats-Msg-Id, "
        "traceparent...) and the JSON payload indented; --output json prints one object per message and line "
        "({number, received_at, subject, headers, payload | payload_text | payload_base64}: payload when the "
        "payload is JSON, payload_text when it is other UTF-8 text, payload_base64 (RFC 4648) otherwise; "
        "text "
        "output shows such a payload as base64 too; a subject or header that is not UTF-8 shows U+FFFD for "
        "each "
        "invalid byte). Runs until SIGINT/SIGTERM, "
        "--count "
        "or --timeout. Exit 0 when it stopped normally, 1 when --count messages did not arrive within "
        "--timeout "
        "or NATS is unreachable, 2 on usage errors.");
    tail->add_option("subject", arguments->subject,
                     "NATS subject, e.g. sea.event.> or sea.event.order-placed.v1")
        ->required();
    add_nats_options(tail, arguments->nats)->required();
    tail->add_option("--count,-n", arguments->count, "Stop after this many messages")
        ->check(CLI::Range(1, 100000000));
    tail->add_option("--timeout", arguments->timeout, "Stop after this long: 500ms, 10s, 5m");
    tail->add_flag("--no-headers", arguments->no_headers, "Text output without the message headers");
    tail->add_option("--output,-o", arguments->output, "text, or json: one JSON object per message and line")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    tail->callback([arguments] { run_tail(*arguments); });
}

}  // namespace seamq::cli
