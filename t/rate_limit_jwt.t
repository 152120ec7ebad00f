# Rate limiting after JWT and RBAC: a limit keyed on a verified claim, and
# requests refused by JWT or RBAC take nothing from the quota.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my $exp = time + 3600;
$T{alice} = jwt('HS256', \'rl-secret', { sub => 'alice', exp => $exp, roles => ['viewer'] });
$T{bob} = jwt('HS256', \'rl-secret', { sub => 'bob', exp => $exp, roles => ['viewer'] });
$T{mallory} = jwt('HS256', \'wrong', { sub => 'alice', exp => $exp, roles => ['viewer'] });
$T{guest} = jwt('HS256', \'rl-secret', { sub => 'alice', exp => $exp, roles => ['guest'] });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one quota per verified subject
--- http_config
    gateway_rbac_role viewer orders:read;
    gateway_rate_limit_zone jwt1 key=$gateway_jwt_claim_sub rate=1r/m burst=2 size=1m;
--- config
    location /orders {
        gateway_jwt "api";
        gateway_jwt_secret "rl-secret";
        gateway_authorize orders:$gateway_action;
        gateway_rate_limit jwt1;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[("GET /orders") x 8]
--- more_headers eval
[main::bearer('alice'), main::bearer('mallory'), main::bearer('guest'), "",
 main::bearer('alice'), main::bearer('alice'), main::bearer('bob'), main::bearer('bob')]
--- error_code eval
[200, 401, 403, 401, 200, 429, 200, 200]
--- response_headers_like eval
["RateLimit: \"jwt1\";r=1;t=\\d+", "!RateLimit", "!RateLimit", "!RateLimit",
 "RateLimit: \"jwt1\";r=0;t=\\d+", "Retry-After: \\d+", "RateLimit: \"jwt1\";r=1;t=\\d+",
 "RateLimit: \"jwt1\";r=0;t=\\d+"]
