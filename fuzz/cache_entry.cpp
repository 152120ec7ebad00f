// libFuzzer target: cache entries as read back from Redis, and the header
// lists the cache policy reads. Whatever the bytes, decoding either refuses
// them or yields an entry that lies inside them, holds only headers that
// are safe to send, and encodes back to exactly the same bytes; the policy
// never gives a lifetime beyond its cap or a TTL that is not what is left
// of it.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "gw_cache.h"

namespace {

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

bool is_safe_value(gw_cache_str_t v)
{
    for (std::size_t i = 0; i < v.len; ++i) {
        auto c = static_cast<unsigned char>(v.data[i]);
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

void decode_entry(const std::uint8_t *data, std::size_t size)
{
    gw_cache_entry_t e;
    auto st = gw_cache_entry_decode(data, size, 1700000000, &e);
    if (st == GW_CACHE_ENTRY_CORRUPT) return;

    check(e.body + e.body_len == data + size);
    check(e.meta.initial_age < e.meta.lifetime);
    check((st == GW_CACHE_ENTRY_FRESH) == (e.age < e.meta.lifetime));
    check(is_safe_value(e.meta.variant));

    std::vector<gw_cache_str_t> fields;
    std::size_t cursor = 0;
    gw_cache_str_t name, value;
    while (gw_cache_entry_next_header(&e, &cursor, &name, &value)) {
        check(name.len > 0 && gw_cache_header_is_stored(name.data, name.len));
        check(name.data >= reinterpret_cast<const char *>(data));
        check(value.data + value.len <= reinterpret_cast<const char *>(e.body));
        check(is_safe_value(value));
        fields.push_back(name);
        fields.push_back(value);
    }
    check(fields.size() == 2 * e.header_count);

    // the format has one spelling for each entry
    std::size_t head = gw_cache_entry_head_size(&e.meta, fields.data(), e.header_count);
    check(head == size - e.body_len);
    std::vector<unsigned char> again(head);
    check(gw_cache_entry_write_head(again.data(), head, &e.meta, fields.data(), e.header_count, e.body_len) == head);
    check(std::memcmp(again.data(), data, head) == 0);
}

// The input as header lines split at '\n': Cache-Control for a request and
// a response, Vary and Age.
void plan(const std::uint8_t *data, std::size_t size)
{
    std::vector<gw_cache_str_t> lines;
    const char *p = reinterpret_cast<const char *>(data), *end = p + size;
    while (p < end) {
        const char *nl = static_cast<const char *>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
        if (nl == nullptr) nl = end;
        lines.push_back({p, static_cast<std::size_t>(nl - p)});
        p = nl + 1;
    }

    gw_cache_request_t req{};
    req.cache_control = lines.data();
    req.cache_control_n = lines.size() / 2;
    req.pragma = lines.data() + lines.size() / 2;
    req.pragma_n = lines.size() - lines.size() / 2;
    req.method_cached = 1;
    gw_cache_request_plan_t rp;
    gw_cache_request_plan(&req, &rp);
    check(rp.lookup || rp.reason == GW_CACHE_REQUEST_NO_CACHE);

    gw_cache_response_t resp{};
    resp.status = 200;
    resp.cache_control = lines.data();
    resp.cache_control_n = lines.size();
    resp.expires = GW_CACHE_TIME_ABSENT;
    resp.date = GW_CACHE_TIME_ABSENT;
    resp.content_length = -1;
    if (!lines.empty()) resp.age = lines.back();
    gw_cache_limits_t limits{300, 1 << 20};
    gw_cache_store_plan_t sp;
    if (gw_cache_response_plan(&resp, &limits, 1700000000, &sp) == GW_CACHE_STORE_OK) {
        check(sp.lifetime > 0 && sp.lifetime <= GW_CACHE_MAX_LIFETIME);
        check(sp.initial_age < sp.lifetime);
        check(sp.ttl_ms == std::uint64_t{sp.lifetime - sp.initial_age} * 1000);
    }

    resp.cache_control_n = 0;
    resp.vary = lines.data();
    resp.vary_n = lines.size();
    gw_cache_response_plan(&resp, &limits, 1700000000, &sp);
    check(sp.reason == GW_CACHE_STORE_OK || sp.reason == GW_CACHE_STORE_VARY);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    decode_entry(data, size);
    plan(data, size);

    // either form of the entry's key, and its lock's, within bounds and apart
    for (int hidden = 0; hidden < 2; ++hidden) {
        char key[GW_CACHE_KEY_LEN], lock[GW_CACHE_LOCK_KEY_LEN];
        std::size_t n = gw_cache_entry_key(reinterpret_cast<const char *>(data), size, hidden, key);
        check(n <= GW_CACHE_KEY_LEN && std::string_view(key, 9) == "gw:cache:");
        check((key[9] == '=') == (!hidden && size <= GW_CACHE_PLAIN_KEY_MAX));
        std::size_t m = gw_cache_lock_key(key, n, lock);
        check(m <= GW_CACHE_LOCK_KEY_LEN && m == n + 5);
        check(std::string_view(lock, 14) == "gw:cache:lock:");
        check(std::string_view(lock + 14, m - 14) == std::string_view(key + 9, n - 9));
    }
    return 0;
}
