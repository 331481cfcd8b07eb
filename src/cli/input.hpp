#pragma once

#include <cstddef>
#include <istream>
#include <string>

namespace seamq::cli {

//! Reads at most `limit` + 1 bytes: enough to know a text is oversized without holding it.
std::string read_bounded(std::istream& in, std::size_t limit);

}  // namespace seamq::cli
