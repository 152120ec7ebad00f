# Upstream balancing: smooth weighted round robin and least connections
# over real upstream servers (nginx server blocks in the same instance).
#
# Ports: TEST_NGINX_SERVER_PORT (default 1984) for the gateway, and
# TEST_NGINX_PEER_PORT (default: the server port + 50) .. +4 for peers and a second
# front server; override TEST_NGINX_PEER_PORT to move them all.
# TEST_NGINX_BLACKHOLE_PORT (default: the server port + 58) is held by this script and
# never answers. (Not + 40: with the default 1984 that is 2024, which the CI
# machine's own agent listens on.)

BEGIN {
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    my $p = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_PEER_A} = $p;
    $ENV{TEST_NGINX_PEER_B} = $p + 1;
    $ENV{TEST_NGINX_PEER_C} = $p + 2;
    $ENV{TEST_NGINX_FRONT_PORT} = $p + 4;
    $ENV{TEST_NGINX_BLACKHOLE_PORT} ||= $s + 58;
}

use FindBin;
use lib $FindBin::Bin;
use Blackhole;

# a peer that accepts and never answers
our $Blackhole = blackhole($ENV{TEST_NGINX_BLACKHOLE_PORT});

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




=== TEST 2: $gateway_upstream_peer names the peer chosen
--- http_config
    upstream vars {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 200 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    location /t {
        proxy_pass http://vars;
        add_header X-Peer $gateway_upstream_peer;
        add_header X-Circuit $gateway_circuit_state;
    }
    location /none {
        return 200 "[$gateway_upstream_peer][$gateway_circuit_state]";
    }
--- request eval
["GET /t", "GET /t", "GET /none"]
--- response_body eval
["a", "b", "[][]"]
--- response_headers eval
["X-Peer: 127.0.0.1:$ENV{TEST_NGINX_PEER_A}\nX-Circuit: closed",
 "X-Peer: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}\nX-Circuit: closed",
 "!X-Peer"]



=== TEST 3: least_conn sends new requests away from a slow peer
A mirrored request stays on peer a for 5 s; the four requests made one at
a time while it hangs all go to b.
--- http_config
    upstream lc {
        gateway_balancer least_conn;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
            proxy_read_timeout 5s;
            error_page 504 = @late;
        }
        location @late { return 200 "a"; }
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    location /lc {
        proxy_pass http://lc;
    }
    location = /drive.html {
        mirror /lc;
        ssi on;
        root html;
    }
--- user_files
>>> drive.html
<!--# include virtual="/lc" wait="yes" -->|<!--# include virtual="/lc" wait="yes" -->|<!--# include virtual="/lc" wait="yes" -->|<!--# include virtual="/lc" wait="yes" -->
--- request
GET /drive.html
--- response_body
b|b|b|b
--- timeout: 15



=== TEST 4: round_robin in the same situation alternates
--- http_config
    upstream rr {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
            proxy_read_timeout 200ms;
            error_page 504 = @late;
        }
        location @late { return 200 "a"; }
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    location /rr {
        proxy_pass http://rr;
    }
    location = /drive.html {
        mirror /rr;
        ssi on;
        root html;
    }
--- user_files
>>> drive.html
<!--# include virtual="/rr" wait="yes" -->|<!--# include virtual="/rr" wait="yes" -->|<!--# include virtual="/rr" wait="yes" -->|<!--# include virtual="/rr" wait="yes" -->
--- request
GET /drive.html
--- response_body
b|a|b|a



=== TEST 5: least_conn honours weights
--- http_config
    upstream lcw {
        gateway_balancer least_conn;
        server 127.0.0.1:$TEST_NGINX_PEER_A weight=3;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 200 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    location /t {
        proxy_pass http://lcw;
    }
--- request eval
[("GET /t") x 8]
--- response_body eval
[qw(a a b a a a b a)]



=== TEST 6: keepalive declared after the balancer reuses connections
Each peer answers with the number of requests its connection has carried.
--- http_config
    upstream ka {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        return 200 "a$connection_requests";
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_B;
        return 200 "b$connection_requests";
    }
--- config
    location /t {
        proxy_pass http://ka;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
--- request eval
[("GET /t") x 6]
--- response_body eval
[qw(a1 b1 a2 b2 a3 b3)]



=== TEST 7: keepalive with the breaker and an upstream zone
--- http_config
    upstream kaz {
        zone kaz 64k;
        gateway_balancer least_conn;
        gateway_circuit_breaker;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        keepalive 2;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        return 200 "a$connection_requests";
    }
--- config
    location /t {
        proxy_pass http://kaz;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
--- request eval
[("GET /t") x 3]
--- response_body eval
[qw(a1 a2 a3)]



=== TEST 8: unknown balancing method
--- http_config
    upstream bad {
        gateway_balancer random;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid balancing method "random", it must be "round_robin" or "least_conn" in .*nginx\.conf:\d+/



=== TEST 9: bad breaker parameters
--- http_config
    upstream bad {
        gateway_circuit_breaker failures=0;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "failures=0" in .*nginx\.conf:\d+/



=== TEST 10: half_open must be at least 1
--- http_config
    upstream bad {
        gateway_circuit_breaker half_open=0;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "half_open=0"/



=== TEST 11: open must be a time
--- http_config
    upstream bad {
        gateway_circuit_breaker open=soon;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "open=soon"/



=== TEST 12: 404 can never be a failure
--- http_config
    upstream bad {
        gateway_circuit_breaker statuses=500,404;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*status 404 in "statuses=500,404" is never a peer failure/



=== TEST 13: statuses are 4xx or 5xx codes
--- http_config
    upstream bad {
        gateway_circuit_breaker statuses=500,,502;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid status "" in "statuses=500,,502", it must be a code from 400 to 599/



=== TEST 14: max_open shorter than open
--- http_config
    upstream bad {
        gateway_circuit_breaker open=30s max_open=10s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"max_open" must not be shorter than "open"/



=== TEST 15: unknown parameter
--- http_config
    upstream bad {
        gateway_circuit_breaker failures=3 interval=10s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid parameter "interval=10s"/



=== TEST 16: duplicate directive
--- http_config
    upstream bad {
        gateway_circuit_breaker;
        gateway_circuit_breaker failures=2;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"gateway_circuit_breaker" directive is duplicate/



=== TEST 17: max_fails after the balancer is rejected
--- http_config
    upstream bad {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A max_fails=3;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*balancing method does not support parameter "max_fails=3"/



=== TEST 18: fail_timeout before the balancer is rejected
--- http_config
    upstream bad {
        server 127.0.0.1:$TEST_NGINX_PEER_A fail_timeout=5s;
        gateway_circuit_breaker;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"max_fails" and "fail_timeout" of server "127\.0\.0\.1:\d+" are not supported with the gateway balancer, use "gateway_circuit_breaker"/



=== TEST 19: keepalive must come after (before nginx 1.29.7; see TEST 22)
--- skip_nginx: 2: >= 1.29.7
--- http_config
    upstream bad {
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        keepalive 4;
        gateway_balancer round_robin;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"gateway_balancer" must come before "keepalive" and cannot be combined with another balancing method/



=== TEST 20: another balancing method after ours is an error, not a silent switch
--- http_config
    upstream bad {
        gateway_circuit_breaker;
        least_conn;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*the gateway balancer of upstream "bad" in .*nginx\.conf:\d+ was replaced by another balancing method/



=== TEST 21: only inside upstream
--- config
    location /t {
        gateway_balancer round_robin;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"gateway_balancer" directive is not allowed here/



=== TEST 22: from nginx 1.29.7 keepalive may come first: it wraps the balancer at the end
--- skip_nginx: 6: < 1.29.7
--- http_config
    upstream kafirst {
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        keepalive 4;
        gateway_balancer round_robin;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        return 200 "a$connection_requests";
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_B;
        return 200 "b$connection_requests";
    }
--- config
    location /t {
        proxy_pass http://kafirst;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
--- request eval
[("GET /t") x 3]
--- response_body eval
[qw(a1 b1 a2)]
