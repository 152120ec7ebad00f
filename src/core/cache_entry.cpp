// The cache entry format (version 1, described in gw_cache.h) and the
// Redis keys an entry and its fill lock live under.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <span>
#include <string_view>

#include "cache_policy.hpp"
#include "gw_cache.h"
#include "hex.hpp"
#include "sha2.hpp"

namespace gw::cache {

namespace {

constexpr std::string_view magic = "GWCE";
constexpr unsigned flag_variant = 1;
constexpr std::size_t field_header = 4;   // name_len 2, value_len 2

// Offsets of the fixed part.
enum : std::size_t {
    at_version = 4,
    at_flags = 5,
    at_status = 6,
    at_stored_at = 8,
    at_initial_age = 16,
    at_lifetime = 20,
    at_head_len = 24,
    at_headers = 28,
    at_variant_len = 30,
    at_body_len = 32,
};

static_assert(at_body_len + 8 == GW_CACHE_ENTRY_FIXED);

// Big-endian numbers, one load or store each (a loop over the bytes was
// not unrolled, and cost the fixed part a hundred and fifty instructions).
template <typename T>
constexpr T big_endian(T v) noexcept
{
    static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
    if constexpr (std::endian::native == std::endian::big) {
        return v;
    } else if constexpr (sizeof(T) == 2) {
        return __builtin_bswap16(v);
    } else if constexpr (sizeof(T) == 4) {
        return __builtin_bswap32(v);
    } else {
        return __builtin_bswap64(v);
    }
}

template <typename T>
void put(unsigned char *p, T v) noexcept
{
    v = big_endian(v);
    std::memcpy(p, &v, sizeof v);
}

template <typename T>
T get(const unsigned char *p) noexcept
{
    T v;
    std::memcpy(&v, p, sizeof v);
    return big_endian(v);
}

// RFC 9110 tchar.
constexpr auto is_tchar = [] {
    std::array<bool, 256> t{};
    for (int c = '0'; c <= '9'; ++c) t[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 32] = true;
    for (char c : std::string_view{"!#$%&'*+-.^_`|~"}) t[static_cast<unsigned char>(c)] = true;
    return t;
}();

bool is_name(std::string_view s) noexcept
{
    return !s.empty() && s.size() <= GW_CACHE_ENTRY_MAX_FIELD
           && std::ranges::all_of(s, [](char c) { return is_tchar[static_cast<unsigned char>(c)]; });
}

// Field content as nginx would send it: no controls but HTAB, so nothing
// read back from Redis can split or end a header.
constexpr auto is_control = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 0x20; ++c) t[c] = c != '\t';
    t[0x7f] = true;
    return t;
}();

bool is_value(std::string_view s) noexcept
{
    return s.size() <= GW_CACHE_ENTRY_MAX_FIELD
           && std::ranges::none_of(s, [](char c) { return is_control[static_cast<unsigned char>(c)]; });
}

std::string_view view(const gw_cache_str_t &s) noexcept
{
    return s.data == nullptr ? std::string_view{} : std::string_view{s.data, s.len};
}

// Headers the gateway sets itself on a hit, and hop-by-hop ones.
constexpr std::array<std::string_view, 14> unstored = {
    "age",     "connection",         "content-length",      "date",    "keep-alive",
    "proxy-authenticate", "proxy-authorization", "proxy-connection", "server", "set-cookie",
    "te",      "trailer",            "transfer-encoding",   "upgrade",
};

// Which lengths names in the list have: most names have none of them.
constexpr std::size_t longest_unstored = std::ranges::max(unstored, {}, &std::string_view::size).size();
constexpr auto unstored_length = [] {
    std::array<bool, longest_unstored + 1> t{};
    for (std::string_view u : unstored) t[u.size()] = true;
    return t;
}();

bool is_stored(std::string_view name) noexcept
{
    if (name.size() > longest_unstored || !unstored_length[name.size()]) return true;
    return std::ranges::none_of(unstored, [name](std::string_view u) { return equals_ignoring_case(name, u); });
}

// memcpy: ranges::copy of a string_view copies byte by byte here.
unsigned char *append(unsigned char *out, std::string_view s) noexcept
{
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
    return out + s.size();
}

// The head's size, or 0 when it cannot be made.
std::size_t head_size(const gw_cache_entry_meta_t &meta, std::span<const gw_cache_str_t> fields) noexcept
{
    std::size_t size = GW_CACHE_ENTRY_FIXED, count = 0;
    if (meta.varies) {
        if (!is_value(view(meta.variant))) return 0;
        size += meta.variant.len;
    }
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        std::string_view name = view(fields[i]), value = view(fields[i + 1]);
        if (!is_stored(name)) continue;
        if (!is_name(name) || !is_value(value) || ++count > GW_CACHE_ENTRY_MAX_HEADERS) return 0;
        size += field_header + name.size() + value.size();
    }
    return size;
}

