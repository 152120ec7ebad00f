package GatewayHarness;

# Helpers for the suites that manage their own nginx, redis-server and DNS
# processes (reloads, two gateways, a Redis that dies, a DNS double): start
# and stop them, send requests, count answers. Plain Perl, core modules only.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use Exporter 'import';
our @EXPORT_OK = qw(
    nginx_binary module_path port
    http_get count_requests wait_until token_bucket_admits
);

sub nginx_binary { $ENV{TEST_NGINX_BINARY} || 'nginx' }

sub module_path {
    my $m = $ENV{TEST_NGINX_LOAD_MODULES}
        or return undef;
    ($m) = grep { /ngx_http_gateway_module/ } split ' ', $m;
    return $m;
}

# A port from the environment, else the server port plus an offset.
sub port {
    my ($var, $offset) = @_;
    return $ENV{$var} if $ENV{$var};
    return ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984)
           + $offset;
}

# A TCP socket listening on 127.0.0.1:$port for a double named $what.
sub listener {
    my ($port, $what) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port,
                                  Listen => 128, ReuseAddr => 1)
        or die "$what on port $port: $!";
    return $s;
}

# The whole of a file, '' when there is none (yet).
sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return <$fh>;
}

sub wait_until {
    my ($timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->();
}

# One HTTP/1.0 request on a new connection; returns (status, \%headers,
# body), status 0 when the connection failed.
sub http_get {
    my ($port, $path, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port,
                                     Proto => 'tcp',
                                     Timeout => $o{timeout} || 5)
        or return (0, {}, '');
    $sock->autoflush(1);
    my $extra = join '', map { "$_: $o{headers}{$_}\r\n" }
                         keys %{ $o{headers} || {} };
    print $sock "GET $path HTTP/1.0\r\nHost: localhost\r\n$extra\r\n";
    local $/;
    my $resp = <$sock> // '';
    close $sock;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    return (0, {}, '') unless defined $head && $head =~ m{^HTTP/1\.\d (\d+)};
    my $status = $1;
    my %h;
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return ($status, \%h, $body // '');
}

# Keep-alive clients hammering one URL until the deadline; each is a child
# process. Returns a hash: status => count, pids => {pid => admitted},
# first (earliest send), last (latest answer), and, when the location adds
# "X-Msec: $msec", the gateway's own clock: server_first and server_last
# (its first and last answers) and decisions, every answer as
# [msec, admitted], in the order of the gateway's clock. A busy machine
# delays the clients, but not what the gateway saw and decided.
sub count_requests {
    my (%o) = @_;
    my $clients = $o{clients} || 4;
    my $until = time + $o{seconds};
    my @ports = ref $o{port} ? @{ $o{port} } : ($o{port});
    my @kids;

    for my $i (0 .. $clients - 1) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my ($res, $decisions) = _client($ports[$i % @ports], $o{path},
                                            $until, $o{headers} || {});
            print $w join(' ', map { "$_=$res->{$_}" } sort keys %$res), "\n",
                     join(' ', @$decisions), "\n";
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }

    my %total = (first => 9e99, last => 0);
    my @decisions;
    for my $k (@kids) {
        my ($pid, $r) = @$k;
        my $line = <$r> // '';
        my $answers = <$r> // '';
        close $r;
        waitpid $pid, 0;
        for (split ' ', $line) {
            my ($key, $v) = split /=/;
            if ($key =~ /first$/) {
                $total{$key} = $v if $v < ($total{$key} // 9e99);
            } elsif ($key =~ /last$/) {
                $total{$key} = $v if $v > ($total{$key} // 0);
            } elsif ($key =~ /^pid(\d+)$/) {
                $total{pids}{$1} += $v;
            } else {
                $total{$key} += $v;
            }
        }
        push @decisions, map { [split m{/}] } split ' ', $answers;
    }
    if (@decisions) {
        $total{decisions} = [sort { $a->[0] <=> $b->[0] } @decisions];
        $total{server_first} = $total{decisions}[0][0];
        $total{server_last} = $total{decisions}[-1][0];
    }
    return \%total;
}

# How many of the decisions (as count_requests returns them) an exact token
# bucket of $rate per second holding $burst admits, fed the same requests at
# the same times.
sub token_bucket_admits {
    my ($rate, $burst, $decisions) = @_;
    return 0 unless @$decisions;
    my ($tokens, $then, $admitted) = ($burst, $decisions->[0][0], 0);
    for my $d (@$decisions) {
        $tokens += ($d->[0] - $then) * $rate;
        $tokens = $burst if $tokens > $burst;
        $then = $d->[0];
        if ($tokens >= 1) {
            $tokens -= 1;
            $admitted++;
        }
    }
    return $admitted;
}

sub _client {
    my ($port, $path, $until, $headers) = @_;
    my %res;
    my @decisions;
    my $extra = join '', map { "$_: $headers->{$_}\r\n" } keys %$headers;
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\n$extra\r\n";
    my $sock;
    my $buf = '';

    while (time < $until) {
        if (!$sock) {
            $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                          PeerPort => $port, Proto => 'tcp',
                                          Timeout => 5);
            if (!$sock) {
                $res{connect_error}++;
                sleep 0.01;
                next;
            }
            $buf = '';
        }
        my $sent = time;
        $res{first} //= $sent;
        if (!defined syswrite($sock, $req)) {
            undef $sock;
            next;
        }
        my ($status, $pid, $ok, $close, $msec) = _read_response($sock, \$buf);
        if (!$ok) {
            $res{broken}++;
            undef $sock;
            next;
        }
        $res{last} = time;
        $res{$status}++;
        $res{"pid$pid"}++ if $pid && $status == 200;
        push @decisions, "$msec/" . ($status == 200 ? 1 : 0) if defined $msec;
        undef $sock if $close;   # keepalive_requests reached
    }
    $res{first} //= 0;
    $res{last} //= 0;
    return (\%res, \@decisions);
}

sub _read_response {
    my ($sock, $buf) = @_;
    my $deadline = time + 10;
    while ($$buf !~ /\r\n\r\n/) {
        return (0, 0, 0) if time > $deadline;
        my $n = sysread($sock, $$buf, 65536, length $$buf);
        return (0, 0, 0) unless $n;
    }
    my $end = index($$buf, "\r\n\r\n") + 4;
    my $head = substr($$buf, 0, $end);
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my ($len) = $head =~ /\r\nContent-Length:\s*(\d+)/i;
    my ($pid) = $head =~ /\r\nX-Pid:\s*(\d+)/i;
    my ($msec) = $head =~ /\r\nX-Msec:\s*([\d.]+)/i;
    $len //= 0;
    while (length($$buf) < $end + $len) {
        my $n = sysread($sock, $$buf, 65536, length $$buf);
        return (0, 0, 0) unless $n;
    }
    substr($$buf, 0, $end + $len) = '';
    my $close = $head =~ /\r\nConnection:\s*close/i ? 1 : 0;
    return ($status, $pid, 1, $close, $msec);
}


package GatewayHarness::Process;

# A process the suite forked (nginx, redis-server, a double): stop() ends
# it, and so does dropping the object, so no test leaves one behind.

use POSIX qw(WNOHANG);

sub new {
    my ($class, %o) = @_;
    return bless {%o}, $class;
}

# Runs $child in a new process, which exits when $child returns.
sub spawn {
    my ($self, $child) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $child->();
        POSIX::_exit(0);
    }
    $self->{pid} = $pid;
    return $self;
}

sub kill_now {
    my $self = shift;
    return unless $self->{pid};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    delete $self->{pid};
}

# Asks the process to end with $signal; kills it if it has not within 10 s.
sub end_with {
    my ($self, $signal) = @_;
    return unless $self->{pid};
    kill $signal, $self->{pid};
    my $gone = GatewayHarness::wait_until(10, sub {
        waitpid($self->{pid}, WNOHANG) != 0;
    });
    return $self->kill_now unless $gone;
    delete $self->{pid};
}

sub stop { $_[0]->kill_now }

sub DESTROY { $_[0]->stop }


package GatewayHarness::Nginx;

use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);

