# "satisfy any" and the gateway's checks. JWT and RBAC are access checks
# as auth_basic and allow/deny are: under "satisfy any" a verified token
# (and, where gateway_authorize is set, the permission) grants access
# alone, and any other check that passes grants it without a token. Rate
# limits are not an access check: they apply to every request let in,
# however it was let in. Under "satisfy all" everything must pass.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my $exp = time + 3600;
$T{viewer} = jwt('HS256', \'satisfy-secret', { sub => 'u', exp => $exp, roles => ['viewer'] });
$T{bad} = jwt('HS256', \'another-secret', { sub => 'u', exp => $exp, roles => ['viewer'] });

add_block_preprocessor(sub {
    my $block = shift;
    if (defined $block->config) {
        $block->set_value('config', $block->config . <<'_EOC_');
    location = /_echo {
        return 200 "ok\n";
    }
_EOC_
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: satisfy any: an allowed address needs no token
--- config
    location /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- error_code: 200



=== TEST 2: satisfy any: a verified token needs no allowed address
--- config
    location /t {
        satisfy any;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('bad'), ""]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["", 'WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="signature verification failed"',
 'WWW-Authenticate: Bearer realm="api"']



=== TEST 3: satisfy any: a token and its permission, or an allowed address
--- http_config
    gateway_rbac_role viewer orders:read;
--- config
    location /t {
        satisfy any;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /allowed {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "DELETE /t", "DELETE /allowed"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('viewer'), main::bearer('viewer')]
--- error_code eval
[200, 403, 200]



=== TEST 4: satisfy any: the rate limit applies to a request an address let in
--- http_config
    gateway_rate_limit_zone sat4 key=$binary_remote_addr rate=1r/m burst=1 size=1m;
--- config
    location /t {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        gateway_rate_limit sat4;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]



=== TEST 5: satisfy any: and to a request a token let in
--- http_config
    gateway_rate_limit_zone sat5 key=$gateway_jwt_claim_sub rate=1r/m burst=1 size=1m;
--- config
    location /t {
        satisfy any;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        gateway_rate_limit sat5;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('viewer')]
--- error_code eval
[200, 429]



=== TEST 6: satisfy any: auth_basic or a token
--- user_files
>>> htpasswd
alice:{PLAIN}wonderland
--- config
    location /t {
        satisfy any;
        auth_basic "basic";
        auth_basic_user_file ../html/htpasswd;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Basic YWxpY2U6d29uZGVybGFuZA==", main::bearer('viewer'), ""]
--- error_code eval
[200, 200, 401]



=== TEST 7: satisfy all: a verified token does not lift "deny"
--- config
    location /t {
        satisfy all;
        deny all;
        gateway_jwt "api";
        gateway_jwt_secret "satisfy-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('viewer')
--- error_code: 403
