package CacheHarness;

# Helpers for the response cache suites, next to GatewayHarness (which
# starts nginx and redis-server): an upstream that answers what each
# request's query asks for and counts what it served, an HTTP client that
# keeps every header line, a Redis client that reads binary replies, and
# the cache's key and entry format (src/core/include/gw_cache.h).
# Plain Perl, core modules only.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT_OK = qw(request redis_call cache_key lock_key entry);

# One request on a new connection: (status, [[name, value], ...], body,
# \%lower-cased name => last value); status 0 when nothing came back.
sub request {
    my ($port, $method, $path, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => $o{timeout} || 10)
        or return (0, [], '', {});
    my $extra = join '', map { "$_->[0]: $_->[1]\r\n" } @{ $o{headers} || [] };
    my $body = $o{body} // '';
    $extra .= 'Content-Length: ' . length($body) . "\r\n" if length $body;
    print $sock "$method $path HTTP/1.0\r\nHost: localhost\r\n$extra\r\n$body";
    my $resp = '';
    my $deadline = time + ($o{timeout} || 10);
    $sock->blocking(0);
    while (time < $deadline) {
        my $n = sysread($sock, $resp, 65536, length $resp);
        last if defined $n && $n == 0;
        sleep 0.005 unless defined $n;
    }
    close $sock;
    my $end = index($resp, "\r\n\r\n");
    return (0, [], '', {}) if $end < 0 || $resp !~ m{^HTTP/1\.\d (\d+)};
    my $status = $1;
    my @lines = split /\r\n/, substr($resp, 0, $end);
    shift @lines;
    my (@headers, %last);
    for (@lines) {
        next unless /^([^:]+):\s*(.*)$/;
        push @headers, [$1, $2];
        $last{lc $1} = $2;
    }
    return ($status, \@headers, substr($resp, $end + 4), \%last);
}

# A Redis command in RESP; returns the reply: a string, an integer, undef
# for nil, an array ref, or "-ERR ..." for an error.
sub redis_call {
    my ($port, @cmd) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5)
        or return "-ERR connect: $!";
    print $s '*' . @cmd . "\r\n"
             . join('', map { '$' . length($_) . "\r\n$_\r\n" } @cmd);
    my $reply = _read_reply($s);
    close $s;
    return $reply;
}

sub _read_reply {
    my ($s) = @_;
    my $line = <$s> // return '-ERR no reply';
    $line =~ s/\r\n$//;
    my ($type, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $type eq '+';
    return $line if $type eq '-';
    return 0 + $rest if $type eq ':';
    if ($type eq '$') {
        return undef if $rest < 0;
        my $data = '';
        while (length $data < $rest + 2) {
            read($s, $data, $rest + 2 - length $data, length $data) or last;
        }
        return substr($data, 0, $rest);
    }
    if ($type eq '*') {
        return undef if $rest < 0;
        return [map { _read_reply($s) } 1 .. $rest];
    }
    return "-ERR unexpected $line";
}

# The Redis key of a cache key: the key itself up to 63 bytes, its SHA-256
# when longer or hidden (cache_key($key, hidden => 1), a location with
# gateway_cache_authorized on).
sub cache_key {
    my ($key, %o) = @_;
    return 'gw:cache:=' . $key if !$o{hidden} && length($key) <= 63;
    return 'gw:cache:' . sha256_hex($key);
}

# The Redis key of an entry's fill lock.
sub lock_key {
    my ($entry_key) = @_;
    return 'gw:cache:lock:' . substr($entry_key, length 'gw:cache:');
}

# An entry in format version 1: entry(status => 200, stored_at => T,
# age => 0, lifetime => 60, headers => [[n, v], ...], body => '',
# variant => undef).
sub entry {
    my (%e) = @_;
    my $variant = $e{variant};
    my $head = defined $variant ? $variant : '';
    my @h = @{ $e{headers} || [] };
    $head .= pack('nn', length $_->[0], length $_->[1]) . $_->[0] . $_->[1]
        for @h;
    my $body = $e{body} // '';
    return 'GWCE' . pack('CCn', 1, defined $variant ? 1 : 0, $e{status} || 200)
           . pack('Q>NNNnnQ>', $e{stored_at} // time, $e{age} || 0,
                  $e{lifetime} || 60, length $head, scalar @h,
                  defined $variant ? length $variant : 0, length $body)
           . $head . $body;
}


package CacheHarness::Upstream;

# An HTTP/1.x server, one process per connection so that a held response
# does not hold up the others. The query of each request says what to
# answer:
#   status=N        the status (200)
#   h=Name:value    a header line, repeatable (URL-encoded)
#   body=TEXT       the body; else "served #N for TARGET\n", N counting the
#                   requests for the target
#   size=N          instead, N bytes of binary body starting "#N\0"
#   chunked=1       chunked transfer coding
#   hold=TAG        the first answer for the target sends its header and
#                   the first half of its body, then waits for release(TAG)
# Every request line is appended to requests.log.

use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

use GatewayHarness ();

use parent -norequire, 'GatewayHarness::Process';

sub new {
    my ($class, %o) = @_;
    my $self = bless {%o}, $class;
    remove_tree($self->{dir});
    make_path($self->{dir});
    return $self;
}

sub start {
    my $self = shift;
    my $listen = GatewayHarness::listener($self->{port}, 'upstream');
    $self->spawn(sub {
        $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $c = $listen->accept or next;
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                close $listen;
                $self->_serve($c);
                POSIX::_exit(0);
            }
            close $c;
        }
    });
    close $listen;
    return $self;
}

