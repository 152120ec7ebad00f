# Circuit breaker of the gateway balancer, one worker: real peers (nginx
# server blocks), a closed port (connection refused) and a listener that
# accepts and never answers (timeouts).
#
# Ports: TEST_NGINX_SERVER_PORT for the gateway; TEST_NGINX_PEER_PORT
# (default: the server port + 50) .. +4 for peers and a second front server;
# TEST_NGINX_BLACKHOLE_PORT (server port + 58) is held by this script and never
# answers; TEST_NGINX_CLOSED_PORT (+ 59) must have no listener.
#
# Every block gets, from the preprocessor below:
#   - headers X-Upstream ($upstream_addr), X-Circuit, X-Peer on every reply;
#   - nginx's own 502/503/504 pages replaced by "E502" etc. (status kept);
#   - GET /sleep, which returns after 6 s without any module: longer than
#     the blocks' open=5s, which in turn gives a busy machine seconds for
#     the checks that must come while a circuit is open;
#   - with a "# drive: URI ..." line in --- config, GET /drive requests
#     those URIs one after the other (SSI) and returns their bodies joined
#     with "|", so one request can check a sequence and the error log.

BEGIN {
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    my $p = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_PEER_A} = $p;
    $ENV{TEST_NGINX_PEER_B} = $p + 1;
    $ENV{TEST_NGINX_PEER_C} = $p + 2;
    $ENV{TEST_NGINX_FRONT_PORT} = $p + 4;
    $ENV{TEST_NGINX_BLACKHOLE_PORT} ||= $s + 58;
    $ENV{TEST_NGINX_CLOSED_PORT} ||= $s + 59;
}

use FindBin;
use lib $FindBin::Bin;
use Blackhole;

