# Rate limits kept in Redis (redis=), with Debian's redis-server started
# here: two gateways share one limit; Redis killed (local fallback, then
# recovery); Redis restarted (its script cache empty); a Redis that accepts
# and never answers; a wrong password; db=; a host name resolved by nginx.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   ports (defaults from TEST_NGINX_SERVER_PORT, 1984 when unset):
#     TEST_NGINX_REDIS_PORT          redis-server          (server port + 10)
#     TEST_NGINX_REDIS_AUTH_PORT     redis with a password (server port + 11)
#     TEST_NGINX_REDIS_STALL_PORT    a Redis that never answers (+ 12)
#     TEST_NGINX_GATEWAY_A_PORT ...  the gateways          (+ 3, + 4, + 5)
#     TEST_NGINX_DNS_PORT            a DNS server for one name (+ 13)
#   TEST_NGINX_REDIS_SERVER          redis-server binary

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness";

use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(sleep time);
use GatewayHarness qw(http_get port wait_until module_path count_requests
                        token_bucket_admits);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();
plan skip_all => 'redis-server is not installed'
    unless GatewayHarness::Redis::available();

my $redis_port = port('TEST_NGINX_REDIS_PORT', 10);
my $auth_port = port('TEST_NGINX_REDIS_AUTH_PORT', 11);
my $stall_port = port('TEST_NGINX_REDIS_STALL_PORT', 12);
my $a_port = port('TEST_NGINX_GATEWAY_A_PORT', 3);
my $b_port = port('TEST_NGINX_GATEWAY_B_PORT', 4);
my $c_port = port('TEST_NGINX_GATEWAY_C_PORT', 5);
my $dns_port = port('TEST_NGINX_DNS_PORT', 13);

my $root = "$FindBin::Bin/servroot_rl_redis";

my $redis = GatewayHarness::Redis->new(dir => "$root/redis",
                                         port => $redis_port)->start;

sub gateway {
    my ($name, $port, $redis_line, %o) = @_;
    my $g = GatewayHarness::Nginx->new(dir => "$root/$name", port => $port,
                                         workers => 2);
    $g->write_conf(http => <<"EOF", server => <<"EOF");
    $redis_line
    gateway_rate_limit_zone shared key=\$http_x_client rate=1r/m burst=3 size=1m redis=r;
    gateway_rate_limit_zone fast key=\$http_x_client rate=100r/s burst=50 size=1m redis=r;
    gateway_rate_limit_zone window key=\$http_x_client rate=4r/m algorithm=sliding_window size=1m redis=r;
    gateway_rate_limit_zone local key=\$http_x_client rate=1r/m burst=5 size=1m;
EOF
        location /t {
            gateway_rate_limit shared;
            add_header X-Status \$gateway_rate_limit_status always;
            proxy_pass http://127.0.0.1:$port/back;
        }
        location /fast {
            gateway_rate_limit fast;
            add_header X-Msec \$msec always;
            empty_gif;
        }
        location /window {
            gateway_rate_limit window;
            add_header X-Status \$gateway_rate_limit_status always;
            proxy_pass http://127.0.0.1:$port/back;
        }
        location /both {
            gateway_rate_limit local;
            gateway_rate_limit shared;
            proxy_pass http://127.0.0.1:$port/back;
        }
        location /free {
            proxy_pass http://127.0.0.1:$port/back;
        }
        location /back {
            return 200 "ok\\n";
        }
EOF
    return $g->start;
}

sub get {
    my ($port, $path, $client) = @_;
    my ($status, $h) = http_get($port, $path, headers => { 'X-Client' => $client });
    return wantarray ? ($status, $h) : $status;
}

sub keys_in_redis {
    my $l = $redis->command('DBSIZE') // '';
    return $l =~ /^:(\d+)/ ? $1 : -1;
}

my $a = gateway('a', $a_port, "gateway_redis r 127.0.0.1:$redis_port;");
my $b = gateway('b', $b_port, "gateway_redis r localhost:$redis_port timeout=1s;");

# wait until both gateways' workers are connected: a request stored in Redis
ok(wait_until(10, sub { get($a_port, '/free', 'x'); keys_in_redis() >= 0 }),
   'redis answers');

# -- two gateways, one limit ---------------------------------------------

is_deeply([map { scalar get($_->[0], '/t', 'alice') } [$a_port], [$b_port], [$a_port]],
          [200, 200, 200], 'three requests through two gateways');
is(get($b_port, '/t', 'alice'), 429, 'the fourth is rejected by the other gateway');
is(get($a_port, '/t', 'alice'), 429, 'and by the first');

