// Lower-case hexadecimal helpers shared by the request-id and trace code.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace gw::hex {

inline constexpr std::string_view digits = "0123456789abcdef";

// Lower-case hex digits only: upper case is rejected on purpose (W3C Trace
// Context allows lower case only).
inline constexpr auto is_lower_digit = [] {
    std::array<bool, 256> table{};
    for (char c : digits) table[static_cast<unsigned char>(c)] = true;
    return table;
}();

// Two hex characters per byte value, so encoding is one lookup a byte.
inline constexpr auto pairs = [] {
    std::array<std::array<char, 2>, 256> table{};
    for (int b = 0; b < 256; ++b) table[b] = {digits[b >> 4], digits[b & 0x0f]};
    return table;
}();

// Writes 2 * bytes.size() characters to out.
inline void encode(std::span<const std::uint8_t> bytes, char *out) noexcept
{
    for (std::uint8_t b : bytes) {
        *out++ = pairs[b][0];
        *out++ = pairs[b][1];
    }
}

} // namespace gw::hex
