/* Request identity: validation of incoming ids and generation of new ones. */
#ifndef GW_REQUEST_ID_H
#define GW_REQUEST_ID_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest incoming X-Request-ID that is kept as it is. */
#define GW_REQUEST_ID_MAX_LEN  200
/* Length of a generated id: 128 random bits in lower-case hex. */
#define GW_REQUEST_ID_LEN      32
#define GW_REQUEST_ID_RANDOM   16

/* 1 when id is 1..GW_REQUEST_ID_MAX_LEN visible ASCII characters (0x21-0x7e). */
int gw_request_id_is_valid(const char *id, size_t len);

/* Writes GW_REQUEST_ID_LEN hex characters made from GW_REQUEST_ID_RANDOM bytes. */
void gw_request_id_generate(const unsigned char *random, char *out);

#ifdef __cplusplus
}
#endif

#endif