my ($st, $h) = get($a_port, '/t', 'alice');
like($h->{'retry-after'} // '', qr/^\d+$/, 'Retry-After');
like($h->{ratelimit} // '', qr/^"shared";r=0;t=\d+$/, 'RateLimit header from Redis');
is(get($b_port, '/t', 'bob'), 200, 'another key has its own quota');
cmp_ok(keys_in_redis(), '>=', 2, 'the counters are in Redis');

is_deeply([map { scalar get($_, '/window', 'carol') } $a_port, $b_port, $a_port, $b_port, $a_port],
          [200, 200, 200, 200, 429], 'sliding window shared by two gateways');

# all-or-nothing: a local zone's quota is given back when Redis rejects
is(get($a_port, '/both', 'dave'), 200, 'local and Redis zones pass');
is_deeply([map { scalar get($a_port, '/t', 'dave') } 1 .. 3], [200, 200, 429],
          'the rest of the Redis quota used elsewhere');
($st, $h) = get($a_port, '/both', 'dave');
is($st, 429, 'rejected by the Redis zone');
like($h->{ratelimit} // '', qr/^"local";r=4;t=\d+, "shared";r=0;/,
     'the local zone keeps its quota');

# counted accuracy, both gateways hammering one key: within 2%

my $res = count_requests(port => [$a_port, $b_port], path => '/fast',
                         clients => 4, seconds => 3,
                         headers => { 'X-Client' => 'hammer' });
# on the gateways' clock, as in t/rate_limit_accuracy.t
my $span = $res->{server_last} - $res->{server_first};
my $bound = 100 * $span + 50;
my $exact = token_bucket_admits(100, 50, $res->{decisions});
note sprintf "two gateways: %d admitted, %d rejected in %.3fs, bound %.1f, "
             . "an exact bucket admits %d",
             $res->{200} // 0, $res->{429} // 0, $span, $bound, $exact;
# as in t/rate_limit_accuracy.t: one token of slack, since the script reads
# Redis's clock, a round trip away from the gateways', in whole milliseconds
cmp_ok($res->{200} // 0, '<=', $bound + 1, 'two gateways admit no more than rate x T + burst');
cmp_ok(abs(($res->{200} // 0) - $exact), '<=', 0.01 * $exact,
       'and what an exact token bucket admits, within 1%');
ok(!$res->{broken}, 'no broken connections');

# -- Redis killed mid-run: local counters, then Redis again ----------------

my $before = length $a->log_text;
my $before_b = length $b->log_text;
$redis->kill_now;

is(get($a_port, '/t', 'erin'), 200, 'Redis is gone: the request still passes');
is_deeply([map { scalar get($a_port, '/t', 'erin') } 1 .. 3], [200, 200, 429],
          'the local counters limit meanwhile');
like(substr($a->log_text, $before),
     qr/zone "shared" uses its local counters, gateway_redis "r"/,
     'the fallback is logged');
is(get($a_port, '/free', 'erin'), 200, 'a location without limits is served');

# a new Redis on the same port: no data, no scripts

$redis = GatewayHarness::Redis->new(dir => "$root/redis", port => $redis_port)->start;
my $n = 0;
ok(wait_until(15, sub { get($a_port, '/t', 'probe' . $n++); keys_in_redis() > 0 }),
   'gateway A uses Redis again (the script is sent again)');
ok(wait_until(15, sub { get($b_port, '/t', 'probe' . $n++); keys_in_redis() > 1 }),
   'gateway B too');
like(substr($a->log_text, $before), qr/gateway_redis "r" \(127\.0\.0\.1:\d+\) is available again/,
     'the recovery is logged');

# each worker reconnects on its own backoff: wait for all four (two per
# gateway), or a request may still meet one on its local counters
sub workers_back {
    my ($g, $from) = @_;
    my @back = substr($g->log_text, $from) =~ /gateway_redis "r" \(\S+\) is available again/g;
    return @back >= 2;
}
ok(wait_until(30, sub { workers_back($a, $before) && workers_back($b, $before_b) }),
   'every worker of both gateways is back on Redis');

is_deeply([map { scalar get($_, '/t', 'frank') } $a_port, $b_port, $b_port, $a_port],
          [200, 200, 200, 429], 'one limit across both gateways again');

# SCRIPT FLUSH while running: EVALSHA gets NOSCRIPT, EVAL follows

$redis->command('SCRIPT', 'FLUSH');
is_deeply([map { scalar get($_, '/t', 'gina') } $a_port, $b_port, $a_port, $b_port],
          [200, 200, 200, 429], 'after SCRIPT FLUSH');
unlike($a->log_text . $b->log_text, qr/NOSCRIPT|\[(alert|crit)\]/,
       'no NOSCRIPT errors reach the log, no alerts');

$a->stop;
$b->stop;

# -- a Redis that accepts connections and never answers --------------------

my $stall = GatewayHarness::Blackhole->new(port => $stall_port)->start;
# timeouts long enough that the checks below, made while the first request
# waits, finish in time on a busy machine
my $c = gateway('c', $c_port,
                "gateway_redis r 127.0.0.1:$stall_port timeout=8s connect_timeout=8s;");

# a request that waits for the stalled Redis ...
my $slow = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $c_port)
    or die "connect: $!";
print $slow "GET /t HTTP/1.0\r\nHost: x\r\nX-Client: henry\r\n\r\n";
sleep 0.2;

# ... does not hold up a location without limits, in the same workers
my $t0 = time;
is(get($c_port, '/free', 'ivan'), 200, 'a location without limits answers');
$slow->blocking(0);
my $early = sysread($slow, my $buf, 1024);
ok(!$early, 'while the limited request still waits for Redis');

# ... and completes once Redis is given up on, counted locally
$slow->blocking(1);
my $resp = do { local $/; <$slow> } // '';
like($resp, qr{^HTTP/1\.1 200 .*X-Status: PASSED}s,
     'the waiting request completes after timeout=, on local counters');
like($c->log_text, qr/gateway_redis "r" \(127\.0\.0\.1:\d+\): (no answer within timeout|connect timed out)/,
     'the stalled Redis is logged');

# later requests do not wait for it
my @codes = map { scalar get($c_port, '/t', 'henry') } 1 .. 3;
is_deeply(\@codes, [200, 200, 429], 'later requests use the local counters');

$c->stop;

# -- a client that leaves while its request waits for Redis ----------------

my $g = gateway('g', $c_port,
                "gateway_redis r 127.0.0.1:$stall_port timeout=3s connect_timeout=3s;");

# the request is read, waits for the stalled Redis, and its client is gone
my $gone = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $c_port)
    or die "connect: $!";
print $gone "GET /t HTTP/1.0\r\nHost: x\r\nX-Client: lena\r\n\r\n";
close $gone;

ok(wait_until(15, sub { $g->log_text =~ /\*\d+ client prematurely closed connection, client/ }),
   'the waiting request ends when its client leaves, not when Redis fails');
ok(wait_until(15, sub { $g->log_text =~ /gateway_redis "r" \(127\.0\.0\.1:\d+\): no answer within timeout/ }),
   'the stalled Redis is given up on later');
is_deeply([map { scalar get($c_port, '/t', 'lena') } 1 .. 4], [200, 200, 200, 429],
          'the request whose client left took no quota when Redis failed');
unlike($g->log_text, qr/\[(alert|crit)\]/, 'no alerts');

$g->stop;
$stall->stop;

# -- a wrong password, then the right one, and db= -------------------------

my $auth = GatewayHarness::Redis->new(dir => "$root/redis_auth", port => $auth_port,
                                        password => 'secret')->start;

my $d = gateway('d', $c_port, "gateway_redis r 127.0.0.1:$auth_port password=wrong;");
is(get($c_port, '/t', 'judy'), 200, 'wrong password: the request passes on local counters');
ok(wait_until(15, sub { $d->log_text =~ /gateway_redis "r" \(127\.0\.0\.1:\d+\): AUTH failed/ }),
   'AUTH failure logged');
is($auth->command('DBSIZE'), ":0\r\n", 'nothing reached Redis');
$d->stop;

my $e = gateway('e', $c_port, "gateway_redis r 127.0.0.1:$auth_port password=secret db=3;");

sub dbsize {
    my ($db) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $auth_port)
        or return -1;
    print $s "AUTH secret\r\nSELECT $db\r\nDBSIZE\r\n";
    my @l = map { scalar <$s> } 1 .. 3;
    return ($l[2] // '') =~ /^:(\d+)/ ? $1 : -1;
}

my $k = 0;
ok(wait_until(10, sub { get($c_port, '/t', 'kim' . $k++); dbsize(3) > 0 }),
   'the right password: the counters are in Redis, in db 3');
is(dbsize(0), 0, 'and not in db 0');
unlike($e->log_text, qr/AUTH failed|\[(alert|crit)\]/, 'no errors with the right password');
$e->stop;
$auth->stop;

# -- a host name, resolved by nginx's resolver ------------------------------

my $dns = GatewayHarness::Dns->new(port => $dns_port, address => '127.0.0.1')->start;
my $f = gateway('f', $c_port, "resolver 127.0.0.1:$dns_port valid=10s; "
                              . "gateway_redis r redis.gateway.test:$redis_port;");
$k = 0;
my $keys_before = keys_in_redis();
ok(wait_until(10, sub { get($c_port, '/t', 'named' . $k++); keys_in_redis() > $keys_before }),
   'a Redis named by host is reached through the resolver');
unlike($f->log_text, qr/\[(alert|crit)\]|cannot resolve/, 'resolved without errors');
$f->stop;
$dns->stop;

$redis->stop;

done_testing();
