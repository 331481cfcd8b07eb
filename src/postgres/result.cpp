#include "seamq/postgres/result.hpp"

#include <cstdlib>

#include <libpq-fe.h>

namespace seamq::postgres {

void Result::Deleter::operator()(pg_result* result) const noexcept {
    PQclear(result);
}

Result::Result(pg_result* result) : result_(result) {}

int Result::rows() const noexcept {
    return result_ ? PQntuples(result_.get()) : 0;
}

int Result::columns() const noexcept {
    return result_ ? PQnfields(result_.get()) : 0;
}

std::int64_t Result::affected_rows() const {
    if (!result_) return 0;
    const char* count = PQcmdTuples(result_.get());
    return (count == nullptr || *count == '\0') ? 0 : std::strtoll(count, nullptr, 10);
}

int Result::column(std::string_view name) const {
    for (int i = 0; i < columns(); ++i) {
        if (column_name(i) == name) return i;
    }
    std::string available;
    for (int i = 0; i < columns(); ++i) {
        if (i > 0) available += ", ";
        available += column_name(i);
    }
    raise(Errc::not_found, "result has no column '{}' (columns: {})", name,
          available.empty() ? "none" : available);
}

std::string_view Result::column_name(int column_index) const {
    if (!result_ || column_index < 0 || column_index >= columns()) {
        raise(Errc::invalid_argument, "column index {} out of range (result has {} columns)", column_index,
              columns());
    }
    return PQfname(result_.get(), column_index);
}

void Result::check_cell(int row, int column_index) const {
    if (row < 0 || row >= rows() || column_index < 0 || column_index >= columns()) {
        raise(Errc::invalid_argument, "cell ({}, {}) out of range: result has {} rows and {} columns", row,
              column_index, rows(), columns());
    }
}

bool Result::is_null(int row, int column_index) const {
    check_cell(row, column_index);
    return PQgetisnull(result_.get(), row, column_index) != 0;
}

std::string_view Result::text(int row, int column_index) const {
    check_cell(row, column_index);
    return std::string_view(PQgetvalue(result_.get(), row, column_index),
                            static_cast<std::size_t>(PQgetlength(result_.get(), row, column_index)));
}

void Result::throw_conversion(int row, int column_index, std::string_view type) const {
    raise(Errc::postgres, "column '{}' of row {} holds '{}', which is not a valid {}",
          column_name(column_index), row, text(row, column_index).substr(0, 100), type);
}

}  // namespace seamq::postgres
