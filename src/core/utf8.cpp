#include "utf8.hpp"

#include <algorithm>

namespace gw::utf8 {

namespace {

constexpr std::string_view replacement = "\xef\xbf\xbd";   // U+FFFD

// Length of the well-formed sequence at the start of s (Unicode 15,
// table 3-7), or 0 with *bad set to the bytes of its maximal ill-formed
// subpart (at least 1).
std::size_t sequence_length(std::string_view s, std::size_t *bad) noexcept
{
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    unsigned char lead = byte(0);
    std::size_t need;
    unsigned char low = 0x80, high = 0xbf;   // range of the second byte
    if (lead < 0x80) return 1;
    if (lead >= 0xc2 && lead <= 0xdf) {
        need = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        need = 3;
        if (lead == 0xe0) low = 0xa0;        // no overlong forms
        if (lead == 0xed) high = 0x9f;       // no surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        need = 4;
        if (lead == 0xf0) low = 0x90;
        if (lead == 0xf4) high = 0x8f;       // nothing above U+10FFFF
    } else {
        *bad = 1;
        return 0;
    }
    for (std::size_t i = 1; i < need; ++i) {
        bool ok = i < s.size() && byte(i) >= (i == 1 ? low : 0x80) && byte(i) <= (i == 1 ? high : 0xbf);
        if (!ok) {
            *bad = i;
            return 0;
        }
    }
    return need;
}

} // namespace

void append_bounded(std::string_view text, std::size_t limit, std::vector<std::uint8_t> &out)
{
    std::size_t written = 0;
    while (!text.empty()) {
        // a run of ASCII goes in one copy
        std::size_t ascii = 0;
        while (ascii < text.size() && static_cast<unsigned char>(text[ascii]) < 0x80) ++ascii;
        if (ascii > 0) {
            std::size_t n = std::min(ascii, limit - written);
            out.insert(out.end(), text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n));
            written += n;
            if (n < ascii) return;
            text.remove_prefix(n);
            continue;
        }
        std::size_t bad = 0;
        std::size_t len = sequence_length(text, &bad);
        std::string_view piece = len ? text.substr(0, len) : replacement;
        if (piece.size() > limit - written) return;
        out.insert(out.end(), piece.begin(), piece.end());
        written += piece.size();
        text.remove_prefix(len ? len : bad);
    }
}

} // namespace gw::utf8
