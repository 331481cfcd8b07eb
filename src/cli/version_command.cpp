#include <iostream>

#include "seamq/cli/commands.hpp"
#include "seamq/core/build_info.hpp"

namespace seamq::cli {

void add_version_command(CLI::App& app) {
    auto* version = app.add_subcommand("version", "Print the sea-mq version");
    version->callback([] { std::cout << "sea-mq " << build_info::version << "\n"; });
}

}  // namespace seamq::cli
