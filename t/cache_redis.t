# The Redis response cache end to end: Debian's redis-server and an
# upstream started here, a gateway with gateway_cache in front of it.
# MISS then HIT, TTLs taken from the response, expiry, every response that
# is not stored, max size, HEAD, bypass, credentials, the fill lock, binary
# bodies, a Redis killed, restarted and hung, corrupt entries.
#
# Nothing here waits for time to pass: entries are expired with PEXPIRE or
# written with an old date, and fills (sent to Redis after the response)
# are polled for with a generous deadline. The gateway runs one worker, so
# its Redis commands go down one connection in order: once a later fill is
# in Redis, an earlier response that was not stored never will be.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   ports (defaults from TEST_NGINX_SERVER_PORT, 1984 when unset):
#     TEST_NGINX_CACHE_REDIS_PORT     redis-server            (+ 20)
#     TEST_NGINX_CACHE_UPSTREAM_PORT  the upstream            (+ 21)
#     TEST_NGINX_CACHE_GATEWAY_PORT   the gateway             (+ 22)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness", "$FindBin::Bin/cache_lib";

use Test::More;
use Time::HiRes qw(sleep time);
use GatewayHarness qw(port wait_until module_path);
use IO::Socket::INET;
use CacheHarness qw(request redis_call cache_key lock_key entry);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();
plan skip_all => 'redis-server is not installed'
    unless GatewayHarness::Redis::available();

my $redis_port = port('TEST_NGINX_CACHE_REDIS_PORT', 20);
my $up_port = port('TEST_NGINX_CACHE_UPSTREAM_PORT', 21);
my $gw_port = port('TEST_NGINX_CACHE_GATEWAY_PORT', 22);

my $root = "$FindBin::Bin/servroot_cache_redis";

my $redis = GatewayHarness::Redis->new(dir => "$root/redis",
                                         port => $redis_port)->start;
my $up = CacheHarness::Upstream->new(dir => "$root/upstream",
                                     port => $up_port)->start;

my $gw = GatewayHarness::Nginx->new(dir => "$root/gateway", port => $gw_port,
                                      workers => 1);
$gw->write_conf(http => <<"EOF", server => <<"EOF");
    gateway_redis cache 127.0.0.1:$redis_port timeout=1s connect_timeout=1s;
    proxy_http_version 1.1;
