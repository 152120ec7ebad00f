#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "gw_trace.h"

namespace gw {

struct TraceParent {
    std::array<std::uint8_t, 16> trace_id;
    std::array<std::uint8_t, 8> parent_id;
    std::uint8_t flags;
};

// Strict version-00 parsing: exact length, lower-case hex, non-zero ids.
std::optional<TraceParent> parse_traceparent(std::string_view value) noexcept;

struct TraceSpan {
    std::array<std::uint8_t, 16> trace_id;
    std::array<std::uint8_t, 8> span_id;
    std::uint8_t flags;
    std::optional<std::array<std::uint8_t, 8>> parent_id;
};

// A new span under parent, or the root span of a new trace.
TraceSpan begin_span(const std::optional<TraceParent> &parent,
                     std::span<const std::uint8_t, GW_TRACE_RANDOM> random) noexcept;

} // namespace gw
