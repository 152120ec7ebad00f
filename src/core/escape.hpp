// The loop the renderers' escapers share: text is copied in runs, valid
// UTF-8 as it is, a byte that starts no valid character as U+FFFD (JSON and
// Prometheus both demand UTF-8), and the ASCII bytes a format reserves
// through that format's escape.
#pragma once

#include <cstddef>
#include <string_view>

#include "utf8.hpp"

namespace gw {

// Out has write(std::string_view); special(c) tells which ASCII bytes
// escape(out, c) writes instead.
template <class Out, class Special, class Escape>
void write_escaped(Out &out, std::string_view s, Special special, Escape escape)
{
    std::size_t plain = 0;                   // start of the run copied as is
    for (std::size_t i = 0; i < s.size();) {
        auto b = static_cast<unsigned char>(s[i]);
        if (b < 0x80 && !special(b)) {
            ++i;
            continue;
        }
        std::size_t n = b >= 0x80 ? utf8::sequence(s, i) : 0;
        if (n) {
            i += n;
            continue;
        }
        out.write(s.substr(plain, i - plain));
        if (b >= 0x80) {
            out.write(utf8::replacement);
        } else {
            escape(out, static_cast<char>(b));
        }
        plain = ++i;
    }
    out.write(s.substr(plain));
}

} // namespace gw