EOF
        location /c/ {
            gateway_cache cache;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /small/ {
            gateway_cache cache;
            gateway_cache_max_size 1k;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /bypass/ {
            gateway_cache cache;
            gateway_cache_bypass \$http_x_bypass \$arg_nocache;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /auth/ {
            gateway_cache cache;
            gateway_cache_authorized on;
            gateway_cache_key \$scheme\$request_method\$host\$request_uri:\$http_authorization;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /explicit/ {
            gateway_cache cache;
            gateway_cache_ttl 0;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /post/ {
            gateway_cache cache;
            gateway_cache_methods POST;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /slow/ {
            gateway_cache cache;
            add_header X-Cache \$gateway_cache_status always;
            proxy_buffers 4 1k;
            proxy_buffer_size 1k;
            proxy_busy_buffers_size 1k;
            limit_rate 64k;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /counted/ {
            gateway_route counted;
            gateway_cache cache;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location = /stats {
            return 200 \$gateway_stats;
        }
        location /flat/ {
            gateway_cache cache;
            gateway_cache_key f:\${host}-\$arg_v:\$http_x_none:\$uri;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location ~ ^/captured/([a-z]+)/ {
            gateway_cache cache;
            gateway_cache_key c:\$1:\$arg_v;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /alone/ {
            gateway_cache cache;
            gateway_cache_key \$arg_v;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
        location /plain/ {
            add_header X-Cache "[\$gateway_cache_status]" always;
            proxy_pass http://127.0.0.1:$up_port;
        }
EOF
$gw->start;

# -- helpers ---------------------------------------------------------------

# A target asking the upstream for an answer: u('/c/x', h => [...], ...).
sub u {
    my ($path, %q) = @_;
    my @q;
    for my $k (sort keys %q) {
        for my $v (ref $q{$k} ? @{ $q{$k} } : $q{$k}) {
            (my $e = $v) =~ s/([^A-Za-z0-9_.~:\/-])/sprintf '%%%02X', ord $1/ge;
            push @q, "$k=$e";
        }
    }
    return @q ? "$path?" . join('&', @q) : $path;
}

sub get { request($gw_port, 'GET', @_) }

sub key_of {
    my ($target) = @_;
    return cache_key("httpGETlocalhost$target");
}

sub stored { redis_call($redis_port, 'EXISTS', key_of($_[0])) }

sub wait_stored {
    my ($target) = @_;
    return wait_until(10, sub { stored($target) });
}

# Until the entry of a target in Redis is a valid one whose body is $body
# (any body when undef): polling Redis, not the gateway, whose misses
# would reach the upstream.
sub wait_entry {
    my ($target, $body) = @_;
    return wait_until(10, sub {
        my $v = redis_call($redis_port, 'GET', key_of($target));
        return defined $v && !ref $v && $v =~ /^GWCE\x01/
               && (!defined $body || substr($v, -length $body) eq $body);
    });
}

# Every command sent before now has been executed by Redis.
my $settled = 0;
sub settle {
    my $t = u('/c/settle-' . $settled++, h => 'Cache-Control: max-age=100');
    get($t);
    return wait_stored($t);
}

# Write commands Redis has run.
sub redis_writes {
    my $stats = redis_call($redis_port, 'INFO', 'commandstats');
    my $n = 0;
    $n += $1 while $stats =~ /^cmdstat_(?:set|del|eval|evalsha):calls=(\d+)/mg;
    return $n;
}

sub pttl { redis_call($redis_port, 'PTTL', key_of($_[0])) }

# The headers of an answer that must be the same on a hit as on the miss.
sub stable_headers {
    my ($headers) = @_;
    return [map { "$_->[0]: $_->[1]" }
            grep { $_->[0] !~ /^(Date|Age|X-Cache|Accept-Ranges)$/i } @$headers];
}

ok(wait_until(10, sub { my (undef, undef, undef, $h) = get(u('/c/warmup'));
                        ($h->{'x-cache'} // '') eq 'MISS' }),
   'the gateway reaches Redis');

# -- MISS, then HIT with the same status, headers and body --------------------

{
    my $t = u('/c/basic', h => ['Cache-Control: public, max-age=100',
                                'Content-Type: text/html; charset=koi8-r',
                                'ETag: "v1"',
                                'Last-Modified: Sat, 01 Jan 2022 00:00:00 GMT',
                                'X-Custom: one', 'X-Custom: two']);
    my ($s1, $h1, $b1, $l1) = get($t);
    is($s1, 200, 'miss: 200');
    is($l1->{'x-cache'}, 'MISS', 'miss: X-Cache MISS');
    ok(!exists $l1->{age}, 'miss: no Age');
    ok(wait_stored($t), 'the response is stored');

    my $writes = redis_writes();
    my ($s2, $h2, $b2, $l2) = get($t);
    is($s2, 200, 'hit: 200');
    is($l2->{'x-cache'}, 'HIT', 'hit: X-Cache HIT');
    is($b2, $b1, 'hit: the same body');
    is_deeply(stable_headers($h2), stable_headers($h1), 'hit: the same headers');
    like($l2->{age} // '', qr/^\d+$/, 'hit: an Age header');
    is($l2->{'content-type'}, 'text/html; charset=koi8-r', 'hit: Content-Type with its charset');
    is($up->hits($t), 1, 'the upstream was asked once');
    settle();
    is(redis_writes(), $writes + 3, 'a hit writes nothing to Redis (the settling fill did)');

    my ($s3, undef, undef, $l3) = get($t, headers => [['If-None-Match', '"v1"']]);
    is($s3, 304, 'a conditional request to a hit gets 304');

    my ($s4, undef, $b4) = get($t, headers => [['Range', 'bytes=0-5']]);
    is($s4, 206, 'a range of a hit: 206');
    is($b4, substr($b1, 0, 6), 'the range is cut from the stored body');
    is($up->hits($t), 1, 'still once');
}

# -- Redis keys: a short cache key as it is, a longer one hashed ---------------

{
    my (undef, undef, $b1, $l1) = get('/c/short');
    is($l1->{'x-cache'}, 'MISS', 'a short key: MISS');
    ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS',
                                       'gw:cache:=httpGETlocalhost/c/short') }),
       'stored under the cache key itself');
    my (undef, undef, $b2, $l2) = get('/c/short');
    is("$l2->{'x-cache'} $b2", "HIT $b1", 'then a HIT');

    my $long = '/c/' . ('l' x 60);
    my (undef, undef, undef, $l3) = get($long);
    is($l3->{'x-cache'}, 'MISS', 'a key above 63 bytes: MISS');
    ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS',
                                       cache_key("httpGETlocalhost$long",
                                                 hidden => 1)) }),
       'stored under its SHA-256');
}

# -- keys of text and variables, a variable alone, with captures, longer than
#    the stack's 256 ---

{
    my @cases = (
        ['/flat/a', 1, 'f:localhost-1::/flat/a', 'text, ${name}, a variable not found'],
        ['/alone/x', 'alone-7', 'alone-7', 'a variable alone'],
        ['/captured/xy/', 2, 'c:xy:2', 'a regex capture'],
        ['/flat/b', 'w' x 300, 'f:localhost-' . ('w' x 300) . '::/flat/b',
         'above 256 bytes'],
        ['/captured/zz/', 'q' x 300, 'c:zz:' . ('q' x 300),
         'a regex capture above 256 bytes'],
    );
    for my $c (@cases) {
        my ($path, $v, $key, $name) = @$c;
        my $t = u($path, v => $v, h => 'Cache-Control: max-age=100');
        my (undef, undef, $b1, $l1) = get($t);
        is($l1->{'x-cache'}, 'MISS', "$name: MISS");
        ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS', cache_key($key)) }),
           "$name: stored under its key");
        my (undef, undef, $b2, $l2) = get($t);
        is("$l2->{'x-cache'} $b2", "HIT $b1", "$name: then a HIT");
    }
}

# -- results counted by route ------------------------------------------------

{
    my $t = u('/counted/x', h => 'Cache-Control: max-age=100');
    get($t);
    ok(wait_stored($t), 'counted: stored');
    get($t) for 1 .. 2;
    get($t, headers => [['Cookie', 'a=b']]);
    my (undef, undef, $stats) = get('/stats');
    like($stats, qr/^gateway_cache_results_total\{route="counted",status="hit"\} 2$/m,
         'gateway_cache_results_total: 2 hits');
    like($stats, qr/^gateway_cache_results_total\{route="counted",status="miss"\} 1$/m,
         '1 miss');
    like($stats, qr/^gateway_cache_results_total\{route="counted",status="bypass"\} 1$/m,
         '1 bypass');
}

# -- 301 and 404 are stored too --------------------------------------------

for my $status (301, 404) {
    my @h = ('Cache-Control: max-age=100');
    push @h, 'Location: http://example.com/elsewhere' if $status == 301;
    my $t = u("/c/status-$status", status => $status, h => \@h);
    my ($s1, undef, $b1) = get($t);
    is($s1, $status, "$status: miss");
    ok(wait_stored($t), "$status: stored");
    my ($s2, undef, $b2, $l2) = get($t);
    is("$s2 $l2->{'x-cache'}", "$status HIT", "$status: hit");
    is($b2, $b1, "$status: same body");
    is($l2->{location}, 'http://example.com/elsewhere', '301: Location kept') if $status == 301;
}

# -- the TTL in Redis: s-maxage, then max-age, then Expires, then the default --

{
    my @cases = (
        ['s-maxage over max-age', ['Cache-Control: max-age=100, s-maxage=200'], 200],
        ['max-age', ['Cache-Control: max-age=100'], 100],
        ['Expires', ['Expires: ' . POSIX::strftime('%a, %d %b %Y %H:%M:%S GMT',
                                                   gmtime(time + 1000))], 1000],
        ['gateway_cache_ttl (5m by default)', [], 300],
        ['Age counts against the lifetime', ['Cache-Control: max-age=100', 'Age: 40'], 60],
    );
    my $i = 0;
    for my $c (@cases) {
        my ($name, $h, $ttl) = @$c;
        my $t = u('/c/ttl-' . $i++, h => $h);
        get($t);
        ok(wait_stored($t), "$name: stored");
        my $pttl = pttl($t);
        # Expires is read in whole seconds: up to one less
        ok($pttl > ($ttl - 30) * 1000 && $pttl <= $ttl * 1000,
           "$name: TTL ${ttl}s in Redis (PTTL $pttl)");
    }

    my $t = u('/c/ttl-age', h => ['Cache-Control: max-age=100', 'Age: 40']);
    get($t);
    wait_stored($t);
    my (undef, undef, undef, $l) = get($t);
    ok(($l->{age} // 0) >= 40, 'a hit counts the Age it arrived with');
}

# -- expiry: Redis drops the entry, the next request fills it again ----------

{
    my $t = u('/c/expiry', h => 'Cache-Control: max-age=100');
    my (undef, undef, $b1) = get($t);
    ok(wait_stored($t), 'expiry: stored');
    is(redis_call($redis_port, 'PEXPIRE', key_of($t), 1), 1, 'PEXPIRE 1ms');
    ok(wait_until(10, sub { !stored($t) }), 'Redis expired it');
    my (undef, undef, $b2, $l2) = get($t);
    is($l2->{'x-cache'}, 'MISS', 'after expiry: MISS');
    isnt($b2, $b1, 'a new body from the upstream');
    ok(wait_stored($t), 'stored again');
    is($up->hits($t), 2, 'the upstream was asked twice');
}

# -- EXPIRED: an entry whose lifetime has passed by the gateway's clock -------

{
    my $t = u('/c/expired', h => 'Cache-Control: max-age=100');
    is(redis_call($redis_port, 'SET', key_of($t),
                  entry(stored_at => time - 1000, lifetime => 100,
                        headers => [['Content-Type', 'text/plain']],
                        body => "old\n"), 'PX', 100000), 'OK',
       'an entry stored 1000s ago with a lifetime of 100s');
    my (undef, undef, $b1, $l1) = get($t);
    is($l1->{'x-cache'}, 'EXPIRED', 'EXPIRED');
    is($b1, "served #1 for $t\n", 'the upstream answered');
    ok(wait_entry($t, $b1), 'the fill replaced it');
    my (undef, undef, $b2, $l2) = get($t);
    is("$l2->{'x-cache'} $b2", "HIT $b1", 'with the new response');
}

# -- responses that are not stored ------------------------------------------

{
    my @cases = (
        ['302', status => 302, h => ['Location: http://example.com/', 'Cache-Control: max-age=100']],
        ['500', status => 500, h => 'Cache-Control: max-age=100'],
        ['201', status => 201, h => 'Cache-Control: max-age=100'],
        ['206', status => 206, h => ['Content-Range: bytes 0-1/10', 'Cache-Control: max-age=100']],
        ['no-store', h => 'Cache-Control: max-age=100, no-store'],
        ['private', h => 'Cache-Control: private, max-age=100'],
        ['no-cache', h => 'Cache-Control: no-cache, max-age=100'],
        ['max-age=0', h => 'Cache-Control: max-age=0'],
        ['Set-Cookie', h => ['Cache-Control: max-age=100', 'Set-Cookie: id=1']],
        ['Vary: User-Agent', h => ['Cache-Control: max-age=100', 'Vary: Accept-Encoding, User-Agent']],
        ['Vary: *', h => ['Cache-Control: max-age=100', 'Vary: *']],
        ['Expires in the past', h => 'Expires: Thu, 01 Jan 1970 00:00:01 GMT'],
        ['Age beyond max-age', h => ['Cache-Control: max-age=10', 'Age: 11']],
    );
    my $i = 0;
    my @targets;
    for my $c (@cases) {
        my ($name, %q) = @$c;
        my $t = u('/c/nostore-' . $i++, %q);
        push @targets, [$name, $t];
        my (undef, undef, undef, $l) = get($t);
        is($l->{'x-cache'}, 'MISS', "$name: MISS");
    }

    # without Cache-Control, in a location with gateway_cache_ttl 0
    my $t = u('/explicit/none');
    get($t);
    push @targets, ['no freshness and gateway_cache_ttl 0', $t];

    ok(settle(), 'later fills have reached Redis');
    for (@targets) {
        my ($name, $t) = @$_;
        ok(!stored($t), "$name: not stored");
        my (undef, undef, undef, $l) = get($t);
        is($up->hits($t), 2, "$name: the upstream answers again");
    }

    my $e = u('/explicit/max-age', h => 'Cache-Control: max-age=50');
    get($e);
    ok(wait_stored($e), 'gateway_cache_ttl 0: a response with max-age is stored');
}

# -- gateway_cache_max_size ---------------------------------------------------

{
    my %t = (
        'exactly the max size' => [u('/small/1024', size => 1024), 1],
        'one byte more' => [u('/small/1025', size => 1025), 0],
        'chunked, exactly the max size' => [u('/small/c1024', size => 1024, chunked => 1), 1],
        'chunked, one byte more' => [u('/small/c1025', size => 1025, chunked => 1), 0],
    );
    for my $name (sort keys %t) {
        my ($target) = @{ $t{$name} };
        my ($s, undef, $b) = get($target);
        is(length $b, $target =~ /1024/ ? 1024 : 1025, "$name: the whole body reaches the client");
    }
    settle();
    for my $name (sort keys %t) {
        my ($target, $kept) = @{ $t{$name} };
        is(stored($target) ? 1 : 0, $kept, "$name: " . ($kept ? 'stored' : 'not stored'));
    }
}

# -- HEAD -----------------------------------------------------------------------

{
    my $t = u('/c/head', h => 'Cache-Control: max-age=100');
    my ($s0, undef, $b0, $l0) = request($gw_port, 'HEAD', $t);
    is("$s0 $l0->{'x-cache'}", '200 MISS', 'HEAD on an empty cache: MISS');
    is($b0, '', 'no body');
    is($up->hits($t, 'HEAD'), 1, 'the upstream got the HEAD');
    settle();
    ok(!stored($t), 'a HEAD response is not stored');

    my (undef, undef, $body) = get($t);
    ok(wait_stored($t), 'the GET is');
    my ($s1, undef, $b1, $l1) = request($gw_port, 'HEAD', $t);
    is("$s1 $l1->{'x-cache'}", '200 HIT', 'HEAD answered from the GET entry');
    is($l1->{'content-length'}, length $body, 'with the GET body\'s Content-Length');
    is($b1, '', 'and no body');
    is($up->hits($t), 2, 'the upstream was not asked');
}

# -- methods ------------------------------------------------------------------

{
    my $t = u('/c/post', h => 'Cache-Control: max-age=100');
    my (undef, undef, undef, $l) = request($gw_port, 'POST', $t, body => 'x');
    is($l->{'x-cache'}, 'BYPASS', 'POST is not cached by default');

    my $p = u('/post/p', h => 'Cache-Control: max-age=100');
    my (undef, undef, $b1, $l1) = request($gw_port, 'POST', $p, body => 'x');
    is($l1->{'x-cache'}, 'MISS', 'gateway_cache_methods POST: MISS');
    ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS',
                                       cache_key("httpPOSTlocalhost$p")) }),
       'stored under a POST key');
    my (undef, undef, $b2, $l2) = request($gw_port, 'POST', $p, body => 'x');
    is("$l2->{'x-cache'} $b2", "HIT $b1", 'POST hit');

    my (undef, undef, undef, $l3) = request($gw_port, 'PUT', $p, body => 'x');
    is($l3->{'x-cache'}, 'BYPASS', 'PUT is never cached');

    my (undef, undef, undef, $l4) = get(u('/plain/x'));
    is($l4->{'x-cache'}, '[]', '$gateway_cache_status is empty without gateway_cache');
}

# -- gateway_cache_bypass and the client's no-cache -----------------------------

{
    my $t = u('/bypass/b', h => 'Cache-Control: max-age=100');
    my (undef, undef, $b1) = get($t);
    ok(wait_stored($t), 'bypass: stored');
    my (undef, undef, $b2, $l2) = get($t, headers => [['X-Bypass', '1']]);
    is($l2->{'x-cache'}, 'BYPASS', 'gateway_cache_bypass: BYPASS');
    isnt($b2, $b1, 'fetched from the upstream');
    ok(wait_entry($t, $b2), 'and stored: it refreshes the entry');
    my (undef, undef, undef, $l3) = get($t, headers => [['X-Bypass', '0']]);
    is($l3->{'x-cache'}, 'HIT', '"0" does not bypass');
    is($up->hits($t), 2, 'the upstream was asked twice');

    for my $h (['Cache-Control', 'no-cache'], ['Pragma', 'no-cache']) {
        my $n = $up->hits($t);
        my (undef, undef, $b, $l) = get($t, headers => [$h]);
        is($l->{'x-cache'}, 'BYPASS', "$h->[0]: no-cache from the client: BYPASS");
        is($up->hits($t), $n + 1, 'fetched from the upstream');
        ok(wait_entry($t, $b), 'and stored');
    }

    my (undef, undef, undef, $l4) = get($t, headers => [['Cache-Control', 'no-store']]);
    is($l4->{'x-cache'}, 'HIT', 'the client\'s no-store may read the cache');
}

# -- credentials ----------------------------------------------------------------

{
    my $t = u('/c/private-data', h => 'Cache-Control: max-age=100');
    my (undef, undef, $b0) = get($t);
    ok(wait_stored($t), 'an entry for anonymous clients');

    for my $h (['Authorization', 'Bearer secret'], ['Cookie', 'session=1']) {
        my $n = $up->hits($t);
        my (undef, undef, $b, $l) = get($t, headers => [$h]);
        is($l->{'x-cache'}, 'BYPASS', "$h->[0]: BYPASS");
        isnt($b, $b0, "$h->[0]: not the cached answer");
        is($up->hits($t), $n + 1, "$h->[0]: the upstream answers");
    }
    settle();
    my (undef, undef, $b1) = get($t);
    is($b1, $b0, 'nor stored: anonymous clients get the same entry');

    # gateway_cache_authorized on, the key holding the identity
    my $a = u('/auth/me', h => 'Cache-Control: max-age=100');
    my @alice = (headers => [['Authorization', 'Bearer alice']]);
    my @bob = (headers => [['Authorization', 'Bearer bob']]);
    my (undef, undef, $ba, $la) = get($a, @alice);
    is($la->{'x-cache'}, 'MISS', 'authorized: alice MISS');
    ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS',
                                       cache_key("httpGETlocalhost$a:Bearer alice",
                                                 hidden => 1)) }),
       'stored under a key holding her credentials, hashed');
    my (undef, undef, $ba2, $la2) = get($a, @alice);
    is("$la2->{'x-cache'} $ba2", "HIT $ba", 'alice HIT');
    my (undef, undef, $bb, $lb) = get($a, @bob);
    is($lb->{'x-cache'}, 'MISS', 'bob does not get alice\'s entry');
    isnt($bb, $ba, 'bob gets his own answer');

    # a key short enough to be used as it is elsewhere is hashed here
    my (undef, undef, undef, $ls) = get('/auth/s', @alice);
    is($ls->{'x-cache'}, 'MISS', 'authorized, a short key: MISS');
    ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS',
                                       cache_key('httpGETlocalhost/auth/s:Bearer alice',
                                                 hidden => 1)) }),
       'stored under its SHA-256');
    is_deeply(redis_call($redis_port, 'KEYS', '*alice*'), [],
              'her credentials are nowhere in Redis\'s keys');
}

