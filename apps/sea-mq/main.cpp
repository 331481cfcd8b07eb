// sea-mq: the operator CLI. Verbs live in src/cli/, one file each.
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "seamq/cli/commands.hpp"
#include "seamq/core/error.hpp"
#include "seamq/core/redaction.hpp"

int main(int argc, char** argv) {
    CLI::App app{"sea-mq: transactional outbox, inbox and dead letters on PostgreSQL and NATS JetStream",
                 "sea-mq"};
    app.require_subcommand(1);
    seamq::cli::add_version_command(app);
    seamq::cli::add_relay_commands(app);
    seamq::cli::add_db_commands(app);
    seamq::cli::add_envelope_commands(app);
    seamq::cli::add_contracts_commands(app);
    seamq::cli::add_streams_commands(app);
    seamq::cli::add_consume_commands(app);
    seamq::cli::add_dlq_commands(app);
    seamq::cli::add_outbox_commands(app);
    seamq::cli::add_publish_commands(app);
    seamq::cli::add_tail_commands(app);
    seamq::cli::add_status_commands(app);
    seamq::cli::add_webhooks_commands(app);
    seamq::cli::add_federation_commands(app);
    seamq::cli::add_help_reference_command(app);  // hidden: prints docs/cli.md

    seamq::cli::mask_credentials_in_logs();
    try {
        seamq::cli::require_known_commands(app, argc, argv);
        app.parse(argc, argv);
    } catch (const CLI::RuntimeError& e) {
        return e.get_exit_code();  // a command's own verdict (see commands.hpp)
    } catch (const CLI::ParseError& e) {
        // CLI11 uses exit code 0 for --help; every other parse error is a usage error. So is
        // --help next to a word no command takes (CLI11 would print the help and exit 0).
        if (e.get_exit_code() == 0 && app.remaining_size(true) > 0) {
            std::string words;
            for (const auto& word : app.remaining(true)) words += " " + word;
            std::cerr << "sea-mq: unexpected argument(s):" << words << "\n";
            return 2;
        }
        const int code = app.exit(e);
        return code == 0 ? 0 : 2;
    } catch (const seamq::Error& e) {
        // Errors quote the URLs they were about: passwords masked, wherever they were raised.
        std::cerr << "sea-mq: " << seamq::mask_credentials(e.what()) << "\n";
        const auto code = e.code();
        return (code == seamq::Errc::invalid_argument || code == seamq::Errc::config) ? 2 : 1;
    } catch (const std::exception& e) {
        std::cerr << "sea-mq: " << seamq::mask_credentials(e.what()) << "\n";
        return 1;
    }
    return 0;
}
