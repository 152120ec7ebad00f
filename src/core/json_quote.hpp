// A string as a JSON string literal, written to anything with put(char)
// and write(std::string_view): the parser's serialiser and the status
// writer share it.
#pragma once

#include <cstddef>
#include <string_view>

#include "escape.hpp"

namespace gw::json {

// Quotes, backslashes and control characters are escaped; a byte that
// starts no valid UTF-8 character becomes U+FFFD, so whatever the bytes
// (a peer name from Consul, a kid from a JWKS), the output is valid JSON.
template <class Out>
void quote_to(std::string_view s, Out &out)
{
    out.put('"');
    write_escaped(
        out, s, [](unsigned char b) { return b < 0x20 || b == '"' || b == '\\'; },
        [](Out &o, char c) {
            static constexpr char hex[] = "0123456789abcdef";
            switch (c) {
            case '"': o.write("\\\""); break;
            case '\\': o.write("\\\\"); break;
            case '\n': o.write("\\n"); break;
            case '\r': o.write("\\r"); break;
            case '\t': o.write("\\t"); break;
            default:
                char u[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
                o.write({u, sizeof(u)});
            }
        });
    out.put('"');
}

} // namespace gw::json
