#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace seamq::observability {

//! The Prometheus metric types sea-mq exposes.
enum class MetricType { counter, gauge, histogram };

std::string_view to_string(MetricType type) noexcept;

//! A value that only goes up (events relayed, messages processed). Increments are one
//! atomic read-modify-write: cache the reference a Family hands out, then call freely.
class Counter {
public:
    //! Adds `amount`; negative or NaN amounts are ignored (a counter never goes down).
    void increment(double amount = 1.0) noexcept;
    double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

//! A value that goes up and down (pending rows, connection state).
class Gauge {
public:
    void set(double value) noexcept { value_.store(value, std::memory_order_relaxed); }
    void increment(double amount = 1.0) noexcept { value_.fetch_add(amount, std::memory_order_relaxed); }
    void decrement(double amount = 1.0) noexcept { value_.fetch_sub(amount, std::memory_order_relaxed); }
    double value() const noexcept { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<double> value_{0.0};
};

//! Observations counted into fixed buckets (latencies in seconds). observe() is a
//! binary search over the bounds plus two atomic updates, no lock.
class Histogram {
public:
    //! `upper_bounds` strictly increasing and finite; +Inf is implicit.
    explicit Histogram(std::span<const double> upper_bounds);

    void observe(double value) noexcept;
    //! Observes a duration in seconds, the Prometheus base unit.
    template <typename Rep, typename Period>
    void observe(std::chrono::duration<Rep, Period> duration) noexcept {
        observe(std::chrono::duration<double>(duration).count());
    }

    //! A consistent-enough copy for exposition: count equals the +Inf bucket.
    struct Snapshot {
        std::vector<std::uint64_t> cumulative_counts;  //!< one per bound, then +Inf
        double sum = 0.0;
        std::uint64_t count = 0;
    };
    Snapshot snapshot() const;
    const std::vector<double>& upper_bounds() const noexcept { return upper_bounds_; }

private:
    std::vector<double> upper_bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> bucket_counts_;  // bounds + 1 (+Inf)
    std::atomic<double> sum_{0.0};
};

//! A callback registered for scrape-time values; the callback is removed (and no longer
//! running) once this handle is destroyed or reset. Keep it as long as the object the
//! callback captures lives.
class Registration {
public:
    Registration() = default;
    explicit Registration(std::function<void()> remove) : remove_(std::move(remove)) {}
    ~Registration() { reset(); }
    Registration(Registration&& other) noexcept : remove_(std::exchange(other.remove_, nullptr)) {}
    Registration& operator=(Registration&& other) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

    void reset();
    explicit operator bool() const noexcept { return static_cast<bool>(remove_); }

private:
    std::function<void()> remove_;
};

//! Computes a sample's value at scrape time; nullopt leaves the sample out of this
//! scrape (e.g. the database is unreachable). Runs on the admin server's thread: keep it
//! bounded in time. It must not register or remove callbacks of the same family.
using ValueCallback = std::function<std::optional<double>()>;

//! What a family has in common, whatever its metric type: name, help, label names and
//! the exposition of its samples.
class FamilyBase {
public:
    FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> label_names);
    virtual ~FamilyBase() = default;
    FamilyBase(const FamilyBase&) = delete;
    FamilyBase& operator=(const FamilyBase&) = delete;

    const std::string& name() const noexcept { return name_; }
    const std::string& help() const noexcept { return help_; }
    MetricType type() const noexcept { return type_; }
    const std::vector<std::string>& label_names() const noexcept { return label_names_; }

    //! Appends this family in the Prometheus text format 0.0.4 (nothing if it has no samples).
    virtual void expose(std::string& out) const = 0;

protected:
    //! Throws Errc::invalid_argument unless `values` has one value per label name.
    std::vector<std::string> checked_label_values(std::span<const std::string_view> values) const;

private:
    std::string name_;
    std::string help_;
    MetricType type_;
    std::vector<std::string> label_names_;
};

//! All the samples of one metric name, one per combination of label values. with()
//! returns a reference that stays valid as long as the registry: look it up once, cache
//! it, then update it on the hot path without any lookup or lock.
template <typename Metric>
class Family final : public FamilyBase, public std::enable_shared_from_this<Family<Metric>> {
public:
    Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
           std::vector<double> bucket_bounds = {});

