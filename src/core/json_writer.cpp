// The status API's JSON writer (see gw_json_writer.h).

#include "gw_json_writer.h"

#include <cmath>
#include <string_view>
#include <type_traits>

#include "json_quote.hpp"
#include "sink.hpp"

namespace gw::json {

namespace {

static_assert(std::is_trivially_copyable_v<gw_json_writer_t>);

class Writer {
public:
    explicit Writer(gw_json_writer_t &w) noexcept : w_(w), out_(*w.sink) {}

    // Before any value: a comma after a sibling; in an object, only once
    // the key is written. False (and the output stopped) when no value may
    // come here.
    bool value() noexcept
    {
        if (!usable()) return false;
        if (w_.depth == 0) {
            if (w_.done) return fail();
            w_.done = 1;
            return true;
        }
        std::uint64_t bit = top();
        if (w_.objects & bit) {
            if (!(w_.keyed & bit)) return fail();
            w_.keyed &= ~bit;
        } else {
            separate(bit);
        }
        return true;
    }

    void key(std::string_view k) noexcept
    {
        if (!usable() || w_.depth == 0) return void(fail());
        std::uint64_t bit = top();
        if (!(w_.objects & bit) || (w_.keyed & bit)) return void(fail());
        separate(bit);
        quote_to(k, out_);
        out_.put(':');
        w_.keyed |= bit;
    }

    void open(bool object) noexcept
    {
        if (w_.depth == GW_JSON_WRITER_MAX_DEPTH || !value()) return void(fail());
        ++w_.depth;
        std::uint64_t bit = top();
        w_.objects = object ? w_.objects | bit : w_.objects & ~bit;
        w_.nonempty &= ~bit;
        w_.keyed &= ~bit;
        out_.put(object ? '{' : '[');
    }

    void close(bool object) noexcept
    {
        if (!usable() || w_.depth == 0) return void(fail());
        std::uint64_t bit = top();
        if (((w_.objects & bit) != 0) != object || (w_.keyed & bit)) return void(fail());
        --w_.depth;
        out_.put(object ? '}' : ']');
    }

    Out &out() noexcept { return out_; }

private:
    std::uint64_t top() const noexcept { return std::uint64_t{1} << (w_.depth - 1); }

    bool usable() const noexcept { return !out_.failed(); }

    bool fail() noexcept
    {
        w_.sink->failed = 1;
        return false;
    }

    void separate(std::uint64_t bit) noexcept
    {
        if (w_.nonempty & bit) out_.put(',');
        w_.nonempty |= bit;
    }

    gw_json_writer_t &w_;
    Out out_;
};

} // namespace

} // namespace gw::json

using gw::json::Writer;

extern "C" {

void gw_json_writer_init(gw_json_writer_t *w, gw_sink_t *sink)
{
    *w = gw_json_writer_t{};
    w->sink = sink;
}

void gw_json_object_begin(gw_json_writer_t *w) { Writer(*w).open(true); }
void gw_json_object_end(gw_json_writer_t *w) { Writer(*w).close(true); }
void gw_json_array_begin(gw_json_writer_t *w) { Writer(*w).open(false); }
void gw_json_array_end(gw_json_writer_t *w) { Writer(*w).close(false); }

void gw_json_key(gw_json_writer_t *w, const char *key, size_t len)
{
    Writer(*w).key(len ? std::string_view(key, len) : std::string_view());
}

void gw_json_string(gw_json_writer_t *w, const char *s, size_t len)
{
    Writer writer(*w);
    if (writer.value()) gw::json::quote_to(len ? std::string_view(s, len) : std::string_view(), writer.out());
}

void gw_json_uint(gw_json_writer_t *w, uint64_t v)
{
    Writer writer(*w);
    if (writer.value()) writer.out().integer(v);
}

void gw_json_int(gw_json_writer_t *w, int64_t v)
{
    Writer writer(*w);
    if (writer.value()) writer.out().integer(v);
}

void gw_json_double(gw_json_writer_t *w, double v)
{
    Writer writer(*w);
    if (!writer.value()) return;
    if (std::isfinite(v)) {
        writer.out().number(v);
    } else {
        writer.out().write("null");
    }
}

void gw_json_bool(gw_json_writer_t *w, int v)
{
    Writer writer(*w);
    if (writer.value()) writer.out().write(v ? "true" : "false");
}

void gw_json_null(gw_json_writer_t *w)
{
    Writer writer(*w);
    if (writer.value()) writer.out().write("null");
}

int gw_json_writer_complete(const gw_json_writer_t *w)
{
    return w->sink != nullptr && !w->sink->failed && w->depth == 0 && w->done;
}

} // extern "C"
