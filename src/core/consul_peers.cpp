// Consul peers: addresses classified and made canonical, compared, merged.

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstring>
#include <netinet/in.h>

#include "consul.hpp"

namespace gw::consul {

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// RFC 1123 labels of letters, digits, '-' (not first or last) and '_'
// (service records and some node names use it), at most 63 bytes each;
// the last label is not all digits, so "10.0.0" is not a name.
bool host_name(std::string_view s) noexcept
{
    if (s.empty() || s.size() > GW_CONSUL_HOST_MAX) return false;
    std::size_t start = 0;
    bool all_digits = true;
    for (std::size_t i = 0; i <= s.size(); ++i) {
        if (i == s.size() || s[i] == '.') {
            std::size_t len = i - start;
            if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-') return false;
            start = i + 1;
            if (i == s.size()) break;
            all_digits = true;
            continue;
        }
        char c = s[i];
        bool ok = is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z') || c == '-' || c == '_';
        if (!ok) return false;
        all_digits = all_digits && is_digit(c);
    }
    return !all_digits;
}

} // namespace

bool visible_ascii(std::string_view s, std::size_t max) noexcept
{
    if (s.empty() || s.size() > max) return false;
    return std::ranges::all_of(s, [](char c) { return c > ' ' && c < 0x7f; });
}

const char *make_peer(std::string_view address, std::uint64_t port, std::uint32_t weight, Peer &out) noexcept
{
    out = Peer{};
    if (port == 0 || port > 65535) return "port out of range";
    out.port = static_cast<std::uint16_t>(port);
    out.weight = weight;
    if (address.empty()) return "empty address";
    if (address.size() > GW_CONSUL_HOST_MAX + 1) return "address too long";

    char text[GW_CONSUL_HOST_MAX + 2];
    std::memcpy(text, address.data(), address.size());
    text[address.size()] = '\0';
    if (std::memchr(address.data(), '\0', address.size()) != nullptr) return "invalid address";

    if (inet_pton(AF_INET, text, out.addr) == 1) {
        out.kind = GW_CONSUL_IPV4;
    } else if (inet_pton(AF_INET6, text, out.addr) == 1) {
        out.kind = GW_CONSUL_IPV6;
    } else {
        // a trailing dot is the root of a fully qualified name, not part of it
        if (address.size() > 1 && address.back() == '.') address.remove_suffix(1);
        if (!host_name(address)) return "invalid address";
        out.kind = GW_CONSUL_NAME;
        std::ranges::transform(address, out.host, lower);
        out.host_len = static_cast<std::uint8_t>(address.size());
        return nullptr;
    }
    if (inet_ntop(out.kind == GW_CONSUL_IPV4 ? AF_INET : AF_INET6, out.addr, out.host, sizeof(out.host)) == nullptr) {
        return "invalid address";
    }
    out.host_len = static_cast<std::uint8_t>(std::strlen(out.host));
    return nullptr;
}

const char *parse_peer(std::string_view text, std::uint32_t weight, Peer &out) noexcept
{
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return "invalid address";
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        if (host.find(':') == std::string_view::npos) return "invalid address";
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return "no port";
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return "IPv6 address without brackets";
    }
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || port.front() == '+') {
        return "invalid port";
    }
    return make_peer(host, n, weight, out);
}

int compare(const Peer &a, const Peer &b) noexcept
{
    if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
    int c = a.kind == GW_CONSUL_NAME ? std::string_view(a.host, a.host_len).compare({b.host, b.host_len})
                                     : std::memcmp(a.addr, b.addr, sizeof(a.addr));
    if (c != 0) return c < 0 ? -1 : 1;
    if (a.port != b.port) return a.port < b.port ? -1 : 1;
    return 0;
}

void PeerSet::add(const Peer &p)
{
    if (peers_.size() >= 2 * capacity_) compact();
    peers_.push_back(p);
}

void PeerSet::compact()
{
    std::ranges::sort(peers_, [](const Peer &a, const Peer &b) {
        int c = compare(a, b);
        return c != 0 ? c < 0 : a.weight > b.weight;
    });
    auto dup = std::unique(peers_.begin(), peers_.end(),
                           [](const Peer &a, const Peer &b) { return compare(a, b) == 0; });
    peers_.erase(dup, peers_.end());
    if (peers_.size() > capacity_) {
        peers_.resize(capacity_);
        truncated_ = true;
    }
}

const std::vector<Peer> &PeerSet::finish()
{
    compact();
    return peers_;
}

} // namespace gw::consul

extern "C" {

const char *gw_consul_peer_make(const char *address, size_t len, uint64_t port, uint32_t weight,
                                gw_consul_peer_t *peer)
{
    return gw::consul::make_peer({address, len}, port, weight, *peer);
}

const char *gw_consul_peer_parse(const char *text, size_t len, uint32_t weight, gw_consul_peer_t *peer)
{
    return gw::consul::parse_peer({text, len}, weight, *peer);
}

size_t gw_consul_peer_format(const gw_consul_peer_t *peer, char *out, size_t cap)
{
    if (cap == 0) return 0;
    bool v6 = peer->kind == GW_CONSUL_IPV6;
    char port[8];
    auto [end, ec] = std::to_chars(port, port + sizeof(port), peer->port);
    std::size_t port_len = static_cast<std::size_t>(end - port);
    std::size_t len = peer->host_len + (v6 ? 2 : 0) + 1 + port_len;
    if (ec != std::errc{} || len + 1 > cap) {
        out[0] = '\0';
        return 0;
    }
    char *p = out;
    if (v6) *p++ = '[';
    p = std::copy_n(peer->host, peer->host_len, p);
    if (v6) *p++ = ']';
    *p++ = ':';
    p = std::copy_n(port, port_len, p);
    *p = '\0';
    return len;
}

int gw_consul_peer_compare(const gw_consul_peer_t *a, const gw_consul_peer_t *b)
{
    return gw::consul::compare(*a, *b);
}

int gw_consul_peers_equal(const gw_consul_peer_t *a, size_t na, const gw_consul_peer_t *b, size_t nb)
{
    if (na != nb) return 0;
    for (size_t i = 0; i < na; ++i) {
        if (gw::consul::compare(a[i], b[i]) != 0 || a[i].weight != b[i].weight) return 0;
    }
    return 1;
}

}
