#include "seamq/observability/metrics.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>
#include <vector>

#include "tests/observability/run_command.hpp"
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "seamq/core/error.hpp"
#include "seamq/observability/metric_catalog.hpp"
#include "seamq/testing/process.hpp"

namespace seamq::observability {
namespace {

TEST(Metrics, CounterOnlyGoesUp) {
    Counter counter;
    counter.increment();
    counter.increment(2.5);
    counter.increment(-7);
    counter.increment(std::numeric_limits<double>::quiet_NaN());
    EXPECT_DOUBLE_EQ(counter.value(), 3.5);
}

TEST(Metrics, GaugeSetsAndMoves) {
    Gauge gauge;
    gauge.set(10);
    gauge.increment(2);
    gauge.decrement(5);
    EXPECT_DOUBLE_EQ(gauge.value(), 7);
}

TEST(Metrics, HistogramBucketsAreInclusiveUpperBoundsAndCumulative) {
    const double bounds[] = {0.1, 1.0, 10.0};
    Histogram histogram(bounds);
    histogram.observe(0.05);
    histogram.observe(0.1);  // exactly on a bound: that bucket (le = less or equal)
    histogram.observe(0.5);
    histogram.observe(10.0);
    histogram.observe(11.0);  // only +Inf
    histogram.observe(std::chrono::milliseconds(250));
    const auto snapshot = histogram.snapshot();
    EXPECT_EQ(snapshot.cumulative_counts, (std::vector<std::uint64_t>{2, 4, 5, 6}));
    EXPECT_EQ(snapshot.count, 6U);
    EXPECT_DOUBLE_EQ(snapshot.sum, 0.05 + 0.1 + 0.5 + 10.0 + 11.0 + 0.25);
}

TEST(Metrics, HistogramRejectsUnsortedBounds) {
    const double bounds[] = {1.0, 0.5};
    EXPECT_THROW(Histogram{bounds}, Error);
    const double infinite[] = {1.0, std::numeric_limits<double>::infinity()};
    EXPECT_THROW(Histogram{infinite}, Error);
}

TEST(Metrics, ExposesTextFormatExactly) {
    MetricsRegistry registry;
    auto& published = registry.counter_family("demo_published_total", "Events published.", {"context"});
    published.with({"sea"}).increment(3);
    published.with({"governance"}).increment();
    registry.gauge_family("demo_up", "1 when up.").with({}).set(1);
    auto& latency = registry.histogram_family("demo_latency_seconds", "Latency.", {"context"}, {0.5, 1});
    latency.with({"sea"}).observe(0.25);
    latency.with({"sea"}).observe(2);
    registry.gauge_family("demo_empty", "Never set.", {"context"});  // no samples: not exposed

    EXPECT_EQ(registry.expose(),
              "# HELP demo_latency_seconds Latency.\n"
              "# TYPE demo_latency_seconds histogram\n"
              "demo_latency_seconds_bucket{context=\"sea\",le=\"0.5\"} 1\n"
              "demo_latency_seconds_bucket{context=\"sea\",le=\"1\"} 1\n"
              "demo_latency_seconds_bucket{context=\"sea\",le=\"+Inf\"} 2\n"
              "demo_latency_seconds_sum{context=\"sea\"} 2.25\n"
              "demo_latency_seconds_count{context=\"sea\"} 2\n"
              "# HELP demo_published_total Events published.\n"
              "# TYPE demo_published_total counter\n"
              "demo_published_total{context=\"governance\"} 1\n"
              "demo_published_total{context=\"sea\"} 3\n"
              "# HELP demo_up 1 when up.\n"
              "# TYPE demo_up gauge\n"
              "demo_up 1\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
    EXPECT_EQ(exposition::escape_label_value("C:\\dir \"x\"\nnext"), "C:\\\\dir \\\"x\\\"\\nnext");
    EXPECT_EQ(exposition::escape_help("a\\b\nc \"kept\""), "a\\\\b\\nc \"kept\"");
    EXPECT_EQ(exposition::format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(exposition::format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(exposition::format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
    EXPECT_EQ(exposition::format_value(0.005), "0.005");
    EXPECT_EQ(exposition::format_value(1234567), "1234567");
}

TEST(Metrics, ValidatesNamesAndLabelCounts) {
    MetricsRegistry registry;
    EXPECT_THROW(registry.counter_family("9bad", "x"), Error);
    EXPECT_THROW(registry.counter_family("bad-name", "x"), Error);
    EXPECT_THROW(registry.counter_family("ok_total", "x", {"__reserved"}), Error);
    EXPECT_THROW(registry.counter_family("ok_total", "x", {"a", "a"}), Error);
    EXPECT_THROW(registry.histogram_family("h", "x", {"le"}, {1}), Error);
    auto& family = registry.counter_family("ok_total", "x", {"a", "b"});
    EXPECT_THROW(family.with({"only-one"}), Error);
    EXPECT_NO_THROW(family.with({"1", "2"}));
}

TEST(Metrics, SameDefinitionTwiceIsTheSameFamilyAndConflictsThrow) {
    MetricsRegistry registry;
    auto& first = registry.family(metric::relay_published_total);
    auto& second = registry.family(metric::relay_published_total);
    EXPECT_EQ(&first, &second);
    auto& sample = first.with({"sea"});
    EXPECT_EQ(&sample, &second.with({"sea"}));  // a cached handle stays the sample
    EXPECT_THROW(registry.gauge_family("seamq_relay_published_total", "x", {"context"}), Error);
    EXPECT_THROW(registry.counter_family("seamq_relay_published_total", "x", {"stream"}), Error);
}

TEST(Metrics, CallbackValuesAreComputedAtScrapeTime) {
    MetricsRegistry registry;
    auto& pending = registry.family(metric::outbox_pending_rows);
    double rows = 5;
    bool reachable = true;
    auto registration = pending.add_callback({"sea"}, [&]() -> std::optional<double> {
        if (!reachable) return std::nullopt;
        return rows;
    });
    auto failing = pending.add_callback(
        {"governance"}, []() -> std::optional<double> { throw std::runtime_error("database down"); });
    EXPECT_NE(registry.expose().find("seamq_outbox_pending_rows{context=\"sea\"} 5\n"), std::string::npos);
    rows = 7;
    EXPECT_NE(registry.expose().find("seamq_outbox_pending_rows{context=\"sea\"} 7\n"), std::string::npos);
    EXPECT_EQ(registry.expose().find("governance"), std::string::npos);  // a throwing source is left out
    reachable = false;
    EXPECT_EQ(registry.expose().find("seamq_outbox_pending_rows"), std::string::npos);
    reachable = true;
    registration.reset();
    EXPECT_EQ(registry.expose().find("seamq_outbox_pending_rows"), std::string::npos);
    EXPECT_THROW((void)registry.family(metric::relay_puback_latency_seconds)
                     .add_callback({"sea"}, [] { return std::optional<double>(1); }),
                 Error);
}

TEST(Metrics, RegistrationMayOutliveTheRegistry) {
    Registration registration;
    {
        MetricsRegistry registry;
        registration = registry.family(metric::consumer_num_pending).add_callback({"sea", "projector"}, [] {
            return std::optional<double>(1);
        });
    }
    registration.reset();  // must not touch the destroyed family
    SUCCEED();
}

TEST(Metrics, ConcurrentUpdatesAreExactWhileScraping) {
    MetricsRegistry registry;
    auto& counter = registry.family(metric::inbox_processed_total).with({"sea", "projector"});
    auto& histogram = registry.family(metric::inbox_handler_latency_seconds).with({"sea", "projector"});
    constexpr int threads = 4;
    constexpr int per_thread = 50'000;
    std::atomic<bool> done{false};
    std::thread scraper([&] {
        int scrapes = 0;
        while (!done.load() && scrapes < 10'000) {
            (void)registry.expose();
            ++scrapes;
        }
    });
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                counter.increment();
                histogram.observe(0.001 * ((i + t) % 100));
                // New label sets appear while others record and scrape.
                if (i % 5000 == 0)
                    registry.family(metric::inbox_failed_total).with({"sea", std::to_string(i)});
            }
        });
    }
    for (auto& worker : workers) worker.join();
    done = true;
    scraper.join();
    EXPECT_DOUBLE_EQ(counter.value(), threads * per_thread);
    const auto snapshot = histogram.snapshot();
    EXPECT_EQ(snapshot.count, static_cast<std::uint64_t>(threads * per_thread));
    EXPECT_EQ(snapshot.cumulative_counts.back(), snapshot.count);
}

TEST(MetricCatalog, EveryDefinitionIsValidUniqueAndRegisters) {
    MetricsRegistry registry;
    std::set<std::string_view> names;
    for (const auto& description : metric::all) {
        EXPECT_TRUE(exposition::valid_metric_name(description.name)) << description.name;
        EXPECT_TRUE(description.name.starts_with("seamq_")) << description.name;
        EXPECT_TRUE(names.insert(description.name).second) << "defined twice: " << description.name;
        EXPECT_FALSE(description.help.empty()) << description.name;
        if (description.type == MetricType::counter) {
            EXPECT_TRUE(description.name.ends_with("_total")) << description.name;
        }
        EXPECT_EQ(description.type == MetricType::histogram, !description.buckets.empty())
            << description.name;
    }
    registry.family(metric::outbox_pending_rows);
    registry.family(metric::relay_puback_latency_seconds);
    registry.family(metric::nats_reconnects_total);
    EXPECT_EQ(registry.family_names().size(), 3U);
}

// The docs can't drift: docs/metrics.md carries exactly the generated table.
TEST(MetricCatalog, DocsMetricsMdCarriesTheGeneratedReference) {
    const std::filesystem::path source_dir = test_support::environment_or("SEAMQ_SOURCE_DIR", ".");
    std::ifstream in(source_dir / "docs" / "metrics.md");
    ASSERT_TRUE(in) << "docs/metrics.md is missing under " << source_dir;
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string begin = "<!-- BEGIN GENERATED: metrics -->\n";
    const std::string end = "<!-- END GENERATED: metrics -->";
    const auto start = text.find(begin);
    const auto stop = text.find(end);
    ASSERT_NE(start, std::string::npos);
    ASSERT_NE(stop, std::string::npos);
    EXPECT_EQ(text.substr(start + begin.size(), stop - start - begin.size()), metric::reference_markdown())
        << "docs/metrics.md is out of date: regenerate the table with `sea-mq-worker --reference metrics`";
}

// The exposition parses with an independent implementation (npm
// parse-prometheus-text-format) into the values we recorded.
TEST(Metrics, IndependentParserReadsTheExposition) {
    MetricsRegistry registry;
    registry.counter_family("demo_escapes_total", "Help with \\ and\nnewline.", {"path", "message"})
        .with({"C:\\DIR\\FILE.TXT", "say \"hi\"\nbye"})
        .increment(42);
    registry.family(metric::relay_published_total).with({"sea"}).increment(7);
    registry.family(metric::relay_published_total).with({"governance"}).increment(2);
    registry.family(metric::build_info).with({"1.2.3"}).set(1);
    auto& latency = registry.histogram_family("demo_latency_seconds", "Latency.", {}, {0.01, 0.1, 1});
    latency.with({}).observe(0.005);
    latency.with({}).observe(0.05);
    latency.with({}).observe(5);
    auto gone =
        registry.family(metric::nats_connected).add_callback({}, [] { return std::optional<double>(1); });

    testing::TempDir dir("metrics");
    const auto file = dir.path() / "metrics.txt";
    std::ofstream(file) << registry.expose();
    const auto script = std::filesystem::path(test_support::environment_or("SEAMQ_NODE_DIR", "tests/node")) /
                        "metrics_parse.mjs";
    const auto result = test_support::run_command({"node", script.string(), file.string()}, false);
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto families = nlohmann::json::parse(result.output);

    std::map<std::string, nlohmann::json> by_name;
    for (const auto& family : families) by_name[family["name"].get<std::string>()] = family;
    ASSERT_EQ(by_name.size(), 5U) << families.dump(2);

    const auto& escapes = by_name.at("demo_escapes_total");
    EXPECT_EQ(escapes["type"], "COUNTER");
    EXPECT_EQ(escapes["help"], "Help with \\ and\nnewline.");
    EXPECT_EQ(escapes["metrics"][0]["labels"]["path"], "C:\\DIR\\FILE.TXT");
    EXPECT_EQ(escapes["metrics"][0]["labels"]["message"], "say \"hi\"\nbye");
    EXPECT_EQ(escapes["metrics"][0]["value"], "42");

    std::map<std::string, std::string> published;
    for (const auto& sample : by_name.at("seamq_relay_published_total")["metrics"]) {
        published[sample["labels"]["context"].get<std::string>()] = sample["value"].get<std::string>();
    }
    EXPECT_EQ(published, (std::map<std::string, std::string>{{"governance", "2"}, {"sea", "7"}}));

    EXPECT_EQ(by_name.at("seamq_build_info")["metrics"][0]["labels"]["version"], "1.2.3");
    EXPECT_EQ(by_name.at("seamq_nats_connected")["metrics"][0]["value"], "1");

    const auto& histogram = by_name.at("demo_latency_seconds");
    EXPECT_EQ(histogram["type"], "HISTOGRAM");
    const auto& buckets = histogram["metrics"][0]["buckets"];
    EXPECT_EQ(buckets["0.01"], "1");
    EXPECT_EQ(buckets["0.1"], "2");
    EXPECT_EQ(buckets["1"], "2");
    EXPECT_EQ(buckets["+Inf"], "3");
    EXPECT_EQ(histogram["metrics"][0]["count"], "3");
    EXPECT_DOUBLE_EQ(std::stod(histogram["metrics"][0]["sum"].get<std::string>()), 5.055);
}

}  // namespace
}  // namespace seamq::observability
