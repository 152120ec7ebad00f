/* Check unit tests: roles from claims and permission matching. */

#include "unit.h"
#include "jwt_unit.h"


#define SECRET "rbac-secret"
#define HDR    "{\"alg\":\"HS256\"}"


static gw_rbac_t  *rbac;


static void
setup(void)
{
    char  err[GW_JWT_ERRLEN];

#define GRANT(role, perm)                                                     \
    ck_assert_int_eq(gw_rbac_grant(rbac, role, strlen(role), perm,            \
                                   strlen(perm), err, sizeof(err)), 0)

    rbac = gw_rbac_new();
    GRANT("viewer", "orders:read");
    GRANT("editor", "orders:read");
    GRANT("editor", "orders:update");
    GRANT("admin", "*:*");
    GRANT("auditor", "*:read");
    GRANT("orders-admin", "orders:*");
    GRANT("urn", "urn:svc:orders:delete");
}


static void
teardown(void)
{
    gw_rbac_free(rbac);
}


static int
allows(const char *payload, const char *path, const char *resource,
    const char *action)
{
    gw_jwt_t  *jwt;
    int        ok;

    ck_assert_int_eq(verify_with(mint_hs256(HDR, payload, SECRET), NULL, SECRET,
                                 0, &jwt), GW_JWT_OK);
    ok = gw_rbac_allows(rbac, jwt, path, strlen(path), resource,
                        strlen(resource), action, strlen(action));
    gw_jwt_free(jwt);
    return ok;
}


START_TEST(matches_permissions)
{
    const char *v = "{\"roles\":[\"viewer\"]}";

    ck_assert(allows(v, "roles", "orders", "read"));
    ck_assert(!allows(v, "roles", "orders", "update"));
    ck_assert(!allows(v, "roles", "invoices", "read"));
    ck_assert(allows("{\"roles\":[\"viewer\",\"editor\"]}", "roles", "orders",
                     "update"));
    ck_assert(allows("{\"roles\":[\"admin\"]}", "roles", "anything", "delete"));
    ck_assert(allows("{\"roles\":[\"auditor\"]}", "roles", "invoices", "read"));
    ck_assert(!allows("{\"roles\":[\"auditor\"]}", "roles", "invoices", "create"));
    ck_assert(allows("{\"roles\":[\"orders-admin\"]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":[\"orders-admin\"]}", "roles", "order", "read"));
    ck_assert(allows("{\"roles\":[\"urn\"]}", "roles", "urn:svc:orders", "delete"));
    /* a literal "*" asked for is only matched by a "*" permission */
    ck_assert(!allows(v, "roles", "*", "read"));
    ck_assert(!allows(v, "roles", "", "read"));
    ck_assert(!allows(v, "roles", "orders", ""));
}
END_TEST


START_TEST(exact_role_names)
{
    ck_assert(!allows("{\"roles\":[\"viewer,admin\"]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":\"viewer,admin\"}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":[\"Admin\"]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":[\"admin \"]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":[\"superadmin\"]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":[\"adm\"]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":[[\"admin\"]]}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"roles\":{\"admin\":true}}", "roles", "orders", "delete"));
    ck_assert(!allows("{\"role\":[\"admin\"]}", "roles", "orders", "delete"));
}
END_TEST


START_TEST(space_separated_and_nested)
{
    ck_assert(allows("{\"scope\":\"openid  viewer email\"}", "scope", "orders",
                     "read"));
    ck_assert(!allows("{\"scope\":\"openid email\"}", "scope", "orders", "read"));
    ck_assert(allows("{\"realm_access\":{\"roles\":[\"admin\"]}}",
                     "realm_access.roles", "x", "y"));
    ck_assert(!allows("{\"realm_access\":{\"roles\":[\"admin\"]}}",
                      "realm_access", "x", "y"));
    ck_assert(!allows("{\"realm_access.roles\":[\"admin\"]}",
                      "realm_access.roles", "x", "y"));
    ck_assert(allows("{\"a\":{\"b\":{\"c\":\"admin\"}}}", "a.b.c", "x", "y"));
}
END_TEST


START_TEST(refuses_bad_permissions)
{
    char  err[GW_JWT_ERRLEN];

    ck_assert_int_eq(gw_rbac_grant(rbac, "r", 1, "orders", 6, err, sizeof(err)), -1);
    ck_assert_int_eq(gw_rbac_grant(rbac, "r", 1, ":read", 5, err, sizeof(err)), -1);
    ck_assert_int_eq(gw_rbac_grant(rbac, "r", 1, "orders:", 7, err, sizeof(err)), -1);
    ck_assert_int_eq(gw_rbac_grant(rbac, "", 0, "a:b", 3, err, sizeof(err)), -1);
}
END_TEST


START_TEST(lists_roles)
{
    gw_jwt_t      *jwt;
    gw_jwt_str_t   v;

    ck_assert_int_eq(verify_with(mint_hs256(HDR, "{\"r\":[\"a\",1,\"b\"]}", SECRET),
                                 NULL, SECRET, 0, &jwt), GW_JWT_OK);
    ck_assert_int_eq(gw_jwt_roles(jwt, "r", 1, &v), 1);
    ck_assert_int_eq(v.len, 3);
    ck_assert_int_eq(memcmp(v.data, "a b", 3), 0);
    gw_jwt_free(jwt);
}
END_TEST


int
main(void)
{
    Suite  *s = suite_create("rbac");
    TCase  *tc = tcase_create("rbac");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, matches_permissions);
    tcase_add_test(tc, exact_role_names);
    tcase_add_test(tc, space_separated_and_nested);
    tcase_add_test(tc, refuses_bad_permissions);
    tcase_add_test(tc, lists_roles);
    suite_add_tcase(s, tc);

    return gw_unit_run(s);
}