use parent -norequire, 'GatewayHarness::Process';

# Nginx->new(dir => ..., port => ..., workers => 2)
sub new {
    my ($class, %o) = @_;
    my $self = bless { workers => 2, %o }, $class;
    remove_tree($self->{dir});
    make_path("$self->{dir}/logs", "$self->{dir}/conf");
    return $self;
}

sub error_log { "$_[0]{dir}/logs/error.log" }

sub log_text { GatewayHarness::slurp($_[0]->error_log) }

# Writes nginx.conf: http_config goes into http{}, server_config into the
# server listening on the instance's port.
sub write_conf {
    my ($self, %o) = @_;
    my $module = GatewayHarness::module_path()
        or die "TEST_NGINX_LOAD_MODULES must name the gateway module\n";
    my $dir = $self->{dir};
    open my $fh, '>', "$dir/conf/nginx.conf" or die "$dir: $!";
    print $fh <<"EOF";
load_module $module;
daemon off;
master_process on;
worker_processes $self->{workers};
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;
    scgi_temp_path $dir/scgi_temp;
    @{[ $o{http} // '' ]}
    server {
        listen 127.0.0.1:$self->{port};
        location = /alive { return 200 "alive\\n"; }
        @{[ $o{server} // '' ]}
    }
}
EOF
    close $fh;
}

sub start {
    my $self = shift;
    $self->spawn(sub {
        open STDOUT, '>>', "$self->{dir}/logs/stdout.log";
        open STDERR, '>>', "$self->{dir}/logs/stderr.log";
        exec GatewayHarness::nginx_binary(), '-p', "$self->{dir}/",
             '-c', "$self->{dir}/conf/nginx.conf"
            or POSIX::_exit(127);
    });
    my $up = GatewayHarness::wait_until(10, sub {
        my ($s) = GatewayHarness::http_get($self->{port}, '/alive');
        return 1 if $s == 200;
        return 0;
    });
    die "nginx did not start:\n" . $self->stderr . $self->log_text unless $up;
    return $self;
}

sub stderr { GatewayHarness::slurp("$_[0]{dir}/logs/stderr.log") }

sub reload {
    my $self = shift;
    kill 'HUP', $self->{pid};
}

sub stop { $_[0]->end_with('QUIT') }


package GatewayHarness::Redis;

use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);

use parent -norequire, 'GatewayHarness::Process';

sub binary { $ENV{TEST_NGINX_REDIS_SERVER} || 'redis-server' }

sub available {
    my $bin = binary();
    return -x $bin if $bin =~ m{/};
    return grep { -x "$_/$bin" } split /:/, $ENV{PATH};
}

# Redis->new(dir => ..., port => ..., password => ...)
sub new {
    my ($class, %o) = @_;
    my $self = bless {%o}, $class;
    make_path($self->{dir});
    return $self;
}

sub start {
    my $self = shift;
    my @args = ('--port', $self->{port}, '--bind', '127.0.0.1',
                '--save', '', '--appendonly', 'no',
                '--dir', $self->{dir}, '--logfile', "$self->{dir}/redis.log");
    push @args, '--requirepass', $self->{password} if $self->{password};
    $self->spawn(sub {
        open STDOUT, '>', '/dev/null';
        exec binary(), @args or POSIX::_exit(127);
    });
    my $up = GatewayHarness::wait_until(10, sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $self->{port});
        return 0 unless $s;
        print $s "PING\r\n";
        my $l = <$s> // '';
        return $l =~ /^(\+PONG|-NOAUTH)/;
    });
    die "redis-server did not start" unless $up;
    return $self;
}

