package Test::Nginx::Util;

# Part of the local Test::Nginx::Socket work-alike (see t/lib/README).
# Server-root setup, nginx.conf generation, starting/stopping/reloading
# nginx and the per-block driver loop.  Written from scratch to follow the
# documented behaviour of CPAN's Test::Nginx (openresty/test-nginx).

use strict;
use warnings;

use Carp qw(croak);
use Cwd ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use File::Temp ();
use IO::Socket::INET ();
use List::Util ();
use POSIX qw(:sys_wait_h SIGQUIT SIGTERM SIGKILL SIGHUP);
use Scalar::Util qw(looks_like_number);
use Test::More ();
use Time::HiRes qw(sleep time);

use Test::Nginx::Client ();

use Exporter 'import';

our @EXPORT = qw(
    run_tests run_test repeat_each workers master_on master_off
    master_process_enabled log_level no_shuffle shuffle no_root_location
    no_long_string server_port server_port_for_client server_addr
    server_name server_root html_dir timeout worker_connections
    config_preamble env_to_nginx add_block_preprocessor add_cleanup_handler
    add_test_cleanup_handler check_accum_error_log use_hup bail_out
    sleep_time verbose parse_time expand_env_in_text is_running trim
    show_all_chars parse_headers error_log_data access_log_data
    get_nginx_version get_pid_from_pidfile setup_server_root
    write_config_file write_user_files no_nginx_manager

    $ServerPort $ServerPortForClient $ServerAddr $ServerName $ServRoot
    $ConfFile $PidFile $NginxVersion $NginxBinary $RepeatEach
    $RunTestHelper $CheckErrorLog $NoLongString
);

#--------------------------------------------------------------------------
# settings (same environment variables and defaults as CPAN Test::Nginx)
#--------------------------------------------------------------------------

our $NginxBinary        = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $ServerPort         = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $ServerAddr         = '127.0.0.1';
our $ServerName         = 'localhost';
our $Workers            = 1;
our $WorkerConnections  = 64;
our $LogLevel           = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $DaemonEnabled      = 'on';
our $RepeatEach         = 1;
our $NoShuffle          = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation     = 0;
our $NoLongString       = 0;
our $Timeout            = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep     = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $UseHup             = $ENV{TEST_NGINX_USE_HUP};
our $UseValgrind        = $ENV{TEST_NGINX_USE_VALGRIND};
our $LoadModules        = $ENV{TEST_NGINX_LOAD_MODULES};
our $CheckAccumErrLog   = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $Verbose            = $ENV{TEST_NGINX_VERBOSE};
our $NoClean            = $ENV{TEST_NGINX_NO_CLEAN};
our $EventType          = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput     = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ReusePort          = $ENV{TEST_NGINX_REUSE_PORT};
our $WorkerUser         = $ENV{TEST_NGINX_WORKER_USER};
our $NoNginxManager     = $ENV{TEST_NGINX_NO_NGINX_MANAGER} || 0;
our $ConfigPreamble     = '';
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @TestCleanupHandlers;

if ($UseValgrind) {
    # nginx must stay in the foreground as our child under valgrind
    $DaemonEnabled = 'off';
    $MasterProcessEnabled = 'off';
}

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $ValgrindOut = "$ServRoot/valgrind.out";

# hooks set by Test::Nginx::Socket
our $RunTestHelper;
our $CheckErrorLog;

# runtime state
our $NginxVersion;
our $NginxRawVersion;
our $OpenSSLVersion;
our $NginxV;
our $RandPorts = {};
our $ErrLogFilePos = 0;
our @ExtraErrLogLines;     # lines nginx printed on stderr (must_die)
our $StartupError;         # set when nginx could not be started
our $ChildPid;             # nginx (or valgrind) kept in the foreground
our $NginxStarted = 0;     # nginx (believed to be) running for this servroot
our $ConfigVersion = '';
our $InSubprocess = 0;
our $ValgrindOutPos = 0;
our $FirstTime = 1;
our $NoteExpand = 0;

#--------------------------------------------------------------------------
# public setters/getters
#--------------------------------------------------------------------------

sub repeat_each (@) { $RepeatEach = shift if @_; $RepeatEach }
sub workers (@) { $Workers = shift if @_; $Workers }
sub worker_connections (@) { $WorkerConnections = shift if @_; $WorkerConnections }
sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    if (@_) { $MasterProcessEnabled = shift() ? 'on' : 'off' }
    $MasterProcessEnabled;
}
sub log_level (@) { $LogLevel = shift if @_; $LogLevel }
sub no_shuffle () { $NoShuffle = 1 }
# shuffle(): shuffle the blocks (CPAN's default unless no_shuffle());
# shuffle(LIST): List::Util::shuffle, in case a script expects that one
sub shuffle { return List::Util::shuffle(@_) if @_; $NoShuffle = 0; return }
sub no_root_location () { $NoRootLocation = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_nginx_manager () { $NoNginxManager = 1 }
sub server_port (@) { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client (@) { $ServerPortForClient = shift if @_; $ServerPortForClient }
sub server_addr (@) { $ServerAddr = shift if @_; $ServerAddr }
sub server_name (@) { $ServerName = shift if @_; $ServerName }
sub server_root () { $ServRoot }
sub html_dir () { $HtmlDir }
sub timeout (@) { $Timeout = shift if @_; $Timeout }
sub config_preamble ($) { $ConfigPreamble = shift }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub use_hup () { $UseHup = 1 }
sub sleep_time { $TestNginxSleep }
sub verbose { $Verbose }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_test_cleanup_handler ($) { unshift @TestCleanupHandlers, shift }

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v\n"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

sub parse_time ($) {
    my $t = shift;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    if ($t =~ s/(\d)ms$/$1/) {
        return $t / 1000;
    }
    $t =~ s/(\d)s$/$1/;
    return $t;
}

sub trim ($) {
    my $s = shift;
    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /g;
    $s =~ s/\s{2,}/ /g;
    return $s;
}

sub show_all_chars ($) {
    my $s = shift;
    $s =~ s/\n/\\n/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\t/\\t/g;
    return $s;
}

# "Name: value" lines; "!Name" means "must be absent" (value undef)
sub parse_headers ($) {
    my $s = shift;
    my %h;
    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            $h{$k} = $v;
        }
    }
    return \%h;
}

