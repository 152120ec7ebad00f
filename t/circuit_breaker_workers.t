# Circuit breaker with two workers: one breaker per peer for the whole
# gateway. Requests are sent one per connection to a reuseport server, so
# the kernel spreads them over both workers.
#
# Ports: TEST_NGINX_SERVER_PORT for the gateway; TEST_NGINX_PEER_PORT
# (default: the server port + 50) for the peer and +4 for the reuseport front server;
# TEST_NGINX_BLACKHOLE_PORT (server port + 58) is held by this script and never
# answers.

BEGIN {
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    my $p = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_PEER_A} = $p;
    $ENV{TEST_NGINX_FRONT_PORT} = $p + 4;
    $ENV{TEST_NGINX_BLACKHOLE_PORT} ||= $s + 58;
}

use FindBin;
use lib $FindBin::Bin;
use Blackhole;

our $Blackhole = blackhole($ENV{TEST_NGINX_BLACKHOLE_PORT});

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    # the peer: "?fail=1" answers 500 "F" at once, anything else answers
    # 200 "T" after 5 s (ample time for the other requests of a burst to
    # arrive meanwhile); the front server answers "U" for our fail-fast 503
    $block->set_value('http_config', $block->http_config . <<'_EOC_');
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location / {
            if ($arg_fail) {
                return 500 "F";
            }
            proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
            proxy_read_timeout 5s;
            error_page 504 = @late;
        }
        location @late { return 200 "T"; }
    }
    server {
        listen 127.0.0.1:$TEST_NGINX_FRONT_PORT reuseport;
        location / {
            proxy_pass http://backend;
            proxy_read_timeout 15s;
            error_page 503 = @open;
        }
        location @open { return 200 "U"; }
    }
_EOC_

    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    location /f/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_FRONT_PORT/;
        proxy_read_timeout 15s;
    }
    location = /sleep {
        proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
        proxy_read_timeout 1200ms;
        error_page 504 = @slept;
    }
    location @slept {
        return 200 "slept";
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: failures from both workers count towards one breaker
--- http_config
    upstream backend {
        gateway_circuit_breaker failures=4 open=60s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
    location = /drive {
        ssi on;
        ssi_types *;
        return 200 '<!--# include virtual="/f/?fail=1" wait="yes" -->|<!--# include virtual="/f/?fail=1" wait="yes" -->|<!--# include virtual="/f/?fail=1" wait="yes" -->|<!--# include virtual="/f/?fail=1" wait="yes" -->|<!--# include virtual="/f/?fail=1" wait="yes" -->|<!--# include virtual="/f/?fail=1" wait="yes" -->';
    }
--- request
GET /drive
--- response_body chomp
F|F|F|F|U|U
--- error_log
opened after 4 failures



=== TEST 2: half-open admits exactly half_open trials across both workers
After the open period, seven requests arrive at once, on seven
connections; the two trials hang for 5 s while the five others are
refused at once; the trials succeed and close the circuit.
--- http_config
    upstream backend {
        gateway_circuit_breaker failures=1 open=1s half_open=2;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
    location = /drive {
        ssi on;
        ssi_types *;
        return 200 '<!--# include virtual="/f/?fail=1" wait="yes" -->|<!--# include virtual="/sleep" wait="yes" -->|<!--# include virtual="/f/1" -->|<!--# include virtual="/f/2" -->|<!--# include virtual="/f/3" -->|<!--# include virtual="/f/4" -->|<!--# include virtual="/f/5" -->|<!--# include virtual="/f/6" -->|<!--# include virtual="/f/7" wait="yes" -->';
    }
--- request
GET /drive
--- response_body_filters eval
# the seven answers in any order: T for a trial, U for a refusal
sub { my @a = split /\|/, $_[0]; CORE::join '|', @a[0, 1], CORE::join '', sort @a[2 .. $#a] }
--- response_body chomp
F|slept|TTUUUUU
--- timeout: 20
--- error_log
is half-open
closed after a successful trial
--- no_error_log
reopened
