// libFuzzer target: JWS compact tokens through parsing (with reused spare
// tokens), verification with an HMAC secret, the verified-token path, the
// per-worker memo, claims, variables and roles; and the input as a
// NumericDate.
#include <cstddef>
#include <cstdint>

#include "gw_jwt.h"

namespace {

// One process's spares and memo, kept across inputs as a worker keeps
// them across requests (so reuse and eviction are exercised too).
struct Worker {
    gw_jwt_spares_t *spares = gw_jwt_spares_new(4);
    gw_jwt_recent_t *recent = gw_jwt_recent_new(8);
};

Worker &worker()
{
    static Worker w;
    return w;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Worker &w = worker();
    gw_jwt_t *jwt = nullptr;
    const char *text = reinterpret_cast<const char *>(data);
    static const unsigned char scope[32] = {7};

    // exp and nbf are read by this; the input as one NumericDate
    gw_jwt_numeric_date_ms(text, size);

    // a remembered token is found by its text alone
    if (gw_jwt_t *found = gw_jwt_recent_find(w.recent, scope, sizeof(scope), text, size, 1000)) {
        gw_jwt_str_t v, sub{"sub", 3};
        gw_jwt_claim(found, &sub, 1, &v);
        gw_jwt_release(w.spares, found);
    }

    if (gw_jwt_parse_reusing(w.spares, text, size, 8192, &jwt) != GW_JWT_OK) return 0;

    static const unsigned char secret[] = "fuzz-secret";
    gw_jwt_keys_t keys{nullptr, 0, secret, sizeof(secret) - 1, 0};
    gw_jwt_verify(jwt, &keys);

    // pretend a cache hit, so the payload paths are reached too
    if (gw_jwt_trust(jwt) == GW_JWT_OK) {
        gw_jwt_str_t aud{"api", 3};
        gw_jwt_policy_t policy{1700000000000, 5000, 1, nullptr, 0, &aud, 1};
        gw_jwt_check_claims(jwt, &policy);

        int64_t exp;
        gw_jwt_exp_ms(jwt, &exp);

        gw_jwt_str_t v, path[2] = {{"realm_access", 12}, {"roles", 5}};
        gw_jwt_claim(jwt, path, 2, &v);
        gw_jwt_claim(jwt, path, 1, &v);
        gw_jwt_header(jwt, "kid", 3, &v);
        gw_jwt_roles(jwt, "scope", 5, &v);

        gw_rbac_t *rbac = gw_rbac_new();
        char err[GW_JWT_ERRLEN];
        gw_rbac_grant(rbac, "admin", 5, "*:*", 3, err, sizeof(err));
        gw_rbac_allows(rbac, jwt, "roles", 5, "orders", 6, "read", 4);
        gw_rbac_free(rbac);

        gw_jwt_recent_add(w.recent, scope, sizeof(scope), text, size, jwt, 2000);
    }
    gw_jwt_release(w.spares, jwt);
    return 0;
}