# How many requests the upstream has seen for exactly this target (all
# methods, or one).
sub hits {
    my ($self, $target, $method) = @_;
    open my $fh, '<', "$self->{dir}/requests.log" or return 0;
    my $n = 0;
    while (my $l = <$fh>) {
        chomp $l;
        my ($m, $t) = split / /, $l, 2;
        $n++ if $t eq $target && (!$method || $m eq $method);
    }
    return $n;
}

sub release {
    my ($self, $tag) = @_;
    open my $fh, '>', "$self->{dir}/release-$tag" or die $!;
    close $fh;
}

sub _serve {
    my ($self, $c) = @_;
    my $req = '';
    while ($req !~ /\r\n\r\n/) {
        my $n = sysread($c, $req, 8192, length $req);
        return unless $n;
    }
    my ($method, $target) = $req =~ m{^(\S+) (\S+) HTTP/};
    return unless $target;

    open my $log, '>>', "$self->{dir}/requests.log" or die $!;
    syswrite $log, "$method $target\n";
    close $log;
    my $serial = $self->hits($target);

    my %q;
    my ($query) = $target =~ /\?(.*)$/;
    for (split /&/, $query // '') {
        my ($k, $v) = split /=/, $_, 2;
        $v //= '';
        $v =~ tr/+/ /;
        $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
        push @{ $q{$k} }, $v;
    }
    my $arg = sub { $q{ $_[0] } ? $q{ $_[0] }[0] : undef };

    my $body;
    if (defined(my $size = $arg->('size'))) {
        $body = "#$serial\0";
        $body .= chr(($_ * 7 + 13) % 256) for length($body) .. $size - 1;
        $body = substr($body, 0, $size);
    } else {
        $body = $arg->('body') // "served #$serial for $target\n";
    }

    my $status = $arg->('status') || 200;
    my $head = "HTTP/1.1 $status Whatever\r\nConnection: close\r\n";
    $head .= "$_\r\n" for @{ $q{h} || [] };
    my $chunked = $arg->('chunked');
    if ($chunked) {
        $head .= "Transfer-Encoding: chunked\r\n";
        my $out = '';
        for (my $i = 0; $i < length $body; $i += 1000) {
            my $part = substr($body, $i, 1000);
            $out .= sprintf("%x\r\n", length $part) . "$part\r\n";
        }
        $body = $out . "0\r\n\r\n";
    } else {
        $head .= 'Content-Length: ' . length($body) . "\r\n";
    }
    $body = '' if $method eq 'HEAD';
    my $out = "$head\r\n$body";
    if ((my $tag = $arg->('hold')) && $serial == 1) {
        my $half = length($head) + 2 + int(length($body) / 2);
        syswrite $c, substr($out, 0, $half);
        $out = substr($out, $half);
        my $deadline = time + 30;
        sleep 0.02 while !-e "$self->{dir}/release-$tag" && time < $deadline;
    }
    syswrite $c, $out;
    close $c;
}

1;
