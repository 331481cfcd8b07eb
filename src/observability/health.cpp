#include "seamq/observability/health.hpp"

#include <algorithm>
#include <mutex>

#include "seamq/core/redaction.hpp"

namespace seamq::observability {

nlohmann::json ReadinessReport::to_json() const {
    auto checks_json = nlohmann::json::array();
    auto reasons = nlohmann::json::array();
    for (const auto& check : checks) {
        nlohmann::json entry = {{"name", check.name}, {"ok", check.ok}, {"detail", check.detail}};
        if (check.advisory) {
            entry["advisory"] = true;
            if (!check.ok) reasons.push_back(check.name + ": " + check.detail);
        }
        checks_json.push_back(std::move(entry));
    }
    return {{"status", ready ? "ready" : "not ready"},
            {"degraded", degraded},
            {"degraded_reasons", std::move(reasons)},
            {"checks", std::move(checks_json)}};
}

Registration ReadinessChecks::add(std::string name, ReadinessCheck check) {
    return add_entry(Entry{std::move(name), std::move(check), false});
}

Registration ReadinessChecks::add_advisory(std::string name, ReadinessCheck check) {
    return add_entry(Entry{std::move(name), std::move(check), true});
}

Registration ReadinessChecks::add_entry(Entry entry) {
    std::uint64_t id = 0;
    {
        std::unique_lock lock(state_->mutex);
        id = state_->next_id++;
        state_->entries.emplace(id, std::move(entry));
    }
    std::weak_ptr<State> weak = state_;
    return Registration([weak, id] {
        if (auto state = weak.lock()) {
            std::unique_lock lock(state->mutex);
            state->entries.erase(id);
        }
    });
}

ReadinessReport ReadinessChecks::evaluate() const {
    ReadinessReport report;
    {
        std::shared_lock lock(state_->mutex);
        for (const auto& [id, entry] : state_->entries) {
            CheckResult result{entry.name, false, {}, entry.advisory};
            try {
                auto outcome = entry.check();
                result.ok = outcome.ok;
                // /readyz is read by anyone who reaches the admin port: a detail
                // quoting a URL or an error text is shown with its passwords masked.
                result.detail = mask_credentials(outcome.detail);
            } catch (const std::exception& e) {
                result.detail = mask_credentials(e.what());
            } catch (...) {
                result.detail = "check failed with an unknown exception";
            }
            report.checks.push_back(std::move(result));
        }
    }
    std::stable_sort(report.checks.begin(), report.checks.end(),
                     [](const CheckResult& a, const CheckResult& b) { return a.name < b.name; });
    const auto required =
        std::count_if(report.checks.begin(), report.checks.end(), [](const auto& c) { return !c.advisory; });
    report.ready = required > 0 && std::all_of(report.checks.begin(), report.checks.end(),
                                               [](const auto& c) { return c.ok || c.advisory; });
    report.degraded = std::any_of(report.checks.begin(), report.checks.end(),
                                  [](const auto& c) { return c.advisory && !c.ok; });
    return report;
}

}  // namespace seamq::observability
