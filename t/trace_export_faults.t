# Span export under faults, with a gateway of two workers and the OTLP
# receiver double: every request succeeds whatever the collector does
# (down at start, down later, hung, answering 503 or 400), and what the
# collector should get arrives in the end, exactly once per request:
# spans wait in the worker's queue and are sent again after a failure.
# Also: ratio sampling decides by the trace id as OpenTelemetry's rule
# says, a full queue drops and says so, and "nginx -s quit" sends what is
# left. No timing is asserted; arrivals are polled with generous deadlines.
#
#   TEST_NGINX_BINARY, TEST_NGINX_LOAD_MODULES as for the other suites;
#   ports: the gateway at server port + 32, the double as in
#   t/otlp/OtlpReceiver.pm.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/otlp", "$FindBin::Bin/harness";

use POSIX ();
use Test::More;
use OtlpReceiver;
use GatewayHarness qw(http_get port wait_until module_path);

plan skip_all => 'TEST_NGINX_LOAD_MODULES must name the gateway module' unless module_path();
plan skip_all => 'python3-protobuf and protoc are needed' unless OtlpReceiver::available();

my $gw_port = port('TEST_NGINX_TRACE_GATEWAY_PORT', 32);
my $root = "$FindBin::Bin/servroot_trace_faults";

my $receiver = OtlpReceiver->new(down => 1)->start;
my $otlp = $receiver->{port};

sub gateway {
    my (%o) = @_;
    my $g = GatewayHarness::Nginx->new(dir => "$root/gateway", port => $gw_port, workers => 2);
    my $export = $o{export} || 'batch=4 interval=200ms queue=1000';
    $g->write_conf(http => <<"EOF", server => <<"EOF");
    gateway_trace_export 127.0.0.1:$otlp $export;
    gateway_trace_service faults;
EOF
        location /t {
            gateway_trace on;
            gateway_trace_attr run \$http_x_run;
            proxy_pass http://127.0.0.1:$gw_port/back;
        }
        location /ratio {
            gateway_trace on;
            gateway_trace_sample 0.5;
            gateway_trace_attr run \$http_x_run;
            add_header X-Trace-Id \$gateway_trace_id;
            add_header X-Sampled \$gateway_trace_sampled;
            proxy_pass http://127.0.0.1:$gw_port/back;
        }
        location /back {
            return 200 "\$http_traceparent\\n";
        }
        location = /stats {
            return 200 \$gateway_stats;
        }
EOF
    return $g->start;
}

# Sends n requests tagged run=NAME; each must succeed. Returns the span id
# each upstream saw in its traceparent, by trace id.
sub requests {
    my ($name, $n, $path) = @_;
    my %sent;
    for my $i (1 .. $n) {
        my ($status, $h, $body) = http_get($gw_port, $path || '/t', headers => { 'X-Run' => $name });
        is($status, 200, "$name: request $i succeeds") or next;
        my ($trace, $span) = $body =~ /^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$/m;
        $sent{$trace} = { span => $span, headers => $h, body => $body };
    }
    return \%sent;
}

