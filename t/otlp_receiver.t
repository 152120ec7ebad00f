# The OTLP receiver double (t/otlp/receiver.py) checked against an encoder
# that is not the gateway's: protoc --encode of text-format messages with
# t/otlp/otlp_trace.proto. What it accepts must read as protoc wrote it,
# what breaks the OTLP specification must be refused, and its fault modes
# must behave as the export tests expect.
#
#   ports: TEST_NGINX_OTLP_PORT, TEST_NGINX_OTLP_CONTROL_PORT (see
#   t/otlp/OtlpReceiver.pm); needs python3-protobuf and protobuf-compiler.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/otlp";

use File::Temp qw(tempfile);
use IO::Select;
use IO::Socket::INET;
use Test::More;
use OtlpReceiver;

plan skip_all => 'python3-protobuf and protoc are needed' unless OtlpReceiver::available();

my $receiver = OtlpReceiver->new->start;

sub encode {
    my ($type, $text) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    print $fh $text;
    close $fh;
    my $bytes = `protoc --proto_path=$FindBin::Bin/otlp --encode=otlp_test.$type otlp_trace.proto < $file`;
    die "protoc failed\n" if $?;
    return $bytes;
}

sub post {
    my ($body, %h) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $receiver->{port},
                                     Proto => 'tcp', Timeout => 5) or return undef;
    my $ctype = exists $h{type} ? $h{type} : 'application/x-protobuf';
    my $path = $h{path} || '/v1/traces';
    print $sock "POST $path HTTP/1.1\r\nHost: collector\r\nConnection: close\r\n",
        ($ctype ? "Content-Type: $ctype\r\n" : ''),
        "Content-Length: ", length($body), "\r\n\r\n", $body;
    return $sock if $h{keep};
    local $/;
    my $answer = <$sock>;
    return $answer;
}

sub status { my $a = shift; defined $a && $a =~ m{^HTTP/1\.1 (\d+)} ? $1 : 'none' }

my $resource = 'resource { attributes { key: "service.name" value { string_value: "svc" } } }';
my $scope = 'scope { name: "s" version: "1" }';
my $ids = 'trace_id: "\x4b\xf9\x2f\x35\x77\xb3\x4d\xa6\xa3\xce\x92\x9d\x0e\x0e\x47\x36"'
    . ' span_id: "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7"';

sub request {
    my ($span, $res) = @_;
    $res = $resource unless defined $res;
    encode('ExportTraceServiceRequest',
           "resource_spans { $res scope_spans { $scope spans { $span } } }");
}

my $good = "$ids parent_span_id: \"\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\" name: \"GET /x\""
    . ' kind: SPAN_KIND_SERVER start_time_unix_nano: 1700000000000000000'
    . ' end_time_unix_nano: 1700000000000001000 flags: 0x301 trace_state: "a=b"'
    . ' attributes { key: "http.response.status_code" value { int_value: 503 } }'
    . ' attributes { key: "url.path" value { string_value: "/caf\303\251" } }'
    . ' attributes { key: "ok" value { bool_value: true } }'
    . ' attributes { key: "list" value { array_value { values { string_value: "a" } values { int_value: -2 } } } }'
    . ' status { code: STATUS_CODE_ERROR message: "boom" }';

is(status(post(request($good))), 200, 'a request protoc encoded is taken');
like($receiver->control('/spans?where=name=GET%20/x&wait=10'),
     qr{^invalid=0 spans=1\ntrace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 parent_span_id=0102030405060708 name="GET /x" kind=SPAN_KIND_SERVER status=STATUS_CODE_ERROR flags=0x301 trace_state="a=b" scope=s/1 duration_ns=1000 resource.service.name="svc" http.response.status_code=503 list=\['a', -2\] ok=true url.path="/caf\xc3\xa9"$}m,
     'it reads what protoc wrote');

