#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "gw_trace.h"

namespace gw {

// Views into a validated version-00 traceparent: lower-case hex throughout.
struct TraceParent {
    std::string_view trace_id;
    std::string_view parent_id;
    std::string_view flags;
};

// Strict version-00 parsing: exact length, lower-case hex, non-zero ids.
std::optional<TraceParent> parse_traceparent(std::string_view value) noexcept;

// A new span under parent, or the root span of a new (sampled) trace.
gw_trace_t begin_span(const std::optional<TraceParent> &parent,
                      std::span<const std::uint8_t, GW_TRACE_RANDOM> random) noexcept;

} // namespace gw
