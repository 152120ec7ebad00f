# The stats registry: what today's features count, read through
# $gateway_stats (the registry as Prometheus text). One nginx process, so
# a request is counted (in its log phase) before the next one is read;
# t/stats_workers.t sums over two workers.
#
# Every block uses its own route, zone and upstream names, so the file also
# runs under TEST_NGINX_USE_HUP (where the registry lives on across blocks).

use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

# a port nothing listens on (default: the server port + 59)
$ENV{TEST_NGINX_CLOSED_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 59;

$T{ok} = jwt('HS256', \'stats-secret', { sub => 'u', exp => time + 3600, roles => ['viewer'] });
$T{bad} = jwt('HS256', \'other-secret', { sub => 'u', exp => time + 3600 });
$T{expired} = jwt('HS256', \'stats-secret', { sub => 'u', exp => time - 3600 });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: requests by route, method and status class
--- config
    location /s1/a { return 200 "a\n"; }
    location = /s1/exact { return 404; }
    location ~ ^/s1/re { return 503; }
    location /s1/named {
        gateway_route s1-orders;
        return 204;
    }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s1/a", "GET /s1/a", "POST /s1/a", "HEAD /s1/a", "GET /s1/exact",
 "GET /s1/re7", "DELETE /s1/named", "GET /stats"]
--- error_code eval
[200, 200, 200, 200, 404, 503, 204, 200]
--- response_body_like eval
["a", "a", "a", "", "", "", "",
 qr/^gateway_http_requests_total\{route="\/s1\/a",method="GET",status="2xx"\} 2$
^gateway_http_requests_total\{route="\/s1\/a",method="HEAD",status="2xx"\} 1$
^gateway_http_requests_total\{route="\/s1\/a",method="POST",status="2xx"\} 1$
^gateway_http_requests_total\{route="= \/s1\/exact",method="GET",status="4xx"\} 1$
^gateway_http_requests_total\{route="~ \^\/s1\/re",method="GET",status="5xx"\} 1$
^gateway_http_requests_total\{route="s1-orders",method="DELETE",status="2xx"\} 1$/m]
--- no_error_log
[error]



=== TEST 2: the text is Prometheus's: one HELP and TYPE per family, no empty cells
--- config
    location /s2 { return 200 "a\n"; }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s2", "GET /stats"]
--- response_body_like eval
["a", qr/\A# HELP gateway_http_requests_total [^\n]+\n# TYPE gateway_http_requests_total counter\n(?:gateway_http_requests_total\{[^\n]+\} [1-9][0-9]*\n)+# HELP gateway_http_request_duration_seconds [^\n]+\n# TYPE gateway_http_request_duration_seconds histogram\n(?:gateway_http_request_duration_seconds_[^\n]+\n)+# HELP gateway_http_requests_in_flight [^\n]+\n# TYPE gateway_http_requests_in_flight gauge\ngateway_http_requests_in_flight 1\n# HELP gateway_metrics_dropped_total [^\n]+\n# TYPE gateway_metrics_dropped_total counter\ngateway_metrics_dropped_total 0\n\z/]



=== TEST 3: a server's gateway_route names its locations, $gateway_route shows it
--- config
    gateway_route s3-server;
    location /s3/in { add_header X-Route $gateway_route; return 200 "a\n"; }
    location /s3/own {
        gateway_route s3-own;
        add_header X-Route $gateway_route;
        return 200 "b\n";
    }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s3/in", "GET /s3/own", "GET /stats"]
--- response_headers eval
["X-Route: s3-server", "X-Route: s3-own", ""]
--- response_body_like eval
["a", "b", qr/route="s3-server",method="GET",status="2xx"\} 1\n.*route="s3-own",method="GET",status="2xx"\} 1\n/s]



=== TEST 4: rate-limit decisions per zone
--- http_config
    gateway_rate_limit_zone s4 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
    gateway_rate_limit_zone s4dry key=$binary_remote_addr rate=1r/m burst=1 size=1m;
