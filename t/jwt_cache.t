# gateway_jwt_cache: verified tokens remembered in shared memory.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$T{rsa1} = token_by('rsa1', sub => 'alice');
$T{es} = jwt('ES256', 'ec256', { sub => 'carol', exp => time + 3600 });
$T{aud} = token_by('rsa1', sub => 'dan', aud => 'api');

add_echo_location();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the second use of a token is a cache hit
--- http_config
    gateway_jwt_cache 1m;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/ec256.pub;
        add_header X-JWT-Cache $gateway_jwt_cache_status;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa1}",
 "Authorization: Bearer $main::T{es}", "Authorization: Bearer $main::T{es}"]
--- response_body eval
["sub=alice\n", "sub=alice\n", "sub=carol\n", "sub=carol\n"]
--- response_headers eval
["X-JWT-Cache: MISS", "X-JWT-Cache: HIT", "X-JWT-Cache: MISS", "X-JWT-Cache: HIT"]



=== TEST 2: a cached token ends at its exp
The token expired an hour ago and a day's leeway still admits it: its entry
ends at its exp, so every use is verified again (a cache ignoring exp would
hit), and a location without leeway refuses it.
--- http_config
    gateway_jwt_cache 1m;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        gateway_jwt_leeway 1d;
        add_header X-JWT-Cache $gateway_jwt_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /strict {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        add_header X-JWT-Cache $gateway_jwt_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /strict"]
--- more_headers eval
do { my $t = JwtMint::token_by('rsa1', sub => 'late', exp => time - 3600);
     [("Authorization: Bearer $t") x 3] }
--- error_code eval
[200, 200, 401]
--- response_headers eval
[("X-JWT-Cache: MISS") x 3]



=== TEST 3: a token cached for one key set does not pass another
--- http_config
    gateway_jwt_cache 1m;
--- config
    location /a {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /b {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa2.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /c {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        gateway_jwt_algorithms ES256;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /a", "GET /a", "GET /b", "GET /c"]
--- more_headers eval
[("Authorization: Bearer $main::T{rsa1}") x 4]
--- error_code eval
[200, 200, 401, 401]



=== TEST 4: claims are checked on hits: a cached token without the audience fails
--- http_config
    gateway_jwt_cache 1m;
--- config
    location /any {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /aud {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        gateway_jwt_audience api;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /any", "GET /aud", "GET /any", "GET /aud"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa1}",
 "Authorization: Bearer $main::T{aud}", "Authorization: Bearer $main::T{aud}"]
--- error_code eval
[200, 401, 200, 200]



=== TEST 5: a tiny cache evicts and keeps working
--- http_config
    gateway_jwt_cache 32k;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
[("GET /t") x 40]
--- more_headers eval
[map { "Authorization: Bearer " . JwtMint::jwt('RS256', 'rsa1', { sub => "user$_", exp => time + 3600 }) } 1 .. 40]
--- error_code eval
[(200) x 40]
--- no_error_log
[alert]
[crit]



=== TEST 6: nginx -t: gateway_jwt_cache is http-level only
--- config
    location /t {
        gateway_jwt_cache 1m;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"gateway_jwt_cache" directive is not allowed here in .*nginx.conf:\d+}



=== TEST 7: nginx -t: a bad size
--- http_config
    gateway_jwt_cache lots;
--- config
    location /t { return 204; }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid size "lots" in .*nginx.conf:\d+}