# -- Vary: Accept-Encoding --------------------------------------------------------

{
    my $t = u('/c/vary', h => ['Cache-Control: max-age=100', 'Vary: Accept-Encoding']);
    my @gzip = (headers => [['Accept-Encoding', 'gzip']]);
    my (undef, undef, $b1, $l1) = get($t, @gzip);
    ok(wait_stored($t), 'Vary: Accept-Encoding is stored');
    my (undef, undef, $b2, $l2) = get($t, @gzip);
    is("$l2->{'x-cache'} $b2", "HIT $b1", 'the same Accept-Encoding: HIT');
    my (undef, undef, $b3, $l3) = get($t);
    is($l3->{'x-cache'}, 'MISS', 'another Accept-Encoding: MISS');
    ok(wait_entry($t, $b3), 'its response replaces the entry');
    my (undef, undef, undef, $l4) = get($t, @gzip);
    is($l4->{'x-cache'}, 'MISS', 'which the first variant then misses');
}

# -- binary bodies, large bodies, bodies buffered to a file -----------------------

{
    for my $size (1, 300, 70000, 1048576) {
        my $t = u("/c/binary-$size", size => $size, h => 'Cache-Control: max-age=100');
        my (undef, undef, $b1) = get($t);
        is(length $b1, $size, "binary $size: the whole body");
        ok(wait_stored($t), "binary $size: stored");
        my (undef, undef, $b2, $l2) = get($t);
        is($l2->{'x-cache'}, 'HIT', "binary $size: HIT");
        ok($b2 eq $b1, "binary $size: the same bytes");
    }

    my $t = u('/c/binary-too-large', size => 1048577, h => 'Cache-Control: max-age=100');
    my (undef, undef, $b) = get($t);
    is(length $b, 1048577, 'above the default 1m: the client gets it all');
    settle();
    ok(!stored($t), 'and it is not stored');

    my $f = u('/slow/file', size => 100000, h => 'Cache-Control: max-age=100');
    my $before = length $gw->log_text;
    my (undef, undef, $b1) = get($f);
    is(length $b1, 100000, 'a slow client: the whole body');
    like(substr($gw->log_text, $before), qr/buffered to a temporary file/,
         'nginx buffered it to a temporary file');
    ok(wait_stored($f), 'it is stored all the same');
    my (undef, undef, $b2, $l2) = get($f);
    ok($l2->{'x-cache'} eq 'HIT' && $b2 eq $b1, 'and served from the cache intact');
}

