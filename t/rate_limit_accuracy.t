# Accuracy, counted (never timed): clients on keep-alive connections hammer
# one key for a few seconds through nginx with two workers. Every answer
# carries the gateway's clock ($msec), so the checks use what the gateway
# saw, however a busy machine delays the clients: with T the span from its
# first to its last answer, the admitted count stays within rate x T +
# burst; and it is, within 1%, what an exact token bucket admits when fed
# the same requests at the same times. (Against rate x T + burst alone, a
# lower bound would fail whenever the clients fell idle long enough for the
# bucket to fill up, which only a busy machine decides.)
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   port: TEST_NGINX_ACCURACY_PORT, else TEST_NGINX_SERVER_PORT + 2;
#   TEST_NGINX_ACCURACY_SECONDS (default 5).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness";

use Test::More;
use GatewayHarness qw(count_requests port module_path token_bucket_admits);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();

my $port = port('TEST_NGINX_ACCURACY_PORT', 2);
my $seconds = $ENV{TEST_NGINX_ACCURACY_SECONDS} || 5;

my $nginx = GatewayHarness::Nginx->new(
    dir => "$FindBin::Bin/servroot_rl_accuracy", port => $port, workers => 2);

$nginx->write_conf(http => <<'EOF', server => <<'EOF');
    gateway_rate_limit_zone acc_tb key=$binary_remote_addr rate=200r/s burst=100 size=1m;
    gateway_rate_limit_zone acc_m key=$binary_remote_addr rate=6000r/m burst=50 size=1m;
EOF
        location /tb {
            gateway_rate_limit acc_tb;
            add_header X-Pid $pid always;
            add_header X-Msec $msec always;
            empty_gif;
        }
        location /per_minute {
            gateway_rate_limit acc_m;
            add_header X-Pid $pid always;
            add_header X-Msec $msec always;
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

    my $span = $res->{server_last} - $res->{server_first};
    my $admitted = $res->{200} // 0;
    my $bound = $rate * $span + $burst;
    my $exact = token_bucket_admits($rate, $burst, $res->{decisions});
    my @workers = sort keys %{ $res->{pids} || {} };

    note sprintf "%s: %d admitted, %d rejected in %.3fs; bound %.1f; "
                 . "an exact bucket admits %d; admitted per worker: %s",
                 $name, $admitted, $res->{429} // 0, $span, $bound, $exact,
                 join(', ', map { "$_=$res->{pids}{$_}" } @workers);

    ok($res->{429}, "$name: clients went over the limit");
    ok(!$res->{broken} && !$res->{connect_error}, "$name: no broken connections");
    # $msec has whole milliseconds, and the two workers each read the clock
    # when they wake: one token of slack for that
    cmp_ok($admitted, '<=', $bound + 1, "$name: admitted <= rate x T + burst");
    cmp_ok(abs($admitted - $exact), '<=', 0.01 * $exact,
           "$name: admitted is what an exact token bucket admits, within 1%");
    is(scalar(grep { !/^(200|429|(server_)?(first|last)|pids|decisions)$/ } keys %$res), 0,
       "$name: only 200 and 429 answers");
}

unlike($nginx->log_text, qr/\[(alert|crit|emerg)\]/, 'no alerts');

$nginx->stop;
done_testing();
