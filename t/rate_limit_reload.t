# A reload keeps a zone's counters; a reload that would change a zone's
# size, key or algorithm is refused, and the running configuration and its
# counters stay. nginx runs with a master and two workers, reloaded with HUP.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   port: TEST_NGINX_RELOAD_PORT, else TEST_NGINX_SERVER_PORT + 1.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/harness";

use Test::More;
use GatewayHarness qw(http_get port wait_until module_path);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();

my $port = port('TEST_NGINX_RELOAD_PORT', 1);
my $nginx = GatewayHarness::Nginx->new(dir => "$FindBin::Bin/servroot_rl_reload",
                                         port => $port, workers => 2);

sub conf {
    my (%o) = @_;
    my $size = $o{size} // '1m';
    my $key = $o{key} // '$binary_remote_addr';
    my $alg = $o{algorithm} // 'token_bucket';
    my $rate = $o{rate} // '1r/m';
    $nginx->write_conf(http => <<"EOF", server => <<"EOF");
    gateway_rate_limit_zone reload1 key=$key rate=$rate burst=5 size=$size algorithm=$alg;
EOF
        location = /gen { return 200 "$o{gen}\\n"; }
        location /t {
            gateway_rate_limit reload1;
            add_header X-Gen $o{gen} always;
            proxy_pass http://127.0.0.1:$port/back;
        }
        location /back { return 200 "ok\\n"; }
EOF
}

sub generation {
    my (undef, undef, $body) = http_get($port, '/gen');
    chomp $body;
    return $body;
}

# the new configuration answers, again and again (old workers are gone)
sub settled {
    my ($gen) = @_;
    return wait_until(10, sub {
        for (1 .. 5) { return 0 unless generation() eq $gen }
        return 1;
    });
}

sub remaining {
    my ($status, $h) = http_get($port, '/t');
    my ($r) = ($h->{ratelimit} // '') =~ /;r=(\d+)/;
    return ($status, $r // -1, $h->{'x-gen'} // '');
}

conf(gen => 1);
$nginx->start;

is_deeply([remaining()], [200, 4, 1], 'first request');
is_deeply([remaining()], [200, 3, 1], 'second request');

# a reload that changes nothing about the zone keeps its counters

conf(gen => 2);
$nginx->reload;
ok(settled('2'), 'reloaded');
# old workers may still answer for a moment; every worker shares the zone
is_deeply([remaining()], [200, 2, 2], 'counters survive the reload');
is_deeply([remaining()], [200, 1, 2], 'and keep counting');

# a new size is refused: nginx keeps running the previous configuration

sub refused {
    my ($what, $pattern, %conf) = @_;
    my $before = length $nginx->log_text;
    conf(gen => 9, %conf);
    $nginx->reload;
    ok(wait_until(10, sub { substr($nginx->log_text, $before) =~ $pattern }),
       "a reload changing the $what is refused")
        or diag(substr($nginx->log_text, $before));
    like(substr($nginx->log_text, $before), qr/\[emerg\].*nginx\.conf:\d+/,
         'the message names the file and line');
    sleep 0.5;
    is(generation(), '2', 'the previous configuration still runs');
}

refused('size', qr/zone "reload1" cannot change its size from \d+ to \d+ on reload/,
        size => '2m');
refused('key', qr/zone "reload1" cannot change its key from "\$binary_remote_addr" to "\$remote_addr" on reload/,
        key => '$remote_addr');
refused('algorithm', qr/zone "reload1" cannot change its algorithm on reload/,
        algorithm => 'sliding_window');

is_deeply([remaining()], [200, 0, 2], 'the counters went on through refused reloads');
is_deeply([(remaining())[0, 2]], [429, 2], 'and the limit holds');

# the rate may change on reload; what was taken stays taken

conf(gen => 3, rate => '2r/m');
$nginx->reload;
ok(settled('3'), 'reloaded with a new rate');
is((remaining())[0], 429, 'the bucket is still empty');

unlike($nginx->log_text, qr/\[(alert|crit)\]/, 'no alerts or crits');

$nginx->stop;
done_testing();
