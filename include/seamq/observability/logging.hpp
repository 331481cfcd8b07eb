#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>

namespace seamq::observability {

//! The structured fields of a log line. Empty fields are left out of the line. Pass them
//! explicitly: `log.with({.subject = s, .message_id = id}).info("published")`. (The `{}`
//! initializers keep GCC 12's -Wmissing-field-initializers quiet for designated initializers.)
struct LogFields {
    std::string component{};       //!< relay, consumer, admin, nats, worker ...
    std::string context{};         //!< bounded context (sea, vibespro, governance)
    std::string consumer{};        //!< inbox consumer name
    std::string subject{};         //!< NATS subject of the message at hand
    std::string message_id{};      //!< envelope id / Nats-Msg-Id
    std::string correlation_id{};  //!< envelope correlation id
    std::string trace_id{};        //!< W3C trace id (32 hex digits)
    std::vector<std::pair<std::string, std::string>> extra{};  //!< further key/value pairs

    //! Fields of `more` that are set replace these; extras are appended.
    LogFields merged(const LogFields& more) const;
};

//! Parses trace|debug|info|warn|error|critical|off; nullopt for anything else.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) noexcept;

//! Formats every record as one JSON object per line: time (RFC 3339, UTC, milliseconds),
//! level, component, the LogFields that are set, message, then extras. Records logged
//! directly through spdlog (no LogFields) get the logger's name as component.
class JsonFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& destination) override;
    std::unique_ptr<spdlog::formatter> clone() const override;
};

//! A synchronous spdlog logger named `name` writing JSON lines to `sink` (stderr when
//! null); the sink's formatter is replaced by a JsonFormatter. Synchronous on purpose:
//! the fields of a Logger call reach the formatter on the calling thread.
std::shared_ptr<spdlog::logger> make_json_logger(std::string name, spdlog::level::level_enum level,
                                                 spdlog::sink_ptr sink = nullptr);

//! Makes a JSON logger (see make_json_logger) spdlog's default, so libraries that log
//! through spdlog::info() & co. write the same JSON lines, and returns it.
std::shared_ptr<spdlog::logger> install_json_logging(spdlog::level::level_enum level,
                                                     spdlog::sink_ptr sink = nullptr);

//! A logger with bound fields; cheap to copy. Components get one through their
//! constructor (`Logger(base).with({.component = "relay", .context = "sea"})`).
class Logger {
public:
    explicit Logger(std::shared_ptr<spdlog::logger> logger, LogFields fields = {});

    //! A copy whose fields are these merged with `more`.
    Logger with(const LogFields& more) const;

    const LogFields& fields() const noexcept { return fields_; }
    bool should_log(spdlog::level::level_enum level) const noexcept { return logger_->should_log(level); }
    const std::shared_ptr<spdlog::logger>& spdlog_logger() const noexcept { return logger_; }

    void log(spdlog::level::level_enum level, std::string_view message) const;

    template <typename... Args>
    void trace(fmt::format_string<Args...> format, Args&&... args) const {
        formatted(spdlog::level::trace, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void debug(fmt::format_string<Args...> format, Args&&... args) const {
        formatted(spdlog::level::debug, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void info(fmt::format_string<Args...> format, Args&&... args) const {
        formatted(spdlog::level::info, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void warn(fmt::format_string<Args...> format, Args&&... args) const {
        formatted(spdlog::level::warn, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void error(fmt::format_string<Args...> format, Args&&... args) const {
        formatted(spdlog::level::err, format, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void critical(fmt::format_string<Args...> format, Args&&... args) const {
        formatted(spdlog::level::critical, format, std::forward<Args>(args)...);
    }

private:
    template <typename... Args>
    void formatted(spdlog::level::level_enum level, fmt::format_string<Args...> format,
                   Args&&... args) const {
        if (!logger_->should_log(level)) return;
        log(level, fmt::format(format, std::forward<Args>(args)...));
    }

    std::shared_ptr<spdlog::logger> logger_;
    LogFields fields_;
};

}  // namespace seamq::observability
