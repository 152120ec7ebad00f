# Consul discovery (gateway_consul) against the Consul API double
# (t/consul/consul_double.py), with two workers: peers appear, change
# weight, disappear and come back without a reload, and traffic follows;
# Consul down at start (servers or dump file) and later (last set kept);
# tokens; every fault switch of the double. Changes are waited for by
# polling with a generous deadline, never by sleeping.
#
# Each block's "consul" section sets the double's catalog up before nginx
# starts (the catalog is emptied first); its "init" drives and checks what
# happens once nginx runs. A block without an upstream of its own gets
#
#     upstream backend {
#         gateway_consul web server=127.0.0.1:$TEST_NGINX_CONSUL_PORT ARGS;
#         server 127.0.0.1:$TEST_NGINX_BOOT_PORT;
#     }
#
# where ARGS is its "consul_args" section (a server= there replaces the
# double's address).
#
# Ports (P: TEST_NGINX_SERVER_PORT, default 1984): the double at P+20, one
# with ACLs at P+21, a DNS server at P+22, peers a, b, c at P+31..P+33 (also
# on [::1] when the host has it), the configured server at P+34, a peer
# answering 500 at P+35, a slow one at P+36, a listener that never answers
# at P+37.

BEGIN {
    my $p = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
    $ENV{TEST_NGINX_CONSUL_PORT} ||= $p + 20;
    $ENV{TEST_NGINX_CONSUL_ACL_PORT} ||= $p + 21;
    $ENV{TEST_NGINX_DNS_PORT} ||= $p + 22;
    $ENV{TEST_NGINX_PEER_A} = $p + 31;
    $ENV{TEST_NGINX_PEER_B} = $p + 32;
    $ENV{TEST_NGINX_PEER_C} = $p + 33;
    $ENV{TEST_NGINX_BOOT_PORT} = $p + 34;
    $ENV{TEST_NGINX_PEER_BAD} = $p + 35;
    $ENV{TEST_NGINX_PEER_SLOW} = $p + 36;
    $ENV{TEST_NGINX_BLACKHOLE_PORT} = $p + 37;
}

use FindBin;
use lib "$FindBin::Bin/consul", "$FindBin::Bin/harness";

use ConsulDouble;
use GatewayClient qw(get sample wait_for error_log_mark error_log_since
                     ipv6_loopback);
use Time::HiRes qw(sleep time);

use Test::Nginx::Socket 'no_plan';

our ($Consul, $Acl, $Dns, $Ipv6);

BEGIN {
    unless (ConsulDouble::python()) {
        require Test::More;
        Test::More::plan(skip_all => 'python3 is not installed');
    }
}

$Consul = ConsulDouble->new(port => $ENV{TEST_NGINX_CONSUL_PORT})->start;
$Acl = ConsulDouble->new(port => $ENV{TEST_NGINX_CONSUL_ACL_PORT},
                         tokens => ['mgmt=write', 'reader=web',
                                    'other=api'])->start;
$Ipv6 = ipv6_loopback();

our %Port = (a => $ENV{TEST_NGINX_PEER_A}, b => $ENV{TEST_NGINX_PEER_B},
             c => $ENV{TEST_NGINX_PEER_C}, bad => $ENV{TEST_NGINX_PEER_BAD},
             slow => $ENV{TEST_NGINX_PEER_SLOW});

# register('a', weight => 3, ...): instance "a" of service "web" at peer a
sub register {
    my ($name, %o) = @_;
    ($o{consul} || $Consul)->register(id => $name, port => $Port{$name}, %o);
}

sub deregister { my ($name) = @_; $Consul->deregister($name) }

# the peers that answered n requests, as "a:3 b:1"
sub answered {
    my ($n) = @_;
    my $seen = sample('/t', $n || 20);
    return join ' ', map { "$_:$seen->{$_}" } sort keys %$seen;
}

