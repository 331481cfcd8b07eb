#include "src/cli/input.hpp"

namespace seamq::cli {

std::string read_bounded(std::istream& in, std::size_t limit) {
    std::string text;
    char buffer[65536];
    while (in && text.size() <= limit) {
        in.read(buffer, sizeof buffer);
        text.append(buffer, static_cast<std::size_t>(in.gcount()));
    }
    return text;
}

}  // namespace seamq::cli
