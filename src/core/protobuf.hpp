// The protobuf wire format (protobuf.dev/programming-guides/encoding), as
// much of it as OTLP needs: a writer that appends fields in the order they
// are given and a reader that walks the fields of one message.
//
// The writer follows proto3's rules for implicit presence: a scalar field
// holding its default (0, empty) is not written. Callers write fields in
// field-number order, which makes the output byte for byte what protoc's
// serializer makes of the same message.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>

namespace gw::protobuf {

enum class WireType : std::uint8_t { varint = 0, fixed64 = 1, length_delimited = 2, fixed32 = 5 };

constexpr std::size_t varint_size(std::uint64_t value) noexcept
{
    std::size_t n = 1;
    for (; value >= 0x80; value >>= 7) ++n;
    return n;
}

constexpr std::size_t max_varint_size = 10;

// Writes the varint at out (varint_size(value) bytes); returns the end.
inline std::uint8_t *put_varint(std::uint8_t *out, std::uint64_t value) noexcept
{
    for (; value >= 0x80; value >>= 7) *out++ = static_cast<std::uint8_t>(value | 0x80);
    *out++ = static_cast<std::uint8_t>(value);
    return out;
}

// Writes at a place the caller made room at: encoding a span is the
// gateway's per-request cost, so no capacity is checked field by field.
// delimited() may need two bytes more than its content (a length of 128
// bytes or more takes two or three bytes): count them in the room.
class Writer {
public:
    explicit Writer(std::uint8_t *out) noexcept : p_(out) {}

    std::uint8_t *end() const noexcept { return p_; }

    void tag(std::uint32_t field, WireType type) noexcept
    {
        varint(std::uint64_t{field} << 3 | static_cast<std::uint8_t>(type));
    }

    void varint(std::uint64_t value) noexcept { p_ = put_varint(p_, value); }

    // uint32, uint64, enums, bool; int64 as its two's complement.
    void varint_field(std::uint32_t field, std::uint64_t value) noexcept;
    void bytes_field(std::uint32_t field, std::span<const std::uint8_t> bytes) noexcept;

    void fixed32_field(std::uint32_t field, std::uint32_t value) noexcept
    {
        if (value == 0) return;
        tag(field, WireType::fixed32);
        fixed(value);
    }

    void fixed64_field(std::uint32_t field, std::uint64_t value) noexcept
    {
        if (value == 0) return;
        tag(field, WireType::fixed64);
        fixed(value);
    }

    // A length-delimited field whose content body() writes: an embedded
    // message, or a string written piecewise. Written even when empty, as
    // a message field that is set. width is the size its length is
    // expected to take: a guess that is right spares moving the content.
    template <class Body>
    void delimited(std::uint32_t field, Body &&body, std::size_t width = 1)
    {
        tag(field, WireType::length_delimited);
        std::uint8_t *mark = p_;
        p_ += width;
        body();
        close(mark, width);
    }

    void append(const void *bytes, std::size_t n) noexcept
    {
        std::memcpy(p_, bytes, n);
        p_ += n;
    }

    // For writing in place: the next n bytes, which the caller fills.
    std::uint8_t *skip(std::size_t n) noexcept
    {
        std::uint8_t *at = p_;
        p_ += n;
        return at;
    }

    // Goes back to an earlier end(), dropping what was written after it.
    void rewind(std::uint8_t *to) noexcept { p_ = to; }

private:
    // little-endian, as protobuf's fixed32 and fixed64 are
    template <class T>
    void fixed(T value) noexcept
    {
        if constexpr (std::endian::native == std::endian::little) {
            std::memcpy(p_, &value, sizeof value);
            p_ += sizeof value;
        } else {
            for (std::size_t i = 0; i < sizeof value; ++i) *p_++ = static_cast<std::uint8_t>(value >> (8 * i));
        }
    }

    // Writes the length of what follows mark's width-byte slot.
    void close(std::uint8_t *mark, std::size_t width) noexcept
    {
        auto len = static_cast<std::size_t>(p_ - mark - width);
        if (width == 1 && len < 0x80) {
            *mark = static_cast<std::uint8_t>(len);
            return;
        }
        if (width == 2 && len >= 0x80 && len < 0x4000) {
            put_varint(mark, len);
            return;
        }
        refit(mark, width, len);
    }

    // Moves the content when its length takes another size than its slot.
    void refit(std::uint8_t *mark, std::size_t width, std::size_t len) noexcept;

    std::uint8_t *p_;
};

// Room delimited() may need beyond its content (with width 1 or 2).
inline constexpr std::size_t delimited_overhead = 2;

// One field as the reader sees it: value holds a varint or fixed value,
// bytes the content of a length-delimited field.
struct Field {
    std::uint32_t number;
    WireType type;
    std::uint64_t value;
    std::span<const std::uint8_t> bytes;
};

// Walks the fields of one message. next() gives nullopt at the end and on
// malformed input, which failed() then tells apart.
class Reader {
public:
    explicit Reader(std::span<const std::uint8_t> message) noexcept : rest_(message) {}

    std::optional<Field> next() noexcept;
    bool failed() const noexcept { return failed_; }

private:
    std::optional<std::uint64_t> varint() noexcept;
    std::optional<Field> fail() noexcept;

    std::span<const std::uint8_t> rest_;
    bool failed_ = false;
};

} // namespace gw::protobuf