# waits until n requests in a row are answered by exactly these peers
sub serves {
    my ($want, $n) = @_;
    my %want = map { $_ => 1 } split ' ', $want;
    return wait_for(30, sub {
        my $seen = sample('/t', $n || 12);
        return join(' ', sort keys %$seen) eq join(' ', sort keys %want);
    });
}

sub log_has {
    my ($mark, $re) = @_;
    return wait_for(30, sub { error_log_since($mark) =~ $re });
}

workers(2);
master_on();
no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;

    # the double as the block wants it, before nginx asks it anything
    $Consul->start unless $Consul->running;
    $Consul->clear;
    $Acl->clear;
    if (defined(my $code = $block->consul)) {
        eval $code;
        die "consul section of ", $block->name, ": $@" if $@;
    }

    my $http = $block->http_config // '';
    if ($http !~ /^\s*upstream backend\b/m) {
        my $args = $block->consul_args // '';
        $args = "server=127.0.0.1:\$TEST_NGINX_CONSUL_PORT $args"
            unless $args =~ /\bserver=/;
        $args =~ s/\s+$//;
        $http .= <<"_EOC_";
    upstream backend {
        gateway_consul web $args;
        server 127.0.0.1:\$TEST_NGINX_BOOT_PORT;
    }
_EOC_
    }

    my $v6 = $Ipv6 ? '' : '#';
    $block->set_value('http_config', $http . <<"_EOC_");
    server { listen 127.0.0.1:\$TEST_NGINX_PEER_A; ${v6}listen [::1]:\$TEST_NGINX_PEER_A;
             return 200 "a"; }
    server { listen 127.0.0.1:\$TEST_NGINX_PEER_B; ${v6}listen [::1]:\$TEST_NGINX_PEER_B;
             return 200 "b"; }
    server { listen 127.0.0.1:\$TEST_NGINX_PEER_C; return 200 "c"; }
    server { listen 127.0.0.1:\$TEST_NGINX_BOOT_PORT; return 200 "boot"; }
_EOC_

    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    location /t {
        proxy_pass http://backend;
        add_header X-Peer $gateway_upstream_peer always;
    }
_EOC_

    # init runs in Test::Nginx's package: ours is where its helpers are
    $block->set_value('init', "package main; our (\$Consul, \$Acl, %Port);\n"
                              . $block->init)
        if defined $block->init;

    $block->set_value('request', "GET /t\n") unless defined $block->request;
    $block->set_value('no_error_log', "[alert]\n[crit]\n[emerg]\n")
        unless defined $block->no_error_log;
});

run_tests();

$Consul->stop;
$Acl->stop;

__DATA__

=== TEST 1: peers appear without a reload, and traffic follows
The configured server answers until Consul has passing instances.
--- consul_args: wait=10s
--- init
ok(serves('boot'), 'the configured server answers while Consul has none');
register('a');
ok(serves('a'), 'the instance registered in Consul takes the traffic');
register('b');
ok(serves('a b'), 'and the next one');
--- response_body_like: ^[ab]$
--- error_log
reports no passing instance
1 peers at index
2 peers at index



=== TEST 2: weights come from Service.Weights.Passing and follow changes
--- consul_args: wait=10s
--- consul
register('a', weight => 1);
register('b', weight => 3);
--- init
ok(serves('a b'), 'both serve');
# one table for the whole gateway: 40 picks in a row are 10 and 30
like(answered(40), qr/^a:(9|10|11) b:(29|30|31)$/, 'weights 1 and 3');
register('a', weight => 3);
ok(wait_for(30, sub { answered(40) =~ /^a:(19|20|21) b:/ }),
   'a new weight is followed');
register('b', weight => 0);
ok(serves('a', 20), 'weight 0: no traffic');
--- response_body: a



