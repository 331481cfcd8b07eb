#include "seamq/observability/metric_catalog.hpp"

#include <fmt/format.h>

namespace seamq::observability::metric {

std::string reference_markdown() {
    std::string out =
        "| Metric | Type | Labels | Meaning |\n"
        "|---|---|---|---|\n";
    for (const auto& description : all) {
        std::string labels;
        for (const auto& label : description.labels) {
            if (!labels.empty()) labels += ", ";
            labels += fmt::format("`{}`", label);
        }
        std::string type(to_string(description.type));
        if (!description.buckets.empty()) {
            type += fmt::format(" ({} buckets, {}..{} s)", description.buckets.size(),
                                description.buckets.front(), description.buckets.back());
        }
        out += fmt::format("| `{}` | {} | {} | {} |\n", description.name, type, labels.empty() ? "-" : labels,
                           description.help);
    }
    return out;
}

}  // namespace seamq::observability::metric
