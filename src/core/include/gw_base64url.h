/* Strict unpadded base64url (RFC 4648 section 5), as JOSE uses it. */
#ifndef GW_BASE64URL_H
#define GW_BASE64URL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Decodes canonical unpadded base64url into out (cap bytes).
 * Returns the number of bytes, or -1 when the text is not canonical
 * base64url or does not fit.
 */
long gw_base64url_decode(const char *text, size_t len, unsigned char *out, size_t cap);

/* Encodes without padding; returns the length, 0 when it does not fit. */
size_t gw_base64url_encode(const unsigned char *bytes, size_t len, char *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
