// The poller's request: GET /v1/health/service/:service with the blocking
// query's parameters, every configured value percent-encoded into the URL
// or checked before it goes into a header.

#include <charconv>
#include <string>

#include "consul.hpp"

namespace gw::consul {

namespace {

bool unreserved(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.'
           || c == '_' || c == '~';
}

void encode(std::string_view s, std::string &out)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char c : s) {
        if (unreserved(c)) {
            out += c;
        } else {
            auto b = static_cast<unsigned char>(c);
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 15];
        }
    }
}

std::string_view view(const char *p, std::size_t n) noexcept { return p != nullptr ? std::string_view(p, n) : ""; }

const char *check(const gw_consul_query_t &q) noexcept
{
    if (!visible_ascii(view(q.service, q.service_len), GW_CONSUL_NAME_MAX)) return "invalid service name";
    if (q.tag_len && !visible_ascii(view(q.tag, q.tag_len), GW_CONSUL_NAME_MAX)) return "invalid tag";
    if (q.dc_len && !visible_ascii(view(q.dc, q.dc_len), GW_CONSUL_NAME_MAX)) return "invalid datacenter";
    if (q.token_len && !visible_ascii(view(q.token, q.token_len), GW_CONSUL_TOKEN_MAX)) return "invalid token";
    if (!visible_ascii(view(q.host, q.host_len), GW_CONSUL_PEER_TEXT_MAX)) return "invalid host";
    if (q.wait_s < 1 || q.wait_s > GW_CONSUL_MAX_WAIT_S) return "wait out of range";
    return nullptr;
}

std::string request(const gw_consul_query_t &q, std::uint64_t index)
{
    std::string r = "GET /v1/health/service/";
    encode(view(q.service, q.service_len), r);
    r += "?passing=true";
    if (index > 0) {
        // without an index the query returns at once (the first one, and
        // the one after a reset)
        r += "&index=" + std::to_string(index) + "&wait=" + std::to_string(q.wait_s) + 's';
    }
    if (q.tag_len) {
        r += "&tag=";
        encode(view(q.tag, q.tag_len), r);
    }
    if (q.dc_len) {
        r += "&dc=";
        encode(view(q.dc, q.dc_len), r);
    }
    r += " HTTP/1.1\r\nHost: ";
    r += view(q.host, q.host_len);
    r += "\r\nUser-Agent: ngx_http_gateway_module\r\nAccept: application/json\r\n";
    if (q.token_len) {
        r += "X-Consul-Token: ";
        r += view(q.token, q.token_len);
        r += "\r\n";
    }
    r += "\r\n";
    return r;
}

} // namespace

} // namespace gw::consul

extern "C" {

const char *gw_consul_query_check(const gw_consul_query_t *query)
{
    return gw::consul::check(*query);
}

size_t gw_consul_request(const gw_consul_query_t *query, uint64_t index, char *out, size_t cap)
{
    if (gw::consul::check(*query) != nullptr) return 0;
    try {
        std::string r = gw::consul::request(*query, index);
        if (r.size() > cap) return 0;
        r.copy(out, r.size());
        return r.size();
    } catch (...) {
        return 0;
    }
}

}
