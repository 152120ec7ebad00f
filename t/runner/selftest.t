#!/usr/bin/env perl
# Self-test of the local Test::Nginx::Socket work-alike in t/lib.
#
#   cd /work/main && prove -I t/lib t/runner/
#
# Writes fixture .t files into a temporary directory and runs each with
# "prove -v -I <repo>/t/lib" against a plain nginx (no module needed),
# then checks the outcome, the diagnostics, and that no nginx is left.
# Env: SELFTEST_NGINX (default /usr/sbin/nginx), SELFTEST_PORT (default 1990;
# the fixtures also use SELFTEST_PORT+3 for a stream server); TEST_NGINX_LIB
# (a checkout of CPAN's Test::Nginx: the fixture about when sections are
# evaluated runs under it too, to show both runners agree).

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Time::HiRes qw(time sleep);

my $repo  = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $lib   = "$repo/t/lib";
my $cpan_lib = $ENV{TEST_NGINX_LIB} ? "$ENV{TEST_NGINX_LIB}/lib" : undef;
my $nginx = $ENV{SELFTEST_NGINX} || '/usr/sbin/nginx';
my $port  = $ENV{SELFTEST_PORT} || 1990;
my $stream_port = $port + 3;
my $stream_mod = '/usr/lib/nginx/modules/ngx_stream_module.so';

plan skip_all => "no nginx binary at $nginx" unless -x $nginx;
plan skip_all => "prove not found" unless grep { -x "$_/prove" } split /:/, $ENV{PATH};

my $dir = tempdir('tn-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/t" or die "mkdir: $!";

my $t0 = time;

# ---------------------------------------------------------------------------

sub port_in_use {
    my $p = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

sub leftover_nginx {
    my @out;
    opendir my $dh, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $dh) {
        next if $p == $$;
        open my $fh, '<', "/proc/$p/cmdline" or next;
        my $c = do { local $/; <$fh> } // '';
        $c =~ tr/\0/ /;
        push @out, "$p: $c" if index($c, "$dir/") >= 0 && $c =~ /nginx/;
    }
    return @out;
}

# run a fixture with the runner in t/lib (or the one in $env{-lib});
# returns (exit status, combined output)
sub run_fixture {
    my ($name, $body, %env) = @_;
    my $runner = delete $env{-lib} // $lib;
    my $file = "t/$name.t";
    open my $out, '>', "$dir/$file" or die "$file: $!";
    print $out $body;
    close $out;

    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        delete $ENV{$_} for grep { /^TEST_NGINX_/ } keys %ENV;
        $ENV{TEST_NGINX_SERVER_PORT} = $port;
        $ENV{TEST_NGINX_BINARY} = $nginx;
        $ENV{SELFTEST_STREAM_PORT} = $stream_port;
        $ENV{$_} = $env{$_} for keys %env;
        chdir $dir or die "chdir: $!";
        open STDOUT, '>', "$dir/$name.out" or die;
        open STDERR, '>&', \*STDOUT or die;
        exec 'prove', '-v', '-I', $runner, $file;
        exit 127;
    }
    waitpid $pid, 0;
    my $status = $? >> 8;
    open my $in, '<', "$dir/$name.out" or die;
    my $output = do { local $/; <$in> };
    close $in;

    # nothing may be left behind
    my @left = leftover_nginx();
    ok(!@left, "$name: no nginx process left running")
        or diag("left over:\n" . join "\n", @left);
    ok(!port_in_use($port), "$name: port $port is free after the run");
    return ($status, $output);
}

sub show { diag("---- output ----\n$_[0]") }

# the lines of a fixture's TAP output for one test description
sub tap_lines {
    my ($output, $re) = @_;
    return grep { /^(?:not )?ok \d+ - .*$re/ } split /\n/, $output;
}

sub all_ok {
    my ($output, $re, $n, $what) = @_;
    my @l = tap_lines($output, $re);
    my @bad = grep { /^not ok/ } @l;
    ok(@l == $n && !@bad, "$what ($n x ok)")
        or diag("wanted $n passing lines matching $re, got:\n" . join "\n", @l);
}

sub fails_with {
    my ($output, $re, $diag_res, $what) = @_;
    my @l = grep { /^not ok/ } tap_lines($output, $re);
    ok(scalar @l, "$what: reported as failure") or return;
    for my $d (@$diag_res) {
        like($output, $d, "$what: output shows $d");
    }
}

# ---------------------------------------------------------------------------
# 1. a planned fixture exercising most sections, shuffled, repeat_each(2)
# ---------------------------------------------------------------------------