my @bad = (
    ['a trace id of 15 bytes', request('trace_id: "123456789012345" span_id: "12345678" name: "x" start_time_unix_nano: 1 end_time_unix_nano: 1')],
    ['an all-zero span id', request('trace_id: "1234567890123456" span_id: "\0\0\0\0\0\0\0\0" name: "x" start_time_unix_nano: 1 end_time_unix_nano: 1')],
    ['a parent id of 4 bytes', request('trace_id: "1234567890123456" span_id: "12345678" parent_span_id: "1234" name: "x" start_time_unix_nano: 1 end_time_unix_nano: 1')],
    ['no start time', request('trace_id: "1234567890123456" span_id: "12345678" name: "x" end_time_unix_nano: 1')],
    ['an end before the start', request('trace_id: "1234567890123456" span_id: "12345678" name: "x" start_time_unix_nano: 2 end_time_unix_nano: 1')],
    ['no name', request('trace_id: "1234567890123456" span_id: "12345678" start_time_unix_nano: 1 end_time_unix_nano: 1')],
    ['no service.name', request("$ids name: \"x\" start_time_unix_nano: 1 end_time_unix_nano: 1", '')],
    ['an attribute twice', request("$ids name: \"x\" start_time_unix_nano: 1 end_time_unix_nano: 1 attributes { key: \"a\" value { int_value: 1 } } attributes { key: \"a\" value { int_value: 2 } }")],
    ['an attribute without a key', request("$ids name: \"x\" start_time_unix_nano: 1 end_time_unix_nano: 1 attributes { value { int_value: 1 } }")],
    ['reserved flag bits', request("$ids name: \"x\" start_time_unix_nano: 1 end_time_unix_nano: 1 flags: 0x400")],
    ['times as varints', "\x0a\x0b\x12\x09\x12\x07\x38\x01\x2a\x01x\x0a\x00"],
    ['a string that is not UTF-8', "\x0a\x0a\x0a\x08\x0a\x06\x0a\x04\x0a\x02\xff\xfe"],
    ['a field the schema does not have', "\x0a\x02\x20\x01"],
    ['a truncated body', substr(request($good), 0, 40)],
);
for my $b (@bad) {
    is(status(post($b->[1])), 400, "refused: $b->[0]");
}
is(status(post(request($good), type => 'application/json')), 400, 'refused: JSON sent as protobuf');
is(status(post(request($good), type => '')), 400, 'refused: no Content-Type');
is(status(post(request($good), path => '/v1/logs')), 404, 'refused: another path');
like($receiver->control('/stats'), qr/ spans=1 invalid=17 /, 'each refusal is counted');

# fault modes
for my $code (503, 429, 400) {
    $receiver->control("/mode?set=$code");
    is(status(post(request($good))), $code, "mode $code answers $code");
}
$receiver->control('/mode?set=partial');
my $partial = post(request($good));
is(status($partial), 200, 'mode partial answers 200');
like($partial, qr/\x0a\x25\x08\x01\x12\x21rejected by the test\r\nforged line\z/,
     'with a partial_success rejecting the span');

$receiver->control('/mode?set=hang');
my $hung = post(request($good), keep => 1);
like($receiver->control('/stats?hung=1&wait=30'), qr/posts=22 hung=1 .*mode=hang/, 'a hung request arrived');
ok(!IO::Select->new($hung)->can_read(1), 'and is not answered');
$receiver->control('/mode?set=ok');
ok(IO::Select->new($hung)->can_read(30), 'until the mode changes');
is(scalar(<$hung>), undef, 'then it is closed without an answer');

$receiver->control('/mode?set=down');
is(post(request($good)), undef, 'mode down refuses connections');
$receiver->control('/mode?set=up');
is(status(post(request($good))), 200, 'mode up takes requests again');

like($receiver->control('/spans?where=name=GET%20/x&count=3&wait=10'), qr/^invalid=17 spans=3\n/,
     'only requests answered 200 (or partially) keep their spans');

done_testing();
