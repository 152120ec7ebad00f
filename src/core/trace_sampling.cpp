// Trace-id ratio sampling (OpenTelemetry's TraceIdRatioBased with the
// 56-bit threshold of its consistent probability sampling): the decision
// depends on the trace id alone, so every gateway and every SDK using the
// same rule decides alike for one trace.
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "gw_trace.h"
#include "hex.hpp"

namespace gw {

namespace {

constexpr std::uint64_t randomness_range = std::uint64_t{1} << 56;
constexpr std::size_t max_fraction_digits = 9;

// "0", "1", "0.25", "1.000": an exact decimal, so the threshold is exact too.
std::optional<std::uint64_t> ratio_threshold(std::string_view text) noexcept
{
    if (text.empty() || (text[0] != '0' && text[0] != '1')) return std::nullopt;
    std::uint64_t numerator = text[0] - '0';
    std::uint64_t denominator = 1;
    if (text.size() > 1) {
        auto fraction = text.substr(2);
        if (text[1] != '.' || fraction.empty() || fraction.size() > max_fraction_digits) return std::nullopt;
        for (char c : fraction) {
            if (c < '0' || c > '9') return std::nullopt;
            numerator = numerator * 10 + (c - '0');
            denominator *= 10;
        }
        if (numerator > denominator) return std::nullopt;
    }
    // threshold = (1 - ratio) * 2^56, rounded to the nearest integer
    auto sampled = (static_cast<unsigned __int128>(numerator) * randomness_range + denominator / 2) / denominator;
    return randomness_range - static_cast<std::uint64_t>(sampled);
}

// The last 56 bits (14 hex digits) of the trace id are its randomness;
// they are read with the byte before them as two words of hex digits (a
// trace id is hex throughout).
bool trace_id_sampled(std::string_view trace_id, std::uint64_t threshold) noexcept
{
    std::array<std::uint8_t, 8> bytes;
    if (trace_id.size() != GW_TRACE_ID_LEN || !hex::decode(trace_id.substr(GW_TRACE_ID_LEN - 16), bytes)) return false;
    std::uint64_t last = 0;
    std::memcpy(&last, bytes.data(), bytes.size());
    if constexpr (std::endian::native == std::endian::little) last = __builtin_bswap64(last);
    return (last & (randomness_range - 1)) >= threshold;
}

// The same for a trace id known to be lower-case hex (a gw_trace_t's):
// the request path's decision, read without checking each digit.
bool trusted_trace_id_sampled(const char *trace_id, std::uint64_t threshold) noexcept
{
    std::uint64_t last = std::uint64_t{hex::trusted_word(trace_id + GW_TRACE_ID_LEN - 16)} << 32
                         | hex::trusted_word(trace_id + GW_TRACE_ID_LEN - 8);
    return (last & (randomness_range - 1)) >= threshold;
}

} // namespace

} // namespace gw

extern "C" {

int gw_trace_ratio_threshold(const char *text, size_t len, uint64_t *threshold)
{
    if (text == nullptr) return -1;
    auto t = gw::ratio_threshold({text, len});
    if (!t) return -1;
    *threshold = *t;
    return 0;
}

int gw_trace_id_sampled(const char *trace_id, uint64_t threshold)
{
    return trace_id != nullptr && gw::trace_id_sampled({trace_id, GW_TRACE_ID_LEN}, threshold);
}

void gw_trace_sample_new(gw_trace_t *trace, uint64_t threshold)
{
    if (trace->continued) return;
    trace->flags[0] = '0';
    // a ratio of 1 (threshold 0) samples every trace the gateway starts
    // without reading its id
    bool sampled = threshold == 0 || gw::trusted_trace_id_sampled(trace->trace_id, threshold);
    trace->flags[1] = sampled ? '1' : '0';
}

} // extern "C"
