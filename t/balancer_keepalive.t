# Kept-alive upstream connections that the peer has closed (as a peer does
# when it is reloaded or restarted): nginx retries such a request on a new
# connection, on top of its usual tries, and the gateway balancer must let
# that retry reach the peer again, as nginx's round robin does.
#
# The peers answer the first request of a connection and close the
# connection without an answer on every later one (return 444), so every
# kept-alive connection the gateway reuses fails, deterministically.
#
# Ports: TEST_NGINX_SERVER_PORT for the gateway; TEST_NGINX_PEER_PORT
# (default: the server port + 50) and + 1 for peers.

BEGIN {
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    my $p = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_PEER_A} = $p;
    $ENV{TEST_NGINX_PEER_B} = $p + 1;
}

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_' . ($block->http_config // ''));
    map $connection_requests $reused {
        1        "";
        default  1;
    }
    map $server_port $peer {
        $TEST_NGINX_PEER_A  a;
        default             b;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        listen 127.0.0.1:$TEST_NGINX_PEER_B;
        location / {
            if ($reused) {
                return 444;
            }
            return 200 "$peer $connection_requests\n";
        }
    }
_EOC_

    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    add_header X-Upstream-Status $upstream_status always;
    add_header X-Circuit $gateway_circuit_state always;
_EOC_
});

run_tests();

__DATA__

=== TEST 1: one peer: the retry after a failed kept-alive connection reaches it
The second request gets the connection the first one left, which the peer
closes; it is retried once more on a new connection and answered.
--- http_config
    upstream one {
        gateway_balancer round_robin;
        gateway_circuit_breaker failures=1;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        keepalive 4;
    }
--- config
    location /t {
        proxy_pass http://one;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["a 1\n", "a 1\n", "a 1\n"]
--- response_headers eval
["X-Upstream-Status: 200", "X-Upstream-Status: 502, 200\nX-Circuit: closed",
 "X-Upstream-Status: 502, 200\nX-Circuit: closed"]
--- no_error_log
no live upstreams
gateway circuit



=== TEST 2: nginx's round robin in the same setup, for comparison
--- http_config
    upstream one_rr {
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        keepalive 4;
    }
--- config
    location /t {
        proxy_pass http://one_rr;
    }
--- request eval
["GET /t", "GET /t"]
--- response_body eval
["a 1\n", "a 1\n"]
--- response_headers eval
["X-Upstream-Status: 200\n!X-Circuit", "X-Upstream-Status: 502, 200"]
--- no_error_log
no live upstreams



=== TEST 3: two peers whose kept-alive connections both fail
Both peers leave a connection in the cache; the third request meets the
closed connection of each in turn, then gets a new one.
--- http_config
    upstream two {
        gateway_balancer round_robin;
        gateway_circuit_breaker failures=1;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        keepalive 4;
    }
--- config
    location /t {
        proxy_pass http://two;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["a 1\n", "b 1\n", qr/^[ab] 1\n$/]
--- response_headers eval
["X-Upstream-Status: 200", "X-Upstream-Status: 200",
 "X-Upstream-Status: 502, 502, 200"]
--- no_error_log
no live upstreams
gateway circuit
