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

// Copies n bytes to out, reading each once, and tells whether they were
// all ASCII (if not, what was copied is to be written over). Short texts,
// the usual attribute, are copied in overlapping words: no call, no loop
// over bytes.
[[gnu::always_inline]] inline bool copy_ascii(std::uint8_t *out, const char *in, std::size_t n) noexcept
{
    std::uint64_t seen = 0;
    if (n >= 8) {
        std::uint64_t word;
        for (std::size_t i = 0; i + 8 < n; i += 8) {
            std::memcpy(&word, in + i, 8);
            std::memcpy(out + i, &word, 8);
            seen |= word;
        }
        std::memcpy(&word, in + n - 8, 8);
        std::memcpy(out + n - 8, &word, 8);
        seen |= word;
    } else if (n >= 4) {
        std::uint32_t head, tail;
        std::memcpy(&head, in, 4);
        std::memcpy(&tail, in + n - 4, 4);
        std::memcpy(out, &head, 4);
        std::memcpy(out + n - 4, &tail, 4);
        seen = head | tail;
    } else {
        for (std::size_t i = 0; i < n; ++i) seen |= out[i] = static_cast<std::uint8_t>(in[i]);
    }
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
constexpr std::size_t text_room_content(std::size_t len) noexcept
{
    return std::min<std::size_t>(GW_OTLP_VALUE_MAX, 3 * len);
}

constexpr std::size_t text_room(std::size_t len) noexcept
{
    return 1 + protobuf::delimited_overhead + 1 + text_room_content(len);
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

constexpr std::uint8_t delimited_tag(std::uint32_t number) noexcept
{
    return static_cast<std::uint8_t>(number << 3 | static_cast<std::uint8_t>(WireType::length_delimited));
}

// A KeyValue whose lengths each take one byte: its tag and length, the
// key, then the AnyValue's tag and length (value_field bytes follow).
// Returns where the AnyValue's content goes, or nullptr when the key is
// not ASCII (the bytes written are then to be written over).
[[gnu::always_inline]] inline std::uint8_t *short_pair(Writer &w, std::uint32_t number, std::string_view key,
                                                       std::size_t value_field) noexcept
{
    std::uint8_t *p = w.skip(4 + key.size() + 2);
    p[0] = delimited_tag(number);
    p[1] = static_cast<std::uint8_t>(2 + key.size() + 2 + value_field);
    p[2] = delimited_tag(field::key);
    p[3] = static_cast<std::uint8_t>(key.size());
    if (!copy_ascii(p + 4, key.data(), key.size())) return nullptr;
    p += 4 + key.size();
    p[0] = delimited_tag(field::value);
    p[1] = static_cast<std::uint8_t>(value_field);
    return p + 2;
}

// Any attribute, field by field.
[[gnu::noinline]] void long_attribute(Writer &w, std::uint32_t number, const gw_otlp_attr_t &a) noexcept;

[[gnu::always_inline]] inline void attribute(Writer &w, std::uint32_t number, const gw_otlp_attr_t &a) noexcept
{
    if (a.key.len == 0 || (!a.is_int && a.str.len == 0)) return;

    // the usual case, a short ASCII key and value: every length takes one
    // byte and is known at once (what follows writes the same bytes, more
    // slowly)
    std::string_view key = view(a.key), value = view(a.str);
    std::uint8_t *start = w.end();
    if (a.is_int) {
        auto integer = static_cast<std::uint64_t>(a.integer);
        std::size_t value_field = 1 + protobuf::varint_size(integer);
        if (4 + key.size() + value_field < 0x80) {
            if (std::uint8_t *v = short_pair(w, number, key, value_field)) {
                v[0] = static_cast<std::uint8_t>(field::int_value << 3 | static_cast<std::uint8_t>(WireType::varint));
                w.skip(value_field);
                protobuf::put_varint(v + 1, integer);
                return;
            }
            w.rewind(start);
        }
    } else if (4 + key.size() + 2 + value.size() < 0x80) {
        if (std::uint8_t *v = short_pair(w, number, key, 2 + value.size())) {
            v[0] = delimited_tag(field::string_value);
            v[1] = static_cast<std::uint8_t>(value.size());
            if (copy_ascii(w.skip(2 + value.size()) + 2, value.data(), value.size())) return;
        }
        w.rewind(start);
    }
    long_attribute(w, number, a);
}

void long_attribute(Writer &w, std::uint32_t number, const gw_otlp_attr_t &a) noexcept
{
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

// The KeyValue's and AnyValue's tags and lengths, the key's text field,
// and the value's (its text field, or a tag and a varint).
constexpr std::size_t attribute_overhead = 2 * (2 + protobuf::delimited_overhead) + text_room(0)
                                           + std::max(text_room(0), 1 + protobuf::max_varint_size);

std::size_t attribute_room(const gw_otlp_attr_t &a) noexcept
{
    return attribute_overhead + text_room_content(a.key.len) + text_room_content(a.str.len);
}

constexpr std::size_t max_attribute_room = attribute_overhead + 2 * text_room_content(GW_OTLP_VALUE_MAX);

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

std::size_t span_room(const gw_otlp_span_t &span) noexcept
{
    std::size_t room = span_fields_room + text_room(span.trace_state) + text_room(span.name);
    for (std::size_t i = 0; i < span.nattrs; ++i) room += attribute_room(span.attrs[i]);
    return room;
}

std::size_t span_room_bound(const gw_otlp_span_t &span) noexcept
{
    constexpr std::size_t most_attrs = 65536;   // far beyond any span; keeps the product small
    if (span.nattrs > most_attrs) return SIZE_MAX;
    return span_fields_room + text_room(span.trace_state) + text_room(span.name) + span.nattrs * max_attribute_room;
}

bool encode_span(const gw_otlp_span_t &span, Writer &w) noexcept
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
