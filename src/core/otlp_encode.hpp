// OTLP trace messages in protobuf (opentelemetry-proto: collector/trace/v1,
// trace/v1, common/v1, resource/v1), written field by field in
// field-number order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "gw_otlp.h"
#include "protobuf.hpp"

namespace gw::otlp {

// A span is written in three steps, straight into the queue: its first
// fields (ids to times), its attributes one by one, then its last fields
// (status, flags). Each step writes at a place with the room its *_room()
// function counts.

// Bytes encode_span_head() may write for span, at most.
std::size_t span_head_room(const gw_otlp_span_t &span) noexcept;

// Writes the fields of a Span message up to its attributes; false when the
// trace context's ids are not lower-case hex (what was written is then to
// be dropped).
bool encode_span_head(const gw_otlp_span_t &span, protobuf::Writer &w) noexcept;

// The attributes of span's list (gw_otlp_batcher_add()'s form), and the
// room they may take.
void encode_span_attributes(const gw_otlp_span_t &span, protobuf::Writer &w) noexcept;
std::size_t span_attributes_room(const gw_otlp_span_t &span) noexcept;

// The fields after the attributes: the status (error for a 5xx) and the
// flags, at most span_tail_room bytes.
inline constexpr std::size_t span_tail_room = 16;
void encode_span_tail(const gw_otlp_span_t &span, protobuf::Writer &w) noexcept;

// An attribute key encoded once: KeyValue's key field (tag, length, the
// key as bounded UTF-8). key_room() bytes hold it; encode_key() returns the
// bytes written (0 for an empty key, whose attributes are left out). The
// room is never less than key_read bytes: an attribute copies its key in
// one fixed-size move.
inline constexpr std::size_t key_read = 32;
std::size_t key_room(std::size_t len) noexcept;
std::size_t encode_key(std::string_view key, std::uint8_t *out) noexcept;

namespace detail {

constexpr std::uint8_t delimited_tag(std::uint32_t number) noexcept
{
    return static_cast<std::uint8_t>(number << 3 | static_cast<std::uint8_t>(protobuf::WireType::length_delimited));
}

// Room a text field may take: its tag, its length, at most GW_OTLP_VALUE_MAX
// bytes (three for each byte that becomes U+FFFD).
constexpr std::size_t text_room(std::size_t len) noexcept
{
    return 1 + protobuf::delimited_overhead + 1 + std::min<std::size_t>(GW_OTLP_VALUE_MAX, 3 * len);
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

// KeyValue's value field (AnyValue), and AnyValue's string and int fields.
inline constexpr std::uint32_t key_value_value = 2, any_string = 1, any_int = 3;

// A KeyValue whose lengths each take one byte: its tag and length and the
// key (copied in one key_read-byte move: the room counts the excess), then
// the AnyValue's tag and length. Returns where the AnyValue's content goes.
[[gnu::always_inline]] inline std::uint8_t *short_pair(protobuf::Writer &w, std::uint32_t number,
                                                       std::span<const std::uint8_t> key,
                                                       std::size_t value_field) noexcept
{
    std::uint8_t *p = w.skip(2 + key.size() + 2 + value_field);
    p[0] = delimited_tag(number);
    p[1] = static_cast<std::uint8_t>(key.size() + 2 + value_field);
    std::memcpy(p + 2, key.data(), key_read);
    p += 2 + key.size();
    p[0] = delimited_tag(key_value_value);
    p[1] = static_cast<std::uint8_t>(value_field);
    return p + 2;
}

} // namespace detail

// Bytes an attribute with a key of key_size encoded bytes and a value of
// value_len bytes may take, at most (string or integer): KeyValue's and
// AnyValue's tags and lengths (at most three bytes each: a key and a value
// take less than 16 KB), the key, the value's field, and the excess of the
// key's fixed-size copy.
constexpr std::size_t attribute_room(std::size_t key_size, std::size_t value_len) noexcept
{
    return 2 * 3 + key_size + std::max(detail::text_room(value_len), 1 + protobuf::max_varint_size) + key_read;
}

// The usual attribute, a short key and a short ASCII value (or an
// integer): every length takes one byte and is known at once. It takes
// less than short_room bytes, the excess of the key's fixed-size copy
// included. False, with nothing written, for any other (string_attribute()
// and int_attribute() write every attribute, more slowly).
inline constexpr std::size_t short_room = 2 + 0x80 + key_read;

[[gnu::always_inline]] inline bool short_string_attribute(protobuf::Writer &w, std::uint32_t number,
                                                          std::span<const std::uint8_t> key,
                                                          std::string_view value) noexcept
{
    if (key.size() > key_read || key.size() + 4 + value.size() >= 0x80) return false;
    std::uint8_t *start = w.end();
    std::uint8_t *v = detail::short_pair(w, number, key, 2 + value.size());
    v[0] = detail::delimited_tag(detail::any_string);
    v[1] = static_cast<std::uint8_t>(value.size());
    if (detail::copy_ascii(v + 2, value.data(), value.size())) return true;
    w.rewind(start);
    return false;
}

[[gnu::always_inline]] inline bool short_int_attribute(protobuf::Writer &w, std::uint32_t number,
                                                       std::span<const std::uint8_t> key, std::int64_t value) noexcept
{
    // int64 as its two's complement; a oneof member is written even when 0
    auto integer = static_cast<std::uint64_t>(value);
    std::size_t value_field = 1 + protobuf::varint_size(integer);
    if (key.empty() || key.size() > key_read || key.size() + 2 + value_field >= 0x80) return false;
    std::uint8_t *v = detail::short_pair(w, number, key, value_field);
    v[0] = static_cast<std::uint8_t>(detail::any_int << 3 | static_cast<std::uint8_t>(protobuf::WireType::varint));
    protobuf::put_varint(v + 1, integer);
    return true;
}

// A KeyValue field (Span's attributes, Resource's attributes) with a
// string value (left out when empty) or an integer value.
void string_attribute(protobuf::Writer &w, std::uint32_t number, std::span<const std::uint8_t> key,
                      std::string_view value) noexcept;
void int_attribute(protobuf::Writer &w, std::uint32_t number, std::span<const std::uint8_t> key,
                   std::int64_t value) noexcept;

// Field number of the attributes of a Span.
inline constexpr std::uint32_t span_attributes = 9;

// The first fields of ResourceSpans and of ScopeSpans, each with its tag
// and length, ready to frame batches of spans.
std::vector<std::uint8_t> encode_resource_field(std::span<const gw_otlp_attr_t> attrs);
std::vector<std::uint8_t> encode_scope_field(gw_otlp_str_t name, gw_otlp_str_t version);

// Bytes an ExportTraceServiceRequest adds around span records that take
// spans_size bytes (each "spans" field of ScopeSpans, tag and length
// included).
std::size_t request_header_size(std::size_t resource_field, std::size_t scope_field, std::size_t spans_size) noexcept;

// Writes that header so that it ends at end; returns where it starts.
std::uint8_t *write_request_header(std::uint8_t *end, std::span<const std::uint8_t> resource_field,
                                   std::span<const std::uint8_t> scope_field, std::size_t spans_size) noexcept;

// Field numbers of the Span record in ScopeSpans.
inline constexpr std::uint32_t scope_spans_spans = 2;

} // namespace gw::otlp
