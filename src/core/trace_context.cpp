#include "trace_context.hpp"

#include <algorithm>

#include "hex.hpp"

namespace gw {

namespace {

// A new trace is recorded unless a parent said otherwise.
constexpr std::uint8_t sampled = 0x01;

template <std::size_t N>
std::array<std::uint8_t, N> non_zero_id(std::span<const std::uint8_t, N> random) noexcept
{
    std::array<std::uint8_t, N> id{};
    std::ranges::copy(random, id.begin());
    if (hex::all_zero(id)) id[N - 1] = 1;   // all-zero ids are invalid
    return id;
}

} // namespace

std::optional<TraceParent> parse_traceparent(std::string_view v) noexcept
{
    if (v.size() != GW_TRACEPARENT_LEN || v.substr(0, 3) != "00-" || v[35] != '-' || v[52] != '-') {
        return std::nullopt;
    }
    auto trace_id = hex::decode_lower<16>(v.substr(3, 32));
    auto parent_id = hex::decode_lower<8>(v.substr(36, 16));
    auto flags = hex::decode_lower<1>(v.substr(53, 2));
    if (!trace_id || !parent_id || !flags || hex::all_zero(*trace_id) || hex::all_zero(*parent_id)) {
        return std::nullopt;
    }
    return TraceParent{*trace_id, *parent_id, (*flags)[0]};
}

TraceSpan begin_span(const std::optional<TraceParent> &parent,
                     std::span<const std::uint8_t, GW_TRACE_RANDOM> random) noexcept
{
    auto span_id = non_zero_id(random.subspan<16, 8>());
    if (parent) return {parent->trace_id, span_id, parent->flags, parent->parent_id};
    return {non_zero_id(random.subspan<0, 16>()), span_id, sampled, std::nullopt};
}

} // namespace gw

extern "C" {

int gw_traceparent_is_valid(const char *value, size_t len)
{
    return value != nullptr && gw::parse_traceparent({value, len}).has_value();
}

void gw_trace_begin(const char *incoming, size_t len, const unsigned char *random, gw_trace_t *out)
{
    std::optional<gw::TraceParent> parent;
    if (incoming != nullptr) parent = gw::parse_traceparent({incoming, len});

    auto span = gw::begin_span(parent, std::span<const std::uint8_t, GW_TRACE_RANDOM>(random, GW_TRACE_RANDOM));

    gw::hex::encode(span.trace_id, out->trace_id);
    gw::hex::encode(span.span_id, out->span_id);
    std::ranges::fill(out->parent_id, '0');
    if (span.parent_id) gw::hex::encode(*span.parent_id, out->parent_id);
    out->flags = span.flags;
    out->continued = span.parent_id.has_value();
}

void gw_trace_format_child(const gw_trace_t *trace, char *out)
{
    // The ids are already hex text: only the frame and the flags remain.
    char *p = out;
    *p++ = '0'; *p++ = '0'; *p++ = '-';
    p = std::ranges::copy(trace->trace_id, p).out;
    *p++ = '-';
    p = std::ranges::copy(trace->span_id, p).out;
    *p++ = '-';
    gw::hex::encode(std::span<const std::uint8_t, 1>(&trace->flags, 1), p);
}

} // extern "C"
