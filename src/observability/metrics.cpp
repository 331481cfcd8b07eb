#include "seamq/observability/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "seamq/core/error.hpp"
#include "seamq/observability/metric_catalog.hpp"

namespace seamq::observability {

std::string_view to_string(MetricType type) noexcept {
    switch (type) {
        case MetricType::counter: return "counter";
        case MetricType::gauge: return "gauge";
        case MetricType::histogram: return "histogram";
    }
    return "untyped";
}

// --- metrics ---------------------------------------------------------------------------

void Counter::increment(double amount) noexcept {
    if (!(amount > 0.0)) return;  // also rejects NaN
    value_.fetch_add(amount, std::memory_order_relaxed);
}

Histogram::Histogram(std::span<const double> upper_bounds)
    : upper_bounds_(upper_bounds.begin(), upper_bounds.end()),
      bucket_counts_(std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds.size() + 1)) {
    for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
        if (!std::isfinite(upper_bounds_[i]) || (i > 0 && !(upper_bounds_[i - 1] < upper_bounds_[i]))) {
            raise(Errc::invalid_argument,
                  "histogram bucket bounds must be finite and strictly increasing; bound {} is {}", i,
                  upper_bounds_[i]);
        }
    }
}

void Histogram::observe(double value) noexcept {
    if (std::isnan(value)) return;
    // Prometheus buckets are inclusive upper bounds: the first bound >= value.
    const auto bound = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
    const auto index = static_cast<std::size_t>(bound - upper_bounds_.begin());
    bucket_counts_[index].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
    Snapshot snapshot;
    snapshot.cumulative_counts.reserve(upper_bounds_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i <= upper_bounds_.size(); ++i) {
        running += bucket_counts_[i].load(std::memory_order_relaxed);
        snapshot.cumulative_counts.push_back(running);
    }
    snapshot.count = running;
    snapshot.sum = sum_.load(std::memory_order_relaxed);
    return snapshot;
}

Registration& Registration::operator=(Registration&& other) noexcept {
    if (this != &other) {
        reset();
        remove_ = std::exchange(other.remove_, nullptr);
    }
    return *this;
}

void Registration::reset() {
    if (remove_) std::exchange(remove_, nullptr)();
}

// --- exposition helpers ---------------------------------------------------------------------

namespace exposition {

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '"': out += "\\\""; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string escape_help(std::string_view help) {
    std::string out;
    out.reserve(help.size());
    for (const char c : help) {
        switch (c) {
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            default: out += c;
        }
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", value);
}

namespace {
bool name_char(char c, bool first, bool allow_colon) noexcept {
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    return letter || (allow_colon && c == ':') || (!first && digit);
}
}  // namespace

bool valid_metric_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0, true)) return false;
    }
    return true;
}

bool valid_label_name(std::string_view name) noexcept {
    if (name.empty() || name.starts_with("__")) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0, false)) return false;
    }
    return true;
}

}  // namespace exposition

// --- families -----------------------------------------------------------------------------

namespace {

// `{a="x",b="y"` without the closing brace, so histograms can append `le`.
void append_labels_open(std::string& out, const std::vector<std::string>& names,
                        const std::vector<std::string>& values) {
    out += '{';
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        out += exposition::escape_label_value(values[i]);
        out += '"';
    }
}

void append_sample(std::string& out, std::string_view name, const std::vector<std::string>& label_names,
                   const std::vector<std::string>& label_values, double value) {
    out += name;
    if (!label_names.empty()) {
        append_labels_open(out, label_names, label_values);
        out += '}';
    }
    out += ' ';
    out += exposition::format_value(value);
    out += '\n';
}

void append_header(std::string& out, const FamilyBase& family) {
    out += "# HELP ";
    out += family.name();
    out += ' ';
    out += exposition::escape_help(family.help());
    out += "\n# TYPE ";
    out += family.name();
    out += ' ';
    out += to_string(family.type());
    out += '\n';
}

template <typename Metric>
double sample_value(const Metric& metric) {
    return metric.value();
}

}  // namespace

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), type_(type), label_names_(std::move(label_names)) {}

