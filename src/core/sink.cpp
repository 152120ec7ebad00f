#include "sink.hpp"

#include <cstring>

namespace gw {

bool Out::refill() noexcept
{
    if (s_.failed) return false;
    if (s_.refill == nullptr || s_.refill(&s_) != 0 || s_.pos == nullptr || s_.pos >= s_.end) {
        s_.failed = 1;
        s_.pos = s_.end;    // later writes come straight back here
        return false;
    }
    return true;
}

void Out::write(std::string_view text) noexcept
{
    const char *p = text.data();
    std::size_t n = text.size();
    while (n > static_cast<std::size_t>(s_.end - s_.pos)) {
        std::size_t room = static_cast<std::size_t>(s_.end - s_.pos);
        if (room) std::memcpy(s_.pos, p, room);
        s_.pos += room;
        p += room;
        n -= room;
        if (!refill()) return;
    }
    if (n) std::memcpy(s_.pos, p, n);
    s_.pos += n;
}

void Out::number(double v) noexcept
{
    if (v > -9.2e18 && v < 9.2e18) {           // within int64: exact when integral
        auto i = static_cast<std::int64_t>(v);
        if (static_cast<double>(i) == v) {
            integer(i);
            return;
        }
    }
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof(buf), v);
    write({buf, static_cast<std::size_t>(r.ptr - buf)});
}

} // namespace gw

extern "C" void gw_sink_write(gw_sink_t *sink, const char *data, size_t len)
{
    if (sink == nullptr || (data == nullptr && len != 0)) return;
    gw::Out(*sink).write({data, len});
}
