# Consul discovery across "nginx -s reload" and "nginx -s quit", with two
# workers and a blocking query in flight (wait=60s): the old workers exit
# at once, the published set survives a reload even with Consul down, the
# new workers' first query does not block on the old index (Consul may have
# restarted, or gone back, meanwhile), a new service starts from the
# configured servers, and quit is prompt. The
# blocks are loaded into one running nginx with SIGHUP (TEST_NGINX_USE_HUP).
#
# Ports (P: TEST_NGINX_SERVER_PORT, default 1984): the double at P+20,
# peers a and b at P+31 and P+32, the configured server at P+34.

BEGIN {
    $ENV{TEST_NGINX_USE_HUP} = 1;
    my $p = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_CONSUL_PORT} ||= $p + 20;
    $ENV{TEST_NGINX_PEER_A} = $p + 31;
    $ENV{TEST_NGINX_PEER_B} = $p + 32;
    $ENV{TEST_NGINX_BOOT_PORT} = $p + 34;
}

use FindBin;
use lib "$FindBin::Bin/consul";

use ConsulDouble;
use GatewayClient qw(get sample wait_for);
use Time::HiRes qw(sleep time);

use Test::Nginx::Socket 'no_plan';

BEGIN {
    unless (ConsulDouble::python()) {
        require Test::More;
        Test::More::plan(skip_all => 'python3 is not installed');
    }
}

our $Consul = ConsulDouble->new(port => $ENV{TEST_NGINX_CONSUL_PORT})->start;

sub serves {
    my ($want) = @_;
    return wait_for(30, sub {
        my $seen = sample('/t', 12);
        return join(' ', sort keys %$seen) eq $want;
    });
}

# lines of the whole error log matching $re
sub logged {
    my ($re) = @_;
    open my $fh, '<', $Test::Nginx::Util::ErrLogFile or return 0;
    return scalar grep { /$re/ } <$fh>;
}

master_on();
workers(2);
no_shuffle();

# the upstream of every block, unless the block has its own
my $web = <<'_EOC_';
    upstream backend {
        gateway_consul web server=127.0.0.1:$TEST_NGINX_CONSUL_PORT wait=60s;
        server 127.0.0.1:$TEST_NGINX_BOOT_PORT;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', ($block->http_config // $web) . <<'_EOC_');
    server { listen 127.0.0.1:$TEST_NGINX_PEER_A; return 200 "a"; }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_B; return 200 "b"; }
    server { listen 127.0.0.1:$TEST_NGINX_BOOT_PORT; return 200 "boot"; }
_EOC_
    $block->set_value('config', <<'_EOC_');
    location /t { proxy_pass http://backend; }
_EOC_
    $block->set_value('request', "GET /t\n");
    $block->set_value('init', "package main; our \$Consul;\n" . $block->init)
        if defined $block->init;
});

run_tests();

# nginx -s quit with a blocking query in flight: nginx is gone at once, not
# when the query's wait (60s) runs out
{
    $Consul->start unless $Consul->running;
    $Consul->register(id => 'a', service => 'api', port => $ENV{TEST_NGINX_PEER_A});
    ok(serves('a'), 'before quit: Consul\'s set');
    my $pid = do { local @ARGV = ($Test::Nginx::Util::PidFile); <> };
    chomp $pid;
    my $t0 = time;
    kill 'QUIT', $pid;
    ok(wait_for(30, sub { !kill 0, $pid }), 'nginx quits at once')
        or kill 'KILL', $pid;
    diag(sprintf 'quit took %.2f s', time - $t0);
    is(logged(qr/\[(alert|crit|emerg)\]/), 0, 'without alerts');
}

$Consul->stop;

__DATA__

=== TEST 1: Consul's set, with a blocking query of 60s in flight
--- init
$Consul->clear;
$Consul->register(id => 'a', port => $ENV{TEST_NGINX_PEER_A});
ok(serves('a'), 'Consul\'s set serves');
ok(wait_for(30, sub { grep { ($_->{query}{wait}[0] // '') eq '60s' }
                      @{ $Consul->requests } }), 'a blocking query waits');
# the reload of the next block happens with Consul down: the set must
# come from the zone, not from a quick answer
$Consul->stop;
--- response_body: a



=== TEST 2: a reload: the old workers exit at once, the set stays
--- init
ok(wait_for(30, sub { logged(qr/worker process \d+ exited with code 0/) >= 2 }),
   'the old workers, one of them blocked on Consul, are gone');
ok(serves('a'), 'the published set survived the reload, Consul down');
$Consul->start;
$Consul->clear;
$Consul->register(id => 'b', port => $ENV{TEST_NGINX_PEER_B});
ok(serves('b'), 'the new workers poll');
--- response_body: b



=== TEST 3: Consul's index goes back while a query blocks on a higher one
--- init
$Consul->clear_requests;
$Consul->reset_index(1000);
ok(wait_for(30, sub { grep { ($_->{query}{index}[0] // '') eq '1000' }
                      @{ $Consul->requests } }), 'a query blocks on index 1000');
# a restored snapshot (or a Consul restarted with its data lost): the
# blocked query does not answer, nobody has seen the lower index yet
$Consul->reset_index(1);
--- response_body: b



=== TEST 4: after a reload, the first query does not block on the old index
--- init
$Consul->clear;
$Consul->register(id => 'a', port => $ENV{TEST_NGINX_PEER_A});
ok(serves('a'), 'the new workers see the change (a query on index 1000 '
   . 'would wait 60s)');
--- response_body: a



=== TEST 5: a reload to another service starts from the configured servers
--- http_config
    upstream backend {
        gateway_consul api server=127.0.0.1:$TEST_NGINX_CONSUL_PORT wait=60s;
        server 127.0.0.1:$TEST_NGINX_BOOT_PORT;
    }
--- init
ok(serves('boot'), 'service "api" has no instance: the configured server');
--- response_body: boot
