# gateway_metrics and gateway_status with a master and two workers.
#
# Each block's request is one scrape; its "check" then sends its own
# requests, one connection each (the kernel spreads them over both
# workers), and reads the endpoint again until every worker has logged
# them (a generous deadline, never a sleep that has to be long enough):
# the sums are exact whichever worker answered what. The Prometheus text
# is also given to `promtool check metrics`.
#
# Ports: TEST_NGINX_SERVER_PORT for the gateway; TEST_NGINX_PEER_PORT
# (default SERVER_PORT + 5) for a peer in the same nginx.

BEGIN {
    $ENV{TEST_NGINX_PEER_PORT} ||= ($ENV{TEST_NGINX_PORT} || 1984) + 5;
}

use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;
use IO::Socket::INET;
use JSON::PP;
use File::Temp qw(tempfile);
use Time::HiRes qw(sleep time);

workers(2);
master_on();
no_shuffle();

# routes of the big scrapes: about 45,000 sample lines, 3 MB of text
our $BigRoutes = 3000;
our $BigConfig = join("\n", map { "location /s$_ { return 200; }" } 1 .. $BigRoutes)
    . "\nlocation = /metrics { gateway_metrics; }";

our $Token = token_by('rsa1', sub => 'alice');

# one request on its own connection (to the server, or port): (status, body)
sub http {
    my ($method, $path, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port // server_port(), Timeout => 10)
        or return (0, '');
    print $s "$method $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    my (undef, $body) = split /\r\n\r\n/, $resp, 2;
    return ($status // 0, $body // '');
}

# the value of a series in a scrape (undef: absent)
sub value {
    my ($text, $series) = @_;
    return $text =~ /^\Q$series\E ([^\s]+)$/m ? $1 : undef;
}

# scrapes until cond(text) holds, at most 30 s; the last text
sub settle {
    my ($path, $cond) = @_;
    my $deadline = time + 30;
    my $text;
    while (1) {
        (undef, $text) = http('GET', $path);
        return $text if $cond->($text) || time > $deadline;
        sleep 0.05;
    }
}

sub promtool_ok {
    my ($text, $name) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $text;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    is($?, 0, "$name: promtool check metrics") or diag($out);
}

# a histogram's buckets are cumulative and +Inf is its _count
sub histogram_ok {
    my ($text, $name, $labels, $count) = @_;
    my @le = $text =~ /^\Q$name\E_bucket\{\Q$labels\E,le="([^"]+)"\} (\d+)$/mg;
    my ($prev, $inf) = (0, undef);
    my $cumulative = 1;
    while (my ($le, $n) = splice @le, 0, 2) {
        $cumulative = 0 if $n < $prev;
        $prev = $n;
        $inf = $n if $le eq '+Inf';
    }
    ok($cumulative, "$name\{$labels\}: buckets cumulative");
    is($inf, $count, "$name\{$labels\}: +Inf is every observation");
    is(value($text, "$name\_count\{$labels\}"), $count, "$name\{$labels\}: _count");
}

my %check;

$check{counts} = sub {
    my $ok = 'gateway_http_requests_total{route="/m1/",method="GET",status="2xx"}';
    my $post = 'gateway_http_requests_total{route="/m1/",method="POST",status="2xx"}';
    my $nf = 'gateway_http_requests_total{route="m-missing",method="GET",status="4xx"}';

    http('GET', "/m1/item/$_") for 1 .. 40;     # 40 paths, one route
    http('POST', '/m1/') for 1 .. 6;
    http('GET', "/m2/$_") for 1 .. 9;

    my $text = settle('/metrics', sub {
        my $t = shift;
        ($t =~ /^\Q$ok\E 40$/m) && ($t =~ /^\Q$post\E 6$/m) && ($t =~ /^\Q$nf\E 9$/m)
            && ($t =~ /^gateway_http_requests_in_flight 1$/m);
    });

    is(value($text, $ok), 40, 'GETs of both workers add up');
    is(value($text, $post), 6, 'POSTs add up');
    is(value($text, $nf), 9, 'a gateway_route names its series');
    is(value($text, 'gateway_http_requests_in_flight'), 1,
       'in flight: the scrape itself');
    unlike($text, qr/item/, 'no raw path in a label');
    my @routes = $text =~ /^gateway_http_requests_total\{route="([^"]*)"/mg;
    my %routes = map { $_ => 1 } @routes;
    is_deeply([sort keys %routes], ['/m1/', '= /metrics', 'm-missing'],
              'one route series per location');
    histogram_ok($text, 'gateway_http_request_duration_seconds',
                 'route="/m1/"', 46);
    histogram_ok($text, 'gateway_http_request_duration_seconds',
                 'route="m-missing"', 9);
    is(() = $text =~ /^# TYPE gateway_http_request_duration_seconds histogram$/mg,
       1, 'one TYPE per family');
    promtool_ok($text, 'counts');
};