=== TEST 3: a peer that leaves Consul gets no traffic, and comes back
--- consul_args: wait=10s
--- consul
register('a');
register('b');
--- init
ok(serves('a b'), 'both serve');
deregister('b');
ok(serves('a', 20), 'a deregistered instance leaves');
register('b');
ok(serves('a b'), 'and comes back');
$Consul->check('a', 'critical');
ok(serves('b', 20), 'a failing check takes its instance out');
$Consul->check('a', 'warning');
ok(serves('b', 20), 'warning is not passing');
$Consul->check('a', 'passing');
ok(serves('a b'), 'passing again: back');
--- response_body_like: ^[ab]$



=== TEST 4: Consul down at start: the configured servers, then Consul's set
--- consul
$Consul->stop;
--- consul_args: wait=10s
--- init
my $mark = 0;
ok(log_has($mark, qr/cannot connect/), 'Consul is down');
ok(serves('boot', 20), 'the configured server answers');
$Consul->start;
register('a');
ok(serves('a'), 'Consul is back: its set');
--- response_body: a
--- error_log eval
qr/gateway_consul "web" of upstream "backend" \(127\.0\.0\.1:\d+\): cannot connect: Connection refused; the last good set of peers is kept/



=== TEST 5: a dump file newer than the configuration is the first set
Consul is down: the peers of the dump answer, not the configured server.
--- consul
$Consul->stop;
--- user_files
>>> web.peers 203001011200.00
# the last good peer set of a gateway_consul service, written by ngx_http_gateway_module
gateway_consul_dump 1
service web
index 77
peer 127.0.0.1:$TEST_NGINX_PEER_C 1
end 1
--- consul_args: dump=html/web.peers
--- init
ok(serves('c', 20), 'the dumped peer answers');
--- response_body: c
--- error_log eval
qr/upstream "backend" starts with the 1 peers of dump file ".*web\.peers" \(Consul index 77\)/



=== TEST 6: a dump file older than the configuration is not used
--- consul
$Consul->stop;
--- user_files
>>> web.peers 201001011200.00
gateway_consul_dump 1
service web
index 77
peer 127.0.0.1:$TEST_NGINX_PEER_C 1
end 1
--- consul_args: dump=html/web.peers
--- init
ok(serves('boot', 20), 'the configured server answers');
--- response_body: boot
--- error_log eval
qr/dump file ".*web\.peers" is older than the configuration, upstream "backend" starts with its servers/



=== TEST 7: a damaged dump file is reported and not used
--- consul
$Consul->stop;
--- user_files
>>> web.peers 203001011200.00
gateway_consul_dump 1
service web
index 77
peer 127.0.0.1:$TEST_NGINX_PEER_C 1
--- consul_args: dump=html/web.peers
--- init
ok(serves('boot', 20), 'the configured server answers');
--- response_body: boot
--- error_log eval
qr/dump file ".*web\.peers" is not used: line 5: the file ends before its "end" line/



=== TEST 8: each change is written to the dump file
--- consul
register('a', weight => 2);
--- consul_args: dump=html/web.peers
--- init
my $dump = "$Test::Nginx::Util::ServRoot/html/web.peers";
ok(serves('a'), 'a serves');
ok(wait_for(30, sub { -f $dump && `cat $dump` =~ /^peer 127\.0\.0\.1:$Port{a} 2$/m }),
   'the dump holds it');
register('b');
ok(wait_for(30, sub { -f $dump && `cat $dump` =~ /^peer 127\.0\.0\.1:$Port{b} 1\nend 2\n\z/m }),
   'and the next set, whole');
--- response_body_like: ^[ab]$



=== TEST 9: Consul down later: the last set is kept, and followed again after
--- consul
register('a');
--- consul_args: wait=10s
--- init
ok(serves('a'), 'a serves');
my $mark = error_log_mark();
$Consul->stop;
ok(log_has($mark, qr/the last good set of peers is kept/), 'Consul is down');
ok(serves('a', 20), 'the last set still serves');
# a Consul restarted empty (a lost catalog) is not followed either
$Consul->start;
ok(log_has($mark, qr/reports no passing instance/), 'Consul is back, empty');
ok(serves('a', 20), 'the last set still serves');
register('b');
ok(serves('b'), 'its set once it has one');
--- response_body: b



