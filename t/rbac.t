# RBAC: roles from the verified token, permissions, gateway_authorize.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my $exp = time + 3600;
sub tok { jwt('HS256', \'rbac-secret', { sub => 'u', exp => $exp, @_ }) }
$T{viewer} = tok(roles => ['viewer']);
$T{editor} = tok(roles => ['viewer', 'editor']);
$T{admin} = tok(roles => ['admin']);
$T{auditor} = tok(roles => ['auditor']);
$T{comma} = tok(roles => ['viewer,admin']);
$T{comma_str} = tok(roles => 'viewer,admin');
$T{admin_case} = tok(roles => ['Admin']);
$T{superadmin} = tok(roles => ['superadmin']);
$T{nested} = tok(realm_access => { roles => ['editor'] });
$T{scope} = tok(scope => 'openid orders.read viewer');
$T{none} = tok();
$T{num} = tok(roles => [1, 2]);
$T{wrong_key} = jwt('HS256', \'other', { sub => 'u', exp => $exp, roles => ['admin'] });

add_block_preprocessor(sub {
    my $block = shift;
    if (defined $block->config) {
        $block->set_value('config', $block->config . <<'_EOC_');
    location = /_echo {
        return 200 "ok\n";
    }
_EOC_
    }
    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'_EOC_');
    gateway_rbac_role viewer orders:read;
    gateway_rbac_role editor orders:read orders:update orders:create;
    gateway_rbac_role admin *:*;
    gateway_rbac_role auditor *:read;
    gateway_rbac_role ops orders:*;
_EOC_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a permission held, and one not held
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /orders", "DELETE /orders", "PUT /orders", "POST /orders"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('viewer'), main::bearer('viewer'), main::bearer('editor')]
--- error_code eval
[200, 403, 403, 200]
--- response_headers eval
["!WWW-Authenticate", qq{WWW-Authenticate: Bearer error="insufficient_scope"},
 qq{WWW-Authenticate: Bearer error="insufficient_scope"}, "!WWW-Authenticate"]



=== TEST 2: wildcards on either side
--- config
    location /invoices {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize invoices:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["DELETE /invoices", "GET /invoices", "PATCH /invoices", "GET /invoices"]
--- more_headers eval
[main::bearer('admin'), main::bearer('auditor'), main::bearer('auditor'), main::bearer('viewer')]
--- error_code eval
[200, 200, 403, 403]



=== TEST 3: exact role names only
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:delete;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /orders", "GET /orders", "GET /orders", "GET /orders", "GET /orders", "GET /orders"]
--- more_headers eval
[map { main::bearer($_) } qw(comma comma_str admin_case superadmin none num)]
--- error_code eval
[403, 403, 403, 403, 403, 403]



=== TEST 4: nested roles claim (Keycloak)
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_roles_claim realm_access.roles;
        gateway_authorize orders:update;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["PUT /orders", "PUT /orders"]
--- more_headers eval
[main::bearer('nested'), main::bearer('editor')]
--- error_code eval
[200, 403]



=== TEST 5: space separated roles (scope)
--- config
    gateway_roles_claim scope;
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /orders", "GET /orders"]
--- more_headers eval
[main::bearer('scope'), main::bearer('viewer')]
--- error_code eval
[200, 403]



=== TEST 6: the resource from a variable
--- http_config
    gateway_rbac_role viewer orders:read;
    gateway_rbac_role editor invoices:read;
--- config
    location ~ ^/api/(?<resource>\w+) {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize $resource:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
        rewrite ^ /_echo break;
    }
--- request eval
["GET /api/orders", "GET /api/invoices", "GET /api/invoices"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('viewer'), main::bearer('editor')]
--- error_code eval
[200, 403, 200]



=== TEST 7: JWT runs first: no token is 401, a bad token is 401
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /orders", "GET /orders"]
--- more_headers eval
["", main::bearer('wrong_key')]
--- error_code eval
[401, 401]



=== TEST 8: gateway_authorize without any JWT validation denies
--- config
    location /orders {
        gateway_authorize orders:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /orders
--- more_headers eval
main::bearer('admin')
--- error_code: 403
--- response_headers
WWW-Authenticate: Bearer error="insufficient_scope"



=== TEST 9: a request exempted with the "off" realm skips authorization too
--- http_config
    gateway_rbac_role viewer orders:read;
    map $request_method $realm {
        OPTIONS off;
        default api;
    }
--- config
    location /orders {
        gateway_jwt $realm;
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["OPTIONS /orders", "DELETE /orders"]
--- more_headers eval
["", main::bearer('viewer')]
--- error_code eval
[200, 403]



=== TEST 10: $gateway_action
--- config
    location /t {
        add_header X-Action $gateway_action;
        return 204;
    }
--- request eval
["GET /t", "HEAD /t", "POST /t", "PUT /t", "PATCH /t", "DELETE /t", "OPTIONS /t",
 "READ /t", "PROPFIND /t"]
--- response_headers eval
["X-Action: read", "X-Action: read", "X-Action: create", "X-Action: update",
 "X-Action: update", "X-Action: delete", "X-Action: OPTIONS", "X-Action: READ",
 "X-Action: PROPFIND"]
--- error_code eval
[204, 204, 204, 204, 204, 204, 204, 204, 204]



=== TEST 11: methods that are not documented never pass for read, create, update or delete
--- http_config
    gateway_rbac_role editor orders:read orders:update orders:create orders:delete;
    gateway_rbac_role webdav orders:PROPFIND;
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["READ /orders", "CREATE /orders", "UPDATE /orders", "PROPFIND /orders",
 "read /orders", "GET /orders", "PROPFIND /orders"]
--- more_headers eval
[main::bearer('editor'), main::bearer('editor'), main::bearer('editor'),
 main::bearer('editor'), main::bearer('editor'), main::bearer('editor'),
 "Authorization: Bearer " . main::tok(roles => ['webdav'])]
--- error_code eval
[403, 403, 403, 403, 400, 200, 200]



=== TEST 12: gateway_authorize off in a location
--- config
    gateway_jwt "api";
    gateway_jwt_secret "rbac-secret";
    gateway_authorize orders:delete;
    location /orders {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /public {
        gateway_authorize off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /orders", "GET /public"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('viewer')]
--- error_code eval
[403, 200]



=== TEST 13: nginx -t: a permission without an action
--- http_config
    gateway_rbac_role viewer orders;
--- config
    location /t { return 204; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid permission "orders" for role "viewer": permission is not "resource:action" in .*nginx.conf:\d+}



=== TEST 14: nginx -t: gateway_authorize needs resource:action
--- config
    location /t {
        gateway_authorize orders;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid permission "orders", expected "resource:action" in .*nginx.conf:\d+}



=== TEST 15: the denial is logged at info with the permission
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
DELETE /orders
--- more_headers eval
main::bearer('viewer')
--- error_code: 403
--- error_log
gateway rbac: "orders:delete" denied



=== TEST 16: client bytes in the denial are escaped, no forged log line
A path whose decoded form holds CR/LF, TAB and DEL (nginx decodes %XX into
$uri) would otherwise write a line of the attacker's choosing into the
error log: every byte below 0x20 and 0x7f is written as \xHH. (nginx's own
debug lines carry the decoded path raw, hence the pattern's "denied".)
--- config
    location /files/ {
        gateway_jwt "api";
        gateway_jwt_secret "rbac-secret";
        gateway_authorize $uri:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /files/a%0D%0AFORGED%09tab%7Fdel
--- more_headers eval
main::bearer('viewer')
--- error_code: 403
--- error_log
gateway rbac: "/files/a\x0D\x0AFORGED\x09tab\x7Fdel:read" denied
--- no_error_log eval
qr/^FORGED.*:read" denied/
