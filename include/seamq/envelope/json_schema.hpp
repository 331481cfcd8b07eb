#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "seamq/envelope/envelope.hpp"

namespace seamq::envelope {

//! A compiled JSON Schema (draft-07, valijson) that reports every problem of an instance
//! as a Problem with a JSON Pointer path and the schema keyword that failed. Immutable,
//! safe to share between threads.
class JsonSchema {
public:
    //! How `format` keywords are treated. valijson checks date, time and date-time only
    //! (and throws on non-string values), so formats are either checked for strings alone
    //! or left to the caller, who checks them with ajv-equivalent code.
    enum class Formats { check_strings, leave_to_caller };

    //! Compiles `schema`; `name` (a file name, say) appears in errors. Throws
    //! Error(Errc::config) when it is not a usable draft-07 schema.
    JsonSchema(const nlohmann::json& schema, std::string name, Formats formats = Formats::check_strings);
    ~JsonSchema();
    JsonSchema(JsonSchema&&) noexcept;
    JsonSchema& operator=(JsonSchema&&) noexcept;

    //! Every problem of `instance`; paths are prefixed with `path_prefix` (e.g. "/data").
    std::vector<Problem> validate(const nlohmann::json& instance, std::string_view path_prefix = {}) const;

    const std::string& name() const noexcept;

private:
    struct State;
    std::unique_ptr<State> state_;
};

//! JSON Pointer (RFC 6901) escaping of one reference token: "~" -> "~0", "/" -> "~1".
std::string escape_pointer_token(std::string_view token);

//! `value` as compact JSON text, shortened to about `max_chars` characters for messages.
std::string describe_value(const nlohmann::json& value, std::size_t max_chars = 80);

//! The value at JSON Pointer `path` in `document`, or nullptr.
const nlohmann::json* find_pointer(const nlohmann::json& document, std::string_view path);

}  // namespace seamq::envelope
