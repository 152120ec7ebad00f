#include "otlp_encode.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "hex.hpp"
#include "utf8.hpp"

namespace gw::otlp {

namespace {

using protobuf::WireType;
using protobuf::Writer;
using detail::copy_ascii;
using detail::delimited_tag;
using detail::text_room;

// Field numbers, from the .proto files of opentelemetry-proto.
namespace field {
// ExportTraceServiceRequest
constexpr std::uint32_t request_resource_spans = 1;
// ResourceSpans
constexpr std::uint32_t resource = 1, scope_spans = 2;
// Resource
constexpr std::uint32_t resource_attributes = 1;
// ScopeSpans: scope = 1, spans = 2
constexpr std::uint32_t scope = 1;
// InstrumentationScope
constexpr std::uint32_t scope_name = 1, scope_version = 2;
// Span
constexpr std::uint32_t trace_id = 1, span_id = 2, trace_state = 3, parent_span_id = 4, name = 5, kind = 6,
                        start_time = 7, end_time = 8, attributes = 9, status = 15, flags = 16;
// Status
constexpr std::uint32_t status_code = 3;
// KeyValue
constexpr std::uint32_t key = 1, value = 2;
// AnyValue
constexpr std::uint32_t string_value = 1, int_value = 3;
} // namespace field

constexpr std::uint64_t span_kind_server = 2;
constexpr std::uint64_t status_code_error = 2;
// SpanFlags: the W3C trace flags in the low byte, then whether the parent
// is known to be local or remote.
constexpr std::uint32_t flags_has_is_remote = 0x100, flags_is_remote = 0x200;

std::string_view view(gw_otlp_str_t s) noexcept
{
    return s.data ? std::string_view(s.data, s.len) : std::string_view();
}

// Writes at most limit bytes of text as well-formed UTF-8 (collectors
// refuse a whole request for one bad string): a byte that starts no valid
// character becomes U+FFFD, and a cut falls between two characters.
void write_bounded_utf8(std::string_view text, std::size_t limit, Writer &w) noexcept
{
    std::size_t room = limit;
    auto put = [&](std::string_view piece) {
        w.append(piece.data(), piece.size());
        room -= piece.size();
    };
    std::size_t plain = 0;   // start of the run copied as it is
    std::size_t i = 0;
    while (i < text.size()) {
        auto b = static_cast<unsigned char>(text[i]);
        std::size_t n = b < 0x80 ? 1 : utf8::sequence(text, i);
        std::size_t width = n ? n : utf8::replacement.size();
        if (i - plain + width > room) break;
        if (n) {
            i += n;
            continue;
        }
        put(text.substr(plain, i - plain));
        put(utf8::replacement);
        plain = ++i;
    }
    put(text.substr(plain, i - plain));
}

std::size_t text_room(gw_otlp_str_t text) noexcept
{
    return text_room(text.len);
}

void text_field(Writer &w, std::uint32_t number, gw_otlp_str_t text) noexcept
{
    if (text.len == 0) return;
    std::size_t n = std::min<std::size_t>(text.len, GW_OTLP_VALUE_MAX);

    // the usual case: ASCII, copied as it is
    std::uint8_t *start = w.end();
    w.tag(number, WireType::length_delimited);
    w.varint(n);
    if (copy_ascii(w.skip(n), text.data, n)) return;

    w.rewind(start);
    w.delimited(number, [&] { write_bounded_utf8(view(text), GW_OTLP_VALUE_MAX, w); });
}

// The most an encoded key takes: its tag, its length, GW_OTLP_VALUE_MAX bytes.
constexpr std::size_t max_key_room = text_room(GW_OTLP_VALUE_MAX);

// Any attribute of the old list form, its key encoded on the way.
void list_attribute(Writer &w, std::uint32_t number, const gw_otlp_attr_t &a) noexcept
{
    std::array<std::uint8_t, max_key_room> key;
    std::span<const std::uint8_t> encoded(key.data(), encode_key(view(a.key), key.data()));
    if (a.is_int) {
        int_attribute(w, number, encoded, a.integer);
    } else {
        string_attribute(w, number, encoded, view(a.str));
    }
}

} // namespace

std::size_t key_room(std::size_t len) noexcept
{
    return std::max(key_read, text_room(len));
}

std::size_t encode_key(std::string_view key, std::uint8_t *out) noexcept
{
    Writer w(out);
    text_field(w, field::key, {key.data(), key.size()});
    return static_cast<std::size_t>(w.end() - out);
}

void string_attribute(Writer &w, std::uint32_t number, std::span<const std::uint8_t> key,
                      std::string_view value) noexcept
{
    if (key.empty() || value.empty() || short_string_attribute(w, number, key, value)) return;

    w.delimited(number, [&] {
        w.append(key.data(), key.size());
        w.delimited(field::value, [&] { text_field(w, field::string_value, {value.data(), value.size()}); });
    });
}

void int_attribute(Writer &w, std::uint32_t number, std::span<const std::uint8_t> key, std::int64_t value) noexcept
{
    if (key.empty()) return;

    // int64 as its two's complement; a oneof member is written even when 0
    if (short_int_attribute(w, number, key, value)) return;
    auto integer = static_cast<std::uint64_t>(value);

    w.delimited(number, [&] {
        w.append(key.data(), key.size());
        w.delimited(field::value, [&] {
            w.tag(field::int_value, WireType::varint);
            w.varint(integer);
        });
    });
}

namespace {

// ids, kind, times, status, flags and their tags
constexpr std::size_t span_fields_room = 96;

// A bytes field of N bytes, decoded in place from 2N lower-case hex
// digits; false when one is not such a digit.
template <std::size_t N>
bool id_field(Writer &w, std::uint32_t number, const char *hex_text) noexcept
{
    std::uint8_t *p = w.skip(2 + N);
    p[0] = delimited_tag(number);
    p[1] = N;
    return hex::decode({hex_text, 2 * N}, std::span<std::uint8_t, N>(p + 2, N));
}

std::size_t delimited_size(std::size_t content) noexcept
{
    return 1 + protobuf::varint_size(content) + content;   // our tags fit in one byte
}

} // namespace

std::size_t span_head_room(const gw_otlp_span_t &span) noexcept
{
    return span_fields_room + text_room(span.trace_state) + text_room(span.name);
}

bool encode_span_head(const gw_otlp_span_t &span, Writer &w) noexcept
{
    const gw_trace_t &t = *span.trace;
    std::array<std::uint8_t, 1> flags;
    if (!hex::decode({t.flags, 2}, flags) || !id_field<16>(w, field::trace_id, t.trace_id)
        || !id_field<8>(w, field::span_id, t.span_id)) {
        return false;
    }
    text_field(w, field::trace_state, span.trace_state);
    if (t.continued && !id_field<8>(w, field::parent_span_id, t.parent_id)) return false;
    text_field(w, field::name, span.name);
    w.varint_field(field::kind, span_kind_server);
    w.fixed64_field(field::start_time, span.start_ns);
    w.fixed64_field(field::end_time, span.end_ns);
    return true;
}

void encode_span_tail(const gw_otlp_span_t &span, Writer &w) noexcept
{
    const gw_trace_t &t = *span.trace;
    std::array<std::uint8_t, 1> flags{};
    hex::decode({t.flags, 2}, flags);   // checked by encode_span_head()
    if (span.error) w.delimited(field::status, [&] { w.varint_field(field::status_code, status_code_error); });
    w.fixed32_field(field::flags, flags[0] | flags_has_is_remote | (t.continued ? flags_is_remote : 0));
}

void encode_span_attributes(const gw_otlp_span_t &span, Writer &w) noexcept
{
    for (std::size_t i = 0; i < span.nattrs; ++i) list_attribute(w, field::attributes, span.attrs[i]);
}

std::size_t span_attributes_room(const gw_otlp_span_t &span) noexcept
{
    std::size_t room = 0;
    for (std::size_t i = 0; i < span.nattrs; ++i) {
        room += attribute_room(key_room(span.attrs[i].key.len), span.attrs[i].str.len);
    }
    return room;
}

std::vector<std::uint8_t> encode_resource_field(std::span<const gw_otlp_attr_t> attrs)
{
    std::size_t room = 2 + protobuf::delimited_overhead;
    for (const auto &a : attrs) room += attribute_room(key_room(a.key.len), a.str.len);
    std::vector<std::uint8_t> out(room);
    Writer w(out.data());
    w.delimited(field::resource, [&] {
        for (const auto &a : attrs) list_attribute(w, field::resource_attributes, a);
    });
    out.resize(static_cast<std::size_t>(w.end() - out.data()));
    return out;
}

std::vector<std::uint8_t> encode_scope_field(gw_otlp_str_t name, gw_otlp_str_t version)
{
    std::vector<std::uint8_t> out(2 + protobuf::delimited_overhead + text_room(name) + text_room(version));
    Writer w(out.data());
    w.delimited(field::scope, [&] {
        text_field(w, field::scope_name, name);
        text_field(w, field::scope_version, version);
    });
    out.resize(static_cast<std::size_t>(w.end() - out.data()));
    return out;
}

std::size_t request_header_size(std::size_t resource_field, std::size_t scope_field, std::size_t spans_size) noexcept
{
    std::size_t scope_spans = scope_field + spans_size;
    std::size_t resource_spans = resource_field + delimited_size(scope_spans);
    return delimited_size(resource_spans) - spans_size;
}

std::uint8_t *write_request_header(std::uint8_t *end, std::span<const std::uint8_t> resource_field,
                                   std::span<const std::uint8_t> scope_field, std::size_t spans_size) noexcept
{
    std::size_t scope_spans = scope_field.size() + spans_size;
    std::size_t resource_spans = resource_field.size() + delimited_size(scope_spans);
    std::uint8_t *start = end - request_header_size(resource_field.size(), scope_field.size(), spans_size);

    // ExportTraceServiceRequest { resource_spans { resource, scope_spans { scope, spans... } } }
    std::uint8_t *p = start;
    *p++ = field::request_resource_spans << 3 | static_cast<std::uint8_t>(WireType::length_delimited);
    p = protobuf::put_varint(p, resource_spans);
    std::memcpy(p, resource_field.data(), resource_field.size());
    p += resource_field.size();
    *p++ = field::scope_spans << 3 | static_cast<std::uint8_t>(WireType::length_delimited);
    p = protobuf::put_varint(p, scope_spans);
    std::memcpy(p, scope_field.data(), scope_field.size());
    return start;
}

} // namespace gw::otlp