sub gen_rand_port {
    my $used = shift || {};
    for (1 .. 1000) {
        my $port = 1988 + int rand 63000;
        next if $used->{$port} || $port == $ServerPort;
        my $s = IO::Socket::INET->new(LocalAddr => $ServerAddr,
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1);
        if ($s) { close $s; return $port }
    }
    return undef;
}

# Replaces $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO}; an unset variable is
# fatal (as in CPAN).  $TEST_NGINX_RAND_PORT_N gives a free port per block.
sub expand_env_in_text ($$;$) {
    my ($text, $name, $rand_ports) = @_;
    return $text unless defined $text && !ref $text;
    $rand_ports ||= $RandPorts;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $v;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            $v = $rand_ports->{$var} //= do {
                my %used = map { $_ => 1 } grep { defined } values %$rand_ports;
                gen_rand_port(\%used)
                    // bail_out("$name - cannot find a free port for $var");
            };
        } else {
            bail_out("$name - No environment $var defined.\n")
                unless defined $ENV{$var};
            $v = $ENV{$var};
        }
        $v;
    }ge;
    return $text;
}

#--------------------------------------------------------------------------
# nginx binary information
#--------------------------------------------------------------------------

sub _canon_version { sprintf "%d.%03d%03d", @_[0 .. 2] }

sub nginx_V () {
    return $NginxV if defined $NginxV;
    my $out = `$NginxBinary -V 2>&1`;
    $NginxV = defined $out ? $out : '';
    return $NginxV;
}

sub get_nginx_version () {
    return $NginxVersion if defined $NginxVersion;
    my $out = nginx_V();
    if ($out =~ m{(?:nginx|openresty)[^/\s]*/(\d+)\.(\d+)\.(\d+)}) {
        $NginxRawVersion = "$1.$2.$3";
        $NginxVersion = _canon_version($1, $2, $3);
    }
    if ($out =~ /built with OpenSSL (\d+)\.(\d+)\.(\d+)([a-z]?)/) {
        $OpenSSLVersion = sprintf "%d.%03d%03d%03d", $1, $2, $3,
                                  $4 ? ord($4) - ord('a') : 0;
    }
    return $NginxVersion;
}

sub can_run ($) {
    my $cmd = shift;
    if ($cmd =~ m{/}) {
        return (-f $cmd && -x _) ? $cmd : undef;
    }
    for my $dir (split /:/, $ENV{PATH} // '') {
        next if $dir eq '';
        my $p = "$dir/$cmd";
        return $p if -f $p && -x _;
    }
    return undef;
}

#--------------------------------------------------------------------------
# process helpers (Linux /proc; fall back to kill 0 elsewhere)
#--------------------------------------------------------------------------

sub _proc_stat ($) {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/stat" or return;
    my $s = <$fh>;
    close $fh;
    return unless defined $s;
    my $r = rindex $s, ')';
    my @f = split ' ', substr($s, $r + 2);
    return ($f[0], $f[1]);    # state, ppid
}

sub is_running ($) {
    my $pid = shift;
    return 0 unless $pid && $pid =~ /^\d+$/ && $pid > 1;
    if (defined $ChildPid && $pid == $ChildPid) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid || $r == -1) {
            undef $ChildPid;
            return 0;
        }
    }
    return 0 unless kill 0, $pid;
    if (-d "/proc/$pid") {
        my ($state) = _proc_stat($pid);
        return 0 if !defined $state || $state eq 'Z' || $state eq 'X';
    }
    return 1;
}

sub _all_pids () {
    opendir my $dh, '/proc' or return ();
    my @p = grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    return @p;
}

sub _descendants (@) {
    my @roots = @_;
    my %children;
    for my $p (_all_pids()) {
        my (undef, $ppid) = _proc_stat($p);
        push @{ $children{$ppid} }, $p if defined $ppid;
    }
    my %seen;
    my @queue = @roots;
    my @out;
    while (@queue) {
        my $p = shift @queue;
        for my $c (@{ $children{$p} || [] }) {
            next if $seen{$c}++;
            push @out, $c;
            push @queue, $c;
        }
    }
    return @out;
}

# nginx processes started for our server root (master, or the only process)
sub _servroot_pids () {
    my @out;
    my $needle = "-p $ServRoot/";
    for my $p (_all_pids()) {
        next if $p == $$;
        open my $fh, '<', "/proc/$p/cmdline" or next;
        my $cmd = do { local $/; <$fh> };
        close $fh;
        next unless defined $cmd && length $cmd;
        $cmd =~ tr/\0/ /;
        $cmd .= ' ';
        push @out, $p if index($cmd, "$needle ") >= 0;
    }
    return @out;
}

