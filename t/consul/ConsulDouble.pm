# Starts and drives t/consul/consul_double.py, the Consul API double, for
# the test suites: register and deregister service instances, flip checks
# and faults, read what it was asked.
#
#   my $consul = ConsulDouble->new(port => 8500, tokens => ['s3cret=write']);
#   $consul->start;
#   $consul->register(id => 'web-1', service => 'web', port => 8081,
#                     weight => 2);
#   $consul->fault('hang');  ...  $consul->fault('hang', 0);
#   $consul->stop;

package ConsulDouble;

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my $script = File::Spec->rel2abs(dirname(__FILE__) . '/consul_double.py');

# python3, or undef when it is not installed
sub python {
    for my $dir (split /:/, $ENV{PATH} || '/usr/bin:/bin') {
        return "$dir/python3" if -x "$dir/python3";
    }
    return undef;
}

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        host      => '127.0.0.1',
        tokens    => [],
        anonymous => 'deny',
        %o,
    }, $class;
    # writes use the first token with the write policy, when ACLs are on
    ($self->{write_token}) = map { (split /=/, $_, 2)[0] }
                             grep { /=write$/ } @{ $self->{tokens} };
    $self->{http} = HTTP::Tiny->new(timeout => 30, keep_alive => 0);
    return $self;
}

sub address { my $self = shift; return "$self->{host}:$self->{port}" }

sub url { my ($self, $path) = @_; return "http://" . $self->address . $path }

sub start {
    my $self = shift;
    my $pidfile = File::Spec->catfile(File::Spec->tmpdir,
                                      "consul-double-$$-$self->{port}.pid");
    unlink $pidfile;
    my @args = ('--listen', $self->address, '--anonymous', $self->{anonymous},
                '--pidfile', $pidfile,
                map { ('--token', $_) } @{ $self->{tokens} });
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        exec python(), $script, @args or POSIX::_exit(127);
    }
    $self->{pid} = $pid;

    # it writes its pid once it listens: another server on the port (or a
    # double left over) cannot pass for it
    my $deadline = time + 30;
    while (time < $deadline) {
        if (open my $fh, '<', $pidfile) {
            my $written = <$fh> // '';
            if ($written =~ /^(\d+)/ && $1 == $pid) {
                unlink $pidfile;
                return $self;
            }
        }
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "the Consul double could not listen on " . $self->address
                . " (is the port in use?)\n";
        }
        sleep 0.05;
    }
    die "the Consul double did not start on " . $self->address . "\n";
}

sub stop {
    my $self = shift;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub DESTROY { my $self = shift; local $?; $self->stop }

sub request {
    my ($self, $method, $path, $body, %headers) = @_;
    my $opts = { headers => \%headers };
    $opts->{content} = ref $body ? encode_json($body) : $body
        if defined $body;
    return $self->{http}->request($method, $self->url($path), $opts);
}

sub write_request {
    my ($self, $path, $body) = @_;
    my %h = $self->{write_token} ? ('X-Consul-Token' => $self->{write_token}) : ();
    my $r = $self->request('PUT', $path, $body, %h);
    die "PUT $path: $r->{status} $r->{content}\n" unless $r->{status} == 200;
    return $r;
}

# register(id => ..., service => ..., port => ..., [address => '127.0.0.1'],
#          [node => id], [node_address => ...], [weight => N], [tags => [...]],
#          [status => 'passing'], [meta => {...}])
# One node per instance unless node is given; its check is "check-ID".
sub register {
    my ($self, %o) = @_;
    my $id = $o{id} or die "register needs an id\n";
    my %service = (
        ID      => $id,
        Service => $o{service} || 'web',
        Port    => $o{port} + 0,
        Address => exists $o{address} ? $o{address} : '127.0.0.1',
        Tags    => $o{tags} || [],
    );
    $service{Weights} = { Passing => $o{weight} + 0, Warning => 1 }
        if defined $o{weight};
    $service{Meta} = $o{meta} if $o{meta};
    $self->write_request('/v1/catalog/register', {
        Node    => $o{node} || "node-$id",
        Address => $o{node_address} || '127.0.0.1',
        Service => \%service,
        Checks  => [{ CheckID => "check-$id", Name => "$id alive",
                      ServiceID => $id,
                      Status => $o{status} || 'passing' }],
    });
}

sub deregister {
    my ($self, $id, $node) = @_;
    $self->write_request('/v1/catalog/deregister',
                         { Node => $node || "node-$id", ServiceID => $id });
}

sub check {
    my ($self, $id, $status) = @_;
    my $r = $self->request('PUT', "/double/check/check-$id/$status");
    die "check $id: $r->{status}\n" unless $r->{status} == 200;
}

sub fault {
    my ($self, $name, $on) = @_;
    my $r = $self->request(defined $on && !$on ? 'DELETE' : 'PUT',
                           "/double/fault/$name");
    die "fault $name: $r->{status}\n" unless $r->{status} == 200;
}

sub clear_faults { my $self = shift; $self->request('DELETE', '/double/fault') }

# an empty catalog, no faults, no requests seen
sub clear {
    my $self = shift;
    my $r = $self->request('DELETE', '/double/catalog');
    die "clear: $r->{status}\n" unless $r->{status} == 200;
}

sub running { my $self = shift; return defined $self->{pid} }

sub reset_index {
    my ($self, $to) = @_;
    $self->request('POST', "/double/reset-index?to=" . ($to || 1));
}

# the health queries seen since the last clear_requests
sub requests {
    my $self = shift;
    my $r = $self->request('GET', '/double/requests');
    return decode_json($r->{content});
}

sub clear_requests { my $self = shift; $self->request('DELETE', '/double/requests') }

# GET /v1/health/service/NAME?QUERY: the HTTP::Tiny response
sub health {
    my ($self, $service, $query, %headers) = @_;
    my $path = "/v1/health/service/$service" . (defined $query ? "?$query" : '');
    return $self->request('GET', $path, undef, %headers);
}

1;
