# Upstream balancing with two workers: one shared peer table.
#
# Ports: TEST_NGINX_SERVER_PORT (default 1984) for the gateway, and
# TEST_NGINX_PEER_PORT (default: the server port + 50) .. +4 for peers and a second
# front server; override TEST_NGINX_PEER_PORT to move them all.

BEGIN {
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    my $p = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_PEER_A} = $p;
    $ENV{TEST_NGINX_PEER_B} = $p + 1;
    $ENV{TEST_NGINX_PEER_C} = $p + 2;
    $ENV{TEST_NGINX_FRONT_PORT} = $p + 4;
}

use Test::Nginx::Socket 'no_plan';

workers(2);
master_on();
no_shuffle();
run_tests();

__DATA__


=== TEST 1: weights 5,1,1 are exact across two workers
Every pick comes in on its own connection to a reuseport server, so the
kernel spreads them over both workers; they still share one table.

--- http_config
    upstream wrr2 {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A weight=5;
        server 127.0.0.1:$TEST_NGINX_PEER_B;
        server 127.0.0.1:$TEST_NGINX_PEER_C;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 200 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_C; return 200 "c"; }
    server {
        listen 127.0.0.1:$TEST_NGINX_FRONT_PORT reuseport;
        location / {
            proxy_pass http://wrr2;
            add_header X-Pid $pid;
        }
    }
--- config
    location = /seq {
        ssi on;
        ssi_types *;
        default_type text/plain;
        return 200 '<!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" --><!--# include virtual="/one" wait="yes" -->';
    }
    location = /one {
        proxy_pass http://127.0.0.1:$TEST_NGINX_FRONT_PORT/;
    }
--- request
GET /seq
--- response_body chomp
aabacaaaabacaa
--- no_error_log
[error]
