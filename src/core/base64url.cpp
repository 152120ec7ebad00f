#include "base64url.hpp"

#include <array>

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

} // namespace

bool decode_raw(std::string_view text, char *out) noexcept
{
    std::size_t n = text.size();
    if (n % 4 == 1) return false;

    const auto *in = reinterpret_cast<const unsigned char *>(text.data());
    std::size_t i = 0, o = 0;

    // whole quanta: four characters, three bytes
    for (; i + 4 <= n; i += 4) {
        int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
        if ((a | b | c | d) < 0) return false;
        std::uint32_t v = static_cast<std::uint32_t>(a << 18 | b << 12 | c << 6 | d);
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
