// Lower-case hexadecimal helpers shared by the request-id and trace code.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace gw::hex {

inline constexpr std::string_view digits = "0123456789abcdef";

// Value of a lower-case hex digit; upper case is rejected on purpose
// (W3C Trace Context allows lower case only).
constexpr std::optional<std::uint8_t> lower_digit(char c) noexcept
{
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<std::uint8_t>(c - 'a' + 10);
    return std::nullopt;
}

// Writes 2 * bytes.size() characters to out.
inline void encode(std::span<const std::uint8_t> bytes, char *out) noexcept
{
    for (std::uint8_t b : bytes) {
        *out++ = digits[b >> 4];
        *out++ = digits[b & 0x0f];
    }
}

template <std::size_t N>
constexpr std::optional<std::array<std::uint8_t, N>> decode_lower(std::string_view text) noexcept
{
    if (text.size() != 2 * N) return std::nullopt;
    std::array<std::uint8_t, N> out{};
    for (std::size_t i = 0; i < N; ++i) {
        auto hi = lower_digit(text[2 * i]);
        auto lo = lower_digit(text[2 * i + 1]);
        if (!hi || !lo) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(*hi << 4 | *lo);
    }
    return out;
}

template <std::size_t N>
constexpr bool all_zero(const std::array<std::uint8_t, N> &bytes) noexcept
{
    for (auto b : bytes) {
        if (b != 0) return false;
    }
    return true;
}

} // namespace gw::hex