# -- two misses at once: one fill ---------------------------------------------------

{
    # the upstream holds the first answer (only the first) halfway through
    # its body until released: its header has taken the lock
    my $t = u('/c/concurrent', hold => 'first', h => 'Cache-Control: max-age=100');

    my $pid = open(my $first, '-|') // die "fork: $!";
    if ($pid == 0) {
        my ($s, undef, $b, $l) = get($t, timeout => 40);
        print "$s $l->{'x-cache'} $b";
        POSIX::_exit(0);
    }
    ok(wait_until(10, sub { $up->hits($t) == 1 }), 'the first miss reached the upstream');
    ok(wait_until(10, sub { redis_call($redis_port, 'EXISTS', lock_key(key_of($t))) }),
       'and holds the fill lock');

    my (undef, undef, $b2, $l2) = get($t);
    is($l2->{'x-cache'}, 'MISS', 'a second miss meanwhile');
    like($b2, qr/^served #2 /, 'is answered by the upstream');
    ok(settle(), 'its response has had every chance to be stored');
    ok(!stored($t), 'but is not: the first holds the lock');

    $up->release('first');
    my $r1 = do { local $/; <$first> };
    close $first;
    like($r1, qr/^200 MISS served #1 /, 'the first completes');
    ok(wait_stored($t), 'and fills');
    my (undef, undef, $b, $l) = get($t);
    is($l->{'x-cache'}, 'HIT', 'then a HIT');
    like($b, qr/^served #1 /, 'with the lock holder\'s response');
    is(redis_call($redis_port, 'EXISTS', lock_key(key_of($t))), 0, 'the lock is released');
    is($up->hits($t), 2, 'two upstream requests in all');
}

# -- corrupt entries are ignored and overwritten ------------------------------------

{
    my $i = 0;
    for my $bad (['garbage', sub { redis_call($redis_port, 'SET', $_[0], "not an entry\r\n") }],
                 ['a truncated entry', sub {
                      my $e = entry(body => 'x' x 100, headers => [['Content-Type', 'text/plain']]);
                      redis_call($redis_port, 'SET', $_[0], substr($e, 0, -1)) }],
                 ['a future version', sub {
                      my $e = entry(body => 'x');
                      substr($e, 4, 1) = chr 2;
                      redis_call($redis_port, 'SET', $_[0], $e) }],
                 ['CR LF in a header', sub {
                      redis_call($redis_port, 'SET', $_[0],
                                 entry(headers => [['X-A', "b\r\nSet-Cookie: x=1"]], body => 'x')) }],
                 ['a list', sub { redis_call($redis_port, 'RPUSH', $_[0], 'x') }]) {
        my ($name, $plant) = @$bad;
        my $t = u('/c/corrupt-' . $i++, h => 'Cache-Control: max-age=100');
        $plant->(key_of($t));
        my ($s, $h, $b, $l) = get($t);
        is("$s $l->{'x-cache'}", '200 MISS', "$name: a MISS");
        ok(!grep({ $_->[0] =~ /set-cookie/i } @$h), "$name: nothing of it reaches the client");
        ok(wait_entry($t), "$name: overwritten by the fill");
        is((get($t))[3]{'x-cache'}, 'HIT', "$name: then a HIT");
        is($up->hits($t), 1, "$name: one upstream request");
    }
}

# -- a valid entry planted in Redis is served as it is ------------------------------

{
    my $t = u('/c/planted');
    redis_call($redis_port, 'SET', key_of($t),
               entry(status => 404, stored_at => time - 10, age => 5, lifetime => 1000,
                     headers => [['Content-Type', 'application/octet-stream'],
                                 ['X-Planted', 'yes']],
                     body => "\0\1\2planted"), 'PX', 100000);
    my ($s, undef, $b, $l) = get($t);
    is("$s $l->{'x-cache'}", '404 HIT', 'the planted entry is a hit');
    is($b, "\0\1\2planted", 'its body');
    is($l->{'x-planted'}, 'yes', 'its headers');
    ok($l->{age} >= 15 && $l->{age} < 100, "its Age: stored 10s ago with Age 5 ($l->{age})");
    is($up->hits($t), 0, 'no upstream request');
}

# -- Redis killed, restarted, hung ---------------------------------------------------

{
    my $t = u('/c/outage', h => 'Cache-Control: max-age=100');
    my $before = length $gw->log_text;

    $redis->kill_now;
    my ($s1, undef, undef, $l1) = get($t);
    is("$s1 $l1->{'x-cache'}", '200 ERROR', 'Redis killed: the request is served, ERROR');
    my ($s2, undef, undef, $l2) = get($t);
    is("$s2 $l2->{'x-cache'}", '200 ERROR', 'and the next');
    like(substr($gw->log_text, $before), qr/gateway cache: gateway_redis "cache"/,
         'the trouble is logged');

    $redis = GatewayHarness::Redis->new(dir => "$root/redis", port => $redis_port)->start;
    ok(wait_until(15, sub { (get($t))[3]{'x-cache'} =~ /^(MISS|HIT)$/ }),
       'Redis restarted: the cache works again');
    ok(wait_until(10, sub { (get($t))[3]{'x-cache'} eq 'HIT' }), 'HIT');

    kill 'STOP', $redis->{pid};
    # a client that leaves while its lookup waits: its request ends before
    # Redis answers, whose late answer then finds the request gone
    my $gone = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $gw_port,
                                     Proto => 'tcp')
        or die "connect: $!";
    print $gone "GET $t HTTP/1.1\r\nHost: localhost\r\n\r\n";
    close $gone;
    my ($s3, undef, undef, $l3) = get($t, timeout => 30);
    is("$s3 $l3->{'x-cache'}", '200 ERROR', 'Redis hung: the request is served after timeout=, ERROR');
    my ($s4, undef, undef, $l4) = get($t, timeout => 30);
    is("$s4 $l4->{'x-cache'}", '200 ERROR', 'the next does not wait for the hung Redis again');
    kill 'CONT', $redis->{pid};
    ok(wait_until(15, sub { (get($t))[3]{'x-cache'} eq 'HIT' }), 'Redis answers again: HIT');
    unlike($gw->log_text, qr/\[(alert|crit|emerg)\]/, 'no alerts');
}

$gw->stop;
$up->stop;
$redis->stop;

done_testing();
