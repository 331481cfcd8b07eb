#pragma once

#include <concepts>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace seamq::postgres {

//! One statement parameter in text format, or SQL NULL. Built implicitly from strings,
//! numbers, bool and std::optional of those, so `exec(sql, id, 42, std::nullopt)` works.
//! jsonb, bytea ('\x...' hex) and arrays (see array_literal) are passed as their text.
class Param {
public:
    Param(std::nullopt_t) {}                               // NOLINT(google-explicit-constructor): SQL NULL
    Param(std::string value) : text_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Param(std::string_view value) : text_(std::string(value)) {}  // NOLINT(google-explicit-constructor)
    Param(const char* value) : text_(std::string(value)) {}       // NOLINT(google-explicit-constructor)
    Param(bool value) : text_(value ? "true" : "false") {}        // NOLINT(google-explicit-constructor)
    template <std::integral T>
    requires(!std::same_as<T, bool> && !std::same_as<T, char>) Param(T value)
        : text_(std::to_string(value)) {}  // NOLINT(google-explicit-constructor)
    Param(double value);                   // NOLINT(google-explicit-constructor): shortest round-trip text
    template <typename T>
    Param(const std::optional<T>& value)  // NOLINT(google-explicit-constructor)
    {
        if (value) *this = Param(*value);
    }

    bool is_null() const noexcept { return !text_.has_value(); }
    //! The text sent to the server; nullptr for NULL (as libpq expects).
    const char* c_str() const noexcept { return text_ ? text_->c_str() : nullptr; }
    int size() const noexcept { return text_ ? static_cast<int>(text_->size()) : 0; }

private:
    std::optional<std::string> text_;
};

//! A PostgreSQL array literal `{"a","b",NULL}` for text-format parameters, so one
//! statement can carry many rows: `... FROM unnest($1::text[], $2::jsonb[])`.
std::string array_literal(std::span<const std::string> values);
std::string array_literal(std::span<const std::optional<std::string>> values);

//! A PostgreSQL `bytea` hex literal (`\x0a1b...`) for a text-format parameter.
std::string bytea_literal(std::string_view bytes);

}  // namespace seamq::postgres
