# The stats registry with a master and two workers: counts of both
# workers add up exactly; a reload keeps the series it declares again
# (counters go on) and removes the others; a zone too small for the
# configuration says so at start.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   port: TEST_NGINX_STATS_PORT, else TEST_NGINX_SERVER_PORT + 16.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness";

use Test::More;
use GatewayHarness qw(http_get port wait_until module_path);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();

my $port = port('TEST_NGINX_STATS_PORT', 16);
my $nginx = GatewayHarness::Nginx->new(dir => "$FindBin::Bin/servroot_stats",
                                         port => $port, workers => 2);

sub conf {
    my ($gen, $extra) = @_;
    $nginx->write_conf(http => '', server => <<"EOF");
        location = /gen { return 200 "$gen\\n"; }
        location /w1 { add_header X-Pid \$pid; return 200 "w1\\n"; }
        $extra
        location = /stats { return 200 \$gateway_stats; }
EOF
}

# the count of a series, once every worker has logged what it answered
sub count {
    my ($series) = @_;
    my (undef, undef, $body) = http_get($port, '/stats');
    return $body =~ /^\Q$series\E (\d+)$/m ? $1 : 0;
}

sub settled {
    my ($gen) = @_;
    return wait_until(10, sub {
        for (1 .. 5) {
            my (undef, undef, $body) = http_get($port, '/gen');
            return 0 unless ($body // '') eq "$gen\n";
        }
        return 1;
    });
}

my $w1 = 'gateway_http_requests_total{route="/w1",method="GET",status="2xx"}';
my $w2 = 'gateway_http_requests_total{route="/w2",method="GET",status="2xx"}';

conf(1, 'location /w2 { return 200 "w2\n"; }');
$nginx->start;

# requests until both workers have answered some (each a new connection)
my (%pids, $sent);
for ($sent = 0; $sent < 400 && ($sent < 20 || keys %pids < 2); $sent++) {
    my ($status, $h) = http_get($port, '/w1');
    $pids{$h->{'x-pid'}}++ if $status == 200;
}
cmp_ok(scalar keys %pids, '>=', 2, 'both workers answered');

ok(wait_until(10, sub { count($w1) == $sent }), "the two workers' counts add up")
    or diag(count($w1) . " counted, $sent sent");
http_get($port, '/w2') for 1 .. 3;
ok(wait_until(10, sub { count($w2) == 3 }), 'another route has its own series');

# a reload keeps /w1's series and drops /w2's

conf(2, 'location /w3 { return 200 "w3\n"; }');
$nginx->reload;
ok(settled(2), 'reloaded');
http_get($port, '/w1');
ok(wait_until(10, sub { count($w1) == $sent + 1 }),
   'a series declared again goes on counting');
my (undef, undef, $body) = http_get($port, '/stats');
unlike($body, qr/route="\/w2"/, 'a series no longer declared is gone');

unlike($nginx->log_text, qr/\[(alert|crit)\]/, 'no alerts');
$nginx->stop;

# a zone too small for the configuration

my $small = GatewayHarness::Nginx->new(dir => "$FindBin::Bin/servroot_stats_small",
                                         port => $port, workers => 2);
$small->write_conf(http => 'gateway_metrics_zone 32k;',
                   server => join "\n", map { "location /l$_ { return 200; }" } 1 .. 120);
$small->start;
like($small->log_text,
     qr/\[warn\].*the gateway_stats zone is full: a series of "gateway_http_requests_total" is not counted/,
     'a full zone is logged at start');
is((http_get($port, '/l120'))[0], 200, 'and requests are served');
$small->stop;

done_testing();
