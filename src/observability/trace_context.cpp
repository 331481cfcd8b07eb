#include "seamq/observability/trace_context.hpp"

#include <algorithm>
#include <random>

namespace seamq::observability {

namespace {

constexpr std::size_t version_00_length = 55;  // 2 + 1 + 32 + 1 + 16 + 1 + 2

std::optional<std::uint8_t> hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    return std::nullopt;  // the spec allows lower-case hex only
}

template <std::size_t N>
bool parse_hex(std::string_view text, std::array<std::uint8_t, N>& out) noexcept {
    if (text.size() != 2 * N) return false;
    for (std::size_t i = 0; i < N; ++i) {
        const auto high = hex_digit(text[2 * i]);
        const auto low = hex_digit(text[2 * i + 1]);
        if (!high || !low) return false;
        out[i] = static_cast<std::uint8_t>((*high << 4U) | *low);
    }
    return true;
}

template <std::size_t N>
std::string to_hex(const std::array<std::uint8_t, N>& bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * N);
    for (const auto byte : bytes) {
        out += digits[byte >> 4U];
        out += digits[byte & 0x0FU];
    }
    return out;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) noexcept {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// Per thread, seeded once from the OS: ids must be unpredictable enough not to collide
// across workers, not cryptographic.
template <std::size_t N>
std::array<std::uint8_t, N> random_nonzero_bytes() {
    thread_local std::mt19937_64 generator{std::random_device{}()};
    std::array<std::uint8_t, N> bytes{};
    do {
        for (std::size_t i = 0; i < N; i += 8) {
            auto word = generator();
            for (std::size_t j = i; j < std::min(N, i + 8); ++j) {
                bytes[j] = static_cast<std::uint8_t>(word & 0xFFU);
                word >>= 8U;
            }
        }
    } while (all_zero(bytes));
    return bytes;
}

}  // namespace

std::optional<TraceContext> TraceContext::parse(std::string_view text) noexcept {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (text.size() < version_00_length) return std::nullopt;

    std::array<std::uint8_t, 1> version{};
    if (!parse_hex(text.substr(0, 2), version) || version[0] == 0xFF) return std::nullopt;
    if (version[0] == 0x00 && text.size() != version_00_length) return std::nullopt;
    if (text.size() > version_00_length && text[version_00_length] != '-') return std::nullopt;
    if (text[2] != '-' || text[35] != '-' || text[52] != '-') return std::nullopt;

    TraceId trace_id{};
    SpanId span_id{};
    std::array<std::uint8_t, 1> flags{};
    if (!parse_hex(text.substr(3, 32), trace_id) || all_zero(trace_id)) return std::nullopt;
    if (!parse_hex(text.substr(36, 16), span_id) || all_zero(span_id)) return std::nullopt;
    if (!parse_hex(text.substr(53, 2), flags)) return std::nullopt;
    return TraceContext(trace_id, span_id, flags[0]);
}

TraceContext TraceContext::generate() {
    return TraceContext(random_nonzero_bytes<16>(), random_nonzero_bytes<8>(), 0x01);
}

TraceContext TraceContext::child() const {
    return TraceContext(trace_id_, random_nonzero_bytes<8>(), flags_);
}

std::string TraceContext::to_string() const {
    std::array<std::uint8_t, 1> flags{flags_};
    return "00-" + to_hex(trace_id_) + "-" + to_hex(span_id_) + "-" + to_hex(flags);
}

std::string TraceContext::trace_id_hex() const {
    return to_hex(trace_id_);
}

std::string TraceContext::span_id_hex() const {
    return to_hex(span_id_);
}

TraceContext continue_or_start_trace(std::string_view incoming_traceparent) {
    if (auto parent = TraceContext::parse(incoming_traceparent)) return parent->child();
    return TraceContext::generate();
}

}  // namespace seamq::observability
