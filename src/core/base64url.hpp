// base64url (RFC 4648 section 5) as JOSE uses it: no padding, and only the
// canonical encoding of each byte string is accepted (the unused low bits
// of the last character must be zero), so one token has one spelling.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::base64url {

// Decoded bytes, or nullopt for anything that is not canonical unpadded
// base64url (stray characters, '=' padding, a length of 4n+1, non-zero
// unused bits).
std::optional<std::string> decode(std::string_view text);

// Like decode, but accepts correct '=' padding too (some JWKS publishers
// pad their key material).
std::optional<std::string> decode_padded(std::string_view text);

// Exact length decode would produce for a valid input of n characters.
constexpr std::size_t decoded_size(std::size_t n) noexcept
{
    return n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
}

std::string encode(std::string_view bytes);

// Decodes into out, which holds decoded_size(text.size()) bytes; false
// when the text is not canonical unpadded base64url.
bool decode_raw(std::string_view text, char *out) noexcept;

// decode() into a string of any allocator.
template <class String>
bool decode_into(std::string_view text, String &out)
{
    if (text.size() % 4 == 1) return false;
    out.resize(decoded_size(text.size()));
    return decode_raw(text, out.data());
}

} // namespace gw::base64url
