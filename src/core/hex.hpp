// Lower-case hexadecimal helpers shared by the request-id and trace code.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// Eight lower-case hex digits, the first in x's lowest byte, as the four
// bytes they write, the first in the lowest byte: no check.
inline std::uint32_t pack_word(std::uint64_t x) noexcept
{
    constexpr std::uint64_t ones = 0x0101010101010101ull;
    std::uint64_t nibbles = (x & 0x0f * ones) + (x >> 6 & ones) * 9;   // 'a' is 0x61
    std::uint64_t pairs = (nibbles << 4 | nibbles >> 8) & 0x00ff00ff00ff00ffull;
    pairs = (pairs | pairs >> 8) & 0x0000ffff0000ffffull;
    return static_cast<std::uint32_t>(pairs | pairs >> 16);
}

// Eight lower-case hex digits as four bytes, eight digits at a time: the
// digits are one little-endian word, checked and converted in its lanes.
// Returns the word's high bits that mark a byte that is not such a digit
// (0 when all are; out is then set), so that a run of words is checked
// with one test at its end.
inline std::uint64_t decode_word(const char *text, std::uint8_t *out) noexcept
{
    constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x80 * ones;
    std::uint64_t x;
    std::memcpy(&x, text, 8);
    // with no byte of 0x80 or more, x + (0x80 - c) * ones sets a byte's
    // high bit just when that byte is c or more, without carrying over
    std::uint64_t digit = (x + (0x80 - '0') * ones) & ~(x + (0x80 - '9' - 1) * ones);
    std::uint64_t letter = (x + (0x80 - 'a') * ones) & ~(x + (0x80 - 'f' - 1) * ones);
    std::uint64_t bad = (x & high) | (~(digit | letter) & high);
    std::uint32_t bytes = pack_word(x);
    std::memcpy(out, &bytes, 4);
    return bad;
}

#if defined(__SSE2__)
// Sixteen lower-case hex digits as eight bytes, in one vector: returns a
// mask of the characters that are not such digits (0 when all are; out is
// then set). Ids are 16 or 32 digits, and x86-64 always has SSE2.
inline unsigned decode_block(const char *text, std::uint8_t *out) noexcept
{
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i *>(text));
    // signed compares: a byte of 0x80 or more is below every bound
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('a' - 1)), _mm_cmplt_epi8(x, _mm_set1_epi8('f' + 1)));
    auto bad = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(digit, letter))) ^ 0xffffu;
    // each digit's value, then each pair as one byte (its first digit high)
    __m128i nibbles = _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)), _mm_and_si128(letter, _mm_set1_epi8(9)));
    __m128i pairs = _mm_and_si128(_mm_or_si128(_mm_slli_epi16(nibbles, 4), _mm_srli_epi16(nibbles, 8)),
                                  _mm_set1_epi16(0x00ff));
    _mm_storel_epi64(reinterpret_cast<__m128i *>(out), _mm_packus_epi16(pairs, pairs));
    return bad;
}
#endif

// Eight characters known to be lower-case hex digits as the number they
// write (the first digit highest): no check, a few word operations.
inline std::uint32_t trusted_word(const char *text) noexcept
{
    std::uint64_t x;
    std::memcpy(&x, text, 8);
    if constexpr (std::endian::native == std::endian::big) x = __builtin_bswap64(x);
    return __builtin_bswap32(pack_word(x));   // the first byte highest
}

// Reads 2 * out.size() lower-case hex characters of text into out; false
// when text has another length or another character.
inline bool decode(std::string_view text, std::span<std::uint8_t> out) noexcept
{
    if (text.size() != 2 * out.size()) return false;
    std::size_t i = 0;
    std::uint64_t bad_words = 0;
#if defined(__SSE2__)
    std::size_t blocks = out.size() / 8;
    for (std::size_t k = 0; k < blocks; ++k) bad_words |= decode_block(text.data() + 16 * k, out.data() + 8 * k);
    i = 8 * blocks;
#endif
    if constexpr (std::endian::native == std::endian::little) {
        std::size_t words = (out.size() - i) / 4;
        for (std::size_t k = 0; k < words; ++k) bad_words |= decode_word(text.data() + 2 * i + 8 * k, out.data() + i + 4 * k);
        i += 4 * words;
    }
    int bad = bad_words ? -1 : 0;   // a -1 of values leaves it negative: one test at the end
    for (; i < out.size(); ++i) {
        int high = values[static_cast<unsigned char>(text[2 * i])];
        int low = values[static_cast<unsigned char>(text[2 * i + 1])];
        bad |= high | low;
        out[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return bad >= 0;
}

} // namespace gw::hex
