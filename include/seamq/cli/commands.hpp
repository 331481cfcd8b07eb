#pragma once

#include <CLI/CLI.hpp>

//! Each verb of the `sea-mq` CLI adds itself to the application here. A command's
//! callback reports failure by throwing CLI::RuntimeError(1) (the operation failed,
//! e.g. an invalid envelope) or seamq::Error (mapped to exit codes by main).
//! Exit codes: 0 success, 1 the operation failed, 2 usage or configuration error.
namespace seamq::cli {

void add_version_command(CLI::App& app);
void add_relay_commands(CLI::App& app);
//! `sea-mq db migrate|status` (src/cli/db_command.cpp).
void add_db_commands(CLI::App& app);
//! `sea-mq envelope validate` (src/cli/envelope_command.cpp).
void add_envelope_commands(CLI::App& app);
//! `sea-mq contracts lint|lock` (src/cli/contracts_command.cpp).
void add_contracts_commands(CLI::App& app);
//! `sea-mq streams apply|status` (src/cli/streams_command.cpp).
void add_streams_commands(CLI::App& app);
//! `sea-mq consume run` (src/cli/consume_command.cpp).
void add_consume_commands(CLI::App& app);
//! `sea-mq dlq list|show|replay|purge` (src/cli/dlq_command.cpp).
void add_dlq_commands(CLI::App& app);
//! `sea-mq outbox rejected|retry`: rejected events, re-queued after a fix (src/cli/outbox_command.cpp).
void add_outbox_commands(CLI::App& app);
//! `sea-mq publish`: one event through its context's outbox (src/cli/publish_command.cpp).
void add_publish_commands(CLI::App& app);
//! `sea-mq tail SUBJECT`: follow a subject, pretty-printed (src/cli/tail_command.cpp).
void add_tail_commands(CLI::App& app);
//! `sea-mq status`: servers, relays, outbox lag, consumers, dead letters (src/cli/status_command.cpp).
void add_status_commands(CLI::App& app);
//! `sea-mq webhooks list|add|disable|enable|attempts|test` (src/cli/webhooks_command.cpp).
void add_webhooks_commands(CLI::App& app);
//! `sea-mq federation status`: leafnode links and stream sources between cells.
void add_federation_commands(CLI::App& app);
//! `sea-mq help-reference` (hidden): docs/cli.md from the command tree (src/cli/help_reference_command.cpp).
void add_help_reference_command(CLI::App& app);

//! Throws seamq::Error(invalid_argument) naming the first word of `argv` that should name
//! a command (a verb, or a verb of a group such as `db`) and names none. Call before
//! parsing, so `--help` cannot hide the mistake behind another command's help
//! (src/cli/command_line.cpp).
void require_known_commands(const CLI::App& root, int argc, const char* const* argv);

//! Makes spdlog's loggers (what the relay, consumer and migrations log under `relay run`,
//! `consume run`, `db migrate`) write every message with its passwords masked
//! (core/redaction.hpp), in spdlog's default pattern (src/cli/command_line.cpp).
void mask_credentials_in_logs();

}  // namespace seamq::cli