sub get_pid_from_pidfile ($) {
    my $name = shift;
    open my $in, '<', $PidFile or return undef;
    my $pid = do { local $/; <$in> };
    close $in;
    return undef unless defined $pid;
    $pid =~ s/\s+//g;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

# a pid (from a possibly stale pid file) that is an nginx/valgrind process
sub _looks_like_nginx ($) {
    my $pid = shift;
    return 0 unless is_running($pid);
    return 1 if defined $ChildPid && $pid == $ChildPid;
    return 1 unless -d "/proc/$pid";
    open my $fh, '<', "/proc/$pid/cmdline" or return 1;
    my $cmd = do { local $/; <$fh> } // '';
    close $fh;
    return $cmd =~ /nginx|valgrind/ ? 1 : 0;
}

sub nginx_is_running () {
    my $pid = get_pid_from_pidfile('');
    return 1 if $pid && _looks_like_nginx($pid);
    return 1 if defined $ChildPid && is_running($ChildPid);
    return 0;
}

sub _wait_gone ($@) {
    my ($secs, @pids) = @_;
    my $deadline = time + $secs;
    while (1) {
        @pids = grep { is_running($_) } @pids;
        return () unless @pids;
        return @pids if time >= $deadline;
        sleep 0.02;
    }
}

# Stop every nginx process belonging to our server root; never hangs.
sub stop_nginx (;$) {
    my $name = shift // '';
    my $master = get_pid_from_pidfile($name);
    undef $master if $master && !_looks_like_nginx($master);
    my @roots = grep { is_running($_) }
                grep { defined } ($master, $ChildPid, _servroot_pids());
    my %u;
    @roots = grep { !$u{$_}++ } @roots;

    if (@roots) {
        my @all = grep { !$u{$_}++ } _descendants(@roots);
        @all = (@roots, @all);
        my $sig = $ENV{TEST_NGINX_FAST_SHUTDOWN} ? SIGTERM : SIGQUIT;
        my $target = ($master && is_running($master)) ? $master : $roots[0];
        warn "stopping nginx $target (pids @all)\n" if $Verbose;
        kill $sig, $target;
        kill $sig, grep { $_ != $target } @roots;
        my $grace = $UseValgrind ? 20 : $Timeout;
        my @left = _wait_gone($grace, @all);
        if (@left) {
            warn "$name - nginx (pids @left) did not quit in ${grace}s, "
                 . "sending TERM\n";
            kill SIGTERM, @left;
            @left = _wait_gone(2, @left);
        }
        if (@left) {
            warn "$name - killing nginx processes @left with SIGKILL\n";
            kill SIGKILL, @left;
            @left = _wait_gone(2, @left);
            warn "$name - WARNING: processes @left survived SIGKILL\n" if @left;
        }
    }

    if (defined $ChildPid) {
        # reap our foreground child (valgrind mode)
        my $deadline = time + 5;
        while (defined $ChildPid) {
            my $r = waitpid($ChildPid, WNOHANG);
            if ($r == $ChildPid || $r == -1) { undef $ChildPid; last }
            if (time > $deadline) {
                kill SIGKILL, -$ChildPid, $ChildPid;
                waitpid($ChildPid, 0);
                undef $ChildPid;
                last;
            }
            sleep 0.02;
        }
    }

    unlink $PidFile if -f $PidFile;
    $NginxStarted = 0;
}

#--------------------------------------------------------------------------
# server root, user files, nginx.conf
#--------------------------------------------------------------------------

sub _write_file ($$) {
    my ($path, $data) = @_;
    open my $out, '>', $path or bail_out("Cannot open $path for writing: $!");
    binmode $out;
    print $out $data;
    close $out;
}

sub setup_server_root (;$) {
    my $hup = shift;

    if ($hup && -d $ServRoot) {
        # nginx keeps running: empty the logs (nginx appends, so truncation
        # is safe) and recreate conf/html
        for my $f ($ErrLogFile, $AccLogFile) {
            truncate $f, 0 if -f $f;
        }
        remove_tree($HtmlDir, $ConfDir, glob("$ServRoot/*_cache"),
                    "$ServRoot/cache");

    } elsif (-d $ServRoot) {
        remove_tree($ConfDir, $HtmlDir, $LogDir, "$ServRoot/cache",
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"),
                    $ValgrindOut);
        if (!rmdir $ServRoot) {
            # do not wipe a directory we did not create (TEST_NGINX_SERVROOT
            # pointing somewhere wrong): same precaution as CPAN
            bail_out("Can't remove $ServRoot (not empty?): $!");
        }
    }

    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $d;
        make_path($d, { error => \my $err });
        bail_out("Failed to create directory $d") unless -d $d;
    }
    _write_file("$HtmlDir/index.html",
        '<html><head><title>It works!</title></head><body>It works!</body></html>');
}

sub write_user_files ($) {
    my $block = shift;
    my $name = $block->name;
    my $files = $block->user_files;
    return unless defined $files;

    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - user_files: only a string or an ARRAY ref is accepted");
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/[^/]+$}) {
            my $dir = $1;
            make_path($dir) unless -d $dir;
        }
        $body = expand_env_in_text($body, $name);
        _write_file($path, $body);
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to touch -t '$date' $path");
        }
    }
}