std::vector<std::string> FamilyBase::checked_label_values(std::span<const std::string_view> values) const {
    if (values.size() != label_names_.size()) {
        raise(Errc::invalid_argument, "metric {} takes {} label value(s) ({}), got {}", name_,
              label_names_.size(), fmt::join(label_names_, ", "), values.size());
    }
    return {values.begin(), values.end()};
}

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names, std::vector<double> bucket_bounds)
    : FamilyBase(std::move(name), std::move(help), type, std::move(label_names)),
      bucket_bounds_(std::move(bucket_bounds)) {
    // A family without labels has exactly one sample: create it so it shows at zero.
    if (this->label_names().empty()) with(std::span<const std::string_view>{});
}

template <typename Metric>
Metric& Family<Metric>::with(std::initializer_list<std::string_view> label_values) {
    return with(std::span<const std::string_view>(label_values.begin(), label_values.size()));
}

template <typename Metric>
Metric& Family<Metric>::with(const std::vector<std::string>& label_values) {
    std::vector<std::string_view> views(label_values.begin(), label_values.end());
    return with(std::span<const std::string_view>(views));
}

template <typename Metric>
Metric& Family<Metric>::with(std::span<const std::string_view> label_values) {
    auto key = checked_label_values(label_values);
    std::lock_guard lock(samples_mutex_);
    auto found = samples_.find(key);
    if (found == samples_.end()) {
        std::unique_ptr<Metric> metric;
        if constexpr (std::is_same_v<Metric, Histogram>) {
            metric = std::make_unique<Histogram>(bucket_bounds_);
        } else {
            metric = std::make_unique<Metric>();
        }
        found = samples_.emplace(std::move(key), std::move(metric)).first;
    }
    return *found->second;
}

template <typename Metric>
bool Family<Metric>::remove(std::initializer_list<std::string_view> label_values) {
    const auto key =
        checked_label_values(std::span<const std::string_view>(label_values.begin(), label_values.size()));
    std::lock_guard lock(samples_mutex_);
    return samples_.erase(key) > 0;
}

template <typename Metric>
Registration Family<Metric>::add_callback(std::initializer_list<std::string_view> label_values,
                                          ValueCallback callback) {
    const std::vector<std::string> values(label_values.begin(), label_values.end());
    return add_callback(values, std::move(callback));
}

template <typename Metric>
Registration Family<Metric>::add_callback(const std::vector<std::string>& label_values,
                                          ValueCallback callback) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
        raise(Errc::internal, "metric {}: histograms cannot take scrape-time callbacks", name());
    } else {
        std::vector<std::string_view> views(label_values.begin(), label_values.end());
        auto key = checked_label_values(views);
        if (!callback) raise(Errc::invalid_argument, "metric {}: empty callback", name());
        std::uint64_t id = 0;
        {
            std::unique_lock lock(callbacks_mutex_);
            id = next_callback_id_++;
            callbacks_.emplace(id, CallbackSample{std::move(key), std::move(callback)});
        }
        std::weak_ptr<Family<Metric>> weak = this->weak_from_this();
        return Registration([weak, id] {
            if (auto family = weak.lock()) {
                std::unique_lock lock(family->callbacks_mutex_);
                family->callbacks_.erase(id);
            }
        });
    }
}