    //! The sample for these label values (in label-name order), created at zero if new.
    Metric& with(std::initializer_list<std::string_view> label_values);
    Metric& with(std::span<const std::string_view> label_values);
    Metric& with(const std::vector<std::string>& label_values);

    //! Removes a sample (its references become dangling: only for label values, such as
    //! a server URL, that stop existing). Returns whether it existed.
    bool remove(std::initializer_list<std::string_view> label_values);

    //! A sample whose value is computed at scrape time. Counters and gauges only.
    [[nodiscard]] Registration add_callback(std::initializer_list<std::string_view> label_values,
                                            ValueCallback callback);
    [[nodiscard]] Registration add_callback(const std::vector<std::string>& label_values,
                                            ValueCallback callback);

    const std::vector<double>& bucket_bounds() const noexcept { return bucket_bounds_; }

    void expose(std::string& out) const override;

private:
    struct CallbackSample {
        std::vector<std::string> label_values;
        ValueCallback callback;
    };

    std::vector<double> bucket_bounds_;
    mutable std::mutex samples_mutex_;
    std::map<std::vector<std::string>, std::unique_ptr<Metric>> samples_;
    // Shared while callbacks run (scrapes may overlap), exclusive to add or remove one,
    // so removal waits for a running callback and a destroyed owner is never called.
    mutable std::shared_mutex callbacks_mutex_;
    std::uint64_t next_callback_id_ = 0;
    std::map<std::uint64_t, CallbackSample> callbacks_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

struct CounterDefinition;
struct GaugeDefinition;
struct HistogramDefinition;

//! The metrics of one process, exposed together on /metrics. Pass it by reference to
//! the components that record metrics; it must outlive them.
class MetricsRegistry {
public:
    //! The Content-Type of expose()'s output.
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

    MetricsRegistry() = default;
    MetricsRegistry(const MetricsRegistry&) = delete;
    MetricsRegistry& operator=(const MetricsRegistry&) = delete;

    //! Families by definition (see metric_catalog.hpp). Registering the same name again
    //! with the same shape returns the existing family; a different shape throws
    //! Errc::internal. Names and label names are checked against the Prometheus grammar.
    Family<Counter>& family(const CounterDefinition& definition);
    Family<Gauge>& family(const GaugeDefinition& definition);
    Family<Histogram>& family(const HistogramDefinition& definition);

    Family<Counter>& counter_family(std::string_view name, std::string_view help,
                                    std::vector<std::string> label_names = {});
    Family<Gauge>& gauge_family(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names = {});
    Family<Histogram>& histogram_family(std::string_view name, std::string_view help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bucket_bounds);

    //! Every family with at least one sample, sorted by name, in the text format 0.0.4.
    std::string expose() const;

    //! Names of the registered families, sorted.
    std::vector<std::string> family_names() const;

private:
    template <typename Metric>
    Family<Metric>& register_family(std::string_view name, std::string_view help, MetricType type,
                                    std::vector<std::string> label_names, std::vector<double> bucket_bounds);

    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<FamilyBase>, std::less<>> families_;
};

//! Prometheus text-format helpers, public for tests and other exposers.
namespace exposition {
//! Label value escaping: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);
//! HELP text escaping: backslash and newline.
std::string escape_help(std::string_view help);
//! A sample value: shortest round-trip decimal, "+Inf", "-Inf" or "NaN".
std::string format_value(double value);
bool valid_metric_name(std::string_view name) noexcept;
bool valid_label_name(std::string_view name) noexcept;
}  // namespace exposition

}  // namespace seamq::observability
