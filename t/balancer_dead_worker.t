# A worker killed in the middle of a request (SIGKILL here; a crash alike)
# leaves nothing behind in the balancer's shared table: the worker nginx
# starts in its place gives back what the dead one held, so a peer's
# max_conns and a half-open circuit do not wait for answers that will never
# come.
#
# Each block's init (after nginx started, before the block's request) sends
# a request that the peer holds open (its /hang proxies to a listener of
# this script that never answers), waits until that listener has accepted
# it, kills the only worker and waits for nginx to start another.
#
# Ports: TEST_NGINX_SERVER_PORT for the gateway; TEST_NGINX_PEER_PORT
# (default: the server port + 50) for the peer; TEST_NGINX_BLACKHOLE_PORT
# (server port + 58) is
# held by this script.

BEGIN {
    my $s = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_PEER_PORT} ||= $s + 50;
    $ENV{TEST_NGINX_PEER_A} = $ENV{TEST_NGINX_PEER_PORT};
    $ENV{TEST_NGINX_BLACKHOLE_PORT} ||= $s + 58;
}

use IO::Select;
use IO::Socket::INET;
use FindBin;
use lib $FindBin::Bin;
use Blackhole;

our $Blackhole = blackhole($ENV{TEST_NGINX_BLACKHOLE_PORT});

use Test::Nginx::Socket 'no_plan';

master_on();
workers(1);
no_shuffle();

our @Held;

sub send_request {
    my $uri = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(),
                                  Timeout => 10)
        or die "cannot connect: $!";
    print $s "GET $uri HTTP/1.0\r\nHost: localhost\r\n\r\n";
    return $s;
}

sub get {
    my $s = send_request(shift);
    local $/;
    my $response = <$s>;
    return $response // '';
}

sub worker_pid {
    my ($pid) = get('/pid') =~ /\r\n\r\n(\d+)$/;
    return $pid;
}

# sends GET /hang until the peer holds one open (the blackhole accepted
# its connection); a request answered at once (while a circuit is open)
# is sent again
sub hang {
    my $deadline = time + 30;
    while (time < $deadline) {
        my $s = send_request('/hang');
        my $ready = IO::Select->new($Blackhole, $s);
        for my $fh ($ready->can_read(5)) {
            if ($fh == $Blackhole) {
                push @Held, $s, scalar $Blackhole->accept;
                return;
            }
        }
        close $s;
        select undef, undef, undef, 0.2;
    }
    die "no request reached the blackhole";
}

sub kill_worker {
    my $pid = worker_pid() or die "no worker pid";
    kill KILL => $pid;
    my $deadline = time + 30;
    while (time < $deadline) {
        my $new = eval { worker_pid() };
        return if $new && $new != $pid;
        select undef, undef, undef, 0.1;
    }
    die "no new worker after killing $pid";
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', <<'_EOC_' . ($block->http_config // ''));
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_A;
        location /hang {
            proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
            proxy_read_timeout 300s;
        }
        location /fail {
            return 502;
        }
        location / {
            return 200 "peer\n";
        }
    }
_EOC_

    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    location = /pid {
        return 200 $pid;
    }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: the place a dead worker held under max_conns is free again
--- http_config
    upstream full {
        gateway_balancer round_robin;
        server 127.0.0.1:$TEST_NGINX_PEER_A max_conns=1;
    }
--- config
    location ~ ^/(t|hang)$ {
        proxy_pass http://full;
    }
--- init
main::hang();
main::kill_worker();
--- request
GET /t
--- response_body
peer
--- error_log
gateway balancer of upstream "full": 1 requests of a process that exited abnormally no longer count
--- no_error_log
no live upstreams



=== TEST 2: a half-open trial a dead worker held goes to another request
The circuit opens on a 502, the first request after its open period is
the trial, and its worker is killed before the peer answers.
--- http_config
    upstream trial {
        gateway_balancer round_robin;
        gateway_circuit_breaker failures=1 open=1s;
        server 127.0.0.1:$TEST_NGINX_PEER_A;
    }
--- config
    location ~ ^/(t|hang|fail)$ {
        proxy_pass http://trial;
    }
--- init
main::get('/fail');
main::hang();
main::kill_worker();
--- request
GET /t
--- response_body
peer
--- error_log
gateway balancer of upstream "trial": 1 requests of a process that exited abnormally no longer count
closed after a successful trial