sub write_config_file ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text($block->http_config // '', $name);
    my $main_config = expand_env_in_text($block->main_config // '', $name);
    my $post_main_config = expand_env_in_text($block->post_main_config // '', $name);
    my $server_name = $block->server_name // $ServerName;
    $config //= '';

    my $master = $MasterProcessEnabled;
    $master = 'off' if $UseValgrind;    # single process under valgrind
    $master = 'on' if $UseHup;    # reload with HUP needs a master process
    my $daemon = $DaemonEnabled;

    my $conf = '';

    if ($LoadModules) {
        # load_module must precede the events/http blocks: put them first
        for my $m (grep { length } split /\s+/, $LoadModules) {
            $conf .= "load_module $m;\n";
        }
    }

    $conf .= <<"_EOC_";
worker_processes  $Workers;
daemon $daemon;
master_process $master;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env ASAN_OPTIONS;
_EOC_

    for my $v (@EnvToNginx) {
        my $q = $v =~ /\s/ ? "'$v'" : $v;
        $conf .= "env $q;\n";
    }

    my $V = nginx_V();
    my @temp;
    for my $t ([client_body => 'client_body_temp_path', undef],
               [proxy => 'proxy_temp_path', 'http_proxy_module'],
               [fastcgi => 'fastcgi_temp_path', 'http_fastcgi_module'],
               [uwsgi => 'uwsgi_temp_path', 'http_uwsgi_module'],
               [scgi => 'scgi_temp_path', 'http_scgi_module'])
    {
        my ($short, $directive, $mod) = @$t;
        next if $http_config =~ /\b\Q$directive\E\b/;
        next if $mod && $V =~ /--without-\Q$mod\E\b/;
        push @temp, "$directive $ServRoot/${short}_temp;";
    }
    my $temp_paths = join ' ', @temp;

    my $extra_http = '';
    if (defined $PostponeOutput && $http_config !~ /\bpostpone_output\b/) {
        $extra_http .= "    postpone_output $PostponeOutput;\n";
    }

    my $listen_opts = $ReusePort ? ' reuseport' : '';
    (my $qname = $server_name) =~ s/(['\\])/\\$1/g;

    $conf .= <<"_EOC_";

$main_config

http {
    access_log $AccLogFile;
    $temp_paths

    default_type text/plain;
    keepalive_timeout  68000ms;
$extra_http
$http_config

    server {
        listen          $ServerPort$listen_opts;
        server_name     '$qname';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$NoRootLocation) {
        $conf .= <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }
    $conf .= "    }\n";

    if ($UseHup) {
        $conf .= <<"_EOC_";

    server {
        listen          $ServerPort$listen_opts;
        server_name     'Test-Nginx';

        location = /ver {
            return 200 '$ConfigVersion';
        }
    }
_EOC_
    }

    $conf .= "}\n\n$post_main_config\n\nevents {\n    accept_mutex off;\n"
           . "    worker_connections  $WorkerConnections;\n";
    $conf .= "    use $EventType;\n" if $EventType;
    $conf .= "}\n";

    if (defined $WorkerUser) {
        $conf .= "user $WorkerUser;\n";
    } elsif ($> == 0) {
        $conf .= "user root;\n";
    }

    _write_file($ConfFile, $conf);
}

#--------------------------------------------------------------------------
# error.log / access.log access
#--------------------------------------------------------------------------

sub _read_lines ($$) {
    my ($file, $pos_ref) = @_;
    open my $in, '<', $file or return [];
    my $size = -s $in;
    if ($pos_ref && $$pos_ref > 0 && $$pos_ref <= $size) {
        seek $in, $$pos_ref, 0;
    }
    my @lines = <$in>;
    $$pos_ref = tell $in if $pos_ref;
    close $in;
    return \@lines;
}

# new error.log lines since the last call in this block (all lines with
# check_accum_error_log), plus what nginx printed on stderr (must_die)
sub error_log_data () {
    sleep $TestNginxSleep * 3;
    my $lines;
    if ($CheckAccumErrLog) {
        $lines = _read_lines($ErrLogFile, undef);
    } else {
        $lines = _read_lines($ErrLogFile, \$ErrLogFilePos);
    }
    # nginx -e writes start-up errors to both stderr and error.log: keep a
    # stderr line only if error.log does not have it (so counts match CPAN,
    # which reads error.log only)
    my @extra = grep {
        (my $m = $_) =~ s/^nginx: \[\w+\]\s*//;
        $m =~ s/\s+$//;
        my $msg = $m;
        !grep { index($_, $msg) >= 0 } @$lines;
    } @ExtraErrLogLines;
    return [@$lines, @extra];
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    return _read_lines($AccLogFile, undef);
}

sub error_log_tail (;$) {
    my $n = shift || 20;
    my $lines = _read_lines($ErrLogFile, undef);
    my @t = @$lines > $n ? @$lines[-$n .. -1] : @$lines;
    return @t ? join('', @t) : "(error.log is empty or missing)\n";
}

#--------------------------------------------------------------------------
# starting nginx
#--------------------------------------------------------------------------

sub nginx_cmd () {
    my @cmd = ($NginxBinary);
    get_nginx_version();
    # -e (nginx >= 1.19.5) makes early errors go to our error.log too, as
    # CPAN does; stderr is captured as well for distributions built with
    # --error-log-path=stderr
    push @cmd, '-e', $ErrLogFile
        if !defined $NginxVersion || $NginxVersion >= 1.019005;
    push @cmd, '-p', "$ServRoot/", '-c', $ConfFile;
    return @cmd;
}

sub valgrind_cmd () {
    my @v = ('valgrind', '-q');
    if ($UseValgrind =~ /^\d+$/) {
        push @v, '--tool=memcheck', '--leak-check=full',
                 '--show-possibly-lost=no', '--num-callers=100',
                 '--gen-suppressions=all';
        my $builtin = __FILE__;
        $builtin =~ s{[^/]+$}{valgrind.suppress};
        push @v, "--suppressions=$builtin" if -f $builtin;
        push @v, '--suppressions=valgrind.suppress' if -f 'valgrind.suppress';
    } else {
        push @v, split ' ', $UseValgrind;
    }
    return @v;
}

# run nginx (daemon on) and wait for the launcher; returns ($status, $stderr)
sub _run_nginx_sync ($) {
    my $name = shift;
    my @cmd = nginx_cmd();
    my ($efh, $efile) = File::Temp::tempfile('tn-stderr-XXXXXX', TMPDIR => 1,
                                             UNLINK => 1);
    warn "command: @cmd\n" if $Verbose;
    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $InSubprocess = 1;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>&', $efh;
        exec @cmd or do {
            print STDERR "exec @cmd failed: $!\n";
            POSIX::_exit(127);
        };
    }
    my $deadline = time + 15;
    my $status;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $status = $?; last }
        if ($r == -1) { $status = -1; last }
        if (time > $deadline) {
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            $status = $?;
            warn "$name - nginx launcher did not return in 15s, killed\n";
            last;
        }
        sleep 0.005;
    }
    seek $efh, 0, 0;
    my $err = do { local $/; <$efh> } // '';
    close $efh;
    unlink $efile;
    return ($status, $err);
}

sub _wait_pidfile ($) {
    my $secs = shift;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return 1 if get_pid_from_pidfile('');
        sleep 0.005;
    }
    return 0;
}

# start nginx in the foreground under valgrind
sub _start_nginx_child ($) {
    my $name = shift;
    my @cmd = (valgrind_cmd(), nginx_cmd());
    warn "$name\n";
    warn "command: @cmd\n" if $Verbose;
    my $pid = fork();
    bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $InSubprocess = 1;
        setpgrp(0, 0);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $ValgrindOut;
        open STDERR, '>>', $ValgrindOut;
        exec @cmd or POSIX::_exit(127);
    }
    $ChildPid = $pid;
    $ValgrindOutPos = 0;
    # wait until nginx listens (valgrind is slow to start) or dies
    my $deadline = time + 60;
    while (time < $deadline) {
        if (!is_running($pid)) {
            my $out = -f $ValgrindOut ? _slurp($ValgrindOut) : '';
            $ValgrindOutPos = length $out;    # exit-time leaks: not reported
            my $in_supp = 0;
            my @l = grep {
                $in_supp = 1 if /^\{\s*$/;
                my $keep = !$in_supp && !/^==\d+==/;
                $in_supp = 0 if /^\}\s*$/;
                $keep;
            } split /^/, $out;
            return "nginx failed to start under valgrind; its stderr:\n"
                   . join('', @l) . "--- tail of $ErrLogFile:\n"
                   . error_log_tail(20);
        }
        # nginx opens its listening sockets before writing the pid file;
        # probing the port instead would leave lines in error.log
        my $p = get_pid_from_pidfile($name);
        return undef if $p && $p == $pid;
        sleep 0.05;
    }
    return "nginx under valgrind did not listen on port $ServerPortForClient "
           . "within 60s";
}

