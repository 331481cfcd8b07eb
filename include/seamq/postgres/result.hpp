#pragma once

#include <charconv>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "seamq/core/error.hpp"

struct pg_result;  // libpq's PGresult, kept out of this header

namespace seamq::postgres {

//! The rows of one statement (RAII over PGresult). Values are in text format; typed
//! getters parse them. Columns are addressed by index or by name.
class Result {
public:
    Result() = default;
    explicit Result(pg_result* result);  //!< takes ownership

    int rows() const noexcept;
    int columns() const noexcept;
    bool empty() const noexcept { return rows() == 0; }
    //! Rows an INSERT/UPDATE/DELETE touched (PQcmdTuples), 0 when not applicable.
    std::int64_t affected_rows() const;

    //! Index of column `name`; throws seamq::Error(Errc::not_found) naming the columns.
    int column(std::string_view name) const;
    std::string_view column_name(int column) const;

    bool is_null(int row, int column) const;
    bool is_null(int row, std::string_view column_name) const { return is_null(row, column(column_name)); }

    //! The text of a value ("" for NULL). Valid while this Result lives.
    std::string_view text(int row, int column) const;
    std::string_view text(int row, std::string_view column_name) const {
        return text(row, column(column_name));
    }

    //! Typed value: std::string, std::string_view, bool, integers, double, or std::optional
    //! of those (nullopt for NULL). A NULL read as a non-optional type throws.
    template <typename T>
    T get(int row, int column) const;
    template <typename T>
    T get(int row, std::string_view column_name) const {
        return get<T>(row, column(column_name));
    }

    pg_result* native_handle() const noexcept { return result_.get(); }

private:
    struct Deleter {
        void operator()(pg_result* result) const noexcept;
    };
    void check_cell(int row, int column) const;
    [[noreturn]] void throw_conversion(int row, int column, std::string_view type) const;

    std::unique_ptr<pg_result, Deleter> result_;
};

namespace detail {
template <typename T>
struct is_optional : std::false_type {};
template <typename T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <typename T>
T Result::get(int row, int column_index) const {
    check_cell(row, column_index);
    if constexpr (detail::is_optional<T>::value) {
        if (is_null(row, column_index)) return std::nullopt;
        return get<typename T::value_type>(row, column_index);
    } else {
        if (is_null(row, column_index)) {
            raise(Errc::postgres, "column '{}' of row {} is NULL where a value was expected",
                  column_name(column_index), row);
        }
        const std::string_view value = text(row, column_index);
        if constexpr (std::is_same_v<T, std::string>) {
            return std::string(value);
        } else if constexpr (std::is_same_v<T, std::string_view>) {
            return value;
        } else if constexpr (std::is_same_v<T, bool>) {
            if (value == "t" || value == "true") return true;
            if (value == "f" || value == "false") return false;
            throw_conversion(row, column_index, "bool");
        } else if constexpr (std::is_integral_v<T>) {
            T parsed{};
            const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
            if (error != std::errc() || end != value.data() + value.size()) {
                throw_conversion(row, column_index, "integer");
            }
            return parsed;
        } else if constexpr (std::is_floating_point_v<T>) {
            T parsed{};
            const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
            if (error != std::errc() || end != value.data() + value.size()) {
                throw_conversion(row, column_index, "floating point");
            }
            return parsed;
        } else {
            static_assert(sizeof(T) == 0, "Result::get: unsupported type");
        }
    }
}

}  // namespace seamq::postgres
