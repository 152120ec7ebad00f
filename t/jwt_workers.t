# JWT with two workers: keys fetched by one worker are used by the other,
# the verified-token cache is shared, answers are the same.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$T{rsa1} = token_by('rsa1', sub => 'alice', roles => ['viewer']);
$T{rsa2} = token_by('rsa2', sub => 'bob', roles => ['admin']);
$T{bad} = jwt('RS256', 'rsa2', { sub => 'eve', exp => time + 3600 }, { kid => 'rsa1' });

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $block->http_config . idp_server());
});
add_echo_location();

workers(2);
master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: key_request, cache and RBAC across two workers
--- http_config
    gateway_jwt_cache 1m;
    gateway_rbac_role viewer orders:read;
    gateway_rbac_role admin *:*;
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        gateway_authorize orders:$gateway_action;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/rotation;
    }
--- request eval
[("GET /orders", "DELETE /orders", "GET /orders", "DELETE /orders") x 6]
--- more_headers eval
[("Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa1}",
  "Authorization: Bearer $main::T{rsa2}", "Authorization: Bearer $main::T{bad}") x 6]
--- error_code eval
[(200, 403, 200, 401) x 6]
--- no_error_log
[error]
[alert]
[crit]
