# Breaker state survives "nginx -s reload": every block below is loaded
# into the running nginx with SIGHUP (TEST_NGINX_USE_HUP), so the blocks
# run in order against one shared zone.
#
# Ports: TEST_NGINX_SERVER_PORT for the gateway; TEST_NGINX_PEER_PORT
# (default: the server port + 50) + 1 for a peer; TEST_NGINX_CLOSED_PORT
# (server port + 59) must
# have no listener.

BEGIN {
    $ENV{TEST_NGINX_USE_HUP} = 1;
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    $ENV{TEST_NGINX_PEER_B} = $ENV{TEST_NGINX_PEER_PORT} + 1;
    $ENV{TEST_NGINX_CLOSED_PORT} ||= $s + 59;
}

use Test::Nginx::Socket 'no_plan';

master_on();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    add_header X-Upstream $upstream_addr always;
    add_header X-Circuit $gateway_circuit_state always;
    location /t {
        proxy_pass http://backend;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: a refused connection opens the circuit
--- http_config
    upstream backend {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
--- request
GET /t
--- error_code: 502
--- error_log
opened after 1 failures



=== TEST 2: after a reload it is still open
--- http_config
    upstream backend {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
--- config
    add_header X-Block 2 always;
--- request
GET /t
--- error_code: 503
--- response_headers
X-Block: 2
X-Circuit: open
!X-Upstream
--- no_error_log
opened after



=== TEST 3: a peer added by a reload takes the traffic, the old one stays open
--- http_config
    upstream backend {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    add_header X-Block 3 always;
--- request eval
[("GET /t") x 3]
--- response_body eval
[("b") x 3]
--- response_headers eval
[("X-Block: 3\nX-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}") x 3]
--- no_error_log
opened after
connect() failed



=== TEST 4: breaker parameters may change; the state stays
--- http_config
    upstream backend {
        gateway_balancer least_conn;
        gateway_circuit_breaker failures=2 open=30s half_open=3;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    add_header X-Block 4 always;
--- request eval
[("GET /t") x 3]
--- response_headers eval
[("X-Block: 4\nX-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}") x 3]
--- no_error_log
connect() failed