# The spans of a run the double has, once it has at least n (or after 60s).
sub spans {
    my ($name, $n, $wait) = @_;
    my $text = $receiver->control("/spans?where=run=$name&count=$n&wait=" . ($wait // 60));
    my ($invalid, $count) = $text =~ /^invalid=(\d+) spans=(\d+)/;
    my @spans = map { { /(\w+)=("[^"]*"|\S+)/g } } grep { /^trace_id=/ } split /\n/, $text;
    return ($invalid, \@spans);
}

# gateway_trace_spans_total{result="dropped"}, all workers together.
sub dropped {
    my (undef, undef, $body) = http_get($gw_port, '/stats');
    return ($body // '') =~ /^gateway_trace_spans_total\{result="dropped"\} (\d+)$/m ? $1 : 0;
}

# Once as many spans as requests arrived: one span per request, with the
# ids the upstream saw, none twice.
sub exactly_once {
    my ($name, $sent) = @_;
    my ($invalid, $spans) = spans($name, scalar keys %$sent);
    is($invalid, 0, "$name: the double saw nothing against the specification");
    my %seen;
    $seen{$_->{trace_id}}++ for @$spans;
    is_deeply([sort keys %seen], [sort keys %$sent], "$name: a span for every request");
    is(scalar(grep { $_ != 1 } values %seen), 0, "$name: none twice");
    my @wrong = grep { $sent->{$_->{trace_id}} && $sent->{$_->{trace_id}}{span} ne $_->{span_id} } @$spans;
    is(scalar @wrong, 0, "$name: each span's id is the one sent upstream");
}

my $g = gateway();

# the collector is down when the gateway starts
my $down = requests('down-at-start', 10);
like($receiver->control('/stats'), qr/posts=0 /, 'down-at-start: nothing could be posted');
ok(wait_until(60, sub { $g->log_text =~ /gateway_trace_export \(127\.0\.0\.1:$otlp\): (cannot connect|connection lost)/ }),
   'down-at-start: the error log says so');
$receiver->control('/mode?set=up');
exactly_once('down-at-start', $down);

# up, then down, then up again
my $before = requests('before-down', 5);
exactly_once('before-down', $before);
$receiver->control('/mode?set=down');
my $during = requests('down-later', 10);
$receiver->control('/mode?set=up');
exactly_once('down-later', $during);

# answers 503: kept and sent again
$receiver->control('/mode?set=503');
my $busy = requests('busy', 8);
like($receiver->control('/stats?answered=503:1&wait=60'), qr/answered=.*503:[1-9]/, 'busy: the double answered 503');
$receiver->control('/mode?set=ok');
exactly_once('busy', $busy);

# hangs: requests are not held up; once it answers again, the spans arrive
$receiver->control('/mode?set=hang');
my $hung = requests('hung', 8);
like($receiver->control('/stats?hung=1&wait=60'), qr/hung=[1-9].*mode=hang/, 'hung: a post is hanging');
$receiver->control('/mode?set=ok');
exactly_once('hung', $hung);
ok(wait_until(60, sub { $g->log_text =~ /gateway_trace_export \(127\.0\.0\.1:$otlp\): (no answer within timeout|connection lost)/ }),
   'hung: the failed post is logged');

# answers 400: those batches are dropped (OTLP: not to be retried), later ones go
$receiver->control('/mode?set=400');
requests('refused', 4);
ok(wait_until(60, sub { $g->log_text =~ /collector 127\.0\.0\.1:$otlp answered 400/ }), 'refused: the 400 is logged');
# each worker posts its own batch: the collector comes back only once all
# four were refused (nothing was dropped before), not at the first 400
ok(wait_until(60, sub { dropped() >= 4 }), 'refused: the four spans are counted as dropped')
    or diag(http_get($gw_port, '/stats'));
$receiver->control('/mode?set=ok');
my $after = requests('after-refused', 4);
exactly_once('after-refused', $after);
my (undef, $refused) = spans('refused', 1, 0);
is(scalar @$refused, 0, 'refused: those spans are not sent again');

# a partial success: the collector says it rejected spans, which are counted and logged
$receiver->control('/mode?set=partial');
requests('partial', 4);
ok(wait_until(60, sub { $g->log_text =~ /collector 127\.0\.0\.1:$otlp rejected spans: rejected by the test\\x0D\\x0Aforged line / }),
   'partial: the rejection is logged, its control bytes escaped');
$receiver->control('/mode?set=ok');

# ratio sampling: the decision is the trace id's, as OpenTelemetry's rule says
my $ratio = requests('ratio', 40, '/ratio');
my %expect;
for my $id (keys %$ratio) {
    my $r = $ratio->{$id};
    my $keep = do { no warnings 'portable'; hex(substr($id, 18, 14)) >= 2**55 } ? 1 : 0;
    is($r->{headers}{'x-sampled'}, $keep, "ratio: $id is decided by its last 56 bits");
    like($r->{body}, qr/-0$keep$/, "ratio: and upstream is told so");
    $expect{$id} = $r if $keep;
}
my $kept = scalar keys %expect;
ok($kept > 0 && $kept < 40, "ratio: some kept, some not ($kept of 40)");
exactly_once('ratio', \%expect);

$g->stop;

# a full queue drops, says so, and keeps what it holds
$receiver->control('/mode?set=down');
$g = gateway(export => 'batch=2 queue=4 interval=100ms');
requests('full', 10);
ok(wait_until(60, sub { $g->log_text =~ /the span queue is full/ }), 'full: the drop is logged');
$receiver->control('/mode?set=up');
my ($invalid, $full) = spans('full', 4);
# (the harness's /alive has no span, so a queue holds only these)
ok(@$full >= 4 && @$full <= 8, 'full: each worker delivers what its queue held (' . scalar(@$full) . ')')
    or diag($receiver->control('/stats'), $g->log_text);
$g->stop;

# nginx -s quit sends what is left
$g = gateway(export => 'batch=512 interval=1h');
my $last = requests('quit', 6);
is($receiver->control('/spans?where=run=quit&wait=0') =~ /spans=0/ ? 1 : 0, 1,
   'quit: nothing is sent before the batch fills or the hour passes');
$g->stop;
exactly_once('quit', $last);

# quit with a hung collector still ends
$receiver->control('/mode?set=hang');
$g = gateway(export => 'batch=512 interval=1h');
requests('quit-hung', 3);
kill 'QUIT', $g->{pid};
ok(wait_until(60, sub { waitpid($g->{pid}, POSIX::WNOHANG()) != 0 }), 'quit-hung: the gateway exits');
delete $g->{pid};
$receiver->control('/mode?set=ok');

done_testing();
