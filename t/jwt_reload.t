# nginx -s reload: keys fetched by gateway_jwt_key_request belong to the
# configuration that fetched them, so a reload that points the key location
# at another provider stops trusting the old provider's keys at once. The
# verified-token cache, keyed by the keys themselves, survives: the same
# keys fetched again still find the tokens verified with them.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$ENV{TEST_NGINX_JWT_KEYS} = keys_dir();
$ENV{TEST_NGINX_IDP_PORT} ||= ($ENV{TEST_NGINX_PORT} || 1984) + 103;

our %T;
$T{rsa1} = jwt('RS256', 'rsa1', { sub => 'alice', exp => time + 3600 }, { kid => 'rsa1' });
$T{rsa2} = jwt('RS256', 'rsa2', { sub => 'bob', exp => time + 3600 }, { kid => 'rsa2' });

# the provider serves rsa1 at /a and rsa2 at /b; each block's /_jwks picks one
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_');
    gateway_jwt_cache 1m;
    server {
        listen 127.0.0.1:$TEST_NGINX_IDP_PORT;
        location = /a { alias $TEST_NGINX_JWT_KEYS/rsa1.jwks; }
        location = /b { alias $TEST_NGINX_JWT_KEYS/rsa2.jwks; }
    }
_EOC_
    my $provider = $block->provider;
    $block->set_value('config', <<"_EOC_");
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        add_header X-JWT-Cache \$gateway_jwt_cache_status always;
        proxy_set_header X-Sub \$gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_IDP_PORT/$provider;
    }
    location = /_echo { return 200 "sub=\$http_x_sub\\n"; }
_EOC_
});

use_hup();
master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: keys fetched from provider a, a token verified and cached
--- provider: a
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- response_headers
X-JWT-Cache: MISS
--- response_body
sub=alice



=== TEST 2: a reload points /_jwks at provider b: provider a's token is refused at once
--- provider: b
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa2}"]
--- error_code eval
[401, 200]
--- response_body_like eval
["", "sub=bob"]



=== TEST 3: a reload back to provider a: its keys are fetched again and find the cached token
--- provider: a
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa2}"]
--- error_code eval
[200, 401]
--- response_headers eval
["X-JWT-Cache: HIT", ""]
--- no_error_log
fetching keys
