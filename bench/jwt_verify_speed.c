/*
 * RS256 verifications per second on one core, through the module's core
 * (parse, key lookup, signature, payload), to set beside
 * `openssl speed rsa2048`'s verify/s. Used by bench/jwt-verify-speed.
 *
 *   jwt_verify_speed TOKEN_FILE JWKS_FILE [SECONDS]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_jwt.h"


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static char *
slurp(const char *path, size_t *len)
{
    FILE  *f = fopen(path, "rb");
    char  *buf;
    long   n;

    if (f == NULL) {
        perror(path);
        exit(2);
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t) n) {
        exit(2);
    }
    buf[n] = '\0';
    fclose(f);
    *len = n;
    return buf;
}


int
main(int argc, char **argv)
{
    char                   *text, *token, *end, err[GW_JWT_ERRLEN];
    size_t                  len, jlen;
    double                  seconds, start, elapsed;
    unsigned long           n;
    gw_jwt_t               *jwt;
    gw_jwt_keys_t           keys;
    gw_jwt_keyset_t        *ks;
    const gw_jwt_keyset_t  *sets[1];
    char                   *jwks;

    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKEN_FILE JWKS_FILE [SECONDS]\n", argv[0]);
        return 2;
    }

    seconds = argc > 3 ? atof(argv[3]) : 3;

    /* the token file may be a .wrk file: -H "Authorization: Bearer ..." */
    text = slurp(argv[1], &len);
    token = strstr(text, "Bearer ");
    token = token ? token + 7 : text;
    end = token + strcspn(token, "\"\r\n ");
    *end = '\0';

    jwks = slurp(argv[2], &jlen);
    ks = gw_jwt_keyset_new();
    if (gw_jwt_keyset_add(ks, jwks, jlen, err, sizeof(err)) <= 0) {
        fprintf(stderr, "%s: %s\n", argv[2], err);
        return 2;
    }

    sets[0] = ks;
    memset(&keys, 0, sizeof(keys));
    keys.sets = sets;
    keys.nsets = 1;

    n = 0;
    start = now();

    do {
        for (int i = 0; i < 1000; i++, n++) {
            if (gw_jwt_parse(token, strlen(token), 8192, &jwt) != GW_JWT_OK
                || gw_jwt_verify(jwt, &keys) != GW_JWT_OK)
            {
                fprintf(stderr, "the token does not verify\n");
                return 1;
            }
            gw_jwt_free(jwt);
        }
        elapsed = now() - start;
    } while (elapsed < seconds);

    printf("%.0f\n", n / elapsed);

    gw_jwt_keyset_free(ks);
    free(text);
    free(jwks);
    return 0;
}