=== TEST 10: empty=allow follows Consul down to no peer at all
--- consul
register('a');
--- http_config
    upstream backend {
        gateway_consul web server=127.0.0.1:$TEST_NGINX_CONSUL_PORT wait=10s
                       empty=allow;
        server 127.0.0.1:$TEST_NGINX_BOOT_PORT;
        server 127.0.0.1:$TEST_NGINX_PEER_C backup;
    }
--- init
ok(serves('a'), 'a serves');
deregister('a');
ok(serves('c', 20), 'no instance: the backup server answers');
--- response_body: c
--- error_log
0 peers at index



=== TEST 11: a token Consul does not know: 403 is logged, the servers stay
--- consul_args: server=127.0.0.1:$TEST_NGINX_CONSUL_ACL_PORT token=wrong
--- consul
register('a', consul => $Acl);
--- init
ok(log_has(0, qr/Consul answered: 403 ACL not found/), 'refused');
ok(serves('boot', 20), 'the configured server answers');
--- response_body: boot
--- error_log eval
qr/gateway_consul "web" of upstream "backend" \(127\.0\.0\.1:\d+\): Consul answered: 403 ACL not found; the last good set of peers is kept/



=== TEST 12: the token goes in X-Consul-Token
--- consul_args: server=127.0.0.1:$TEST_NGINX_CONSUL_ACL_PORT token=reader
--- consul
register('a', consul => $Acl);
--- init
ok(serves('a'), 'the service is read with the token');
# the last query is this nginx's (the previous block's may come first)
is($Acl->requests->[-1]{token}, 'reader', 'sent in a header');
unlike($Acl->requests->[-1]{query}{token} // '', qr/reader/,
       'not in the URL, where logs would show it');
--- response_body: a



=== TEST 13: a token that may not read the service sees none: the servers stay
--- consul_args: server=127.0.0.1:$TEST_NGINX_CONSUL_ACL_PORT token=other
--- consul
register('a', consul => $Acl);
--- init
ok(log_has(0, qr/reports no passing instance/), 'filtered to nothing');
ok(serves('boot', 20), 'the configured server answers');
--- response_body: boot



=== TEST 14: errors, malformed replies, hangs and closed connections keep the set
--- consul_args: wait=2s
--- consul
register('a');
--- init
ok(serves('a'), 'a serves');
for my $fault (qw(error500 malformed hang close)) {
    my $mark = error_log_mark();
    $Consul->clear_requests;
    $Consul->fault($fault);
    # a change Consul cannot deliver while the fault lasts
    register('b');
    ok(wait_for(30, sub { @{ $Consul->requests } >= 2 }), "$fault: queried");
    ok(serves('a', 20), "$fault: the last set is kept");
    $Consul->fault($fault, 0);
    ok(serves('a b'), "$fault: the change arrives once the fault is gone");
    deregister('b');
    ok(serves('a'), "$fault: and the next one");
}
--- response_body: a
--- error_log eval
[qr/Consul answered: 500 rpc error making call: No cluster leader/,
 qr/no answer within timeout/]



=== TEST 15: a Consul that never blocks is not hammered
--- consul
register('a');
$Consul->fault('never_block');
--- init
ok(serves('a'), 'a serves');
$Consul->clear_requests;
my $t0 = time;
sleep 5;
my $n = @{ $Consul->requests };
my $took = time - $t0;
# a burst of 3, then one a second: without the limit it would be thousands
cmp_ok($n, '<=', 3 + $took + 2, "$n queries in $took s");
--- response_body: a



=== TEST 16: an index that goes backwards starts over
--- consul_args: wait=2s
--- consul
register('c') for 1 .. 5;
register('a');
--- init
ok(serves('a c'), 'a and c serve');
$Consul->reset_index(2);
ok(log_has(0, qr/the Consul index went back from \d+ to 2, starting over/),
   'the reset is noticed');
deregister('c');
ok(serves('a'), 'and changes after it are followed');
--- response_body: a



