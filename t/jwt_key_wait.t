# gateway_jwt_key_request with no keys yet and a provider that takes its
# time: the first request fetches, the requests that arrive meanwhile wait
# for that fetch (parked, woken when it ends) instead of fetching again,
# and all are answered with the keys it brought. The provider holds its
# answer until the script lets it go, so nothing here depends on timing.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   ports: TEST_NGINX_JWT_WAIT_PORT, TEST_NGINX_JWT_WAIT_IDP_PORT, else
#   TEST_NGINX_SERVER_PORT + 17 and + 18.

use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use lib "$FindBin::Bin/harness";

use IO::Socket::INET;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use JwtMint;
use GatewayHarness qw(port wait_until module_path);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module'
    unless module_path();

my $port = port('TEST_NGINX_JWT_WAIT_PORT', 17);
my $idp_port = port('TEST_NGINX_JWT_WAIT_IDP_PORT', 18);
my $dir = "$FindBin::Bin/servroot_jwt_wait";
my $idp_dir = "$FindBin::Bin/servroot_jwt_wait_idp";

system('rm', '-rf', $idp_dir);
mkdir $idp_dir or die "$idp_dir: $!";

# the provider: one line in "fetches" per request, answered once "release"
# exists

my $jwks = do {
    open my $fh, '<', keys_dir() . '/rotation.jwks' or die $!;
    local $/;
    <$fh>;
};

my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                   LocalPort => $idp_port,
                                   Listen => 16, ReuseAddr => 1)
    or die "provider on port $idp_port: $!";

my $idp = fork // die "fork: $!";

if ($idp == 0) {
    while (my $c = $listen->accept) {
        my $req = '';
        while ($req !~ /\r\n\r\n/) {
            last unless sysread $c, $req, 4096, length $req;
        }

        open my $log, '>>', "$idp_dir/fetches" or die $!;
        print $log "fetch\n";
        close $log;

        sleep 0.02 until -e "$idp_dir/release";

        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 . "Content-Length: " . length($jwks) . "\r\n"
                 . "Connection: close\r\n\r\n$jwks";
        close $c;
    }

    POSIX::_exit(0);
}

close $listen;

sub fetches {
    open my $fh, '<', "$idp_dir/fetches" or return 0;
    my @l = <$fh>;
    return scalar @l;
}

my $nginx = GatewayHarness::Nginx->new(dir => $dir, port => $port,
                                         workers => 1);
$nginx->write_conf(http => '', server => echo_location() . <<"EOF");
        location /orders {
            gateway_jwt "api";
            gateway_jwt_key_request /_jwks;
            proxy_set_header X-Sub \$gateway_jwt_claim_sub;
            proxy_pass http://127.0.0.1:$port/_echo;
        }
        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:$idp_port/jwks;
            proxy_read_timeout 60s;
        }
EOF
$nginx->start;

my $token = token_by('rsa1', sub => 'alice');

# five requests at once: the first fetches, the others wait for it

my @clients;

for my $n (1 .. 5) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
        or die "connect: $!";
    print $s "GET /orders HTTP/1.0\r\nHost: x\r\n"
             . "Authorization: Bearer $token\r\n\r\n";
    push @clients, $s;
}

ok(wait_until(15, sub { fetches() >= 1 }), 'the keys are being fetched');

open my $release, '>', "$idp_dir/release" or die $!;
close $release;

# a generous bound, so that a hang fails the test instead of the run
local $SIG{ALRM} = sub { die "no answer in 60s\n" };
alarm 60;

my @answers = map {
    local $/;
    my $s = $_;
    my $r = <$s> // '';
    my ($status) = $r =~ m{^HTTP/1\.1 (\d+)};
    my ($sub) = $r =~ /(sub=\w+)/;
    ($status // 'none') . ' ' . ($sub // '');
} @clients;

alarm 0;

is_deeply(\@answers, [('200 sub=alice') x 5],
          'every request is answered with the fetched keys');
is(fetches(), 1, 'with one fetch');

my (undef, $h) = GatewayHarness::http_get($port, '/orders',
                                           headers => { Authorization => "Bearer $token" });
is(fetches(), 1, 'a later request uses the keys in memory');

unlike($nginx->log_text, qr/\[(error|alert|crit)\]/, 'no errors');

$nginx->stop;
kill 'KILL', $idp;
waitpid $idp, 0;

done_testing();