sub _slurp ($) {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    my $d = <$in>;
    close $in;
    return $d // '';
}

# returns undef on success, an error message otherwise
sub start_nginx ($) {
    my $name = shift;

    if (!can_run($NginxBinary)) {
        bail_out("$name - Cannot find the nginx executable "
                 . "(TEST_NGINX_BINARY=$NginxBinary)");
    }

    if ($UseValgrind) {
        my $err = _start_nginx_child($name);
        $NginxStarted = !defined $err;
        return $err;
    }

    my $deadline = time + 5;
    while (1) {
        my ($status, $stderr) = _run_nginx_sync($name);
        if ($status == 0) {
            $NginxStarted = 1;
            if (!_wait_pidfile(3)) {
                warn "$name - WARNING: nginx started but wrote no pid file "
                     . "$PidFile\n";
            }
            warn "nginx stderr: $stderr" if $Verbose && length $stderr;
            return undef;
        }
        if ($stderr =~ /Address already in use/ && time < $deadline) {
            # a previous nginx may still be releasing the port
            stop_nginx($name);
            sleep 0.1;
            next;
        }
        my $code = $status == -1 ? 'exec failed' : 'exit status ' . ($status >> 8)
                   . (($status & 127) ? ', signal ' . ($status & 127) : '');
        return "nginx failed to start ($code) using command \""
               . join(' ', nginx_cmd()) . "\"\n"
               . "--- nginx stderr:\n$stderr"
               . "--- tail of $ErrLogFile:\n" . error_log_tail(20);
    }
}

sub _shutting_down ($) {
    my $pid = shift;
    open my $fh, '<', "/proc/$pid/cmdline" or return 1;
    my $cmd = do { local $/; <$fh> } // '';
    close $fh;
    # only worker/cache processes matter; they retitle on graceful shutdown
    return $cmd =~ /shutting down/ || $cmd !~ /process/ ? 1 : 0;
}

