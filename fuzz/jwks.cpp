// libFuzzer target: JWKS / JWK / PEM key documents, and the JSON parser.
#include <cstddef>
#include <cstdint>

#include "gw_json.h"
#include "gw_jwt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = reinterpret_cast<const char *>(data);
    char out[256];

    gw_json_check(text, size, 32);
    gw_json_extract(text, size, "keys", out, sizeof(out));

    gw_jwt_keyset_t *ks = gw_jwt_keyset_new();
    char err[GW_JWT_ERRLEN];
    if (gw_jwt_keyset_add(ks, text, size, err, sizeof(err)) > 0) {
        unsigned char fp[GW_JWT_FINGERPRINT_LEN];
        gw_jwt_keyset_fingerprint(ks, fp);
        gw_jwt_keyset_algs(ks);
    }
    gw_jwt_keyset_free(ks);
    return 0;
}
