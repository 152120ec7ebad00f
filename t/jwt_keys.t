# gateway_jwt_key_request: a JWKS fetched by subrequest from a mocked
# identity provider (JwtMint's idp_server), shared in memory, refetched for
# an unknown kid, kept when the provider fails.
#
# A block without a location /t of its own gets key_request_config's, with
# the lines of its "jwt_directives" section in /t.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my $p = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
$ENV{TEST_NGINX_SLOW_PORT} ||= $p + 111;     # accepts, never answers
$ENV{TEST_NGINX_DEAD_PORT} ||= $p + 119;     # nothing listens there

$T{rsa1} = token_by('rsa1', sub => 'alice');
$T{rsa2} = token_by('rsa2', sub => 'bob');
$T{rsa9} = jwt('RS256', 'rsa2', { sub => 'eve', exp => time + 3600 }, { kid => 'rsa9' });
$T{ec} = token_by('ec256', sub => 'carol');

# the JWKS the provider serves is picked by the client's ?set= argument
# (the key subrequest carries none of the client's headers, but sees its
# $request_uri), so one test can rotate keys
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', ($block->http_config // '') . <<'_EOC_' . idp_server());
    map $request_uri $jwks_set {
        "~[?&]set=(?<set>\w+)"  $set;
    }
_EOC_
    my $config = $block->config // '';
    $config = key_request_config('/jwks/$jwks_set', $block->jwt_directives) . $config
        unless $config =~ m{^\s*location /t\b}m;
    $block->set_value('config', $config . echo_location() . <<'_EOC_');
    location = /pause {
        # about 2s: nginx sends this slowly
        limit_rate 100;
        return 200 "......................................................................................................................................................\n";
    }
_EOC_
});

no_shuffle();
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: keys are fetched on first use, then served from memory
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_set_header Authorization "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/$jwks_set;
        access_log logs/jwks.log;
    }
--- request eval
["GET /t?set=rotation", "GET /t?set=rotation", "GET /t?set=broken"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}",
 "Authorization: Bearer $main::T{rsa2}",
 "Authorization: Bearer $main::T{rsa1}"]
--- response_body eval
["sub=alice\n", "sub=bob\n", "sub=alice\n"]
--- no_error_log
[error]



=== TEST 2: an unknown kid refetches (key rotation), at most once per 30s
--- request eval
["GET /t?set=rsa1", "GET /t?set=rotation", "GET /t?set=all", "GET /t?set=all"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}",
 "Authorization: Bearer $main::T{rsa2}",
 "Authorization: Bearer $main::T{ec}",
 "Authorization: Bearer $main::T{rsa9}"]
--- error_code eval
[200, 200, 401, 401]
--- response_headers_like eval
["", "", 'error_description="unknown key id"', 'error_description="unknown key id"']



=== TEST 3: the provider is down: 401, the failure is logged
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_DEAD_PORT/jwks;
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- error_code: 401
--- error_log
gateway jwt: fetching keys from "/_jwks" failed: status 502; no keys yet



=== TEST 4: the provider returns garbage or an empty set: 401
--- request eval
["GET /t?set=garbage", "GET /t?set=empty"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}",
 "Authorization: Bearer $main::T{rsa1}"]
--- error_code eval
[401, 401]
--- error_log eval
[qr/fetching keys from "\/_jwks" failed: invalid JSON/]



=== TEST 5: a slow provider times out: 401, no hang
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_read_timeout 500ms;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SLOW_PORT/jwks;
    }
--- tcp_listen: $TEST_NGINX_SLOW_PORT
--- tcp_no_close
--- tcp_reply_delay: 5s
--- tcp_reply
HTTP/1.0 200 OK\r\n\r\n{}
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- error_code: 401
--- error_log
upstream timed out
fetching keys from "/_jwks" failed
--- timeout: 5



=== TEST 6: stale keys are refreshed; a failed refresh keeps the old keys
--- jwt_directives: gateway_jwt_key_cache 1s;
--- request eval
["GET /t?set=rsa1", "GET /pause", "GET /t?set=broken", "GET /pause", "GET /t?set=rsa2"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}",
 "",
 "Authorization: Bearer $main::T{rsa1}",
 "",
 "Authorization: Bearer $main::T{rsa1}"]
--- error_code eval
[200, 200, 200, 200, 401]
--- timeout: 10



=== TEST 7: the client's body and method do not reach the provider
--- request
POST /t?set=rsa1
hello
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- error_code: 200



=== TEST 8: a HEAD request fetches the keys' body all the same
--- request
HEAD /t?set=rsa1
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- error_code: 200



=== TEST 9: the JWKS from a location served by this nginx (no files)
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        return 200 '{"keys":[{"kty":"EC","kid":"ec256","crv":"P-256","x":"NYOghmIhfQc7w3VTbvkVHThgtzpboPA6EdInHPEqwsU","y":"Z72qdQfr2MpUVmrzlocjlMfeZiRNE044jbq7OKBgHa4"}]}';
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{ec}"
--- response_body
sub=carol



=== TEST 10: key_request with arguments
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks?set=rsa2;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/$arg_set;
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa2}"
--- response_body
sub=bob



=== TEST 11: nginx -t: key_request needs a local URI
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request http://idp/jwks;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid URI "http://idp/jwks", expected a local URI such as "/_jwks" in .*nginx.conf:\d+}



=== TEST 12: with the verified-token cache, changed keys still end a cached token
--- http_config
    gateway_jwt_cache 1m;
--- jwt_directives
gateway_jwt_key_cache 1s;
add_header X-JWT-Cache $gateway_jwt_cache_status always;
--- request eval
["GET /t?set=rsa1", "GET /t?set=rsa1", "GET /pause", "GET /t?set=broken", "GET /pause", "GET /t?set=rsa2"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}",
 "Authorization: Bearer $main::T{rsa1}",
 "",
 "Authorization: Bearer $main::T{rsa1}",
 "",
 "Authorization: Bearer $main::T{rsa1}"]
--- error_code eval
[200, 200, 200, 200, 200, 401]
--- response_headers eval
["X-JWT-Cache: MISS", "X-JWT-Cache: HIT", "", "X-JWT-Cache: HIT", "", "X-JWT-Cache: MISS"]
--- timeout: 15