$check{upstream} = sub {
    http('GET', '/u/ok') for 1 .. 12;

    my $up = 'upstream="backend",peer="127.0.0.1:' . $ENV{TEST_NGINX_PEER_PORT} . '"';
    my $text = settle('/metrics', sub {
        my $t = shift;
        (value($t, 'gateway_upstream_response_seconds_count{upstream="backend"}') // 0) >= 12
            && ($t =~ /^gateway_http_requests_in_flight 1$/m);
    });

    histogram_ok($text, 'gateway_upstream_response_seconds', 'upstream="backend"', 12);
    is(value($text, "gateway_upstream_peer_up{$up}"), 1, 'the peer is up');
    is(value($text, "gateway_circuit_state{$up}"), 0, 'its circuit is closed');
    promtool_ok($text, 'upstream');
};

$check{breaker} = sub {
    # two failures open the circuit (every worker shares it)
    for (1 .. 20) {
        my ($status, $body) = http('GET', '/status');
        my $st = eval { decode_json($body) } or last;
        last if $st->{upstreams}{failing}{peers}[0]{state} eq 'open';
        http('GET', '/f/fail');
    }

    my ($status, $body) = http('GET', '/status');
    is($status, 200, 'status answered');
    my $st = eval { decode_json($body) };
    ok($st, 'status is JSON') or diag($@);
    like($st->{version}, qr/^\d+\.\d+\.\d+$/, 'the module version');
    my $peer = $st->{upstreams}{failing}{peers}[0];
    is($peer->{state}, 'open', 'the tripped breaker shows');
    is($peer->{peer}, "127.0.0.1:$ENV{TEST_NGINX_PEER_PORT}", 'the peer');
    is($peer->{weight}, 3, 'its weight');
    ok(!$peer->{up}, 'and it is not up');
    is($st->{upstreams}{failing}{breaker}{failures}, 2, 'the breaker');
    is($st->{metrics}{dropped}, 0, 'nothing dropped');
    my $zone = $st->{rate_limits}{per_client};
    is($zone->{keys}, 1, 'the rate limit zone holds one key');
    is("$zone->{algorithm} $zone->{rate} $zone->{period_ms} $zone->{burst}",
       'token_bucket 600 60000 50', 'and its policy');
    cmp_ok($zone->{capacity}, '>', 1000, 'with room for many');

    my $text = settle('/metrics', sub { 1 });
    my $up = 'upstream="failing",peer="127.0.0.1:' . $ENV{TEST_NGINX_PEER_PORT} . '"';
    is(value($text, "gateway_circuit_state{$up}"), 2, 'the metric says open');
    is(value($text, "gateway_upstream_peer_up{$up}"), 0, 'and down');
    promtool_ok($text, 'breaker');
};

$check{jwt} = sub {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => server_port(),
                                  Timeout => 10) or die "connect: $!";
    print $s "GET /j HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer $main::Token\r\n\r\n";
    local $/;
    my $resp = <$s> // '';
    like($resp, qr{^HTTP/1\.\d 200}, 'a token verified with fetched keys');

    my ($status, $body) = http('GET', '/status');
    my $jwt = eval { decode_json($body)->{jwt} };
    ok($jwt, "a jwt section") or diag($body);
    is_deeply([map { $_->{file} =~ m{([^/]+)$} ? $1 : '' } @{ $jwt->{key_files} }],
              ['rotation.jwks'], 'the key file');
    is_deeply($jwt->{key_files}[0]{kids}, ['rsa1', 'rsa2'], 'its kids');
    my $kr = $jwt->{key_requests}[0];
    is($kr->{uri}, '/_jwks', 'the key request');
    is_deeply($kr->{kids}, ['rsa1'], 'the kids it fetched');
    cmp_ok($kr->{fetched} // 0, '>', 0, 'when');
    is($kr->{failed}, undef, 'no failure');
};

# conf.examples/logging.conf's JSON log_format, as it is there
our $JsonLogFormat = do {
    open my $fh, '<', "$FindBin::Bin/../conf.examples/logging.conf" or die $!;
    local $/;
    my $conf = <$fh>;
    $conf =~ /(log_format gateway_json\b.*?;)\n/s or die 'no gateway_json';
    $1;
};

$check{json_log} = sub {
    http('GET', '/jl/a?q="x\\y",%01');           # raw quote and backslash
    http('GET', '/jl/plain');
    my $file = server_root() . '/logs/json.log';
    my @lines;
    my $deadline = time + 30;
    while (time < $deadline) {
        if (open my $fh, '<', $file) {
            @lines = grep { m{/jl/} } <$fh>;
            last if @lines >= 3;
        }
        sleep 0.05;
    }
    is(scalar @lines, 3, 'the three requests logged');
    my @entries = map { eval { decode_json($_) } } @lines;
    is(scalar @entries, 3, 'each line is a JSON object') or diag(@lines);
    my ($odd) = grep { $_->{uri} =~ /^\/jl\/a/ } @entries;
    is($odd->{uri}, '/jl/a?q="x\\y",%01', 'the URI as sent, escaped for JSON');
    is($odd->{route}, '/jl/', 'the route');
    is($odd->{status}, 200, 'the status as a number');
    like($odd->{request_id}, qr/^[0-9a-f]{32}$/, 'the request id');
    like($odd->{trace_id}, qr/^[0-9a-f]{32}$/, 'the trace id');
};

$check{buckets} = sub {
    http('GET', '/b') for 1 .. 5;
    my $text = settle('/metrics', sub {
        (value($_[0], 'gateway_http_request_duration_seconds_count{route="/b"}') // 0) == 5
    });
    my @le = $text =~ /^gateway_http_request_duration_seconds_bucket\{route="\/b",le="([^"]+)"\}/mg;
    is("@le", '0.25 1.5 30 +Inf', 'the configured buckets');
    histogram_ok($text, 'gateway_http_request_duration_seconds', 'route="/b"', 5);
    promtool_ok($text, 'buckets');
};

$check{full} = sub {
    my $text = settle('/metrics', sub { 1 });
    cmp_ok(value($text, 'gateway_metrics_dropped_total') // 0, '>', 0,
           'the series a full zone could not hold are counted');
    is((http('GET', '/l99'))[0], 200, 'and their requests are served');
    promtool_ok($text, 'full');
};

# a scrape of many series: every series there once, the text complete
sub big_scrape_ok {
    my ($text, $name) = @_;
    my @counts = $text =~ /^gateway_http_request_duration_seconds_count\{route="\/s(\d+)"\} /mg;
    my %seen = map { $_ => 1 } @counts;
    is(scalar @counts, $main::BigRoutes, "$name: every route's histogram");
    is(scalar keys %seen, $main::BigRoutes, "$name: each once");
    like($text, qr/\n# TYPE gateway_metrics_dropped_total counter\ngateway_metrics_dropped_total 0\n\z/,
         "$name: complete, nothing dropped");
    promtool_ok($text, $name);
}

# requests on one keep-alive connection, a hundred at a time (pipelined)
sub keepalive_requests {
    my @requests = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Timeout => 30)
        or die "connect: $!";
    my $answered = 0;
    while (my @batch = splice @requests, 0, 100) {
        print $s map { "$_ HTTP/1.1\r\nHost: localhost\r\n\r\n" } @batch;
        my ($buf, $n) = ('', 0);
        while ($n < @batch) {
            sysread($s, $buf, 65536, length $buf) or last;
            $n = () = $buf =~ /\r\n\r\n/g;       # empty bodies
        }
        $answered += $n;
    }
    close $s;
    return $answered;
}