# HUP reload (TEST_NGINX_USE_HUP); returns true on success
sub reload_nginx ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;
    my $pid = get_pid_from_pidfile($name);
    return 0 unless $pid && is_running($pid);

    setup_server_root(1);
    write_user_files($block);
    write_config_file($block, $config);
    $ErrLogFilePos = 0;

    my @old_workers = _descendants($pid);

    kill SIGHUP, $pid or return 0;

    my $deadline = time + 8;
    my $ok = 0;
    while (time < $deadline) {
        my $body = Test::Nginx::Client::simple_get('/ver', 'Test-Nginx', 1);
        if (defined $body && $body eq $ConfigVersion) {
            next if ++$ok < 3;
            # the old workers must stop accepting connections first: they
            # retitle themselves "... is shutting down" right before closing
            # their listening sockets
            my $wait_until = time + 3;
            while (time < $wait_until) {
                my @busy = grep { is_running($_) && !_shutting_down($_) }
                           @old_workers;
                last unless @busy;
                sleep 0.005;
            }
            sleep $TestNginxSleep;
            return 1;
        }
        $ok = 0;
        # a config nginx rejects is reported as [emerg] in the (truncated) log
        last if grep { /\[emerg\]/ } @{ _read_lines($ErrLogFile, undef) };
        sleep 0.02;
    }
    Test::More::diag("$name - nginx did not pick up the new configuration "
                     . "after SIGHUP; restarting it.\n" . error_log_tail(10));
    return 0;
}

sub _gen_rand_str ($) {
    my $n = shift;
    my @c = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
    return join '', map { $c[int rand @c] } 1 .. $n;
}

#--------------------------------------------------------------------------
# valgrind output
#--------------------------------------------------------------------------

sub check_valgrind_output ($) {
    my $name = shift;
    return unless $UseValgrind && -f $ValgrindOut;
    open my $in, '<', $ValgrindOut or return;
    seek $in, $ValgrindOutPos, 0 if $ValgrindOutPos <= -s $in;
    my @lines = <$in>;
    $ValgrindOutPos = tell $in;
    close $in;
    my @errs = grep { /^==\d+== \S/ && !/^==\d+== Warning:/ } @lines;
    return unless @errs;
    Test::More::fail("$name - valgrind reported errors");
    Test::More::diag(join '', @lines);
}

#--------------------------------------------------------------------------
# skip / todo sections
#--------------------------------------------------------------------------

sub _ver_cmp ($$$) {
    my ($have, $op, $want) = @_;
    return 0 unless defined $have;
    return $op eq '<'  ? $have <  $want
         : $op eq '<=' ? $have <= $want
         : $op eq '>'  ? $have >  $want
         : $op eq '>=' ? $have >= $want : 0;
}

# returns (number_of_tests, reason, kind) where kind is 'skip' or 'todo'
sub _skip_or_todo ($) {
    my $block = shift;
    my $name = $block->name;
    my ($n, $reason, $kind);
    my $ver = get_nginx_version();

    if (defined(my $s = $block->skip_eval)) {
        if ($s =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            my ($cnt, $code) = ($1, $2);
            my $r = eval $code;
            bail_out("$name - skip_eval - failed to eval \"$code\": $@") if $@;
            return ($cnt, 'skip_eval', 'skip') if $r;
        }
    }
    if (defined(my $s = $block->skip_nginx)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/s
            or bail_out("$name - Invalid --- skip_nginx spec: $s");
        my ($cnt, $op, $v, $why) = ($1, $2, _canon_version($3, $4, $5), $6);
        return ($cnt, $why || "nginx version $op $3.$4.$5", 'skip')
            if (!defined $ver && $op =~ /^</) || _ver_cmp($ver, $op, $v);
    } elsif (defined(my $s2 = $block->skip_nginx2)) {
        $s2 =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(or|and)\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/s
            or bail_out("$name - Invalid --- skip_nginx2 spec: $s2");
        my ($cnt, $opa, $va, $x, $opb, $vb, $why) =
            ($1, $2, _canon_version($3, $4, $5), $6, $7,
             _canon_version($8, $9, $10), $11);
        my $ca = _ver_cmp($ver, $opa, $va);
        my $cb = _ver_cmp($ver, $opb, $vb);
        return ($cnt, $why || 'various reasons', 'skip')
            if !defined $ver || ($x eq 'or' ? ($ca || $cb) : ($ca && $cb));
    }
    if (defined(my $s = $block->skip_openssl)) {
        $s =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)([a-z])?(?:\s*:\s*(.*?))?\s*$/s
            or bail_out("$name - Invalid --- skip_openssl spec: $s");
        my ($cnt, $op, $why) = ($1, $2, $7);
        my $v = sprintf "%d.%03d%03d%03d", $3, $4, $5, $6 ? ord($6) - ord('a') : 0;
        return ($cnt, $why || (defined $OpenSSLVersion
                               ? "OpenSSL version $op $3.$4.$5" . ($6 // '')
                               : 'Not built with OpenSSL'), 'skip')
            if !defined $OpenSSLVersion || _ver_cmp($OpenSSLVersion, $op, $v);
    }
    if (defined(my $t = $block->todo_nginx)) {
        $t =~ /^\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$/s
            or bail_out("$name - Invalid --- todo_nginx spec: $t");
        # CPAN: todo_nginx alone gives no test count; handled like todo
        if ((!defined $ver && $1 =~ /^</)
            || _ver_cmp($ver, $1, _canon_version($2, $3, $4)))
        {
            ($reason, $kind) = ($5 || 'various reasons', 'todo');
        }
    }
    if (defined(my $t = $block->todo)) {
        $t =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $t");
        return ($1, $2, 'todo');
    }
    return ($n, $reason, $kind) if $kind;
    return;
}

