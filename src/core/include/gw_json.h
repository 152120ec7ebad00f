/* The core's strict JSON parser, for tests and callers in C. */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GW_JSON_OK = 0,
    GW_JSON_TOO_LARGE,
    GW_JSON_TOO_DEEP,
    GW_JSON_TOO_MANY,
    GW_JSON_SYNTAX,
    GW_JSON_BAD_STRING,
    GW_JSON_BAD_NUMBER,
    GW_JSON_DUPLICATE_KEY,
    GW_JSON_TRAILING_DATA,
    GW_JSON_NO_MEMORY
} gw_json_status_t;

/* Checks that text is one JSON value within max_depth levels of nesting. */
gw_json_status_t gw_json_check(const char *text, size_t len, size_t max_depth);

/*
 * Parses text and writes the compact serialisation of the value found at
 * the dotted member path (empty: the whole document) to out, NUL
 * terminated. Returns the length written, or -1 (parse error, missing
 * member, or out too small).
 */
long gw_json_extract(const char *text, size_t len, const char *path, char *out, size_t cap);

const char *gw_json_status_text(gw_json_status_t status);

#ifdef __cplusplus
}
#endif

#endif
