#include "protobuf.hpp"

namespace gw::protobuf {

void Writer::varint_field(std::uint32_t field, std::uint64_t value) noexcept
{
    if (value == 0) return;
    tag(field, WireType::varint);
    varint(value);
}

void Writer::bytes_field(std::uint32_t field, std::span<const std::uint8_t> bytes) noexcept
{
    if (bytes.empty()) return;
    tag(field, WireType::length_delimited);
    varint(bytes.size());
    append(bytes.data(), bytes.size());
}

void Writer::refit(std::uint8_t *mark, std::size_t width, std::size_t len) noexcept
{
    std::size_t fit = varint_size(len);
    if (fit != width) {
        std::memmove(mark + fit, mark + width, len);
        p_ = p_ + fit - width;
    }
    put_varint(mark, len);
}

std::optional<std::uint64_t> Reader::varint() noexcept
{
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < max_varint_size && i < rest_.size(); ++i) {
        std::uint8_t b = rest_[i];
        if (i == max_varint_size - 1 && b > 1) return std::nullopt;   // beyond 64 bits
        value |= std::uint64_t{b & 0x7fu} << (7 * i);
        if (!(b & 0x80)) {
            rest_ = rest_.subspan(i + 1);
            return value;
        }
    }
    return std::nullopt;
}

std::optional<Field> Reader::fail() noexcept
{
    failed_ = true;
    rest_ = {};
    return std::nullopt;
}

std::optional<Field> Reader::next() noexcept
{
    if (rest_.empty()) return std::nullopt;
    auto key = varint();
    if (!key || *key >> 3 == 0 || *key >> 3 > 0x1fffffff) return fail();
    Field f{static_cast<std::uint32_t>(*key >> 3), static_cast<WireType>(*key & 7), 0, {}};
    switch (f.type) {
    case WireType::varint: {
        auto v = varint();
        if (!v) return fail();
        f.value = *v;
        return f;
    }
    case WireType::fixed64:
    case WireType::fixed32: {
        std::size_t n = f.type == WireType::fixed64 ? 8 : 4;
        if (rest_.size() < n) return fail();
        for (std::size_t i = 0; i < n; ++i) f.value |= std::uint64_t{rest_[i]} << (8 * i);
        rest_ = rest_.subspan(n);
        return f;
    }
    case WireType::length_delimited: {
        auto len = varint();
        if (!len || *len > rest_.size()) return fail();
        f.bytes = rest_.first(*len);
        rest_ = rest_.subspan(*len);
        return f;
    }
    }
    return fail();   // groups (3, 4) and reserved wire types
}

} // namespace gw::protobuf