// What decoding requires of the fixed part, so whatever is written reads back.
bool is_valid(const gw_cache_entry_meta_t &m) noexcept
{
    return is_storable_status(m.status) && m.stored_at >= 0 && m.lifetime != 0
           && m.lifetime <= GW_CACHE_MAX_LIFETIME && m.initial_age < m.lifetime;
}

// head_size() of the same meta and fields, which checked every name and
// value: they are not looked at again, only the length written is.
std::size_t write_head(std::span<unsigned char> out, const gw_cache_entry_meta_t &meta,
                       std::span<const gw_cache_str_t> fields, std::uint64_t body_len) noexcept
{
    std::size_t size = out.size();
    if (size < GW_CACHE_ENTRY_FIXED || !is_valid(meta)
        || (meta.varies && size < GW_CACHE_ENTRY_FIXED + meta.variant.len)) {
        return 0;
    }

    unsigned char *p = out.data();
    std::memcpy(p, magic.data(), magic.size());
    p[at_version] = GW_CACHE_ENTRY_VERSION;
    p[at_flags] = meta.varies ? flag_variant : 0;
    put<std::uint16_t>(p + at_status, static_cast<std::uint16_t>(meta.status));
    put<std::uint64_t>(p + at_stored_at, static_cast<std::uint64_t>(meta.stored_at));
    put<std::uint32_t>(p + at_initial_age, meta.initial_age);
    put<std::uint32_t>(p + at_lifetime, meta.lifetime);
    put<std::uint32_t>(p + at_head_len, static_cast<std::uint32_t>(size - GW_CACHE_ENTRY_FIXED));
    put<std::uint16_t>(p + at_variant_len, static_cast<std::uint16_t>(meta.varies ? meta.variant.len : 0));
    put<std::uint64_t>(p + at_body_len, body_len);

    unsigned char *w = p + GW_CACHE_ENTRY_FIXED, *end = p + size;
    if (meta.varies) w = append(w, view(meta.variant));

    std::uint16_t count = 0;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
        std::string_view name = view(fields[i]), value = view(fields[i + 1]);
        if (!is_stored(name)) continue;
        if (static_cast<std::size_t>(end - w) < field_header + name.size() + value.size()) return 0;
        put<std::uint16_t>(w, static_cast<std::uint16_t>(name.size()));
        put<std::uint16_t>(w + 2, static_cast<std::uint16_t>(value.size()));
        w = append(append(w + field_header, name), value);
        ++count;
    }
    if (w != end) return 0;
    put<std::uint16_t>(p + at_headers, count);
    return size;
}

gw_cache_entry_status_t decode(std::span<const unsigned char> data, std::int64_t now, gw_cache_entry_t &e) noexcept
{
    e = {};
    const unsigned char *p = data.data();
    if (data.size() < GW_CACHE_ENTRY_FIXED || std::memcmp(p, magic.data(), magic.size()) != 0
        || p[at_version] != GW_CACHE_ENTRY_VERSION || (p[at_flags] & ~flag_variant) != 0) {
        return GW_CACHE_ENTRY_CORRUPT;
    }

    auto &m = e.meta;
    m.status = get<std::uint16_t>(p + at_status);
    m.stored_at = static_cast<std::int64_t>(get<std::uint64_t>(p + at_stored_at));
    m.initial_age = get<std::uint32_t>(p + at_initial_age);
    m.lifetime = get<std::uint32_t>(p + at_lifetime);
    m.varies = p[at_flags] & flag_variant;
    std::size_t head_len = get<std::uint32_t>(p + at_head_len);
    std::size_t count = get<std::uint16_t>(p + at_headers);
    std::size_t variant_len = get<std::uint16_t>(p + at_variant_len);
    std::uint64_t body_len = get<std::uint64_t>(p + at_body_len);

    std::size_t rest = data.size() - GW_CACHE_ENTRY_FIXED;
    if (!is_valid(m) || head_len > rest
        || body_len != rest - head_len || count > GW_CACHE_ENTRY_MAX_HEADERS || (!m.varies && variant_len != 0)
        || variant_len > head_len) {
        return GW_CACHE_ENTRY_CORRUPT;
    }

    const unsigned char *head = p + GW_CACHE_ENTRY_FIXED;
    std::string_view variant{reinterpret_cast<const char *>(head), variant_len};
    if (!is_value(variant)) return GW_CACHE_ENTRY_CORRUPT;
    m.variant = {variant.data(), variant.size()};

    // every header within head_len, well formed, and nothing left over
    const unsigned char *h = head + variant_len, *end = head + head_len;
    for (std::size_t i = 0; i < count; ++i) {
        if (static_cast<std::size_t>(end - h) < field_header) return GW_CACHE_ENTRY_CORRUPT;
        std::size_t name_len = get<std::uint16_t>(h), value_len = get<std::uint16_t>(h + 2);
        if (static_cast<std::size_t>(end - h) - field_header < name_len + value_len) return GW_CACHE_ENTRY_CORRUPT;
        std::string_view name{reinterpret_cast<const char *>(h + field_header), name_len};
        std::string_view value{name.data() + name_len, value_len};
        if (!is_name(name) || !is_value(value) || !is_stored(name)) return GW_CACHE_ENTRY_CORRUPT;
        h += field_header + name_len + value_len;
    }
    if (h != end) return GW_CACHE_ENTRY_CORRUPT;

    e.header_count = count;
    e.headers = head + variant_len;
    e.headers_len = head_len - variant_len;
    e.body = end;
    e.body_len = body_len;

    // a gateway whose clock is behind the writer's sees no negative age
    std::uint64_t resident = now > m.stored_at ? static_cast<std::uint64_t>(now - m.stored_at) : 0;
    e.age = m.initial_age + resident;
    return e.age < m.lifetime ? GW_CACHE_ENTRY_FRESH : GW_CACHE_ENTRY_EXPIRED;
}

} // namespace

} // namespace gw::cache

