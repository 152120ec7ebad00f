// libFuzzer target: the incremental HTTP/1.1 response reader.
//
// Besides not crashing: a response read in pieces of any size reads as it
// does whole (same result, status, body and bytes used).
#include <cstddef>
#include <cstdint>
#include <string>

#include "gw_http.h"

namespace {

struct Read {
    gw_http_rc_t rc;
    int status;
    int keep_alive;
    std::size_t used;
    std::string body;
};

int collect(void *ctx, const char *data, std::size_t len)
{
    auto *body = static_cast<std::string *>(ctx);
    body->append(data, len);
    return body->size() > 1 << 20;
}

Read read(gw_http_response_t *r, const char *text, std::size_t size, std::size_t step)
{
    Read out{GW_HTTP_AGAIN, 0, 0, 0, {}};
    gw_http_response_reset(r, collect, &out.body);
    while (out.used < size && out.rc == GW_HTTP_AGAIN) {
        std::size_t n = size - out.used < step ? size - out.used : step, used = 0;
        out.rc = gw_http_response_feed(r, text + out.used, n, &used);
        if (used > n || (out.rc == GW_HTTP_AGAIN && used != n)) __builtin_trap();
        out.used += used;
    }
    if (out.rc == GW_HTTP_AGAIN) out.rc = gw_http_response_eof(r);
    out.status = gw_http_response_status(r);
    out.keep_alive = gw_http_response_keep_alive(r);
    std::size_t len;
    gw_http_response_header(r, "X-Consul-Index", &len);
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static gw_http_response_t *r = gw_http_response_new(8192);
    const char *text = reinterpret_cast<const char *>(data);

    Read whole = read(r, text, size, size ? size : 1);
    Read pieces = read(r, text, size, size ? 1 + data[size - 1] % 17 : 1);
    if (whole.rc != pieces.rc || whole.status != pieces.status || whole.keep_alive != pieces.keep_alive) {
        __builtin_trap();
    }
    if (whole.rc == GW_HTTP_DONE && (whole.used != pieces.used || whole.body != pieces.body)) __builtin_trap();
    return 0;
}
