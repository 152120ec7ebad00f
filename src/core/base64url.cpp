#include "base64url.hpp"

#include <array>
#include <bit>
#include <cstring>

#include "gw_base64url.h"

namespace gw::base64url {

namespace {

constexpr char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_table() noexcept
{
    std::array<std::int8_t, 256> t{};
    for (auto &v : t) v = -1;
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return t;
}

constexpr auto table = make_table();

// The table again, each value already shifted to its place in a quantum
// of four characters; invalid characters set the top bit.
constexpr std::array<std::array<std::uint32_t, 256>, 4> make_shifted() noexcept
{
    std::array<std::array<std::uint32_t, 256>, 4> t{};
    for (int pos = 0; pos < 4; ++pos) {
        for (int c = 0; c < 256; ++c) {
            int v = table[static_cast<std::size_t>(c)];
            t[static_cast<std::size_t>(pos)][static_cast<std::size_t>(c)] =
                v < 0 ? 0x80000000u : static_cast<std::uint32_t>(v) << (6 * (3 - pos));
        }
    }
    return t;
}

constexpr auto shifted = make_shifted();

} // namespace

bool decode_raw(std::string_view text, char *out) noexcept
{
    std::size_t n = text.size();
    if (n % 4 == 1) return false;

    const auto *in = reinterpret_cast<const unsigned char *>(text.data());
    std::size_t i = 0, o = 0;

    // two quanta at a time, stored with one eight-byte write while at
    // least twelve characters remain (so the two bytes beyond these six
    // are still in out, and are written again by the next step); invalid
    // characters are only looked for once the loop is done
    std::uint32_t bad = 0;
    for (; i + 12 <= n; i += 8) {
        std::uint32_t a = shifted[0][in[i]] | shifted[1][in[i + 1]] | shifted[2][in[i + 2]] | shifted[3][in[i + 3]];
        std::uint32_t b = shifted[0][in[i + 4]] | shifted[1][in[i + 5]] | shifted[2][in[i + 6]] | shifted[3][in[i + 7]];
        bad |= a | b;
        std::uint64_t w = std::uint64_t{a} << 40 | std::uint64_t{b} << 16;
        if constexpr (std::endian::native == std::endian::little) w = __builtin_bswap64(w);
        std::memcpy(out + o, &w, 8);
        o += 6;
    }
    if (bad & 0x80000000u) return false;

    // the remaining whole quanta: four characters, three bytes
    for (; i + 4 <= n; i += 4) {
        std::uint32_t v = shifted[0][in[i]] | shifted[1][in[i + 1]] | shifted[2][in[i + 2]] | shifted[3][in[i + 3]];
        if (v & 0x80000000u) return false;
        out[o++] = static_cast<char>(v >> 16);
        out[o++] = static_cast<char>(v >> 8 & 0xff);
        out[o++] = static_cast<char>(v & 0xff);
    }

    // the tail: two or three characters; the unused bits must be zero
    std::size_t rest = n - i;
    if (rest == 2) {
        int a = table[in[i]], b = table[in[i + 1]];
        if ((a | b) < 0 || (b & 0x0f) != 0) return false;
        out[o++] = static_cast<char>(a << 2 | b >> 4);
    } else if (rest == 3) {
        int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]];
        if ((a | b | c) < 0 || (c & 0x03) != 0) return false;
        out[o++] = static_cast<char>(a << 2 | b >> 4);
        out[o++] = static_cast<char>((b & 0x0f) << 4 | c >> 2);
    }
    return true;
}

std::optional<std::string> decode(std::string_view text)
{
    std::string out;
    if (!decode_into(text, out)) return std::nullopt;
    return out;
}

std::optional<std::string> decode_padded(std::string_view text)
{
    if (!text.empty() && text.back() == '=') {
        if (text.size() % 4 != 0) return std::nullopt;
        text.remove_suffix(1);
        if (!text.empty() && text.back() == '=') text.remove_suffix(1);
        if (text.size() % 4 == 0) return std::nullopt;   // "xxxx=" is not padding
    }
    return decode(text);
}

std::string encode(std::string_view bytes)
{
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : bytes) {
        acc = acc << 8 | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += alphabet[acc >> bits & 0x3f];
        }
    }
    if (bits) out += alphabet[acc << (6 - bits) & 0x3f];
    return out;
}

} // namespace gw::base64url

extern "C" {

long gw_base64url_decode(const char *text, size_t len, unsigned char *out, size_t cap)
{
    try {
        auto bytes = gw::base64url::decode({text, len});
        if (!bytes || bytes->size() > cap) return -1;
        std::copy(bytes->begin(), bytes->end(), out);
        return static_cast<long>(bytes->size());
    } catch (...) {
        return -1;
    }
}

size_t gw_base64url_encode(const unsigned char *bytes, size_t len, char *out, size_t cap)
{
    try {
        auto text = gw::base64url::encode({reinterpret_cast<const char *>(bytes), len});
        if (text.size() > cap) return 0;
        std::copy(text.begin(), text.end(), out);
        return text.size();
    } catch (...) {
        return 0;
    }
}

}
