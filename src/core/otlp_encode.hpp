// OTLP trace messages in protobuf (opentelemetry-proto: collector/trace/v1,
// trace/v1, common/v1, resource/v1), written field by field in
// field-number order.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "gw_otlp.h"
#include "protobuf.hpp"

namespace gw::otlp {

// Bytes encode_span() may write for span, at most.
std::size_t span_room(const gw_otlp_span_t &span) noexcept;

// A bound of span_room() that reads no attribute (SIZE_MAX for a span of
// absurdly many): when there is that much room, span_room() need not be
// counted.
std::size_t span_room_bound(const gw_otlp_span_t &span) noexcept;

// Writes the fields of a Span message; false when the trace context's ids
// are not lower-case hex (what was written is then to be dropped).
bool encode_span(const gw_otlp_span_t &span, protobuf::Writer &w) noexcept;

// The first fields of ResourceSpans and of ScopeSpans, each with its tag
// and length, ready to frame batches of spans.
std::vector<std::uint8_t> encode_resource_field(std::span<const gw_otlp_attr_t> attrs);
std::vector<std::uint8_t> encode_scope_field(gw_otlp_str_t name, gw_otlp_str_t version);

// Bytes an ExportTraceServiceRequest adds around span records that take
// spans_size bytes (each "spans" field of ScopeSpans, tag and length
// included).
std::size_t request_header_size(std::size_t resource_field, std::size_t scope_field, std::size_t spans_size) noexcept;

// Writes that header so that it ends at end; returns where it starts.
std::uint8_t *write_request_header(std::uint8_t *end, std::span<const std::uint8_t> resource_field,
                                   std::span<const std::uint8_t> scope_field, std::size_t spans_size) noexcept;

// Field numbers of the Span record in ScopeSpans.
inline constexpr std::uint32_t scope_spans_spans = 2;

} // namespace gw::otlp
