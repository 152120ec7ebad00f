package Test::Nginx::Client;

# Part of the local Test::Nginx::Socket work-alike (see t/lib/README).
# A small raw HTTP/1.x client over IO::Socket::INET and a response parser
# (status line, headers, chunked / Content-Length framing).

use strict;
use warnings;

use Errno qw(EAGAIN EWOULDBLOCK EINTR EINPROGRESS);
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);

# Send the request pieces and read until the server closes the connection.
# %o: addr, port, bits => [{value => ..., delay_before => ...}, ...],
#     timeout (idle seconds), middle_delay, shutdown, connect_wait,
#     alive (coderef: false means "server is gone, stop retrying connect")
# Returns a hash ref: resp, connected, connect_error, timed_out,
#     write_error, read_error.
sub exchange {
    my %o = @_;
    my $r = { resp => '', connected => 0 };
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    my $deadline = time + ($o{connect_wait} // 5);
    my $tries = 0;
    while (1) {
        $tries++;
        $sock = IO::Socket::INET->new(PeerAddr => $o{addr},
                                      PeerPort => $o{port},
                                      Proto => 'tcp',
                                      Timeout => $o{timeout} || 3);
        last if $sock;
        $r->{connect_error} = "$!";
        return $r if time >= $deadline;
        return $r if $o{alive} && !$o{alive}->();
        sleep($tries < 10 ? 0.02 : 0.1);
    }
    $r->{connected} = 1;
    $sock->blocking(0);

    my @bits = @{ $o{bits} || [] };
    my $first = shift @bits;
    my $wbuf = defined $first ? $first->{value} : '';
    my $woff = 0;
    my $writing = 1;
    my $timeout = $o{timeout} || 3;

    my $sel_r = IO::Select->new($sock);
    my $sel_w = IO::Select->new($sock);

  LOOP:
    while (1) {
        my ($rd, $wr) = IO::Select->select($sel_r, $writing ? $sel_w : undef,
                                           undef, $timeout);
        if (!$rd && !$wr) {
            next LOOP if $! == EINTR;
            $r->{timed_out} = 1;
            last LOOP;
        }

        if ($wr && @$wr && $writing) {
            while (1) {
                my $rest = length($wbuf) - $woff;
                if ($rest > 0) {
                    my $n = syswrite($sock, $wbuf, $rest, $woff);
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK;
                        $r->{write_error} = "$!";
                        $writing = 0;
                        last;
                    }
                    $woff += $n;
                    next;
                }
                my $next = shift @bits;
                if (!defined $next) {
                    $writing = 0;
                    if (defined(my $how = $o{shutdown})) {
                        $how = 1 if $how !~ /^\d+$/;
                        shutdown($sock, $how);
                    }
                    last;
                }
                my $delay = $next->{delay_before} // $o{middle_delay};
                sleep $delay if $delay;
                ($wbuf, $woff) = ($next->{value} // '', 0);
            }
        }

        if ($rd && @$rd) {
            while (1) {
                my $buf;
                my $n = sysread($sock, $buf, 65536);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    $r->{read_error} = "$!";
                    last LOOP;
                }
                last LOOP if $n == 0;    # connection closed by the server
                $r->{resp} .= $buf;
            }
        }
    }

    close $sock;
    return $r;
}

# GET helper used to poll the config version in HUP mode
sub simple_get {
    my ($uri, $host, $timeout) = @_;
    my $req = "GET $uri HTTP/1.0\r\nHost: $host\r\nConnection: close\r\n\r\n";
    my $r = exchange(addr => $Test::Nginx::Util::ServerAddr,
                     port => $Test::Nginx::Util::ServerPortForClient,
                     bits => [{ value => $req }], timeout => $timeout || 1,
                     connect_wait => 0.5);
    return undef unless $r->{connected} && length $r->{resp};
    my ($res) = parse_response($r->{resp}, 0);
    return undef unless $res && defined $res->code && $res->code == 200;
    return $res->content;
}

