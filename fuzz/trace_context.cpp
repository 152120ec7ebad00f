// libFuzzer target: traceparent parsing and request-id validation.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gw_request_id.h"
#include "gw_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const char *text = reinterpret_cast<const char *>(data);
    unsigned char random[GW_TRACE_RANDOM] = {};
    gw_trace_t trace;
    char child[GW_TRACEPARENT_LEN];

    gw_request_id_is_valid(text, size);

    gw_trace_begin(text, size, random, &trace);
    gw_trace_format_child(&trace, child);

    // Whatever came in, what goes upstream must be a valid traceparent,
    // and a valid parent must keep its trace id.
    if (!gw_traceparent_is_valid(child, sizeof(child))) __builtin_trap();
    if (gw_traceparent_is_valid(text, size)
        && (!trace.continued || std::memcmp(trace.trace_id, text + 3, GW_TRACE_ID_LEN) != 0)) {
        __builtin_trap();
    }
    return 0;
}