extern "C" {

int gw_cache_header_is_stored(const char *name, size_t len)
{
    return gw::cache::is_stored({name, len});
}

size_t gw_cache_entry_key(const char *key, size_t len, int hidden, char out[GW_CACHE_KEY_LEN])
{
    constexpr std::string_view prefix{"gw:cache:"};
    std::memcpy(out, prefix.data(), prefix.size());
    char *p = out + prefix.size();

    if (!hidden && len <= GW_CACHE_PLAIN_KEY_MAX) {
        *p++ = '=';
        if (len) std::memcpy(p, key, len);
        return prefix.size() + 1 + len;
    }

    unsigned char digest[32];
    gw::sha2::Digest sha(gw::sha2::Kind::sha256);
    sha.update(key, len);
    sha.final(digest);
    gw::hex::encode(digest, p);
    return GW_CACHE_KEY_LEN;
}

size_t gw_cache_lock_key(const char *entry_key, size_t len, char out[GW_CACHE_LOCK_KEY_LEN])
{
    constexpr std::string_view entry_prefix{"gw:cache:"}, lock_prefix{"gw:cache:lock:"};
    std::string_view rest{entry_key, len};
    rest.remove_prefix(std::min(len, entry_prefix.size()));

    std::memcpy(out, lock_prefix.data(), lock_prefix.size());
    if (!rest.empty()) std::memcpy(out + lock_prefix.size(), rest.data(), rest.size());
    return lock_prefix.size() + rest.size();
}

size_t gw_cache_entry_head_size(const gw_cache_entry_meta_t *meta, const gw_cache_str_t *headers, size_t n)
{
    return gw::cache::head_size(*meta, {headers, 2 * n});
}

size_t gw_cache_entry_write_head(unsigned char *out, size_t head, const gw_cache_entry_meta_t *meta,
                                 const gw_cache_str_t *headers, size_t n, uint64_t body_len)
{
    return gw::cache::write_head({out, head}, *meta, {headers, 2 * n}, body_len);
}

void gw_cache_entry_set_body_len(unsigned char *head, uint64_t body_len)
{
    gw::cache::put<std::uint64_t>(head + gw::cache::at_body_len, body_len);
}

gw_cache_entry_status_t gw_cache_entry_decode(const unsigned char *data, size_t len, int64_t now,
                                              gw_cache_entry_t *entry)
{
    return gw::cache::decode({data, len}, now, *entry);
}

int gw_cache_entry_next_header(const gw_cache_entry_t *entry, size_t *cursor, gw_cache_str_t *name,
                               gw_cache_str_t *value)
{
    // the entry was validated: every field lies within headers_len
    if (*cursor >= entry->headers_len) return 0;
    const unsigned char *h = entry->headers + *cursor;
    std::size_t name_len = gw::cache::get<std::uint16_t>(h), value_len = gw::cache::get<std::uint16_t>(h + 2);
    name->data = reinterpret_cast<const char *>(h + 4);
    name->len = name_len;
    value->data = name->data + name_len;
    value->len = value_len;
    *cursor += 4 + name_len + value_len;
    return 1;
}

int gw_cache_entry_variant_matches(const gw_cache_entry_t *entry, gw_cache_str_t accept_encoding)
{
    return !entry->meta.varies || gw::cache::view(accept_encoding) == gw::cache::view(entry->meta.variant);
}

} // extern "C"