# One command in the inline protocol; returns the first reply line.
sub command {
    my ($self, @cmd) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}) or return undef;
    my $out = '';
    $out .= "AUTH $self->{password}\r\n" if $self->{password};
    $out .= '*' . @cmd . "\r\n" . join('', map { '$' . length($_) . "\r\n$_\r\n" } @cmd);
    print $s $out;
    <$s> if $self->{password};
    my $l = <$s>;
    return $l;
}

sub stop { $_[0]->end_with('TERM') }


package GatewayHarness::Blackhole;

# A server that accepts connections and never answers (a stalled Redis).

use parent -norequire, 'GatewayHarness::Process';

sub start {
    my $self = shift;
    my $listen = GatewayHarness::listener($self->{port}, 'blackhole');
    $self->spawn(sub {
        my @held;
        while (my $c = $listen->accept) {
            push @held, $c;
        }
    });
    close $listen;
    return $self;
}


package GatewayHarness::Dns;

# A DNS server for one name: A queries get the address, others no data.

use IO::Socket::INET;

use parent -norequire, 'GatewayHarness::Process';

sub start {
    my $self = shift;
    my $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                     LocalPort => $self->{port},
                                     Proto => 'udp', ReuseAddr => 1)
        or die "dns on port $self->{port}: $!";
    $self->spawn(sub {
        my $addr = pack 'C4', split /\./, $self->{address};
        while (1) {
            my $from = $sock->recv(my $q, 512) // next;
            next if length $q < 17;
            my ($id) = unpack 'n', $q;
            my $question = substr($q, 12);
            my ($type) = unpack 'n', substr($question, index($question, "\0") + 1, 2);
            $question = substr($question, 0, index($question, "\0") + 5);
            my $answers = $type == 1 ? 1 : 0;
            my $r = pack('n6', $id, 0x8180, 1, $answers, 0, 0) . $question;
            $r .= pack('n3 N n', 0xc00c, 1, 1, 60, 4) . $addr if $answers;
            $sock->send($r, 0, $from);
        }
    });
    close $sock;
    return $self;
}

1;