$check{big} = sub {
    # every route counted once, a few hundred twice: the counters' cells
    # (route, method, status) span many parts too
    my $posts = 400;
    is(keepalive_requests((map { "GET /s$_" } 1 .. $main::BigRoutes),
                          (map { "POST /s$_" } 1 .. $posts)),
       $main::BigRoutes + $posts, 'the requests answered');
    my $last = 'gateway_http_requests_total{route="/s' . $posts . '",method="POST",status="2xx"}';
    my $text = settle('/metrics', sub { ($_[0] =~ /^\Q$last\E 1$/m) });
    my %get = $text =~ /^gateway_http_requests_total\{route="\/s(\d+)",method="GET",status="2xx"\} (\d+)$/mg;
    my %post = $text =~ /^gateway_http_requests_total\{route="\/s(\d+)",method="POST",status="2xx"\} (\d+)$/mg;
    is(scalar(grep { ($get{$_} // 0) == 1 } 1 .. $main::BigRoutes), $main::BigRoutes,
       'every route\'s GET counted once');
    is(scalar(grep { ($post{$_} // 0) == 1 } 1 .. $posts), $posts,
       'and the POSTs');
    is(scalar(keys %post), $posts, 'no other POST');
    my %count = $text =~ /^gateway_http_request_duration_seconds_count\{route="\/s(\d+)"\} (\d+)$/mg;
    is(scalar(grep { $count{$_} == ($_ <= $posts ? 2 : 1) } keys %count), $main::BigRoutes,
       'every route timed');

    # one connection each: the kernel spreads them over both workers
    big_scrape_ok((http('GET', '/metrics'))[1], "scrape $_") for 1 .. 4;

    # clients that go away mid-scrape: after a few bytes, or at once
    for my $read (0, 1, 4096, 65536) {
        for (1 .. 3) {
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => server_port(), Timeout => 10)
                or die "connect: $!";
            print $s "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
            my $got = 0;
            while ($got < $read) {
                my $n = sysread($s, my $buf, $read - $got) or last;
                $got += $n;
            }
            close $s;
        }
    }
    big_scrape_ok((http('GET', '/metrics'))[1], "a scrape after them $_") for 1 .. 2;

    my $log = do {
        open my $fh, '<', server_root() . '/logs/error.log' or die $!;
        local $/;
        <$fh>;
    };
    unlike($log, qr/\[(alert|crit|emerg)\]/, 'no alert, crit or emerg logged');
};

$check{server_level} = sub {
    http('GET', '/gone/x') for 1 .. 2;           # a server-level return
    http('GET', '/', $ENV{TEST_NGINX_PEER_PORT}); # a server with a route
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Timeout => 10)
        or die "connect: $!";
    print $s "GET /m HTTP/1.1\r\n\r\n";          # no Host: 400
    local $/;
    my $resp = <$s> // '';
    like($resp, qr{^HTTP/1\.1 400}, 'a bad request');

    my $nf = 'gateway_http_requests_total{route="server localhost",method="GET",status="4xx"}';
    my $moved = 'gateway_http_requests_total{route="server localhost",method="GET",status="3xx"}';
    my $gone = 'gateway_http_requests_total{route="gone",method="GET",status="3xx"}';
    my $text = settle('/metrics', sub {
        (value($_[0], $nf) // 0) == 1 && (value($_[0], $moved) // 0) == 2
            && (value($_[0], $gone) // 0) == 1
    });
    is(value($text, $nf), 1, 'a request no location took: the server\'s route');
    is(value($text, $moved), 2, 'a server-level return too');
    is(value($text, $gone), 1, 'a server-level gateway_route names them');
    unlike($text, qr/route=""/, 'no empty route');
    promtool_ok($text, 'server level');
};

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    return if $dry_run || !defined $block->check;
    (my $name = $block->check) =~ s/\s+//g;
    $check{$name}->();
});

run_tests();

__DATA__

=== TEST 1: counts of both workers add up; a route per location, histograms
--- config
    location /m1/ { return 200 "m1\n"; }
    location /m2/ { gateway_route m-missing; return 404; }
    location = /metrics { gateway_metrics; }
--- request
GET /metrics
--- response_headers
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- response_body_like: # TYPE gateway_http_requests_in_flight gauge
--- check: counts
--- no_error_log
[error]



=== TEST 2: upstream response times, peers up
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_PORT;
        location / { return 200 "peer\n"; }
    }
    upstream backend {
        server 127.0.0.1:$TEST_NGINX_PEER_PORT;
        gateway_circuit_breaker failures=50 open=60s;
    }
--- config
    location /u/ { proxy_pass http://backend; }
    location = /metrics { gateway_metrics; }
--- request
GET /metrics
--- response_body_like: gateway_upstream_peer_up
--- check: upstream
--- no_error_log
[error]



=== TEST 3: status JSON shows a tripped breaker
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_PORT;
        location / { return 500 "fail\n"; }
    }
    upstream failing {
        server 127.0.0.1:$TEST_NGINX_PEER_PORT weight=3;
        gateway_circuit_breaker failures=2 open=300s;
    }
    gateway_rate_limit_zone per_client key=$remote_addr rate=600r/m size=1m burst=50;
--- config
    location /f/ { gateway_rate_limit per_client; proxy_pass http://failing; }
    location = /status { gateway_status; }
    location = /metrics { gateway_metrics; }
--- request
GET /status
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"version":"
--- check: breaker



=== TEST 4: gateway_metrics_buckets
--- http_config
    gateway_metrics_buckets 0.25 1.5 30;
--- config
    location /b { return 204; }
    location = /metrics { gateway_metrics; }
--- request
GET /metrics
--- response_body_like: TYPE gateway_http_request_duration_seconds histogram
--- check: buckets



=== TEST 5: the endpoints answer GET and HEAD only
--- config
    location = /metrics { gateway_metrics; }
--- request
POST /metrics
--- error_code: 405



=== TEST 6: buckets must ascend
--- http_config
    gateway_metrics_buckets 1 0.5;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*invalid value "0\.5", the buckets are seconds, ascending in .*nginx\.conf:\d+/



=== TEST 7: gateway_metrics_buckets is duplicate
--- http_config
    gateway_metrics_buckets 1;
    gateway_metrics_buckets 2;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*"gateway_metrics_buckets" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 8: a full zone: series dropped and counted, requests served
--- http_config
    gateway_metrics_zone 32k;
--- config eval
CORE::join("\n", map { "location /l$_ { return 200; }" } 1 .. 100)
. "\nlocation = /metrics { gateway_metrics; }"
--- request
GET /metrics
--- response_body_like: gateway_metrics_dropped_total [1-9]
--- check: full



=== TEST 9: JWT key sets: a key file, a fetched JWKS
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_PORT;
        location = /jwks { default_type application/json; alias $TEST_NGINX_JWT_KEYS/rsa1.jwks; }
        location = /ok { return 200 "ok\n"; }
    }
--- config
    location = /j {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_PEER_PORT/ok;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_PEER_PORT/jwks;
    }
    location = /k {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rotation.jwks;
        proxy_pass http://127.0.0.1:$TEST_NGINX_PEER_PORT/ok;
    }
    location = /status { gateway_status; }
--- request
GET /status
--- response_body_like: "jwt":\{"key_files":
--- check: jwt
--- no_error_log
[error]



=== TEST 10: the example's JSON access log is JSON, whatever the client sent
--- http_config eval
$main::JsonLogFormat
--- config
    gateway_request_id on;
    gateway_trace on;
    location /jl/ {
        access_log logs/json.log gateway_json;
        return 200 "ok\n";
    }
--- request
GET /jl/first
--- response_body
ok
--- check: json_log


=== TEST 11: a scrape of many series is sent part by part, whole, to either worker; clients that close mid-scrape
--- http_config
    gateway_metrics_zone 16m;
    keepalive_requests 10000;
--- config eval
$main::BigConfig
--- request
GET /metrics
--- response_headers
Transfer-Encoding: chunked
Content-Length:
--- response_body_like: \ngateway_metrics_dropped_total 0\n$
--- check: big
--- no_error_log
[error]
[alert]
[crit]



=== TEST 12: requests no location took have the server's route
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_PEER_PORT;
        server_name gone.example;
        gateway_route gone;
        return 301 http://localhost/;
    }
--- config
    if ($uri ~ ^/gone/) {
        return 302 /;
    }
    location = /metrics { gateway_metrics; }
--- request
GET /metrics
--- response_body_like: gateway_http_requests_in_flight
--- check: server_level



=== TEST 13: a scrape can be gzipped (gzip_types sees text/plain)
--- config
    location = /metrics {
        gzip on;
        gzip_types text/plain;
        gzip_min_length 1;
        gateway_metrics;
    }
--- request
GET /metrics
--- more_headers
Accept-Encoding: gzip
--- response_headers
Content-Encoding: gzip
Content-Type: text/plain; version=0.0.4; charset=utf-8
--- no_error_log
[error]
