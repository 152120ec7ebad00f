// libFuzzer target: the collector's answer, sampling ratios, and spans
// whose text comes from the input. Every body the batcher makes must walk
// as protobuf to the end, with every string field well-formed UTF-8 of at
// most GW_OTLP_VALUE_MAX bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "gw_otlp.h"
#include "gw_trace.h"

namespace {

bool well_formed_utf8(std::span<const std::uint8_t> s)
{
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t c = s[i];
        std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (n == 0 || i + n > s.size()) return false;
        if (n > 1) c &= 0x7f >> n;
        for (std::size_t k = 1; k < n; ++k) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            c = c << 6 | (s[i + k] & 0x3f);
        }
        static constexpr std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

// A reading of the wire format of its own, not the core's.
bool varint(std::span<const std::uint8_t> &s, std::uint64_t &value)
{
    value = 0;
    for (int shift = 0; shift < 64 && !s.empty(); shift += 7) {
        std::uint8_t b = s.front();
        s = s.subspan(1);
        value |= std::uint64_t{b & 0x7fu} << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

// Calls field(number, bytes) for each length-delimited field; aborts on
// anything that does not walk to the end.
template <class Field>
void fields(std::span<const std::uint8_t> message, Field &&field)
{
    while (!message.empty()) {
        std::uint64_t key, value;
        if (!varint(message, key) || key >> 3 == 0) std::abort();
        switch (key & 7) {
        case 0:
            if (!varint(message, value)) std::abort();
            continue;
        case 1:
        case 5: {
            std::size_t n = (key & 7) == 1 ? 8 : 4;
            if (message.size() < n) std::abort();
            message = message.subspan(n);
            continue;
        }
        case 2:
            if (!varint(message, value) || value > message.size()) std::abort();
            field(key >> 3, message.first(value));
            message = message.subspan(value);
            continue;
        default:
            std::abort();
        }
    }
}

void text(std::span<const std::uint8_t> s)
{
    if (s.size() > GW_OTLP_VALUE_MAX || !well_formed_utf8(s)) std::abort();
}

void key_value(std::span<const std::uint8_t> kv)
{
    fields(kv, [](auto n, auto b) {
        if (n == 1) text(b);
        if (n == 2) fields(b, [](auto, auto v) { text(v); });   // AnyValue: string_value
    });
}

void span(std::span<const std::uint8_t> s)
{
    fields(s, [](auto n, auto b) {
        if ((n == 1 && b.size() != 16) || ((n == 2 || n == 4) && b.size() != 8)) std::abort();
        if (n == 3 || n == 5) text(b);
        if (n == 9) key_value(b);
        if (n == 15) fields(b, [](auto, auto m) { text(m); });   // Status: message
    });
}

void request(std::span<const std::uint8_t> body)
{
    fields(body, [](auto, auto resource_spans) {
        fields(resource_spans, [](auto n, auto b) {
            if (n == 1) fields(b, [](auto, auto kv) { key_value(kv); });   // Resource: attributes
            if (n == 2) {
                fields(b, [](auto m, auto c) {
                    if (m == 1) fields(c, [](auto, auto t) { text(t); });   // scope: name, version
                    if (m == 2) span(c);
                });
            }
        });
    });
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = reinterpret_cast<const char *>(data);

    int64_t rejected;
    gw_otlp_str_t message;
    gw_otlp_parse_response(data, size, &rejected, &message);

    uint64_t threshold;
    if (gw_trace_ratio_threshold(text, size, &threshold) == 0 && threshold > (uint64_t{1} << 56)) std::abort();

    gw_otlp_str_t all{text, size}, half{text, size / 2};
    gw_otlp_attr_t attrs[] = {{all, half, 0, 0}, {half, all, 0, 0}, {all, {}, static_cast<int64_t>(size), 1}};
    gw_otlp_attr_t resource[] = {{{"service.name", 12}, all, 0, 0}};
    gw_trace_t trace;
    gw_trace_begin(nullptr, 0, reinterpret_cast<const unsigned char *>("0123456789abcdefghijklmn"), &trace);
    gw_otlp_span_t span{&trace, all, half, 1, 2, 1, attrs, 3};

    // the streaming writer: keys encoded once, then string values in one
    // call (short, long, empty, any bytes) and an integer
    gw_otlp_str_t third{text + size / 3, size - size / 3};
    gw_otlp_str_t key_texts[] = {{"k", 1}, all, half, third};
    gw_otlp_str_t values[] = {half, all, {}, third};
    std::vector<unsigned char> key_bytes[4];
    gw_otlp_key_t keys[4];
    for (int i = 0; i < 4; ++i) {
        key_bytes[i].resize(gw_otlp_key_room(key_texts[i].len));
        keys[i] = {key_bytes[i].data(), gw_otlp_key_encode(key_texts[i].data, key_texts[i].len, key_bytes[i].data())};
    }
    gw_otlp_span_t streamed{&trace, half, {}, 1, 2, 0, nullptr, 0};

    gw_otlp_batcher_t *b = gw_otlp_batcher_create(resource, 1, half, all, 3, 4);
    if (b == nullptr) std::abort();
    gw_otlp_batcher_add(b, &span);
    gw_otlp_batcher_add(b, &span);
    if (gw_otlp_span_open(b, &streamed) != GW_OTLP_OK) std::abort();
    gw_otlp_span_strs(b, keys, values, 4);
    gw_otlp_span_int(b, &keys[1], static_cast<int64_t>(size));
    // attributes encoded ahead, as a connection's are
    std::vector<unsigned char> ahead(gw_otlp_attr_room(&keys[2], values[3].len) + gw_otlp_attr_room(&keys[3], 0));
    size_t ahead_len = gw_otlp_str_encode(&keys[2], values[3].data, values[3].len, ahead.data());
    ahead_len += gw_otlp_int_encode(&keys[3], -static_cast<int64_t>(size), ahead.data() + ahead_len);
    gw_otlp_span_encoded(b, ahead.data(), ahead_len);
    if (gw_otlp_span_close(b) != GW_OTLP_OK) std::abort();
    const unsigned char *body;
    size_t len;
    if (gw_otlp_batcher_take(b, &body, &len) != 3) std::abort();
    request({body, len});
    gw_otlp_batcher_release(b, 1);
    gw_otlp_batcher_destroy(b);
    return 0;
}
