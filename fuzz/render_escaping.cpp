// libFuzzer target: the renderers' escaping of arbitrary bytes.
//
// The input, split at NUL bytes, gives label values and a HELP text for a
// Prometheus series and strings for a JSON document. Whatever the bytes:
// the JSON parses, the exposition has exactly the lines it should, and a
// value that was valid UTF-8 reads back unchanged from both.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gw_json_writer.h"
#include "gw_prometheus.h"
#include "json.hpp"
#include "utf8.hpp"

namespace {

struct Buffer {
    gw_sink_t sink{};
    std::string text;
    char piece[7];      // tiny pieces: every write crosses refills

    Buffer()
    {
        sink.refill = [](gw_sink_t *s) {
            auto *b = static_cast<Buffer *>(s->data);
            if (s->pos) b->text.append(b->piece, std::size_t(s->pos - b->piece));
            s->pos = b->piece;
            s->end = b->piece + sizeof(b->piece);
            return 0;
        };
        sink.data = this;
    }

    std::string &finish()
    {
        if (sink.pos) text.append(piece, std::size_t(sink.pos - piece));
        sink.pos = sink.end = nullptr;
        return text;
    }
};

bool valid_utf8(std::string_view s)
{
    for (std::size_t i = 0; i < s.size();) {
        if (static_cast<unsigned char>(s[i]) < 0x80) {
            ++i;
        } else if (std::size_t n = gw::utf8::sequence(s, i)) {
            i += n;
        } else {
            return false;
        }
    }
    return true;
}

// The value of the first label of a sample line, unescaped as Prometheus does.
std::string label_value(std::string_view line)
{
    std::string v;
    std::size_t i = line.find("=\"") + 2;
    for (; line[i] != '"'; ++i) {
        if (line[i] == '\\') {
            ++i;
            v += line[i] == 'n' ? '\n' : line[i];
        } else {
            v += line[i];
        }
    }
    return v;
}

void check_json(const std::vector<std::string_view> &parts)
{
    Buffer out;
    gw_json_writer_t w;
    gw_json_writer_init(&w, &out.sink);
    gw_json_object_begin(&w);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        std::string key = "k" + std::to_string(i);
        gw_json_key(&w, key.data(), key.size());
        gw_json_string(&w, parts[i].data(), parts[i].size());
    }
    gw_json_object_end(&w);
    if (!gw_json_writer_complete(&w)) __builtin_trap();

    auto doc = gw::json::parse(out.finish());
    if (!doc || doc.value.size() != parts.size()) __builtin_trap();
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (valid_utf8(parts[i]) && doc.value.items()[i].text() != parts[i]) __builtin_trap();
    }
}

void check_prometheus(const std::vector<std::string_view> &parts)
{
    static const gw_metric_str_t labels[] = {{"a", 1}, {"b", 1}};
    static const double bounds[] = {0.5, 1};
    gw_metric_family_t f = {{"x_seconds", 9}, {parts[0].data(), parts[0].size()}, GW_METRIC_HISTOGRAM, 2,
                            labels, 2, bounds};
    Buffer out;
    gw_prom_writer_t w{};
    w.sink = &out.sink;
    std::uint64_t buckets[] = {1, 2, 3};
    for (std::size_t i = 1; i + 1 < parts.size(); i += 2) {
        gw_metric_str_t values[] = {{parts[i].data(), parts[i].size()}, {parts[i + 1].data(), parts[i + 1].size()}};
        gw_metric_series_t s = {values, 0, buckets, 1.5};
        gw_prom_write_series(&w, &f, &s);
    }

    std::string_view text = out.finish();
    std::size_t series = (parts.size() - 1) / 2, lines = 0;
    if (series == 0 ? !text.empty() : text.back() != '\n') __builtin_trap();
    for (std::size_t pos = 0; pos < text.size(); ++lines) {
        std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl - pos);
        std::size_t sample = lines - 2;        // after HELP and TYPE; five lines a series
        if (lines >= 2 && sample % 5 == 0) {
            std::string_view want = parts[1 + sample / 5 * 2];
            if (valid_utf8(want) && label_value(line) != want) __builtin_trap();
        }
        pos = nl + 1;
    }
    if (lines != (series ? 2 + 5 * series : 0)) __builtin_trap();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string_view in(reinterpret_cast<const char *>(data), size);
    std::vector<std::string_view> parts;
    for (std::size_t pos = 0;;) {
        std::size_t nul = in.find('\0', pos);
        parts.push_back(in.substr(pos, nul == in.npos ? in.npos : nul - pos));
        if (nul == in.npos || parts.size() == 64) break;
        pos = nul + 1;
    }
    check_json(parts);
    check_prometheus(parts);
    return 0;
}