# accepted by the kernel, never read, never answered
our $Blackhole = blackhole($ENV{TEST_NGINX_BLACKHOLE_PORT});

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    my $config = $block->config // '';

    if ($config =~ /^\s*# drive:\s*(.+)$/m) {
        my $ssi = join '|', map { qq{<!--# include virtual="$_" wait="yes" -->} }
                            split ' ', $1;
        $config .= <<_EOC_;
    location = /drive {
        ssi on;
        ssi_types *;
        return 200 '$ssi';
    }
_EOC_
    }

    $block->set_value('config', <<'_EOC_' . $config);
    add_header X-Upstream $upstream_addr always;
    add_header X-Circuit $gateway_circuit_state always;
    add_header X-Peer $gateway_upstream_peer always;

    error_page 502 /e502;
    error_page 503 /e503;
    error_page 504 /e504;
    location = /e502 { internal; return 200 "E502"; }
    location = /e503 { internal; return 200 "E503"; }
    location = /e504 { internal; return 200 "E504"; }

    location = /sleep {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
        proxy_read_timeout 6s;
        error_page 504 = @slept;
    }
    location @slept {
        return 200 "slept";
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: connection refused opens the circuit, then 503 without connecting
--- http_config
    upstream refused {
        gateway_circuit_breaker failures=3 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
--- config
    location /t {
        proxy_pass http://refused;
    }
--- request eval
[("GET /t") x 5]
--- error_code eval
[502, 502, 502, 503, 503]
--- response_headers eval
[("X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_CLOSED_PORT}\nX-Circuit: closed\nX-Peer: 127.0.0.1:$ENV{TEST_NGINX_CLOSED_PORT}") x 3,
 ("!X-Upstream\nX-Circuit: open\n!X-Peer") x 2]



=== TEST 2: the same, seen in the log: 3 connects, one warning for 2 rejections
--- http_config
    upstream refused {
        gateway_circuit_breaker failures=3 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
--- config
    # drive: /t /t /t /t /t
    location /t {
        proxy_pass http://refused;
    }
--- request
GET /drive
--- response_body chomp
E502|E502|E502|E503|E503
--- error_log eval
[qr/gateway circuit of peer 127\.0\.0\.1:\d+ in upstream "refused" opened after 3 failures, for 60000 ms/,
 qr/\[warn\] .*every peer of upstream "refused" has an open gateway circuit, answering 503/]
--- grep_error_log eval: qr/answering 503|connect\(\) failed/
--- grep_error_log_out
connect() failed
connect() failed
connect() failed
answering 503



=== TEST 3: timeouts count
--- http_config
    upstream hang {
        gateway_circuit_breaker failures=2 open=60s;
        server 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    }
--- config
    # drive: /t /t /t
    location /t {
        proxy_pass http://hang;
        proxy_read_timeout 200ms;
    }
--- request
GET /drive
--- response_body chomp
E504|E504|E503
--- error_log
upstream timed out
opened after 2 failures



=== TEST 4: a listed status on the last try counts
Every try is the last one here: proxy_next_upstream does not cover 503,
so nginx never reports the peer as failed; the balancer reads the status.
--- http_config
    upstream busy {
        gateway_circuit_breaker failures=2 open=60s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        return 503 "busy";
    }
--- config
    location /t {
        proxy_pass http://busy;
    }
--- request eval
[("GET /t") x 3]
--- error_code eval
[503, 503, 503]
--- response_body eval
["busy", "busy", "E503"]
--- response_headers eval
["X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_A}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_A}", "!X-Upstream"]



=== TEST 5: a listed status counts on every try of a retried request
--- http_config
    upstream busy2 {
        gateway_circuit_breaker failures=2 open=60s statuses=500,503;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 503 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 500 "b"; }
--- config
    location /t {
        proxy_pass http://busy2;
        proxy_next_upstream error timeout http_503 http_500;
    }
--- request eval
[("GET /t") x 3]
--- error_code eval
[500, 503, 503]
--- response_body eval
["b", "a", "E503"]
--- response_headers eval
["X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_A}, 127.0.0.1:$ENV{TEST_NGINX_PEER_B}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}, 127.0.0.1:$ENV{TEST_NGINX_PEER_A}",
 "!X-Upstream"]



=== TEST 6: 404 never counts, statuses not listed do not either
--- http_config
    upstream missing {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location /gone { return 404 "gone"; }
        location /teapot { return 418 "teapot"; }
    }
--- config
    location /gone { proxy_pass http://missing; }
    location /teapot { proxy_pass http://missing; }
--- request eval
["GET /gone", "GET /gone", "GET /teapot", "GET /teapot", "GET /gone"]
--- error_code eval
[404, 404, 418, 418, 404]
--- response_headers eval
[("X-Circuit: closed") x 5]
--- no_error_log
opened after
answering 503



=== TEST 7: a 404 retried with proxy_next_upstream does not count
--- http_config
    upstream missing2 {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 404 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 404 "b"; }
--- config
    location /t {
        proxy_pass http://missing2;
        proxy_next_upstream error timeout http_404;
    }
--- request eval
[("GET /t") x 2]
--- error_code eval
[404, 404]
--- response_headers eval
["X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_A}, 127.0.0.1:$ENV{TEST_NGINX_PEER_B}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}, 127.0.0.1:$ENV{TEST_NGINX_PEER_A}"]
--- no_error_log
opened after



=== TEST 8: retries never go to an open peer
--- http_config
    upstream mixed {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        server 127.0.0.1:$TEST_NGINX_PEER_C;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_C; return 200 "c"; }
--- config
    location /t {
        proxy_pass http://mixed;
    }
--- request eval
[("GET /t") x 5]
--- response_body eval
["b", "c", "b", "c", "b"]
--- response_headers eval
["X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_CLOSED_PORT}, 127.0.0.1:$ENV{TEST_NGINX_PEER_B}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_C}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_C}",
 "X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}"]



=== TEST 9: half-open after the open period, a successful trial closes it
--- http_config
    upstream flaky {
        gateway_circuit_breaker failures=1 open=5s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location / {
            if ($arg_fail) {
                return 500 "failed";
            }
            return 200 "ok";
        }
    }
--- config
    location /t {
        proxy_pass http://flaky;
    }
--- request eval
["GET /t?fail=1", "GET /t", "GET /sleep", "GET /t", "GET /t"]
--- error_code eval
[500, 503, 200, 200, 200]
--- response_body eval
["failed", "E503", "slept", "ok", "ok"]
--- response_headers eval
["X-Circuit: closed", "X-Circuit: open", "", "X-Circuit: half_open",
 "X-Circuit: closed"]
--- timeout: 20



=== TEST 10: the same, seen in the log
--- http_config
    upstream flaky {
        gateway_circuit_breaker failures=1 open=5s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location / {
            if ($arg_fail) {
                return 500 "failed";
            }
            return 200 "ok";
        }
    }
--- config
    # drive: /t?fail=1 /t /sleep /t /t
    location /t {
        proxy_pass http://flaky;
    }
--- request
GET /drive
--- response_body chomp
failed|E503|slept|ok|ok
--- timeout: 20
--- error_log
opened after 1 failures, for 5000 ms
is half-open
closed after a successful trial



=== TEST 11: a failed trial reopens it for twice as long
--- http_config
    upstream flaky2 {
        gateway_circuit_breaker failures=1 open=5s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location / {
            if ($arg_fail) {
                return 502 "failed";
            }
            return 200 "ok";
        }
    }
--- config
    # drive: /t?fail=1 /sleep /t?fail=1 /sleep /t
    location /t {
        proxy_pass http://flaky2;
    }
--- request
GET /drive
--- response_body chomp
failed|slept|failed|slept|E503
--- timeout: 30
--- error_log
opened after 1 failures, for 5000 ms
reopened after a failed trial, for 10000 ms



=== TEST 12: backup peers take over when every primary is open
--- http_config
    upstream withbackup {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
        server 127.0.0.1:$TEST_NGINX_PEER_B backup;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "backup"; }
--- config
    location /t {
        proxy_pass http://withbackup;
    }
--- request eval
[("GET /t") x 3]
--- response_body eval
[("backup") x 3]
--- response_headers eval
["X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_CLOSED_PORT}, 127.0.0.1:$ENV{TEST_NGINX_PEER_B}",
 ("X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}") x 2]



=== TEST 13: the client going away says nothing about the peer
--- http_config
    upstream slow {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
    }
--- config
    location /t {
        proxy_pass http://slow;
        proxy_read_timeout 10s;
    }
--- request
GET /t
--- timeout: 0.3
--- abort
--- ignore_response
--- wait: 2
--- error_log
client prematurely closed connection
--- no_error_log
opened after



=== TEST 14: a peer that is down is never chosen; all down is not "open"
--- http_config
    upstream withdown {
        gateway_circuit_breaker;
        server 127.0.0.1:$TEST_NGINX_PEER_A down;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 200 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    location /t {
        proxy_pass http://withdown;
    }
--- request eval
[("GET /t") x 3]
--- response_body eval
[("b") x 3]



=== TEST 15: an upstream zone works alongside
--- http_config
    upstream zoned {
        zone zoned 64k;
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
        server 127.0.0.1:$TEST_NGINX_PEER_B weight=2;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
--- config
    location /t {
        proxy_pass http://zoned;
        proxy_next_upstream off;
    }
--- request eval
[("GET /t") x 5]
--- error_code eval
[200, 502, 200, 200, 200]
--- response_headers eval
[("X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}"),
 ("X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_CLOSED_PORT}"),
 ("X-Upstream: 127.0.0.1:$ENV{TEST_NGINX_PEER_B}") x 3]



=== TEST 16: a half-open trial is decided by its response header
The trial's answer streams for 10 s; its header has closed the circuit
long before, so a request made 2 s into it reaches the peer.
--- http_config
    upstream streamy {
        gateway_circuit_breaker failures=1 open=5s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location /fail { return 500 "failed"; }
        location /quick { return 200 "quick"; }
        location = /stream.html {
            ssi on;
            root html;
            postpone_output 0;
        }
        location /slow {
            proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
            proxy_read_timeout 10s;
            error_page 504 = @done;
        }
        location @done { return 200 "done"; }
    }
--- config
    location /up/ {
        proxy_pass http://streamy/;
        proxy_ignore_client_abort on;
    }
    # the trial, on a connection of its own that stays open
    location = /bg {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/up/stream.html;
    }
    location = /short-sleep {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
        proxy_read_timeout 2s;
        error_page 504 = @slept;
    }
    location = /drive.html {
        mirror /bg;
        ssi on;
        root html;
    }
--- user_files
>>> stream.html
streaming <!--# include virtual="/slow" -->
>>> drive.html
<!--# include virtual="/short-sleep" wait="yes" -->|<!--# include virtual="/up/quick" wait="yes" -->
--- request eval
["GET /up/fail", "GET /sleep", "GET /drive.html"]
--- error_code eval
[500, 200, 200]
--- response_body eval
["failed", "slept", "slept|quick\n"]
--- timeout: 30
--- no_error_log
reopened



=== TEST 17: every *_pass module fails fast on an open upstream
--- http_config
    upstream refused {
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_CLOSED_PORT;
    }
--- config
    location /t { proxy_pass http://refused; }
    location /fastcgi { fastcgi_pass refused; }
    location /scgi { scgi_pass refused; }
    location /uwsgi { uwsgi_pass refused; }
    location /grpc { grpc_pass grpc://refused; }
    location /memcached {
        set $memcached_key $uri;
        memcached_pass refused;
    }
--- request eval
["GET /t", "GET /fastcgi", "GET /scgi", "GET /uwsgi", "GET /grpc",
 "GET /memcached"]
--- error_code eval
[502, 503, 503, 503, 503, 503]
--- response_headers eval
["X-Circuit: closed", ("!X-Upstream\nX-Circuit: open") x 5]
