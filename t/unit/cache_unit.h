/* Helpers shared by the cache Check suites. */
#ifndef GW_CACHE_UNIT_H
#define GW_CACHE_UNIT_H

#include <string.h>

#include "gw_cache.h"


/* The time the suites stand at, in Unix seconds. */
#define NOW  1700000000


static inline gw_cache_str_t
str(const char *s)
{
    gw_cache_str_t  v = { s, strlen(s) };

    return v;
}


#endif