--- config
    location /s4 {
        gateway_rate_limit s4;
        gateway_rate_limit s4dry dry_run;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back { return 200 "ok\n"; }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s4", "GET /s4", "GET /s4", "GET /stats"]
--- error_code eval
[200, 200, 429, 200]
--- response_body_like eval
["ok", "ok", "", qr/^gateway_rate_limit_results_total\{zone="s4",result="passed"\} 2$
^gateway_rate_limit_results_total\{zone="s4",result="rejected"\} 1$
^gateway_rate_limit_results_total\{zone="s4dry",result="passed"\} 1$
^gateway_rate_limit_results_total\{zone="s4dry",result="rejected_dry_run"\} 2$/m]



=== TEST 5: circuit breaker transitions per peer
--- http_config
    upstream s5 {
        gateway_circuit_breaker failures=2 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
--- config
    location /s5 { proxy_pass http://s5; }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s5", "GET /s5", "GET /s5", "GET /stats"]
--- error_code eval
[502, 502, 503, 200]
--- response_body_like eval
["", "", "", qr/^gateway_circuit_transitions_total\{upstream="s5",peer="127\.0\.0\.1:\d+",to="open"\} 1$
(?s:.*)^gateway_circuit_state\{upstream="s5",peer="127\.0\.0\.1:\d+"\} 2$/m]
--- no_error_log
[alert]



=== TEST 6: a Redis that cannot be reached counts its failures
--- http_config
    gateway_redis s6r 127.0.0.1:$TEST_NGINX_CLOSED_PORT connect_timeout=2s;
    gateway_rate_limit_zone s6 key=$binary_remote_addr rate=10r/m size=1m redis=s6r;
--- config
    location /s6 {
        gateway_rate_limit s6;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back { return 200 "ok\n"; }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s6", "GET /stats"]
--- response_body_like eval
["ok", qr/^gateway_redis_errors_total\{redis="s6r"\} [1-9][0-9]*$/m]



=== TEST 7: a full zone drops the series it cannot hold and counts them
--- http_config
    gateway_metrics_zone 32k;
--- config eval
CORE::join "\n", (map { "location /s7/l$_ { return 200 \"$_\\n\"; }" } 1 .. 120),
           'location = /stats { return 200 $gateway_stats; }';
--- request eval
["GET /s7/l1", "GET /s7/l120", "GET /stats"]
--- error_code eval
[200, 200, 200]
--- response_body_like eval
["1", "120", qr/^gateway_metrics_dropped_total [1-9][0-9]*$/m]



=== TEST 8: gateway_metrics_zone too small is refused
--- http_config
    gateway_metrics_zone 1k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*invalid zone size "1k", at least \d+ in .*nginx\.conf:\d+/



=== TEST 9: JWT and RBAC results per route
--- http_config
    gateway_rbac_role viewer orders:read;
--- config
    location /s9 {
        gateway_route s9-orders;
        gateway_jwt "api";
        gateway_jwt_secret "stats-secret";
        gateway_authorize orders:$gateway_action;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back { return 200 "ok\n"; }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /s9", "GET /s9", "GET /s9", "GET /s9", "DELETE /s9", "GET /stats"]
--- more_headers eval
["Authorization: Bearer $main::T{ok}", "", "Authorization: Bearer $main::T{bad}",
 "Authorization: Bearer $main::T{expired}", "Authorization: Bearer $main::T{ok}", ""]
--- error_code eval
[200, 401, 401, 401, 403, 200]
--- response_body_like eval
["ok", "", "", "", "", qr/^gateway_jwt_results_total\{route="s9-orders",result="ok"\} 2$
^gateway_jwt_results_total\{route="s9-orders",result="missing"\} 1$
^gateway_jwt_results_total\{route="s9-orders",result="invalid"\} 1$
^gateway_jwt_results_total\{route="s9-orders",result="expired"\} 1$
^gateway_jwt_results_total\{route="s9-orders",result="forbidden"\} 1$/m]
