// Consul discovery in the core: what the reply reader, the dump file and
// the C ABI share (see gw_consul.h for the behaviour).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "gw_consul.h"

namespace gw::consul {

static_assert(std::is_trivially_copyable_v<gw_consul_peer_t>);
static_assert(std::is_standard_layout_v<gw_consul_peer_t>);
static_assert(std::is_trivially_copyable_v<gw_consul_poll_t>);

using Peer = gw_consul_peer_t;

// nullptr and a filled peer, or why the address or port cannot be used.
const char *make_peer(std::string_view address, std::uint64_t port, std::uint32_t weight, Peer &out) noexcept;

// "HOST:PORT" or "[IPv6]:PORT".
const char *parse_peer(std::string_view text, std::uint32_t weight, Peer &out) noexcept;

// <0, 0, >0 by address and port.
int compare(const Peer &a, const Peer &b) noexcept;

// The distinct peers of one reply or dump, in bounded memory: peers are
// appended, and whenever twice the capacity is reached they are sorted,
// duplicates merged (the highest weight wins, so a peer registered twice
// does not get twice the traffic) and all but the lowest `capacity`
// addresses dropped. The result is the same whatever the order of input.
class PeerSet {
public:
    explicit PeerSet(std::size_t capacity) : capacity_(capacity ? capacity : 1) {}

    void clear() noexcept
    {
        peers_.clear();
        truncated_ = false;
    }
    void add(const Peer &p);
    // Sorted, distinct, at most capacity peers.
    const std::vector<Peer> &finish();
    bool truncated() const noexcept { return truncated_; }

private:
    void compact();

    std::size_t capacity_;
    std::vector<Peer> peers_;
    bool truncated_ = false;
};

// Visible ASCII, 1 to max bytes: what may go into a request or dump line.
bool visible_ascii(std::string_view s, std::size_t max) noexcept;

} // namespace gw::consul