# Parse one response from $raw.  Returns ($res, $raw_headers, $left, $err):
# $res is a Test::Nginx::Client::Response (undef if nothing was received),
# $raw_headers the status line and header lines (each with its CRLF),
# $left the bytes after this response (pipelining), $err a framing error.
sub parse_response {
    my ($raw, $head_req) = @_;
    # like HTTP::Response->parse(''): an empty response object
    return (Test::Nginx::Client::Response->new(undef, '', undef, [], ''),
            '', undef, undef) unless defined $raw && length $raw;

    my ($head, $body, $raw_headers);
    if ($raw =~ /\A(.*?\r?\n)\r?\n/s) {
        $head = $1;
        $raw_headers = $1;
        $body = substr $raw, $+[0];
    } else {
        # incomplete header
        $head = $raw;
        $raw_headers = '';
        $body = '';
    }

    my @lines = split /\r?\n/, $head;
    my $status_line = shift(@lines) // '';
    my ($proto, $code, $msg);
    if ($status_line =~ m{^(HTTP/\d+(?:\.\d+)?)\s+(\d{3})(?:\s+(.*))?$}) {
        ($proto, $code, $msg) = ($1, $2, $3 // '');
    } else {
        # not an HTTP response (HTTP/0.9 style or garbage)
        my $res = Test::Nginx::Client::Response->new(undef, '', undef, [], $raw);
        return ($res, '', undef, undef);
    }

    my @headers;
    for my $l (@lines) {
        if ($l =~ /^[ \t]+(.*)/ && @headers) {
            $headers[-1][1] .= " $1";
        } elsif ($l =~ /^([^:]+?)\s*:\s*(.*?)\s*$/) {
            push @headers, [$1, $2];
        }
    }

    my $res = Test::Nginx::Client::Response->new($code, $msg, $proto,
                                                 \@headers, '');
    my ($left, $err);

    if ($head_req || $code =~ /^1/ || $code == 204 || $code == 304) {
        $res->content($code == 101 ? $body : '');
        $left = $body if $code != 101 && length $body;

    } elsif (($res->header('Transfer-Encoding') // '') =~ /\bchunked\b/i) {
        my $decoded = '';
        my $pos = 0;
        while (1) {
            pos($body) = $pos;
            if ($body =~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
                my $size = hex $1;
                $pos = pos $body;
                if ($size == 0) {
                    # optional trailers, then CRLF
                    while ($body =~ /\G([^\r\n]+)\r\n/gc) {
                        my $t = $1;
                        push @{ $res->{headers} }, [$1, $2]
                            if $t =~ /^([^:]+?)\s*:\s*(.*?)\s*$/;
                    }
                    if ($body =~ /\G\r\n/gc) {
                        $left = substr $body, pos $body;
                        $left = undef unless length $left;
                    } else {
                        $err = 'invalid chunked data received (no CRLF after '
                               . 'the last chunk)';
                    }
                    last;
                }
                if (length($body) - $pos < $size + 2) {
                    $decoded .= substr $body, $pos;
                    $err = 'invalid chunked data received (not enough octets '
                           . "for the data section: chunk size $size)";
                    last;
                }
                $decoded .= substr $body, $pos, $size;
                $pos += $size;
                if (substr($body, $pos, 2) ne "\r\n") {
                    $err = 'invalid chunked data received (expected CRLF after '
                           . 'chunk data)';
                    last;
                }
                $pos += 2;
            } elsif ($pos >= length $body) {
                $err = 'no last chunk found';
                last;
            } else {
                $err = 'invalid chunked body received: '
                       . substr($body, $pos, 60);
                last;
            }
        }
        $res->content($decoded);

    } elsif (defined(my $len = $res->header('Content-Length'))) {
        $len =~ s/,.*//;
        if ($len =~ /^\d+$/ && length($body) > $len) {
            $left = substr $body, $len;
            $body = substr $body, 0, $len;
        } elsif ($len =~ /^\d+$/ && length($body) < $len) {
            # only a warning, as in CPAN
            $res->{truncated} = "response body truncated: $len expected, but "
                                . "got " . length($body);
        }
        $res->content($body);

    } else {
        $res->content($body);
    }

    return ($res, $raw_headers, $left, $err);
}

package Test::Nginx::Client::Response;

sub new {
    my ($class, $code, $msg, $proto, $headers, $content) = @_;
    return bless { code => $code, message => $msg, protocol => $proto,
                   headers => $headers, content => $content }, $class;
}

sub code { $_[0]{code} }
sub message { $_[0]{message} }
sub protocol { $_[0]{protocol} }
sub status_line { join ' ', grep { defined } @{ $_[0] }{qw(code message)} }

sub content {
    my $self = shift;
    $self->{content} = shift if @_;
    return $self->{content};
}
*decoded_content = \&content;

# like HTTP::Headers: list of values in list context, ", "-joined in scalar
sub header {
    my ($self, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $self->{headers} };
    return @v if wantarray;
    return @v ? join(', ', @v) : undef;
}

sub header_field_names {
    my $self = shift;
    my %seen;
    return grep { !$seen{lc $_}++ } map { $_->[0] } @{ $self->{headers} };
}

sub headers_as_string {
    my $self = shift;
    return join '', map { "$_->[0]: $_->[1]\n" } @{ $self->{headers} };
}

1;
