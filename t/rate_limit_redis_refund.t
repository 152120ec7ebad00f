# Zones of one request kept in two Redis servers (Debian's redis-server,
# two started here): when one refuses the request, what the other took is
# given back, as the contract says ("a rejected request consumes no
# quota"), for the token bucket and the sliding window.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   ports (defaults from TEST_NGINX_SERVER_PORT, 1984 when unset):
#     TEST_NGINX_REDIS_ONE_PORT, TEST_NGINX_REDIS_TWO_PORT  (+ 14, + 15)
#     TEST_NGINX_GATEWAY_REFUND_PORT  the gateway            (+ 6)

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness";

use Test::More;
use GatewayHarness qw(http_get port wait_until module_path);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();
plan skip_all => 'redis-server is not installed'
    unless GatewayHarness::Redis::available();

my $one_port = port('TEST_NGINX_REDIS_ONE_PORT', 14);
my $two_port = port('TEST_NGINX_REDIS_TWO_PORT', 15);
my $gw_port = port('TEST_NGINX_GATEWAY_REFUND_PORT', 6);

my $root = "$FindBin::Bin/servroot_rl_refund";

my $one = GatewayHarness::Redis->new(dir => "$root/one", port => $one_port)->start;
my $two = GatewayHarness::Redis->new(dir => "$root/two", port => $two_port)->start;

# one worker: its link to a Redis keeps the order of what it sends
my $g = GatewayHarness::Nginx->new(dir => "$root/gw", port => $gw_port, workers => 1);
$g->write_conf(http => <<"EOF", server => <<'EOF');
    gateway_redis one 127.0.0.1:$one_port;
    gateway_redis two 127.0.0.1:$two_port;
    gateway_rate_limit_zone wide key=\$http_x_client rate=1r/m burst=5 size=1m redis=one;
    gateway_rate_limit_zone narrow key=\$http_x_client rate=1r/m burst=1 size=1m redis=two;
    gateway_rate_limit_zone wwide key=\$http_x_client rate=5r/m algorithm=sliding_window size=1m redis=one;
    gateway_rate_limit_zone wnarrow key=\$http_x_client rate=1r/m algorithm=sliding_window size=1m redis=two;
EOF
        location /two {
            gateway_rate_limit wide;
            gateway_rate_limit narrow;
            empty_gif;
        }
        location /wide {
            gateway_rate_limit wide;
            empty_gif;
        }
        location /wtwo {
            gateway_rate_limit wwide;
            gateway_rate_limit wnarrow;
            empty_gif;
        }
        location /wwide {
            gateway_rate_limit wwide;
            empty_gif;
        }
EOF
$g->start;

sub get {
    my ($path, $client) = @_;
    my ($status, $h) = http_get($gw_port, $path, headers => { 'X-Client' => $client });
    return wantarray ? ($status, $h) : $status;
}

ok(wait_until(10, sub { ((get('/two', 'probe'))[1] // {})->{ratelimit} }),
   'both Redis servers answer');

for my $case (['/two', '/wide', 'wide', 'token bucket'],
              ['/wtwo', '/wwide', 'wwide', 'sliding window'])
{
    my ($both, $alone, $zone, $what) = @$case;
    my $client = "erin-$zone";

    is(get($both, $client), 200, "$what: both zones admit the first request");
    is_deeply([map { scalar get($both, $client) } 1 .. 3], [429, 429, 429],
              "$what: the narrow zone in the second Redis refuses the next three");

    # with the refunds the wide zone lost one request of five, without them four
    my ($st, $h) = get($alone, $client);
    is($st, 200, "$what: the wide zone alone admits");
    like($h->{ratelimit} // '', qr/^"$zone";r=3;t=\d+$/,
         "$what: what the refused requests took from the first Redis was given back");
}

done_testing();
