# JWT with two workers: keys fetched by one worker are used by the other,
# the verified-token cache is shared, answers are the same.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$ENV{TEST_NGINX_JWT_KEYS} = keys_dir();
$ENV{TEST_NGINX_IDP_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 110;

our %T;
my $exp = time + 3600;
$T{rsa1} = jwt('RS256', 'rsa1', { sub => 'alice', exp => $exp, roles => ['viewer'] }, { kid => 'rsa1' });
$T{rsa2} = jwt('RS256', 'rsa2', { sub => 'bob', exp => $exp, roles => ['admin'] }, { kid => 'rsa2' });
$T{bad} = jwt('RS256', 'rsa2', { sub => 'eve', exp => $exp }, { kid => 'rsa1' });

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
    server {
        listen 127.0.0.1:$TEST_NGINX_IDP_PORT;
        location = /jwks {
            default_type application/json;
            alias $TEST_NGINX_JWT_KEYS/rotation.jwks;
        }
    }
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
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks;
    }
    location = /_echo {
        return 200 "sub=$http_x_sub\n";
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
