// libFuzzer target: Consul health replies, peer text and dump files.
//
// Besides not crashing: a reply read in pieces reads as it does whole, a
// set read is sorted and distinct, every peer prints and parses back to
// itself, and a set written to a dump reads back equal.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gw_consul.h"

namespace {

constexpr std::size_t max_peers = 8;

gw_consul_reader_t *reader()
{
    static gw_consul_limits_t limits = {max_peers, 64 * 1024};
    static gw_consul_reader_t *r = gw_consul_reader_new(&limits);
    return r;
}

gw_consul_status_t read(const char *text, std::size_t size, std::size_t step, std::vector<gw_consul_peer_t> &out)
{
    gw_consul_reader_t *r = reader();
    gw_consul_reader_reset(r);
    gw_consul_status_t rc = GW_CONSUL_OK;
    for (std::size_t i = 0; i < size && rc == GW_CONSUL_OK; i += step) {
        rc = gw_consul_reader_feed(r, text + i, size - i < step ? size - i : step);
    }
    gw_consul_result_t res;
    if (rc == GW_CONSUL_OK) rc = gw_consul_reader_finish(r, &res);
    out.clear();
    if (rc == GW_CONSUL_OK) out.assign(res.peers, res.peers + res.npeers);
    return rc;
}

void check_set(const std::vector<gw_consul_peer_t> &set)
{
    if (set.size() > max_peers) __builtin_trap();
    for (std::size_t i = 0; i < set.size(); ++i) {
        if (i > 0 && gw_consul_peer_compare(&set[i - 1], &set[i]) >= 0) __builtin_trap();
        char text[GW_CONSUL_PEER_TEXT_MAX];
        std::size_t len = gw_consul_peer_format(&set[i], text, sizeof(text));
        gw_consul_peer_t back;
        if (len == 0 || gw_consul_peer_parse(text, len, set[i].weight, &back) != nullptr
            || gw_consul_peer_compare(&back, &set[i]) != 0 || back.weight != set[i].weight)
        {
            __builtin_trap();
        }
    }
}

void check_dump(const std::vector<gw_consul_peer_t> &set)
{
    std::vector<char> text(gw_consul_dump_size(3, set.size()));
    std::size_t len = gw_consul_dump_write("web", 3, 77, set.data(), set.size(), text.data(), text.size());
    if (len == 0) __builtin_trap();
    gw_consul_peer_t back[max_peers];
    std::size_t n;
    unsigned truncated;
    std::uint64_t index;
    char err[128];
    if (gw_consul_dump_read(text.data(), len, "web", 3, back, max_peers, &n, &truncated, &index, err, sizeof(err))
            != GW_CONSUL_OK
        || index != 77 || truncated || !gw_consul_peers_equal(back, n, set.data(), set.size()))
    {
        __builtin_trap();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const char *text = reinterpret_cast<const char *>(data);

    std::vector<gw_consul_peer_t> whole, pieces;
    gw_consul_status_t rc = read(text, size, size ? size : 1, whole);
    std::size_t step = size ? 1 + data[0] % 13 : 1;
    if (read(text, size, step, pieces) != rc || !gw_consul_peers_equal(whole.data(), whole.size(), pieces.data(),
                                                                        pieces.size()))
    {
        __builtin_trap();
    }
    if (rc == GW_CONSUL_OK) {
        check_set(whole);
        check_dump(whole);
    }

    gw_consul_peer_t back[max_peers], peer;
    std::size_t n;
    unsigned truncated;
    std::uint64_t index;
    char err[128];
    if (gw_consul_dump_read(text, size, "web", 3, back, max_peers, &n, &truncated, &index, err, sizeof(err))
        == GW_CONSUL_OK)
    {
        check_set(std::vector<gw_consul_peer_t>(back, back + n));
    }
    if (gw_consul_peer_parse(text, size, 1, &peer) == nullptr) check_set({peer});
    gw_consul_index_parse(text, size);
    return 0;
}
