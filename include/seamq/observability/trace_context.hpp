#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace seamq::observability {

//! A W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/):
//! `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`. It travels from the
//! envelope to the NATS message headers to the handler's request, so one trace id
//! follows an event from the producing transaction to its effects.
class TraceContext {
public:
    //! The header name, in NATS headers and HTTP requests alike.
    static constexpr std::string_view header = "traceparent";

    using TraceId = std::array<std::uint8_t, 16>;
    using SpanId = std::array<std::uint8_t, 8>;

    //! Parses a traceparent. Accepts version 00 exactly, and later versions by their
    //! first four fields (as the spec asks); rejects version ff, upper-case hex, and
    //! all-zero trace or parent ids. nullopt when invalid: start a new trace then.
    static std::optional<TraceContext> parse(std::string_view traceparent) noexcept;

    //! A new trace: random trace id and span id, sampled flag set.
    static TraceContext generate();

    //! The same trace with a new random span id: what a hop passes on downstream.
    TraceContext child() const;

    //! The version-00 header value.
    std::string to_string() const;
    std::string trace_id_hex() const;
    std::string span_id_hex() const;

    const TraceId& trace_id() const noexcept { return trace_id_; }
    const SpanId& span_id() const noexcept { return span_id_; }
    std::uint8_t flags() const noexcept { return flags_; }
    bool sampled() const noexcept { return (flags_ & 0x01U) != 0; }

    friend bool operator==(const TraceContext&, const TraceContext&) = default;

private:
    TraceContext(TraceId trace_id, SpanId span_id, std::uint8_t flags) noexcept
        : trace_id_(trace_id), span_id_(span_id), flags_(flags) {}

    TraceId trace_id_;
    SpanId span_id_;
    std::uint8_t flags_;
};

//! The incoming traceparent's child when it is valid, else a new trace: the one call a
//! relay or consumer needs to continue (or start) a trace.
TraceContext continue_or_start_trace(std::string_view incoming_traceparent);

}  // namespace seamq::observability