=== TEST 17: no valid X-Consul-Index: queries block on index 1
--- consul
register('a');
$Consul->fault('index_zero');
--- init
ok(serves('a'), 'a serves');
ok(wait_for(30, sub { grep { ($_->{query}{index}[0] // '') eq '1' }
                      @{ $Consul->requests } }), 'blocking on index 1');
$Consul->fault('index_zero', 0);
$Consul->fault('no_index');
register('b');
ok(serves('a b'), 'a reply without the header still counts');
--- response_body_like: ^[ab]$
--- error_log
sent no valid X-Consul-Index, queries block on index 1



=== TEST 18: an empty Service.Address means the node's address
The service's own address has no listener; the node's has.
--- consul
register('a', address => '127.0.0.2', node_address => '127.0.0.1');
$Consul->fault('empty_service_address');
--- init
ok(serves('a'), 'the node address serves');
--- response_body: a
--- response_headers_like
X-Peer: ^127\.0\.0\.1:\d+$



=== TEST 19: IPv6 addresses
--- consul
register('a');
$Consul->fault('ipv6');
--- init
ok(serves('a'), 'a serves over IPv6');
--- response_body: a
--- response_headers_like
X-Peer: ^\[::1\]:\d+$
--- skip_eval: 1: !$::Ipv6



=== TEST 20: entries without Checks are taken; duplicates are merged
One address registered twice (weights 1 and 3) is one peer of weight 3,
not two peers.
--- consul
$Consul->register(id => 'a1', node => 'n1', port => $Port{a}, weight => 1);
$Consul->register(id => 'a2', node => 'n2', port => $Port{a}, weight => 3);
register('b', weight => 3);
$Consul->fault('missing_checks');
$Consul->fault('duplicates');
--- init
ok(serves('a b'), 'both serve');
like(answered(40), qr/^a:(19|20|21) b:(19|20|21)$/, 'as weights 3 and 3');
--- response_body_like: ^[ab]$
--- error_log
2 peers at index



=== TEST 21: a reply in small chunks
--- consul
register('a', meta => { padding => 'x' x 3000 });
register('b');
$Consul->fault('tiny_chunks');
--- init
ok(serves('a b'), 'both serve');
--- response_body_like: ^[ab]$



=== TEST 22: more instances than max_peers: the lowest addresses, and a warning
--- consul_args: max_peers=2
--- consul
register($_) for qw(a b c);
--- init
ok(serves('a b'), 'the two lowest ports serve');
--- response_body_like: ^[ab]$
--- error_log
Consul returned more than max_peers=2 peers, the 2 lowest addresses are used



=== TEST 23: host names without a resolver are left out, with a reason
--- consul
register('a');
register('b', address => 'web-b.consul.test');
--- init
ok(serves('a'), 'the address serves');
--- response_body: a
--- error_log
peer "web-b.consul.test" is a host name and no "resolver" is defined at http level, it is left out



=== TEST 24: host names are resolved with nginx's resolver
--- http_config
    resolver 127.0.0.1:$TEST_NGINX_DNS_PORT valid=1s;
--- consul
require GatewayHarness;
$::Dns = GatewayHarness::Dns->new(port => $ENV{TEST_NGINX_DNS_PORT},
                                    address => '127.0.0.1')->start;
register('b', address => 'web-b.consul.test');
--- init
ok(serves('b'), 'the name serves');
$::Dns->stop;
--- response_body: b
--- response_headers_like
X-Peer: ^127\.0\.0\.1:\d+$



=== TEST 25: peers that stay keep their breaker
The peer answering 500 opens its circuit; a peer joining leaves it open.
--- http_config
    upstream backend {
        gateway_consul web server=127.0.0.1:$TEST_NGINX_CONSUL_PORT;
        gateway_circuit_breaker failures=1 open=60s;
        server 127.0.0.1:$TEST_NGINX_BOOT_PORT;
    }
    server { listen 127.0.0.1:$TEST_NGINX_PEER_BAD; return 500 "bad"; }
--- consul
register('bad');
--- init
ok(wait_for(30, sub { get('/t') eq 'bad' }), 'the bad peer answers');
ok(log_has(0, qr/circuit of peer 127\.0\.0\.1:\d+ in upstream "backend" opened/),
   'its circuit opens');
register('a');
ok(serves('a', 20), 'a joins, the open circuit stays open');
--- response_body: a



=== TEST 26: a request in flight to a removed peer finishes normally
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_SLOW;
        location / {
            proxy_pass http://127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT;
            proxy_read_timeout 5s;
            error_page 504 = @late;
        }
        location @late { return 200 "slow"; }
    }
--- consul
require GatewayHarness;
$::Blackhole = GatewayHarness::Blackhole->new(
                   port => $ENV{TEST_NGINX_BLACKHOLE_PORT})->start;
register('slow');
--- init
require IO::Socket::INET;
ok(wait_for(30, sub {
    # the slow peer is in the set once a request no longer gets "boot" at once
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => GatewayClient::port()) or return 0;
    print $s "GET /t HTTP/1.0\r\n\r\n";
    my $ready = '';
    vec($ready, fileno($s), 1) = 1;
    if (select($ready, undef, undef, 1)) { return 0 }
    $::InFlight = $s;
    return 1;
}), 'a request is held by the slow peer');
deregister('slow');
register('a');
ok(serves('a'), 'the slow peer left the set');
my $s = $::InFlight;
local $/;
my $reply = <$s>;
like($reply, qr{^HTTP/1\.1 200 .*\r\n\r\nslow\z}s, 'the held request finishes');
$::Blackhole->stop;
--- response_body: a



