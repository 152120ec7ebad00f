# What the Consul suites ask of the gateway under test: requests on fresh
# connections (so both workers serve them), the peers that answered, and
# polling with a generous deadline instead of sleeping.

package GatewayClient;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(get sample wait_for error_log_since error_log_mark
                    ipv6_loopback);

my $http = HTTP::Tiny->new(timeout => 10, keep_alive => 0);

sub port { $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984 }

# GET $uri from the gateway: the body, or "" when there is none
sub get {
    my ($uri) = @_;
    my $r = $http->get('http://127.0.0.1:' . port() . $uri);
    return $r->{status} == 599 ? '' : $r->{content};
}

# $n requests: { body => how many times }
sub sample {
    my ($uri, $n) = @_;
    my %seen;
    $seen{ get($uri) }++ for 1 .. $n;
    return \%seen;
}

# polls $cond until it holds or $timeout seconds pass; its last result
sub wait_for {
    my ($timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $ok = $cond->();
        return $ok if $ok || time > $deadline;
        sleep 0.1;
    }
}

# the error log's length now, and what was written after such a mark
sub error_log_mark { -s $Test::Nginx::Util::ErrLogFile || 0 }

sub error_log_since {
    my ($mark) = @_;
    open my $fh, '<', $Test::Nginx::Util::ErrLogFile or return '';
    seek $fh, $mark || 0, 0;
    local $/;
    return <$fh> // '';
}

# 1 when [::1] can be listened on here
sub ipv6_loopback {
    require IO::Socket::IP;
    my $s = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
                                Listen => 1);
    return $s ? 1 : 0;
}

1;