my $pass = <<'EOF';
use Test::Nginx::Socket;

repeat_each(2);
# per repeat: 5+6+3+3+2+2+2+2+4+2+3+2+0+2 = 38 (see the blocks)
plan tests => repeat_each() * 38;

log_level('info');
run_tests();

__DATA__

=== TEST 1: basic: more_headers, response_headers with !Name, no_error_log
--- config
    location /t {
        add_header X-Bar 1;
        return 200 "ok $http_x_foo\n";
    }
--- request
GET /t
--- more_headers
X-Foo: bar
--- error_code: 200
--- response_body
ok bar
--- response_headers
X-Bar: 1
!X-Absent
--- no_error_log
[error]



=== TEST 2: several requests via eval arrays, $TEST_NGINX_SERVER_PORT
--- http_config
    upstream backend { server 127.0.0.1:$TEST_NGINX_SERVER_PORT; }
--- config
    location /a { add_header X-Loc a; return 201 "a\n"; }
    location /b { proxy_pass http://backend/a; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[201, 201]
--- response_body eval
["a\n", "a\n"]
--- response_headers eval
["X-Loc: a", "X-Loc: a"]



=== TEST 3: _like variants
--- config
    location /id { add_header X-Id $request_id; return 200 "id=$request_id\n"; }
--- request
GET /id
--- error_code_like: ^20[0-9]$
--- response_headers_like
X-Id: ^[0-9a-f]{32}$
--- response_body_like: ^id=[0-9a-f]{32}$



=== TEST 4: error_log, response_body_unlike
--- config
    location /missing { root html; }
--- request
GET /missing/nothing.txt
--- error_code: 404
--- response_body_unlike: It works
--- error_log
No such file or directory



=== TEST 5: grep_error_log
--- config
    location /missing { root html; }
--- request
GET /missing/nothing.txt
--- error_code: 404
--- grep_error_log chop
No such file or directory
--- grep_error_log_out
No such file or directory



=== TEST 6: user_files, wait, main_config
--- main_config
env SELFTEST_DUMMY_VAR;
--- config
    location /f/ { root html; }
--- user_files
>>> f/a.txt
hello file
>>> f/b.txt
other
--- request
GET /f/a.txt
--- wait: 0.1
--- response_body
hello file



=== TEST 7: must_die with a config error (message from stderr/error.log)
--- config
    location /t { no_such_directive_here on; }
--- must_die
--- error_log
unknown directive "no_such_directive_here"



=== TEST 8: timeout + abort
--- config
    location /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 300ms
--- abort
--- error_code:
--- response_body:



=== TEST 9: pipelined requests
--- config
    location /a { return 200 "a\n"; }
    location /bb { return 200 "bb\n"; }
--- pipelined_requests eval
["GET /a", "GET /bb"]
--- response_body eval
["a\n", "bb\n"]



=== TEST 10: request body gets a Content-Length (checked by a proxied location)
--- config
    location /post { proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/len; }
    location /len { return 200 "$request_method len=$http_content_length\n"; }
--- request
POST /post
hello world
--- response_body
POST len=11



=== TEST 11: chunked response is decoded
--- config
    location /c {
        sub_filter 'a' 'b';
        sub_filter_once off;
        sub_filter_types text/plain;
        return 200 "aaa\n";
    }
--- request
GET /c
--- response_headers
Transfer-Encoding: chunked
--- response_body
bbb



=== TEST 12: skip_nginx skips its tests
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
this would fail
--- skip_nginx: 2: > 0.1.0



=== TEST 13: SKIP'd block is not run nor counted
--- SKIP
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
this would fail



=== TEST 14: HEAD request
--- config
    location /t { return 200 "ok\n"; }
--- request
HEAD /t
--- response_body:
EOF

{
    my ($st, $out) = run_fixture('pass', $pass);
    is($st, 0, 'pass.t: all tests pass') or show($out);
    like($out, qr/^1\.\.76$/m, "pass.t: plan of 76 tests");
    unlike($out, qr/^not ok/m, 'pass.t: no failing test');
    all_ok($out, qr/TEST 1: .* - header X-Absent not present in the raw headers/, 2,
           'response_headers !Name');
    all_ok($out, qr/TEST 2: .* - response_body - response is expected \(repeated req \d, req 1\)/, 2,
           'second request of an eval array');
    all_ok($out, qr/TEST 3: .* - header X-Id like ok/, 2, 'response_headers_like');
    all_ok($out, qr/TEST 4: .* matches a line in error\.log/, 2, 'error_log');
    all_ok($out, qr/TEST 5: .* grep_error_log_out/, 2, 'grep_error_log');
    all_ok($out, qr/TEST 7: .* - die as expected/, 2, 'must_die');
    all_ok($out, qr/TEST 7: .* - pattern "unknown directive/, 2,
           'must_die: config error message matched');
    all_ok($out, qr/TEST 9: .* req 1\)/, 2, 'pipelined_requests');
    like($out, qr/^ok \d+ # skip .*TEST 12: skip_nginx/m, 'skip_nginx');
    unlike($out, qr/TEST 13/, 'SKIP block not run');
}

# ---------------------------------------------------------------------------
# 2. failures must be reported, with expected and received values
# ---------------------------------------------------------------------------

my $fail = <<'EOF';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
log_level('info');
run_tests();

__DATA__

=== TEST 1: wrong body
--- config
    location /t { return 200 "the real body\n"; }
--- request
GET /t
--- response_body
the expected body



=== TEST 2: wrong status code
--- config
    location /t { return 202 "ok\n"; }
--- request
GET /t
--- error_code: 201



=== TEST 3: header that must be absent is present
--- config
    location /t { add_header X-Present yes-it-is; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
!X-Present



=== TEST 4: wrong header value
--- config
    location /t { add_header X-Val real-value; return 200 "ok\n"; }
--- request
GET /t
--- response_headers
X-Val: expected-value



=== TEST 5: error_log line that is not there
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- error_log
this line is not in the log



=== TEST 6: no_error_log line that is there
--- config
    location /missing { root html; }
--- request
GET /missing/nothing.txt
--- error_code: 404
--- no_error_log
[error]



=== TEST 7: must_die with a good config
--- config
    location /t { return 200 "ok\n"; }
--- must_die



=== TEST 8: request that times out
--- config
    location /t { return 200 "ok\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n"
--- timeout: 0.3



=== TEST 9: nginx does not start (config error without must_die)
--- config
    location /t { another_bad_directive 1; }
--- request
GET /t



=== TEST 10: response_body_like mismatch
--- config
    location /t { return 200 "abc\n"; }
--- request
GET /t
--- response_body_like: ^xyz



=== TEST 11: connection refused (nginx went away)
--- config
    location /t { return 200 "ok\n"; }
--- init
Test::Nginx::Util::stop_nginx('init');
--- request
GET /t
EOF

{
    my ($st, $out) = run_fixture('fail', $fail);
    isnt($st, 0, 'fail.t: exits with failure');
    fails_with($out, qr/TEST 1: wrong body - response_body/,
               [qr/got: 'the real body/, qr/expected: 'the expected body/],
               'wrong body');
    fails_with($out, qr/TEST 2: wrong status code - status code ok/,
               [qr/got: '202'/, qr/expected: '201'/], 'wrong code');
    fails_with($out, qr/TEST 3: .* - header X-Present not present in the raw headers/,
               [qr/X-Present: yes-it-is/], 'absent header present');
    fails_with($out, qr/TEST 4: .* - header X-Val ok/,
               [qr/got: 'real-value'/, qr/expected: 'expected-value'/],
               'wrong header value');
    fails_with($out, qr/TEST 5: .* - pattern "this line is not in the log" should match a line in error\.log/,
               [qr/lines read from error\.log/], 'missing error_log line');
    fails_with($out, qr/TEST 6: .* - pattern "\[error\]" should not match any line in error\.log but matches line ".*No such file or directory/,
               [qr/matching lines in error\.log:\n#.*\[error\].*open\(\)/],
               'no_error_log line present');
    fails_with($out, qr/TEST 7: .* - die as expected/,
               [qr/nginx started successfully although --- must_die was given/],
               'must_die with a good config');
    fails_with($out, qr/ERROR: client socket timed out - .*TEST 8/,
               [qr/no data for 0\.3s/], 'request timeout');
    fails_with($out, qr/TEST 9: .* - status code ok/,
               [qr/nginx failed to start/, qr/unknown directive "another_bad_directive"/],
               'nginx start failure');
    fails_with($out, qr/TEST 10: .* - response_body_like/,
               [qr/'abc\n#\s*'\n#\s+doesn't match '\(\?\^s:\^xyz\)'/], 'body_like mismatch');
    fails_with($out, qr/TEST 11: .* - Can't connect to 127\.0\.0\.1:$port: .*\(aborted\)/,
               [qr/nginx is NOT running; tail of \S+error\.log:\n#.*\[notice\]/],
               'connection failure shows the error log');
    my @notok = $out =~ /^not ok/mg;
    is(scalar @notok, 14, 'fail.t: exactly the expected failures')
        or show($out);
}

# ---------------------------------------------------------------------------
# 3. master_on + workers(2), TEST_NGINX_LOAD_MODULES, plan with blocks()
# ---------------------------------------------------------------------------

my $master = <<'EOF';
use Test::Nginx::Socket;
repeat_each(2);
plan tests => repeat_each() * 2 * blocks() + 4;
workers(2);
master_on();
run_tests();

# nginx of the last block is still running here (stopped at exit)
my $root = server_root();
my $conf = do { local (@ARGV, $/) = "$root/conf/nginx.conf"; <> };
like($conf, qr/\Aload_module \S+ngx_stream_module\.so;\n/, 'load_module line first');
like($conf, qr/^master_process on;$/m, 'master_process on');
my $pid = do { local (@ARGV, $/) = "$root/logs/nginx.pid"; <> };
chomp $pid;
my @kids;
for my $p (glob '/proc/[0-9]*') {
    open my $fh, '<', "$p/stat" or next;
    my $s = <$fh>;
    my @f = split ' ', substr($s, rindex($s, ')') + 2);
    push @kids, $p if $f[1] == $pid;
}
is(scalar @kids, 2, 'two worker processes');
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                              PeerPort => $ENV{SELFTEST_STREAM_PORT});
ok($s && <$s> eq "stream ok\n", 'stream module works');

__DATA__

=== TEST 1: first
--- main_config
stream { server { listen 127.0.0.1:$TEST_NGINX_STREAM_PORT; return "stream ok\n"; } }
--- config
    location /t { return 200 "one\n"; }
--- request
GET /t
--- response_body
one



=== TEST 2: second
--- main_config
stream { server { listen 127.0.0.1:$TEST_NGINX_STREAM_PORT; return "stream ok\n"; } }
--- config
    location /t { return 200 "two\n"; }
--- request
GET /t
--- response_body
two
EOF

{
    my ($st, $out) = run_fixture('master', $master,
                                 TEST_NGINX_LOAD_MODULES => $stream_mod,
                                 TEST_NGINX_STREAM_PORT => $stream_port);
    is($st, 0, 'master.t: workers(2)+master_on, load_module, blocks() plan')
        or show($out);
    like($out, qr/^1\.\.12$/m, 'master.t: plan 12');
}

# ---------------------------------------------------------------------------
# 4. TEST_NGINX_USE_HUP: one master for all blocks, logs start empty
# ---------------------------------------------------------------------------

my $hup = <<'EOF';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
my %masters;
add_test_cleanup_handler(sub {
    my $root = server_root();
    my $pid = do { local (@ARGV, $/) = "$root/logs/nginx.pid"; <> };
    $masters{$pid}++ if $pid;
});
run_tests();
is(scalar keys %masters, 1, 'one nginx master for all blocks (HUP reload)');

__DATA__

=== TEST 1: first config
--- config
    location /t { return 200 "one\n"; }
--- request
GET /t
--- response_body
one
--- error_log
GET /t



=== TEST 2: second config
--- config
    location /t { return 200 "two\n"; }
    location /u { return 200 "u\n"; }
--- request
GET /u
--- response_body
u
--- no_error_log
GET /t



=== TEST 3: third config
--- config
    location /t { return 200 "three\n"; }
--- request
GET /t
--- response_body
three
EOF

{
    my ($st, $out) = run_fixture('hup', $hup, TEST_NGINX_USE_HUP => 1);
    is($st, 0, 'hup.t: TEST_NGINX_USE_HUP') or show($out);
    like($out, qr/^ok \d+ - one nginx master for all blocks/m, 'hup.t: reloaded, not restarted');
}

# ---------------------------------------------------------------------------
# 5. ONLY, LAST, blocks without --- config, unset $TEST_NGINX_* variables
# ---------------------------------------------------------------------------

my $only = <<'EOF';
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: not run
--- config
    location /t { return 200 "one\n"; }
--- request
GET /t
--- response_body
wrong



=== TEST 2: the only one
--- ONLY
--- config
    location /t { return 200 "two\n"; }
--- request
GET /t
--- response_body
two



=== TEST 3: not run either
--- config
    location /t { return 200 "three\n"; }
--- request
GET /t
--- response_body
wrong
EOF

{
    my ($st, $out) = run_fixture('only', $only);
    is($st, 0, 'only.t: ONLY') or show($out);
    my @ok = $out =~ /^ok \d+ .*$/mg;
    ok(@ok == 2 && !grep({ !/TEST 2: the only one/ } @ok), 'only.t: only TEST 2 ran')
        or show($out);
}

my $noconf = <<'EOF';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();

__DATA__

=== TEST 1: with config
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok



=== TEST 2: reuses the running nginx
--- request
GET /t
--- response_body
ok
--- LAST



=== TEST 3: after LAST
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
wrong
EOF

{
    my ($st, $out) = run_fixture('noconf', $noconf);
    is($st, 0, 'noconf.t: block without config, LAST') or show($out);
    unlike($out, qr/TEST 3/, 'noconf.t: nothing after LAST');
}

my $badenv = <<'EOF';
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: unset variable
--- config
    location /t { proxy_pass http://127.0.0.1:$TEST_NGINX_SURELY_UNSET_VAR; }
--- request
GET /t
EOF

{
    my ($st, $out) = run_fixture('badenv', $badenv);
    isnt($st, 0, 'badenv.t: fails');
    like($out, qr/Bail ?out.*No environment TEST_NGINX_SURELY_UNSET_VAR defined/i,
         'badenv.t: unset $TEST_NGINX_ variable bails out (as CPAN)');
}

# must_die sees what nginx prints on stderr even when error.log lacks it
# (an nginx whose start-up errors only go to stderr, simulated by a wrapper)
{
    my $wrapper = "$dir/fake-nginx";
    open my $w, '>', $wrapper or die;
    print $w "#!/bin/sh\n"
           . "case \"\$1\" in -V|-v) exec $nginx \"\$@\";; esac\n"
           . "echo 'nginx: [emerg] simulated failure only on stderr' >&2\n"
           . "exit 1\n";
    close $w;
    chmod 0755, $wrapper;

    my $stderr_t = <<'EOF';
use Test::Nginx::Socket 'no_plan';
run_tests();

__DATA__

=== TEST 1: stderr only
--- config
    location /t { return 200 "ok\n"; }
--- must_die
--- error_log
simulated failure only on stderr
EOF
    my ($st, $out) = run_fixture('stderr', $stderr_t, TEST_NGINX_BINARY => $wrapper);
    is($st, 0, 'stderr.t: must_die error_log matched on nginx stderr') or show($out);
}

# ---------------------------------------------------------------------------
# 6. when sections are evaluated: CPAN's run_tests() takes Test::Base's
#    blocks(), which applies every block's filters (eval among them) before
#    the first block runs; once per block, not per repeat. A token minted in
#    an eval section is as old as the run when its block comes, under both.
# ---------------------------------------------------------------------------

my $when = <<'EOF';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
repeat_each(2);
our @order;
add_block_preprocessor(sub { push @order, 'run ' . $_[0]->name });
run_tests();
is(join(', ', @order), 'eval 1, eval 2, run TEST 1: one, run TEST 2: two',
   'every eval section is evaluated once, before the first block runs');

__DATA__

=== TEST 1: one
--- config
    location /t { return 200 "ok\n"; }
--- request eval
push @main::order, 'eval 1'; "GET /t"
--- response_body
ok



=== TEST 2: two
--- config
    location /t { return 200 "ok\n"; }
--- request eval
push @main::order, 'eval 2'; "GET /t"
--- response_body
ok
EOF

for my $runner (['t/lib', $lib], $cpan_lib ? ['TEST_NGINX_LIB', $cpan_lib] : ()) {
    my ($st, $out) = run_fixture('when', $when, -lib => $runner->[1]);
    is($st, 0, "when.t under $runner->[0]: eval sections before the first block")
        or show($out);
}

# ---------------------------------------------------------------------------
# 7. TEST_NGINX_USE_VALGRIND (if valgrind is installed)
# ---------------------------------------------------------------------------

SKIP: {
    skip 'valgrind not installed', 5
        unless grep { -x "$_/valgrind" } split /:/, $ENV{PATH};

    my $vg = <<'EOF';
use Test::Nginx::Socket 'no_plan';
master_on();
run_tests();
my $conf = do { local (@ARGV, $/) = server_root() . "/conf/nginx.conf"; <> };
like($conf, qr/^master_process off;$/m, 'master_process off under valgrind');

__DATA__

=== TEST 1: under valgrind
--- config
    location /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
EOF
    my ($st, $out) = run_fixture('valgrind', $vg, TEST_NGINX_USE_VALGRIND => 1);
    is($st, 0, 'valgrind.t: TEST_NGINX_USE_VALGRIND') or show($out);
}

diag(sprintf "self-test took %.1fs", time - $t0) if $ENV{TEST_VERBOSE};

done_testing();
