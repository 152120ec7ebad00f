package Blackhole;

# A listener that accepts connections (the kernel does, into its backlog)
# and never answers: a peer that times out, or that holds a request open
# for as long as a test needs.
#
#   use FindBin; use lib $FindBin::Bin; use Blackhole;
#   our $Blackhole = blackhole($ENV{TEST_NGINX_BLACKHOLE_PORT});

use strict;
use warnings;

use IO::Socket::INET;

use Exporter 'import';
our @EXPORT = qw(blackhole);

sub blackhole {
    my $port = shift;
    my $listener = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $port,
        Listen    => 1024,
        ReuseAddr => 1,
    ) or die "cannot listen on $port: $!";
    return $listener;
}

1;
