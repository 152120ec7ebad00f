# Every location a request enters applies its own gateway_jwt rules (keys,
# issuer, audience, gateway_jwt_require) and its own gateway_authorize, as
# nginx's own access modules do: after try_files, index, error_page,
# X-Accel-Redirect and jumps to named locations alike. A token verified
# with the same keys is not verified again. The error page of a request
# the gateway refused is served as it is.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my $exp = time + 3600;
$T{viewer} = jwt('HS256', \'secret-a', { sub => 'alice', exp => $exp, iss => 'https://a',
                                          roles => ['viewer'], admin => 0 });
$T{admin} = jwt('HS256', \'secret-a', { sub => 'root', exp => $exp, iss => 'https://a',
                                         roles => ['admin'], admin => 1 });
$T{rs} = token_by('rsa1', sub => 'carol');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', ($block->http_config // '') . <<'_EOC_');
    gateway_rbac_role viewer orders:read;
    gateway_rbac_role admin *:*;
_EOC_
    $block->set_value('config', $block->config . echo_location() . <<'_EOC_');
    location = /_missing {
        return 404;
    }
_EOC_
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: try_files into a named location with other keys: the token is checked against them
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        try_files /nonexistent @next;
    }
    location @next {
        gateway_jwt "other";
        gateway_jwt_secret "secret-b";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request
GET /t
--- more_headers eval
main::bearer('viewer')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="other", error="invalid_token", error_description="signature verification failed"



=== TEST 2: try_files into a location with another issuer, or gateway_jwt_require
--- config
    location /iss {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        try_files /nonexistent /_strict_iss;
    }
    location = /_strict_iss {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        gateway_jwt_issuer https://b;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /admin {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        try_files /nonexistent @admin;
    }
    location @admin {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        gateway_jwt_require $gateway_jwt_claim_admin error=403;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request eval
["GET /iss", "GET /admin", "GET /admin"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('viewer'), main::bearer('admin')]
--- error_code eval
[401, 403, 200]
--- response_body_like eval
["", "", "sub=root"]



=== TEST 3: index: the index file's location applies its audience
--- config
    location /site/ {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        index index.html;
    }
    location = /site/index.html {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        gateway_jwt_audience internal;
    }
--- user_files
>>> site/index.html
welcome
--- request
GET /site/
--- more_headers eval
main::bearer('viewer')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="audience not accepted"



=== TEST 4: error_page after the upstream's 404: the fallback's gateway_authorize applies
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        proxy_intercept_errors on;
        error_page 404 = @fallback;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_missing;
    }
    location @fallback {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        gateway_authorize admin:read;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer('viewer'), main::bearer('admin')]
--- error_code eval
[403, 200]
--- response_body_like eval
["", "sub=root"]



=== TEST 5: X-Accel-Redirect into a location with other keys and permissions
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_accel;
    }
    location = /_accel {
        add_header X-Accel-Redirect /protected/file;
        return 200;
    }
    location /protected/ {
        internal;
        gateway_jwt "files";
        gateway_jwt_secret "secret-b";
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request
GET /t
--- more_headers eval
main::bearer('admin')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="files", error="invalid_token", error_description="signature verification failed"



=== TEST 6: the same keys elsewhere: the token is not verified again, its claims are
--- http_config
    gateway_jwt_cache 1m;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        try_files /nonexistent @next;
    }
    location @next {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        add_header X-JWT-Cache $gateway_jwt_cache_status;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer('rs'), main::bearer('rs')]
--- response_headers eval
["X-JWT-Cache: MISS", "X-JWT-Cache: HIT"]
--- response_body eval
["sub=carol\n", "sub=carol\n"]



=== TEST 7: a refused request's error page is served as it is, in a location with stricter rules
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "secret-a";
        gateway_authorize admin:write;
        error_page 401 403 /denied.json;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /denied.json {
        gateway_jwt "api";
        gateway_jwt_secret "secret-b";
        gateway_authorize denied:read;
        return 200 '{"error":"denied"}\n';
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["", main::bearer('viewer')]
--- error_code eval
[401, 403]
--- response_body eval
["{\"error\":\"denied\"}\n", "{\"error\":\"denied\"}\n"]
