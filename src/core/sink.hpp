// The C++ side of gw_sink_t: bytes, integers and shortest round-trip
// doubles appended to the caller's space, refilled as it runs out.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

#include "gw_sink.h"

namespace gw {

class Out {
public:
    explicit Out(gw_sink_t &sink) noexcept : s_(sink) {}

    bool failed() const noexcept { return s_.failed != 0; }

    void put(char c) noexcept
    {
        if (s_.pos == s_.end && !refill()) return;
        *s_.pos++ = c;
    }

    void write(std::string_view text) noexcept;

    template <class Int>
    void integer(Int v) noexcept
    {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof(buf), v);
        write({buf, static_cast<std::size_t>(r.ptr - buf)});
    }

    // A finite number: integral values as integers ("3", never "3e+00"),
    // others as the shortest text that reads back as the same double.
    void number(double v) noexcept;

private:
    bool refill() noexcept;

    gw_sink_t &s_;
};

} // namespace gw
