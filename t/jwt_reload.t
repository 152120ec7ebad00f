# nginx -s reload: fetched keys and verified tokens survive in shared memory.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$ENV{TEST_NGINX_JWT_KEYS} = keys_dir();
$ENV{TEST_NGINX_IDP_PORT} ||= 2101;

our %T;
$T{rsa1} = jwt('RS256', 'rsa1', { sub => 'alice', exp => time + 3600 }, { kid => 'rsa1' });

use_hup();
master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: keys fetched and a token cached before the reload
--- http_config
    gateway_jwt_cache 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_IDP_PORT;
        location = /jwks {
            alias $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        }
    }
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        add_header X-JWT-Cache $gateway_jwt_cache_status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks;
    }
    location = /_echo { return 200 "ok\n"; }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- response_headers
X-JWT-Cache: MISS



=== TEST 2: after the reload the provider is down: the shared keys and cache still serve
--- http_config
    gateway_jwt_cache 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_IDP_PORT;
        location = /jwks {
            return 500;
        }
    }
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        add_header X-JWT-Cache $gateway_jwt_cache_status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks;
    }
    location = /_echo { return 200 "ok (reloaded)\n"; }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- response_headers
X-JWT-Cache: HIT
--- response_body
ok (reloaded)
--- no_error_log
fetching keys
