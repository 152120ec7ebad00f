# Upstream balancing: smooth weighted round robin and least connections
# over real upstream servers (nginx server blocks in the same instance).
#
# Ports: TEST_NGINX_SERVER_PORT (default 1984) for the gateway, and
# TEST_NGINX_PEER_PORT (default 2301) .. +4 for peers and a second
# front server; override TEST_NGINX_PEER_PORT to move them all.

BEGIN {
    $ENV{TEST_NGINX_PEER_PORT} ||= 2301;
    my $p = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_PEER_A} = $p;
    $ENV{TEST_NGINX_PEER_B} = $p + 1;
    $ENV{TEST_NGINX_PEER_C} = $p + 2;
    $ENV{TEST_NGINX_FRONT_PORT} = $p + 4;
}

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: weights 5,1,1 give 5,1,1 in every 7 picks (one worker)
--- http_config
    upstream wrr {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A weight=5;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        server 127.0.0.1:$TEST_NGINX_PEER_C;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 200 "a\n"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b\n"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_C; return 200 "c\n"; }
--- config
    location /t {
        proxy_pass http://wrr;
        add_header X-Peer $gateway_upstream_peer;
        add_header X-Circuit $gateway_circuit_state;
    }
--- request eval
[("GET /t") x 14]
--- response_body eval
[map { "$_\n" } qw(a a b a c a a a a b a c a a)]
--- response_headers eval
[("X-Circuit: closed") x 14]
--- no_error_log
[error]