template <typename Metric>
void Family<Metric>::expose(std::string& out) const {
    std::string body;
    if constexpr (std::is_same_v<Metric, Histogram>) {
        std::vector<std::pair<std::vector<std::string>, Histogram::Snapshot>> snapshots;
        {
            std::lock_guard lock(samples_mutex_);
            for (const auto& [values, histogram] : samples_)
                snapshots.emplace_back(values, histogram->snapshot());
        }
        const auto bucket_name = name() + "_bucket";
        for (const auto& [values, snapshot] : snapshots) {
            for (std::size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
                body += bucket_name;
                append_labels_open(body, label_names(), values);
                body += label_names().empty() ? "le=\"" : ",le=\"";
                body += i < bucket_bounds_.size() ? exposition::format_value(bucket_bounds_[i]) : "+Inf";
                body += "\"} ";
                body += fmt::format("{}", snapshot.cumulative_counts[i]);
                body += '\n';
            }
            append_sample(body, name() + "_sum", label_names(), values, snapshot.sum);
            append_sample(body, name() + "_count", label_names(), values,
                          static_cast<double>(snapshot.count));
        }
    } else {
        // Stored and computed samples merge into one label-sorted list; a callback for
        // the same labels as a stored sample wins (it is the live value).
        std::map<std::vector<std::string>, double> values;
        {
            std::lock_guard lock(samples_mutex_);
            for (const auto& [labels, metric] : samples_) values[labels] = sample_value(*metric);
        }
        {
            std::shared_lock lock(callbacks_mutex_);
            for (const auto& [id, sample] : callbacks_) {
                std::optional<double> value;
                try {
                    value = sample.callback();
                } catch (...) {
                    value.reset();  // a failing source leaves its sample out of this scrape
                }
                if (value) {
                    values[sample.label_values] = *value;
                } else {
                    values.erase(sample.label_values);
                }
            }
        }
        for (const auto& [labels, value] : values) append_sample(body, name(), label_names(), labels, value);
    }
    if (body.empty()) return;
    append_header(out, *this);
    out += body;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// --- registry -----------------------------------------------------------------------------

template <typename Metric>
Family<Metric>& MetricsRegistry::register_family(std::string_view name, std::string_view help,
                                                 MetricType type, std::vector<std::string> label_names,
                                                 std::vector<double> bucket_bounds) {
    if (!exposition::valid_metric_name(name)) {
        raise(Errc::invalid_argument, "'{}' is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
              name);
    }
    for (const auto& label : label_names) {
        if (!exposition::valid_label_name(label) || (type == MetricType::histogram && label == "le")) {
            raise(Errc::invalid_argument, "metric {}: '{}' is not a valid label name", name, label);
        }
    }
    for (std::size_t i = 0; i < label_names.size(); ++i) {
        if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i),
                      label_names[i]) != label_names.begin() + static_cast<std::ptrdiff_t>(i)) {
            raise(Errc::invalid_argument, "metric {}: label '{}' given twice", name, label_names[i]);
        }
    }
    std::lock_guard lock(mutex_);
    if (auto found = families_.find(name); found != families_.end()) {
        auto* existing = dynamic_cast<Family<Metric>*>(found->second.get());
        if (existing == nullptr || existing->type() != type || existing->label_names() != label_names ||
            existing->bucket_bounds() != bucket_bounds) {
            raise(Errc::internal, "metric {} is already registered with another type, labels or buckets",
                  name);
        }
        return *existing;
    }
    auto family = std::make_shared<Family<Metric>>(std::string(name), std::string(help), type,
                                                   std::move(label_names), std::move(bucket_bounds));
    auto& reference = *family;
    families_.emplace(std::string(name), std::move(family));
    return reference;
}

namespace {
std::vector<std::string> to_strings(std::span<const std::string_view> views) {
    return {views.begin(), views.end()};
}
}  // namespace

Family<Counter>& MetricsRegistry::family(const CounterDefinition& definition) {
    return counter_family(definition.name, definition.help, to_strings(definition.labels));
}

Family<Gauge>& MetricsRegistry::family(const GaugeDefinition& definition) {
    return gauge_family(definition.name, definition.help, to_strings(definition.labels));
}

Family<Histogram>& MetricsRegistry::family(const HistogramDefinition& definition) {
    return histogram_family(definition.name, definition.help, to_strings(definition.labels),
                            {definition.buckets.begin(), definition.buckets.end()});
}

Family<Counter>& MetricsRegistry::counter_family(std::string_view name, std::string_view help,
                                                 std::vector<std::string> label_names) {
    return register_family<Counter>(name, help, MetricType::counter, std::move(label_names), {});
}

Family<Gauge>& MetricsRegistry::gauge_family(std::string_view name, std::string_view help,
                                             std::vector<std::string> label_names) {
    return register_family<Gauge>(name, help, MetricType::gauge, std::move(label_names), {});
}

Family<Histogram>& MetricsRegistry::histogram_family(std::string_view name, std::string_view help,
                                                     std::vector<std::string> label_names,
                                                     std::vector<double> bucket_bounds) {
    Histogram validate(bucket_bounds);  // throws on bad bounds before anything is registered
    return register_family<Histogram>(name, help, MetricType::histogram, std::move(label_names),
                                      std::move(bucket_bounds));
}

std::string MetricsRegistry::expose() const {
    std::vector<std::shared_ptr<FamilyBase>> families;
    {
        std::lock_guard lock(mutex_);
        families.reserve(families_.size());
        for (const auto& [name, family] : families_) families.push_back(family);
    }
    // Callbacks run without the registry lock, so they may register families themselves.
    std::string out;
    for (const auto& family : families) family->expose(out);
    return out;
}

std::vector<std::string> MetricsRegistry::family_names() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> names;
    for (const auto& [name, family] : families_) names.push_back(name);
    return names;
}

}  // namespace seamq::observability
