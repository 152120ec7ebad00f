package OtlpReceiver;

# Starts t/otlp/receiver.py, the OTLP/HTTP receiver double, for a test
# file and stops it when the file ends. Ports come from the environment
# or from the test server port:
#   TEST_NGINX_OTLP_PORT           OTLP/HTTP             (server port + 30)
#   TEST_NGINX_OTLP_CONTROL_PORT   the double's control  (server port + 31)
#   TEST_NGINX_PYTHON              python3 with python3-protobuf
#                                  (default /usr/bin/python3)
# Both ports are put in the environment, so Test::Nginx configurations can
# name them as $TEST_NGINX_OTLP_PORT and $TEST_NGINX_OTLP_CONTROL_PORT.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time);

my $dir = dirname(File::Spec->rel2abs(__FILE__));

sub server_port {
    $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
}

sub python {
    return $ENV{TEST_NGINX_PYTHON} if $ENV{TEST_NGINX_PYTHON};
    return -x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3';
}

# 1 when python3 with python3-protobuf and protoc are there.
sub available {
    my $py = python();
    return system("$py -c 'import google.protobuf' >/dev/null 2>&1") == 0
        && system('protoc --version >/dev/null 2>&1') == 0;
}

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        port => $ENV{TEST_NGINX_OTLP_PORT} || server_port() + 30,
        control_port => $ENV{TEST_NGINX_OTLP_CONTROL_PORT} || server_port() + 31,
        path => $o{path} || '/v1/traces',
        down => $o{down},
    }, $class;
    $ENV{TEST_NGINX_OTLP_PORT} = $self->{port};
    $ENV{TEST_NGINX_OTLP_CONTROL_PORT} = $self->{control_port};
    return $self;
}

# Starts the double and returns once it has bound both ports: it prints
# "ready" then, so a double left over from another run that still holds a
# port is an error here, never a stranger the tests would talk to.
sub start {
    my $self = shift;
    my @cmd = (python(), "$dir/receiver.py", '--port', $self->{port},
               '--control-port', $self->{control_port}, '--path', $self->{path},
               '--check-with-protobuf', $self->{down} ? ('--down') : ());
    pipe(my $ready, my $out) or die "pipe: $!";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $ready;
        open STDOUT, '>&', $out or POSIX::_exit(127);
        exec @cmd or POSIX::_exit(127);
    }
    close $out;
    $self->{pid} = $pid;
    $self->{owner} = $$;
    my $line = '';
    my $select = IO::Select->new($ready);
    my $deadline = time + 60;
    while ($line !~ /\n/ && time < $deadline) {
        next unless $select->can_read(1);
        last unless sysread($ready, $line, 64, length $line);
    }
    close $ready;
    return $self if $line =~ /^ready$/m;
    $self->stop;
    die "the OTLP receiver double did not start on ports $self->{port} and "
        . "$self->{control_port} (in use?)\n";
}

# The body of a GET on the control port.
sub control {
    my ($self, $path) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{control_port},
                                     Proto => 'tcp', Timeout => 5)
        or die "control port: $!\n";
    print $sock "GET $path HTTP/1.1\r\nHost: receiver\r\nConnection: close\r\n\r\n";
    local $/;
    my $answer = <$sock>;
    close $sock;
    die "no answer from the control port\n" unless defined $answer;
    $answer =~ s/\A.*?\r\n\r\n//s;
    return $answer;
}

sub stop {
    my $self = shift;
    # only the process that started it (not a child that forked later)
    return unless $self->{pid} && $self->{owner} == $$;
    my $pid = delete $self->{pid};
    local $?;   # keep the test's exit status
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

sub DESTROY { $_[0]->stop }

1;
