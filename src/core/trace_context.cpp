#include "trace_context.hpp"

#include <algorithm>
#include <cstring>

#include "hex.hpp"

namespace gw {

namespace {

bool is_lower_hex(std::string_view text) noexcept
{
    return std::ranges::all_of(text, [](char c) { return hex::is_lower_digit[static_cast<unsigned char>(c)]; });
}

bool is_zero(std::string_view text) noexcept
{
    return text.find_first_not_of('0') == std::string_view::npos;
}

// Hex text of random bytes, never all zeros (an all-zero id is invalid).
template <std::size_t N>
void random_id(std::span<const std::uint8_t, N> random, char *out) noexcept
{
    hex::encode(random, out);
    if (std::ranges::all_of(random, [](std::uint8_t b) { return b == 0; })) out[2 * N - 1] = '1';
}

void copy(std::string_view from, char *to) noexcept
{
    std::memcpy(to, from.data(), from.size());
}

} // namespace

std::optional<TraceParent> parse_traceparent(std::string_view v) noexcept
{
    if (v.size() != GW_TRACEPARENT_LEN || v.substr(0, 3) != "00-" || v[35] != '-' || v[52] != '-') {
        return std::nullopt;
    }
    TraceParent parent{v.substr(3, GW_TRACE_ID_LEN), v.substr(36, GW_SPAN_ID_LEN), v.substr(53, GW_TRACE_FLAGS_LEN)};
    if (!is_lower_hex(parent.trace_id) || !is_lower_hex(parent.parent_id) || !is_lower_hex(parent.flags)
        || is_zero(parent.trace_id) || is_zero(parent.parent_id)) {
        return std::nullopt;
    }
    return parent;
}

gw_trace_t begin_span(const std::optional<TraceParent> &parent,
                      std::span<const std::uint8_t, GW_TRACE_RANDOM> random) noexcept
{
    gw_trace_t span{};
    random_id(random.subspan<16, 8>(), span.span_id);
    if (parent) {
        copy(parent->trace_id, span.trace_id);
        copy(parent->parent_id, span.parent_id);
        copy(parent->flags, span.flags);
        span.continued = 1;
    } else {
        random_id(random.subspan<0, 16>(), span.trace_id);
        std::ranges::fill(span.parent_id, '0');
        copy("01", span.flags);   // sampled: a new trace is recorded
    }
    return span;
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
    *out = gw::begin_span(parent, std::span<const std::uint8_t, GW_TRACE_RANDOM>(random, GW_TRACE_RANDOM));
}

void gw_trace_format_child(const gw_trace_t *trace, char *out)
{
    std::memcpy(out, "00-", 3);
    std::memcpy(out + 3, trace->trace_id, GW_TRACE_ID_LEN);
    out[35] = '-';
    std::memcpy(out + 36, trace->span_id, GW_SPAN_ID_LEN);
    out[52] = '-';
    std::memcpy(out + 53, trace->flags, GW_TRACE_FLAGS_LEN);
}

} // extern "C"
