// UTF-8 validation shared by the JSON parser and the writers that must
// never emit anything else (status JSON, Prometheus label values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gw::utf8 {

// Length of the well-formed character starting at s[pos] that is not
// ASCII (2 to 4), or 0: an ASCII byte, a stray or missing continuation, an
// overlong form, a surrogate or anything above U+10FFFF.
inline std::size_t sequence(std::string_view s, std::size_t pos) noexcept
{
    auto b0 = static_cast<unsigned char>(s[pos]);
    std::size_t n;
    std::uint32_t cp, min;
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        n = 2; cp = b0 & 0x1f; min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        n = 3; cp = b0 & 0x0f; min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        n = 4; cp = b0 & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (s.size() - pos < n) return 0;
    for (std::size_t i = 1; i < n; ++i) {
        auto b = static_cast<unsigned char>(s[pos + i]);
        if ((b & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

// What a writer puts in place of a byte that starts no valid character.
inline constexpr std::string_view replacement = "\xef\xbf\xbd";   // U+FFFD

} // namespace gw::utf8
