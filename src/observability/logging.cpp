#include "seamq/observability/logging.hpp"

#include <ctime>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "seamq/core/redaction.hpp"
#include "seamq/core/timestamp.hpp"

namespace seamq::observability {

namespace {

// The fields of the Logger call being formatted on this thread. Loggers are
// synchronous, so the formatter runs inside that call, on this thread.
thread_local const LogFields* current_fields = nullptr;

class CurrentFields {
public:
    explicit CurrentFields(const LogFields& fields) : previous_(current_fields) { current_fields = &fields; }
    ~CurrentFields() { current_fields = previous_; }
    CurrentFields(const CurrentFields&) = delete;
    CurrentFields& operator=(const CurrentFields&) = delete;

private:
    const LogFields* previous_;
};

void append_string(spdlog::memory_buf_t& out, std::string_view value) {
    // Invalid UTF-8 becomes U+FFFD rather than a broken line or an exception.
    const auto quoted =
        nlohmann::json(std::string(value)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.append(quoted.data(), quoted.data() + quoted.size());
}

void append_field(spdlog::memory_buf_t& out, std::string_view key, std::string_view value) {
    if (value.empty()) return;
    out.push_back(',');
    append_string(out, key);
    out.push_back(':');
    append_string(out, value);
}

std::string_view level_name(spdlog::level::level_enum level) {
    switch (level) {
        case spdlog::level::trace: return "trace";
        case spdlog::level::debug: return "debug";
        case spdlog::level::info: return "info";
        case spdlog::level::warn: return "warn";
        case spdlog::level::err: return "error";
        case spdlog::level::critical: return "critical";
        default: return "off";
    }
}

}  // namespace

LogFields LogFields::merged(const LogFields& more) const {
    LogFields result = *this;
    const auto take = [](std::string& target, const std::string& source) {
        if (!source.empty()) target = source;
    };
    take(result.component, more.component);
    take(result.context, more.context);
    take(result.consumer, more.consumer);
    take(result.subject, more.subject);
    take(result.message_id, more.message_id);
    take(result.correlation_id, more.correlation_id);
    take(result.trace_id, more.trace_id);
    result.extra.insert(result.extra.end(), more.extra.begin(), more.extra.end());
    return result;
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) noexcept {
    if (name == "trace") return spdlog::level::trace;
    if (name == "debug") return spdlog::level::debug;
    if (name == "info") return spdlog::level::info;
    if (name == "warn" || name == "warning") return spdlog::level::warn;
    if (name == "error") return spdlog::level::err;
    if (name == "critical") return spdlog::level::critical;
    if (name == "off") return spdlog::level::off;
    return std::nullopt;
}

void JsonFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& destination) {
    fmt::format_to(std::back_inserter(destination), "{{\"time\":\"{}\"",
                   format_rfc3339(message.time, TimePrecision::milliseconds));
    append_field(destination, "level", level_name(message.level));

    const LogFields* fields = current_fields;
    if (fields != nullptr && !fields->component.empty()) {
        append_field(destination, "component", fields->component);
    } else {
        append_field(destination, "component",
                     std::string_view(message.logger_name.data(), message.logger_name.size()));
    }
    if (fields != nullptr) {
        append_field(destination, "context", fields->context);
        append_field(destination, "consumer", fields->consumer);
        append_field(destination, "subject", fields->subject);
        append_field(destination, "message_id", fields->message_id);
        append_field(destination, "correlation_id", fields->correlation_id);
        append_field(destination, "trace_id", fields->trace_id);
    }
    destination.push_back(',');
    append_string(destination, "message");
    destination.push_back(':');
    // Whatever a message quotes (an error text naming a URL, a connection string) is
    // written with its passwords masked: the last stop before the log.
    append_string(destination,
                  mask_credentials(std::string_view(message.payload.data(), message.payload.size())));
    if (fields != nullptr) {
        for (const auto& [key, value] : fields->extra)
            append_field(destination, key, mask_credentials(value));
    }
    destination.push_back('}');
    destination.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonFormatter::clone() const {
    return std::make_unique<JsonFormatter>();
}

std::shared_ptr<spdlog::logger> make_json_logger(std::string name, spdlog::level::level_enum level,
                                                 spdlog::sink_ptr sink) {
    if (!sink) sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(std::make_unique<JsonFormatter>());
    auto logger = std::make_shared<spdlog::logger>(std::move(name), std::move(sink));
    logger->set_level(level);
    // Warnings and errors reach the terminal or log collector at once, even if the
    // process is then killed.
    logger->flush_on(spdlog::level::warn);
    return logger;
}

std::shared_ptr<spdlog::logger> install_json_logging(spdlog::level::level_enum level, spdlog::sink_ptr sink) {
    auto logger = make_json_logger("seamq", level, std::move(sink));
    spdlog::set_default_logger(logger);
    return logger;
}

Logger::Logger(std::shared_ptr<spdlog::logger> logger, LogFields fields)
    : logger_(std::move(logger)), fields_(std::move(fields)) {}

Logger Logger::with(const LogFields& more) const {
    return Logger(logger_, fields_.merged(more));
}

void Logger::log(spdlog::level::level_enum level, std::string_view message) const {
    if (!logger_->should_log(level)) return;
    CurrentFields guard(fields_);
    logger_->log(level, "{}", message);
}

}  // namespace seamq::observability
