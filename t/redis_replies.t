# Replies a RESP2 client must not take: a Redis double answers the cache's
# GET with each of RESP3's types (which hiredis 1.x parses, 0.14 does not),
# with arrays nested deeper than 7, and with an array announced too long to
# make room for (refused before any is made). Each must fail the link as an
# invalid answer (never be read as a value, never crash a worker), the
# request is served by the upstream all the same, and the link comes back.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   ports (defaults from TEST_NGINX_SERVER_PORT, 1984 when unset):
#     TEST_NGINX_ODD_REDIS_PORT     the Redis double        (+ 23)
#     TEST_NGINX_ODD_UPSTREAM_PORT  the upstream            (+ 24)
#     TEST_NGINX_ODD_GATEWAY_PORT   the gateway             (+ 25)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness", "$FindBin::Bin/cache_lib";

use Test::More;
use GatewayHarness qw(port wait_until module_path);
use CacheHarness qw(request cache_key);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();

my $redis_port = port('TEST_NGINX_ODD_REDIS_PORT', 23);
my $up_port = port('TEST_NGINX_ODD_UPSTREAM_PORT', 24);
my $gw_port = port('TEST_NGINX_ODD_GATEWAY_PORT', 25);

my $root = "$FindBin::Bin/servroot_redis_replies";

# what the double answers a GET of the key r:NAME with
my @odd = (
    [map      => "%1\r\n+a\r\n+b\r\n"],
    [set      => "~1\r\n+a\r\n"],
    [push     => ">2\r\n+message\r\n+x\r\n"],
    [double   => ",1.5\r\n"],
    [bool     => "#t\r\n"],
    [null     => "_\r\n"],
    [verbatim => "=8\r\ntxt:abcd\r\n"],
    [bignum   => "(12345678901234567890\r\n"],
    [inner    => "*2\r\n\$1\r\na\r\n~1\r\n+a\r\n"],
    [deep     => ("*1\r\n" x 9) . ":1\r\n"],
    [long     => "*2147483647\r\n", qr/invalid answer: an array of over/],
);

my $redis = OddRedis->new(dir => "$root/redis", port => $redis_port,
                          replies => { map { (cache_key("r:$_->[0]") => $_->[1]) } @odd })
    ->start;
my $up = CacheHarness::Upstream->new(dir => "$root/upstream",
                                     port => $up_port)->start;

my $gw = GatewayHarness::Nginx->new(dir => "$root/gateway", port => $gw_port,
                                    workers => 1);
$gw->write_conf(http => <<"EOF", server => <<"EOF");
    gateway_redis odd 127.0.0.1:$redis_port timeout=5s connect_timeout=5s;
EOF
        location /c/ {
            gateway_cache odd;
            gateway_cache_key r:\$arg_r;
            add_header X-Cache \$gateway_cache_status always;
            proxy_pass http://127.0.0.1:$up_port;
        }
EOF
$gw->start;

sub invalid_answers { scalar(() = $gw->log_text =~ /: invalid answer/g) }

for my $i (0 .. $#odd) {
    my $name = $odd[$i][0];
    my $served = 1;

    # until the link is back from the last case, the cache is skipped
    ok(wait_until(30, sub {
        my ($status, undef, $body) = request($gw_port, 'GET', "/c/x?r=$name");
        $served &&= $status == 200 && $body =~ /^served #\d+ for /;
        $redis->log =~ /^sent $name$/m;
    }), "$name: Redis was asked");
    ok($served, "$name: every request is served by the upstream");
    ok(wait_until(15, sub { $redis->log =~ /^closed after $name$/m }),
       "$name: the gateway drops the connection");
    ok(wait_until(15, sub { invalid_answers() == $i + 1 }),
       "$name: logged as an invalid answer");
    like($gw->log_text, $odd[$i][2], "$name: and why") if $odd[$i][2];
}

ok(wait_until(30, sub { (request($gw_port, 'GET', '/c/x?r=fine'))[3]{'x-cache'} eq 'MISS' }),
   'the link comes back: a plain nil is a MISS');
unlike($gw->log_text, qr/\[(alert|crit|emerg)\]|exited on signal/,
       'no worker crashed, no alerts');

$gw->stop;
$up->stop;
$redis->stop;

done_testing();


package OddRedis;

# Speaks enough RESP for the gateway: PONG, OK, nil for a GET, or the reply
# given for its key. One connection at a time; what happens goes to
# redis.log ("sent NAME", "closed after NAME").

use File::Path qw(make_path remove_tree);

use parent -norequire, 'GatewayHarness::Process';

sub log { GatewayHarness::slurp("$_[0]{dir}/redis.log") }

sub start {
    my $self = shift;
    remove_tree($self->{dir});
    make_path($self->{dir});
    my $listen = GatewayHarness::listener($self->{port}, 'redis double');
    $self->spawn(sub {
        $SIG{PIPE} = 'IGNORE';
        open my $log, '>>', "$self->{dir}/redis.log" or die $!;
        $log->autoflush(1);
        while (1) {
            my $c = $listen->accept or next;
            my $last = $self->_serve($c, $log);
            print $log "closed after $last\n";
            close $c;
        }
    });
    close $listen;
    return $self;
}

# Answers commands until the connection ends; returns the name of the last
# odd reply sent ('' for none).
sub _serve {
    my ($self, $c, $log) = @_;
    my ($in, $last) = ('', '');
    while (sysread($c, $in, 65536, length $in)) {
        while (my ($verb, $key) = _take(\$in)) {
            $verb = uc $verb;
            my $odd = $verb eq 'GET' && $self->{replies}{$key // ''};
            my $out = $odd ? $odd
                    : $verb eq 'PING' ? "+PONG\r\n"
                    : $verb eq 'GET' ? "\$-1\r\n"
                    : "+OK\r\n";
            syswrite($c, $out) // return $last;
            next unless $odd;
            ($last = $key) =~ s/^gw:cache:=r://;
            print $log "sent $last\n";
        }
    }
    return $last;
}

# The arguments of one whole command taken from the front of $$in, or ()
# when it has not all come yet.
sub _take {
    my ($in) = @_;
    return () unless $$in =~ /^\*(\d+)\r\n/;
    my ($n, $pos) = ($1, length $&);
    my @args;
    for (1 .. $n) {
        return () unless substr($$in, $pos) =~ /^\$(\d+)\r\n/;
        my $start = $pos + length $&;
        return () if length($$in) < $start + $1 + 2;
        push @args, substr($$in, $start, $1);
        $pos = $start + $1 + 2;
    }
    substr($$in, 0, $pos) = '';
    return @args;
}