=== TEST 27: updates, errors, the index and the peers are counted
--- consul_args: wait=2s
--- config
    location = /stats {
        return 200 $gateway_stats;
    }
--- consul
register('a');
--- init
ok(serves('a'), 'a serves');
register('b');
ok(serves('a b'), 'a and b serve');
$Consul->fault('error500');
ok(wait_for(30, sub { get('/stats') =~ /^gateway_consul_errors_total\{upstream="backend",service="web"\} [1-9]/m }),
   'an error is counted');
$Consul->fault('error500', 0);
my $index = $Consul->health('web')->{headers}{'x-consul-index'};
ok(wait_for(30, sub { get('/stats') =~ /^gateway_consul_index\{upstream="backend",service="web"\} $index$/m }),
   'the index is Consul\'s');
--- request
GET /stats
--- response_body_like eval
qr/^gateway_consul_updates_total\{upstream="backend",service="web"\} 2\n.*^# TYPE gateway_consul_index gauge\n.*^gateway_consul_peers\{upstream="backend",service="web"\} 2$/ms



=== TEST 28: a peer Consul removed has no series any more; the status shows the set
--- consul_args: wait=2s
--- config
    location = /metrics { gateway_metrics; }
    location = /status { gateway_status; }
--- consul
register('a');
register('b');
--- init
ok(serves('a b'), 'a and b serve');
my $up = 'gateway_upstream_peer_up{upstream="backend",peer="127.0.0.1:%d"}';
my ($a, $b) = map { sprintf $up, $Port{$_} } qw(a b);
like(get('/metrics'), qr/^\Q$b\E 1$/m, 'b has a series');
deregister('b');
ok(serves('a'), 'b left the set');
ok(wait_for(30, sub { get('/metrics') !~ /\Q127.0.0.1:$Port{b}\E/ }),
   'and its series are gone');
like(get('/metrics'), qr/^\Q$a\E 1$/m, 'a keeps its series');
like(get('/status'), qr/"upstreams":\{"backend":\{"method":"round_robin","source":"[^"]*","breaker":null,"peers":\[\{"peer":"127\.0\.0\.1:$Port{a}"/,
     'the status lists the peers of the set');
--- request
GET /status
--- response_body_like: "consul":\{"backend":\{"service":"web"
