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

bool is_ascii(std::string_view text) noexcept
{
    std::uint64_t seen = 0;
    std::size_t i = 0;
    for (; i + 8 <= text.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, text.data() + i, 8);
        seen |= word;
    }
    for (; i < text.size(); ++i) seen |= static_cast<unsigned char>(text[i]);
    return (seen & 0x8080808080808080ull) == 0;
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

// Room a text field may take: its tag, its length, at most GW_OTLP_VALUE_MAX
// bytes (three for each byte that becomes U+FFFD).
std::size_t text_room(gw_otlp_str_t text) noexcept
{
    return 1 + protobuf::delimited_overhead + 1 + std::min<std::size_t>(GW_OTLP_VALUE_MAX, 3 * text.len);
}

void text_field(Writer &w, std::uint32_t number, gw_otlp_str_t text) noexcept
{
    if (text.len == 0) return;
    std::string_view t = view(text);
    std::size_t n = std::min<std::size_t>(t.size(), GW_OTLP_VALUE_MAX);

    // the usual case: ASCII, copied as it is
    if (is_ascii(t.substr(0, n))) {
        w.tag(number, WireType::length_delimited);
        w.varint(n);
        w.append(t.data(), n);
        return;
    }
    w.delimited(number, [&] { write_bounded_utf8(t, GW_OTLP_VALUE_MAX, w); });
}

void attribute(Writer &w, std::uint32_t number, const gw_otlp_attr_t &a) noexcept
{
    if (a.key.len == 0 || (!a.is_int && a.str.len == 0)) return;

    // the usual case, short ASCII text: every length takes one byte and is
    // known at once (what follows writes the same bytes, more slowly)
    std::string_view key = view(a.key), value = view(a.str);
    std::size_t value_field = 2 + value.size(), pair = 2 + key.size() + 2 + value_field;
    if (!a.is_int && pair < 0x80 && is_ascii(key) && is_ascii(value)) {
        std::uint8_t head[2] = {static_cast<std::uint8_t>(number << 3 | 2), static_cast<std::uint8_t>(pair)};
        std::uint8_t key_head[2] = {field::key << 3 | 2, static_cast<std::uint8_t>(key.size())};
        std::uint8_t value_head[4] = {field::value << 3 | 2, static_cast<std::uint8_t>(value_field),
                                      field::string_value << 3 | 2, static_cast<std::uint8_t>(value.size())};
        w.append(head, 2);
        w.append(key_head, 2);
        w.append(key.data(), key.size());
        w.append(value_head, 4);
        w.append(value.data(), value.size());
        return;
    }

    w.delimited(number, [&] {
        text_field(w, field::key, a.key);
        w.delimited(field::value, [&] {
            if (a.is_int) {
                // a oneof member is written even when it holds 0
                w.tag(field::int_value, WireType::varint);
                w.varint(static_cast<std::uint64_t>(a.integer));
            } else {
                text_field(w, field::string_value, a.str);
            }
        });
    });
}

std::size_t attribute_room(const gw_otlp_attr_t &a) noexcept
{
    std::size_t value = a.is_int ? 1 + protobuf::max_varint_size : text_room(a.str);
    return 2 * (2 + protobuf::delimited_overhead) + text_room(a.key) + value;
}

template <std::size_t N>
bool id_bytes(const char *hex_text, std::array<std::uint8_t, N> &out) noexcept
{
    return hex::decode({hex_text, 2 * N}, out);
}

std::size_t delimited_size(std::size_t content) noexcept
{
    return 1 + protobuf::varint_size(content) + content;   // our tags fit in one byte
}

} // namespace

std::size_t span_room(const gw_otlp_span_t &span) noexcept
{
    // ids, kind, times, status, flags and their tags
    std::size_t room = 96 + text_room(span.trace_state) + text_room(span.name);
    for (std::size_t i = 0; i < span.nattrs; ++i) room += attribute_room(span.attrs[i]);
    return room;
}

bool encode_span(const gw_otlp_span_t &span, Writer &w) noexcept
{
    const gw_trace_t &t = *span.trace;
    std::array<std::uint8_t, 16> trace_id;
    std::array<std::uint8_t, 8> span_id, parent_id;
    std::array<std::uint8_t, 1> flags;
    if (!id_bytes(t.trace_id, trace_id) || !id_bytes(t.span_id, span_id) || !id_bytes(t.flags, flags)
        || (t.continued && !id_bytes(t.parent_id, parent_id))) {
        return false;
    }

    w.bytes_field(field::trace_id, trace_id);
    w.bytes_field(field::span_id, span_id);
    text_field(w, field::trace_state, span.trace_state);
    if (t.continued) w.bytes_field(field::parent_span_id, parent_id);
    text_field(w, field::name, span.name);
    w.varint_field(field::kind, span_kind_server);
    w.fixed64_field(field::start_time, span.start_ns);
    w.fixed64_field(field::end_time, span.end_ns);
    for (std::size_t i = 0; i < span.nattrs; ++i) attribute(w, field::attributes, span.attrs[i]);
    if (span.error) w.delimited(field::status, [&] { w.varint_field(field::status_code, status_code_error); });
    w.fixed32_field(field::flags, flags[0] | flags_has_is_remote | (t.continued ? flags_is_remote : 0));
    return true;
}

std::vector<std::uint8_t> encode_resource_field(std::span<const gw_otlp_attr_t> attrs)
{
    std::size_t room = 2 + protobuf::delimited_overhead;
    for (const auto &a : attrs) room += attribute_room(a);
    std::vector<std::uint8_t> out(room);
    Writer w(out.data());
    w.delimited(field::resource, [&] {
        for (const auto &a : attrs) attribute(w, field::resource_attributes, a);
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