#--------------------------------------------------------------------------
# driver
#--------------------------------------------------------------------------

our $PrevConfig;

sub run_tests () {
    get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        unless defined $ENV{TEST_NGINX_SERVER_PORT};

    # as CPAN: blocks() runs every block's filters (eval sections) now,
    # before the first block runs (t/runner/selftest.t checks the order)
    my @blocks = Test::Base::blocks();
    @blocks = List::Util::shuffle(@blocks) unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $_->($block) for @TestCleanupHandlers;
    }

    cleanup();
}

sub _start_fresh ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;
    stop_nginx($name);
    setup_server_root(0);
    if (defined(my $code = $block->post_setup_server_root)) {
        eval $code;
        bail_out("$name - post_setup_server_root failed: $@") if $@;
    }
    write_user_files($block);
    write_config_file($block, $config);
    $ErrLogFilePos = 0;
    my $err = start_nginx($name);
    if (defined $err) {
        $StartupError = $err;
        Test::More::diag("$name - $err");
    } else {
        sleep $TestNginxSleep;
    }
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    local $RandPorts = {};
    local @ExtraErrLogLines = ();
    local $LogLevel = $block->log_level || $LogLevel;
    local $UseHup = $UseHup;
    local $UseValgrind = $UseValgrind;
    local $DaemonEnabled = $DaemonEnabled;
    undef $StartupError;

    my $must_die = $block->must_die;
    if (defined $must_die) {
        # must_die always starts a plain daemonized nginx
        undef $UseHup;
        if ($UseValgrind) {
            undef $UseValgrind;
            $DaemonEnabled = 'on';
        }
    }

    my ($skip_n, $skip_reason, $skip_kind) = _skip_or_todo($block);
    if ($skip_kind) {
        for my $rep (1 .. $RepeatEach) {
            if ($skip_kind eq 'skip') {
                SKIP: { Test::More::skip("$name - $skip_reason", $skip_n // 1) }
            } else {
                TODO: { Test::More::todo_skip("$name - $skip_reason", $skip_n // 1) }
            }
        }
        return;
    }

    my $config = $block->config;
    $config = expand_env_in_text($config, $name) if defined $config;

    if (defined $must_die) {
        return run_must_die($block, $config, $must_die);
    }

    if ($NoNginxManager) {
        # somebody else runs nginx
    } elsif (!defined $config) {
        if (!defined $PrevConfig || !nginx_is_running()) {
            bail_out("$name - No '--- config' section specified and could "
                     . "not get previous one.");
        }
        # CPAN reuses the running nginx (and its config) as is
    } else {
        $PrevConfig = $config;
        if ($UseHup) {
            $ConfigVersion = _gen_rand_str(10);
            if ($FirstTime || !nginx_is_running()
                || !reload_nginx($block, $config))
            {
                _start_fresh($block, $config);
            }
        } else {
            _start_fresh($block, $config);
        }
        $FirstTime = 0;
    }

    if (defined(my $init = $block->init)) {
        eval $init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;
    for my $rep (0 .. $RepeatEach - 1) {
        write_user_files($block) if $rep > 0;
        my $tcp = Test::Nginx::TCPServer::start($block);
        $RunTestHelper->($block, $rep);
        Test::Nginx::TCPServer::finish($block, $tcp) if $tcp;
    }

    if (my $total = $ENV{TEST_NGINX_ERROR_LOG}) {
        if (-s $ErrLogFile && open my $out, '>>', $total) {
            print $out "\n=== $name\n", _slurp($ErrLogFile);
            close $out;
        }
    }

    if ($UseValgrind) {
        stop_nginx($name) unless $UseHup;
        check_valgrind_output($name);
    }
}

sub run_must_die ($$$) {
    my ($block, $config, $must_die) = @_;
    my $name = $block->name;

    stop_nginx($name);
    setup_server_root(0);
    write_user_files($block);
    write_config_file($block, $config);
    $ErrLogFilePos = 0;
    $PrevConfig = undef;

    for my $rep (0 .. $RepeatEach - 1) {
        my ($status, $stderr) = _run_nginx_sync($name);
        my $exit = $status == -1 ? undef : $status >> 8;
        if ($status == -1 || (defined $exit && $exit == 127
                              && $stderr =~ /^exec .* failed/m))
        {
            Test::More::fail("$name - failed to execute the nginx command line");
            Test::More::diag($stderr);
        } elsif ($status & 127) {
            Test::More::fail("$name - nginx killed by signal " . ($status & 127)
                             . (($status & 128) ? ' (core dumped)' : ''));
        } elsif (looks_like_number($must_die)) {
            Test::More::is($exit, $must_die,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($status, 0, "$name - die as expected")
                or Test::More::diag("nginx started successfully although "
                                    . "--- must_die was given");
        }

        local @ExtraErrLogLines = map { "$_\n" } split /\n/, $stderr;
        $CheckErrorLog->($block, undef, $rep, 0);

        if ($status == 0) {
            warn "WARNING: $name - nginx must die but it does not; killing "
                 . "it (req $rep)\n";
            $NginxStarted = 1;
            _wait_pidfile(2);
            stop_nginx($name);
        }
    }
}

sub cleanup () {
    $_->() for @CleanupHandlers;
    Test::Nginx::TCPServer::kill_all();
}

sub _final_cleanup {
    return if $InSubprocess || !defined $PidFile;
    local $?;
    cleanup();
    if (!$NoClean || $UseValgrind) {
        stop_nginx('END');
        check_valgrind_output("$0 END") if $UseValgrind;
    }
}

END { _final_cleanup() }

# make sure nginx is stopped when the test script gets interrupted
{
    my %signum = (HUP => 1, INT => 2, TERM => 15);
    for my $sig (sort keys %signum) {
        $SIG{$sig} = sub {
            if (!$InSubprocess) {
                $InSubprocess = 1;    # END has nothing left to do
                _final_cleanup_now();
            }
            POSIX::_exit(128 + $signum{$sig});
        };
    }
}

sub _final_cleanup_now {
    local $InSubprocess = 0;
    _final_cleanup();
}

#--------------------------------------------------------------------------
# minimal mock TCP backend: --- tcp_listen / tcp_reply / tcp_query ...
#--------------------------------------------------------------------------

package Test::Nginx::TCPServer;

use IO::Select ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

my %Servers;

sub start {
    my $block = shift;
    my $target = $block->tcp_listen;
    return undef unless defined $target;
    my $name = $block->name;
    $target = Test::Nginx::Util::expand_env_in_text($target, $name);
    $target =~ s/^\s+|\s+$//g;

    my $reply = $block->tcp_reply;
    if (!defined $reply && !defined $block->tcp_shutdown) {
        Test::Nginx::Util::bail_out("$name - no --- tcp_reply specified but "
                                    . "--- tcp_listen is specified");
    }

    my $sock;
    if ($target =~ /^\d+$/) {
        for (1 .. 30) {
            $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => $target, Proto => 'tcp',
                                          ReuseAddr => 1, Listen => 5);
            last if $sock;
            sleep 0.1;
        }
    } else {
        require IO::Socket::UNIX;
        unlink $target;
        $sock = IO::Socket::UNIX->new(Local => $target, Listen => 5,
                                      Type => IO::Socket::UNIX::SOCK_STREAM());
    }
    Test::Nginx::Util::bail_out("$name - failed to listen on $target: $!")
        unless $sock;

    my ($qfh, $qfile) = File::Temp::tempfile('tn-tcpq-XXXXXX', TMPDIR => 1,
                                             UNLINK => 1);
    close $qfh;
    my $pid = fork();
    Test::Nginx::Util::bail_out("$name - fork() failed: $!") unless defined $pid;
    if ($pid == 0) {
        $Test::Nginx::Util::InSubprocess = 1;
        _serve($block, $sock, $reply, $qfile);
        POSIX::_exit(0);
    }
    close $sock;
    $Servers{$pid} = 1;
    return { pid => $pid, qfile => $qfile, target => $target };
}

sub _serve {
    my ($block, $sock, $reply, $qfile) = @_;
    my $client = $sock->accept or return;
    my ($no_read, $no_write);
    if (defined(my $how = $block->tcp_shutdown)) {
        sleep $block->tcp_shutdown_delay if $block->tcp_shutdown_delay;
        $client->shutdown($how);
        if ($how == 0 || $how == 2) { $no_read = 1 } else { $no_write = 1 }
    }
    my $buf = '';
    unless ($no_read) {
        my $len = $block->tcp_query_len;
        $len = length $block->tcp_query if !defined $len && defined $block->tcp_query;
        my $sel = IO::Select->new($client);
        my $auto = $block->tcp_query_auto_timeout;
        while (1) {
            if (defined $auto) {
                last unless $sel->can_read(length $auto ? $auto : 0.1);
            }
            my $b;
            my $n = sysread($client, $b, 4096);
            last unless $n;
            $buf .= $b;
            if (open my $o, '>', "$qfile.tmp") {
                print $o $buf;
                close $o;
                rename "$qfile.tmp", $qfile;
            }
            last if !defined $auto && (!$len || length($buf) >= $len);
        }
    }
    my $delay = Test::Nginx::Util::parse_time($block->tcp_reply_delay);
    sleep $delay if $delay;
    if (!$no_write && defined $reply) {
        $reply = $reply->($buf) if ref $reply eq 'CODE';
        for my $r (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
            syswrite $client, $r;
        }
    }
    if (defined $block->tcp_no_close) {
        sleep 1 while 1;
    }
    close $client;
}

sub finish {
    my ($block, $srv) = @_;
    my $name = $block->name;
    _kill($srv->{pid});
    my $buf = '';
    if (open my $in, '<', $srv->{qfile}) {
        local $/;
        $buf = <$in> // '';
        close $in;
    }
    unlink $srv->{qfile};
    if (defined $block->tcp_query) {
        Test::Nginx::Util::is_str_helper($buf, scalar($block->tcp_query),
                                         "$name - tcp_query ok");
    }
    if (defined $block->tcp_query_len) {
        Test::More::is(length($buf), $block->tcp_query_len,
                       "$name - TCP query length ok");
    }
}

sub _kill {
    my $pid = shift;
    return unless $pid;
    delete $Servers{$pid};
    my $deadline = time + 1;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        kill 'TERM', $pid;
        sleep 0.01;
    }
}

sub kill_all {
    _kill($_) for keys %Servers;
}

package Test::Nginx::Util;

# string comparison used by several checks; set by Test::Nginx::Socket
our $IsStr;
sub is_str_helper { $IsStr ? $IsStr->(@_) : Test::More::is($_[0], $_[1], $_[2]) }

1;
