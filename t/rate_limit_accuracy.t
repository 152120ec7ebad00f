# Accuracy, counted (never timed): clients on keep-alive connections hammer
# one key for a few seconds through nginx with two workers. With T the span
# from the first request sent to the last answer received, the admitted
# count must stay within rate x T + burst, and reach at least 98% of it.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   port: TEST_NGINX_ACCURACY_PORT, else TEST_NGINX_SERVER_PORT + 2;
#   TEST_NGINX_ACCURACY_SECONDS (default 5).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/rate_limit_lib";

use Test::More;
use RateLimitHarness qw(count_requests port module_path);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();

my $port = port('TEST_NGINX_ACCURACY_PORT', 2);
my $seconds = $ENV{TEST_NGINX_ACCURACY_SECONDS} || 5;

my $nginx = RateLimitHarness::Nginx->new(
    dir => "$FindBin::Bin/servroot_rl_accuracy", port => $port, workers => 2);

$nginx->write_conf(http => <<'EOF', server => <<'EOF');
    gateway_rate_limit_zone acc_tb key=$binary_remote_addr rate=200r/s burst=100 size=1m;
    gateway_rate_limit_zone acc_m key=$binary_remote_addr rate=6000r/m burst=50 size=1m;
EOF
        location /tb {
            gateway_rate_limit acc_tb;
            add_header X-Pid $pid always;
            empty_gif;
        }
        location /per_minute {
            gateway_rate_limit acc_m;
            add_header X-Pid $pid always;
            empty_gif;
        }
EOF
$nginx->start;

for my $case (['/tb', 200, 100, 'token bucket, 200r/s burst=100'],
              ['/per_minute', 100, 50, 'token bucket, 6000r/m burst=50'])
{
    my ($path, $rate, $burst, $name) = @$case;

    my $res = count_requests(port => $port, path => $path, clients => 3,
                             seconds => $seconds);

    my $span = $res->{last} - $res->{first};
    my $admitted = $res->{200} // 0;
    my $bound = $rate * $span + $burst;
    my @workers = sort keys %{ $res->{pids} || {} };

    note sprintf "%s: %d admitted, %d rejected in %.3fs; bound %.1f; "
                 . "admitted per worker: %s", $name, $admitted,
                 $res->{429} // 0, $span, $bound,
                 join(', ', map { "$_=$res->{pids}{$_}" } @workers);

    ok($res->{429}, "$name: clients went over the limit");
    ok(!$res->{broken} && !$res->{connect_error}, "$name: no broken connections");
    # T is measured by the client, which sees the server's first and last
    # decisions only to within a round trip: one token of slack for that
    cmp_ok($admitted, '<=', $bound + 1, "$name: admitted <= rate x T + burst");
    cmp_ok($admitted, '>=', 0.98 * $bound, "$name: admitted >= 98% of it");
    is(scalar(grep { !/^(200|429|first|last|pids)$/ } keys %$res), 0,
       "$name: only 200 and 429 answers");
}

unlike($nginx->log_text, qr/\[(alert|crit|emerg)\]/, 'no alerts');

$nginx->stop;
done_testing();
