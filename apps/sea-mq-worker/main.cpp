// sea-mq-worker: the daemon that runs relays, consumers and edges for its contexts.
#include <iostream>

#include <CLI/CLI.hpp>

#include "seamq/core/build_info.hpp"

int main(int argc, char** argv) {
    CLI::App app{"sea-mq-worker: relays outboxes to JetStream and runs inbox consumers", "sea-mq-worker"};
    app.set_version_flag("--version", std::string("sea-mq-worker ") + seamq::build_info::version);
    CLI11_PARSE(app, argc, argv);
    return 0;
}
