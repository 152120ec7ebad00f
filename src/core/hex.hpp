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

// The value of each lower-case hex digit, -1 for any other byte.
inline constexpr auto values = [] {
    std::array<std::int8_t, 256> table{};
    table.fill(-1);
    for (std::size_t i = 0; i < digits.size(); ++i) table[static_cast<unsigned char>(digits[i])] = static_cast<std::int8_t>(i);
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

// Reads 2 * out.size() lower-case hex characters of text into out; false
// when text has another length or another character.
inline bool decode(std::string_view text, std::span<std::uint8_t> out) noexcept
{
    if (text.size() != 2 * out.size()) return false;
    int bad = 0;   // a -1 of values leaves it negative: one test at the end
    for (std::size_t i = 0; i < out.size(); ++i) {
        int high = values[static_cast<unsigned char>(text[2 * i])];
        int low = values[static_cast<unsigned char>(text[2 * i + 1])];
        bad |= high | low;
        out[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return bad >= 0;
}

} // namespace gw::hex
