# gateway_trace_export: one SERVER span per sampled client request, as
# OTLP/HTTP protobuf, checked by the receiver double t/otlp/receiver.py
# (which refuses anything that breaks the OTLP specification and reads each
# body a second time with python3-protobuf). Each block asks the double,
# through the /otlp/ location, for the spans it expects, with a generous
# deadline: spans leave the gateway after the request, not during it.
#
# A span that must not exist is checked with a marker: spans leave a worker
# in order, one batch at a time, so once a later request's span arrived, an
# earlier one would have too.
#
#   ports: TEST_NGINX_OTLP_PORT, TEST_NGINX_OTLP_CONTROL_PORT (see
#   t/otlp/OtlpReceiver.pm).

use Test::Nginx::Socket;
use FindBin;
use lib "$FindBin::Bin/otlp", $FindBin::Bin;
use OtlpReceiver;
use JwtMint;

if (!OtlpReceiver::available()) {
    plan skip_all => 'python3-protobuf and protoc are needed';
} else {
    plan 'no_plan';
}

our $receiver = OtlpReceiver->new->start;
our $token = jwt('HS256', \'top-secret', { sub => 'alice', exp => time + 86400 });

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value('http_config', <<'EOF');
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms;
    gateway_trace_service checkout-gw;
EOF
    }

    if (defined $block->config) {
        $block->set_value('config', $block->config . <<'EOF');
    location /otlp/ {
        proxy_pass http://127.0.0.1:$TEST_NGINX_OTLP_CONTROL_PORT/;
        proxy_read_timeout 90s;
    }
    location /echo {
        return 200 "$http_traceparent\n";
    }
EOF
    }

    $block->set_value('timeout', 120) unless defined $block->timeout;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a continued trace: one span, its parent, the HTTP attributes
--- config
    location /t {
        gateway_trace on;
        gateway_request_id on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- request eval
["GET /t?token=secret", "GET /otlp/spans?where=trace_id=4bf92f3577b34da6a3ce929d0e0e4736&count=1"]
--- more_headers eval
["traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\ntracestate: rojo=00f067aa0ba902b7\nUser-Agent: check/1.0", ""]
--- response_body_like eval
[qr/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/,
qr/^invalid=0 spans=1
trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=(?!00f067aa0ba902b7)[0-9a-f]{16} parent_span_id=00f067aa0ba902b7 name="GET \/t" kind=SPAN_KIND_SERVER status=STATUS_CODE_UNSET flags=0x301 trace_state="rojo=00f067aa0ba902b7" scope=ngx_http_gateway_module\/\d+\.\d+\.\d+ duration_ns=\d+ resource.service.name="checkout-gw" client.address="127.0.0.1" gateway.request_id="[0-9a-f]{32}" http.request.method="GET" http.response.status_code=200 http.route="\/t" network.peer.address="127.0.0.1" network.peer.port=$ENV{TEST_NGINX_SERVER_PORT} network.protocol.version="1.1" server.address="localhost" server.port=$ENV{TEST_NGINX_SERVER_PORT} url.path="\/t" url.scheme="http" user_agent.original="check\/1.0"
$/]



=== TEST 2: a new trace: a root span, sampled by default
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test new-trace;
        return 200 "$gateway_trace_sampled\n";
    }
--- request eval
["GET /t", "GET /otlp/spans?where=test=new-trace&count=1"]
--- response_body_like eval
[qr/^1$/,
qr/^invalid=0 spans=1\ntrace_id=[0-9a-f]{32} span_id=[0-9a-f]{16} parent_span_id=- name="GET \/t" kind=SPAN_KIND_SERVER status=STATUS_CODE_UNSET flags=0x101 trace_state="" .* http.response.status_code=200 .*test="new-trace"/]



=== TEST 3: a 5xx is an error, a 4xx is not
--- config
    location /t503 {
        gateway_trace on;
        gateway_trace_attr test status;
        return 503;
    }
    location /t404 {
        gateway_trace on;
        gateway_trace_attr test status;
        return 404;
    }
--- request eval
["GET /t503", "GET /t404", "GET /otlp/spans?where=test=status&count=2"]
--- error_code eval
[503, 404, 200]
--- response_body_like eval
[qr/503/, qr/404/,
qr/^invalid=0 spans=2\n.* name="GET \/t503" kind=SPAN_KIND_SERVER status=STATUS_CODE_ERROR .* http.response.status_code=503 .*\n.* name="GET \/t404" kind=SPAN_KIND_SERVER status=STATUS_CODE_UNSET .* http.response.status_code=404 /]



=== TEST 4: gateway_trace_attr: variables, and a level that adds replaces what it inherits
--- config
    gateway_trace_attr team payments;
    gateway_trace_attr test inherit;
    location /inherits {
        gateway_trace on;
        return 200;
    }
    location /own {
        gateway_trace on;
        gateway_trace_attr test own;
        gateway_trace_attr user $arg_user;
        gateway_trace_attr empty $arg_none;
        return 200;
    }
--- request eval
["GET /inherits", "GET /own?user=alice", "GET /otlp/spans?where=test=inherit&count=1", "GET /otlp/spans?where=test=own&count=1"]
--- response_body_like eval
[qr/^$/, qr/^$/,
qr/^invalid=0 spans=1\n.* name="GET \/inherits" .* team="payments" test="inherit" url.path="\/inherits"/,
qr/^invalid=0 spans=1\n.* name="GET \/own" (?!.*team=)(?!.*empty=).* test="own" url.path="\/own" url.scheme="http" user="alice"/]



=== TEST 5: no span where gateway_trace is off, nor for an unsampled parent
--- config
    location /off {
        return 200;
    }
    location /t {
        gateway_trace on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- request eval
["GET /off", "GET /t", "GET /t",
 "GET /otlp/spans?where=trace_id=33333333333333333333333333333333&count=1",
 "GET /otlp/spans?where=trace_id=11111111111111111111111111111111&wait=0",
 "GET /otlp/spans?where=trace_id=22222222222222222222222222222222&wait=0"]
--- more_headers eval
["traceparent: 00-11111111111111111111111111111111-00f067aa0ba902b7-01",
 "traceparent: 00-22222222222222222222222222222222-00f067aa0ba902b7-00",
 "traceparent: 00-33333333333333333333333333333333-00f067aa0ba902b7-01",
 "", "", ""]
--- response_body_like eval
[qr/^$/, qr/^00-22222222222222222222222222222222-[0-9a-f]{16}-00$/,
 qr/^00-33333333333333333333333333333333-[0-9a-f]{16}-01$/,
 qr/^invalid=0 spans=1\ntrace_id=33333333333333333333333333333333 /,
 qr/^invalid=0 spans=0\n$/, qr/^invalid=0 spans=0\n$/]



=== TEST 6: gateway_trace_sample 0 keeps no new trace, tells upstream so, and still follows a sampled parent
--- config
    location /t {
        gateway_trace on;
        gateway_trace_sample 0;
        gateway_trace_attr test sample-0;
        proxy_set_header X-Sampled $gateway_trace_sampled;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sampled;
    }
    location /sampled {
        return 200 "$http_x_sampled $http_traceparent\n";
    }
--- request eval
["GET /t", "GET /t", "GET /otlp/spans?where=test=sample-0&count=1"]
--- more_headers eval
["", "traceparent: 00-44444444444444444444444444444444-00f067aa0ba902b7-01", ""]
--- response_body_like eval
[qr/^0 00-[0-9a-f]{32}-[0-9a-f]{16}-00$/,
 qr/^1 00-44444444444444444444444444444444-[0-9a-f]{16}-01$/,
 qr/^invalid=0 spans=1\ntrace_id=44444444444444444444444444444444 /]



=== TEST 7: gateway_trace_sample 1 keeps every new trace
--- config
    location /t {
        gateway_trace on;
        gateway_trace_sample 1;
        gateway_trace_attr test sample-1;
        return 200 "$gateway_trace_sampled\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /otlp/spans?where=test=sample-1&count=3"]
--- response_body_like eval
[qr/^1$/, qr/^1$/, qr/^1$/, qr/^invalid=0 spans=3\n/]



=== TEST 8: an unknown method is _OTHER; a path that is not UTF-8 is still a valid span
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test other;
        return 200;
    }
--- request eval
["PURGE /t/caf\xff\xe9", "GET /otlp/spans?where=test=other&count=1"]
--- error_code eval
[200, 200]
--- response_body_like eval
[qr/^$/,
qr/^invalid=0 spans=1\n.* name="PURGE \/t" .* http.request.method="_OTHER" http.request.method_original="PURGE" .* url.path="\/t\/caf\x{ef}\x{bf}\x{bd}\x{ef}\x{bf}\x{bd}"/]
--- no_error_log
[error]



=== TEST 9: long values are cut at 512 bytes; header= reaches the collector
--- http_config
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms header=X-Api-Key:s3cret "header=X-Tenant: blue ";
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test long;
        gateway_trace_attr long $arg_v;
        return 200;
    }
--- request eval
["GET /t?v=" . ("x" x 600), "GET /otlp/spans?where=test=long&count=1", "GET /otlp/headers"]
--- response_body_like eval
[qr/^$/, qr/^invalid=0 spans=1\n.* long="x{512}" /,
 qr/^Content-Type: application\/x-protobuf\r?\n(?:.*\n)*X-Api-Key: s3cret\r?\nX-Tenant: blue\r?\n/m]



=== TEST 10: the service's name defaults to OpenTelemetry's unknown_service
--- http_config
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms;
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test unknown-service;
        return 200;
    }
--- request eval
["GET /t", "GET /otlp/spans?where=test=unknown-service&count=1"]
--- response_body_like eval
[qr/^$/, qr/ resource.service.name="unknown_service:nginx" /]



=== TEST 11: the gateway's decisions: the JWT check, its subject, the rate limit
--- http_config
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms;
    gateway_rate_limit_zone per_client key=$http_x_client rate=1r/m burst=1 size=1m;
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test decisions;
        gateway_jwt api;
        gateway_jwt_secret top-secret;
        gateway_rate_limit per_client;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /otlp/spans?where=test=decisions&count=4"]
--- more_headers eval
["Authorization: Bearer $::token\nX-Client: a", "Authorization: Bearer $::token\nX-Client: a",
 "Authorization: Bearer x.y.z", "", ""]
--- error_code eval
[200, 429, 401, 401, 200]
--- response_body_like eval
[qr/^00-/, qr//, qr//, qr//,
qr/^invalid=0 spans=4
.* gateway.jwt.status="VALID" gateway.jwt.sub="alice" gateway.rate_limit.status="PASSED" .*
.* gateway.jwt.status="VALID" gateway.jwt.sub="alice" gateway.rate_limit.status="REJECTED" .*http.response.status_code=429 .*
.* gateway.jwt.status="INVALID" (?!gateway.jwt.sub)(?!gateway.rate_limit).*http.response.status_code=401 .*
.* gateway.jwt.status="MISSING" (?!gateway.jwt.sub).*http.response.status_code=401 /]



=== TEST 12: the stats registry counts exported spans and failed exports
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test counted;
        return 200;
    }
    location /stats {
        return 200 $gateway_stats;
    }
--- request eval
["GET /t", "GET /t", "GET /otlp/spans?where=test=counted&count=2", "GET /stats"]
--- response_body_like eval
[qr/^$/, qr/^$/, qr/^invalid=0 spans=2\n/,
qr/^# TYPE gateway_trace_spans_total counter\ngateway_trace_spans_total\{result="exported"\} [1-9]\d*\n.*^gateway_trace_export_errors_total 0\n/ms]



=== TEST 13: a collector that is not HOST[:PORT]
--- http_config
    gateway_trace_export 127.0.0.1:4318/v1/traces;
--- config
--- must_die
--- error_log
invalid host in "127.0.0.1:4318/v1/traces"



=== TEST 14: gateway_trace_export is duplicate
--- http_config
    gateway_trace_export 127.0.0.1:4318;
    gateway_trace_export 127.0.0.1:4318;
--- config
--- must_die
--- error_log
"gateway_trace_export" directive is duplicate



=== TEST 15: a header the exporter writes itself
--- http_config
    gateway_trace_export 127.0.0.1:4318 header=Content-Type:text/plain;
--- config
--- must_die
--- error_log
header "Content-Type" is set by the exporter



=== TEST 16: a header that is not NAME:VALUE
--- http_config
    gateway_trace_export 127.0.0.1:4318 "header=X Key:1";
--- config
--- must_die
--- error_log
invalid parameter "header=X Key:1"



=== TEST 17: an option given twice
--- http_config
    gateway_trace_export 127.0.0.1:4318 batch=10 batch=20;
--- config
--- must_die
--- error_log
duplicate parameter "batch=20"



=== TEST 18: a queue smaller than a batch
--- http_config
    gateway_trace_export 127.0.0.1:4318 batch=100 queue=10;
--- config
--- must_die
--- error_log eval
qr/queue=10 is smaller than batch=100 in "gateway_trace_export" in \S+nginx\.conf:\d+/



=== TEST 19: a path that is not a path
--- http_config
    gateway_trace_export 127.0.0.1:4318 path=v1/traces;
--- config
--- must_die
--- error_log
invalid path "v1/traces" in "gateway_trace_export"



=== TEST 20: a ratio above 1
--- config
    location /t {
        gateway_trace_sample 1.5;
    }
--- must_die
--- error_log
invalid value "1.5" in "gateway_trace_sample", a ratio from 0 to 1 or "parent" expected



=== TEST 21: gateway_trace_sample is duplicate
--- config
    location /t {
        gateway_trace_sample 0.5;
        gateway_trace_sample parent;
    }
--- must_die
--- error_log
"gateway_trace_sample" directive is duplicate



=== TEST 22: gateway_trace_attr is duplicate
--- config
    location /t {
        gateway_trace_attr a 1;
        gateway_trace_attr a 2;
    }
--- must_die
--- error_log
"gateway_trace_attr" directive is duplicate



=== TEST 23: a request no location took: its span is named by its method alone, without http.route
--- config
    gateway_trace on;
    if ($uri = /nowhere) {
        return 404;
    }
    location /t {
        return 200;
    }
--- request eval
["GET /nowhere", "GET /otlp/spans?where=url.path=/nowhere&count=1"]
--- error_code eval
[404, 200]
--- response_body_like eval
[qr/404/,
qr/^invalid=0 spans=1\n.* name="GET" kind=SPAN_KIND_SERVER (?!.*http\.route=).* http\.response\.status_code=404 .*url\.path="\/nowhere"/]



=== TEST 24: a server's own gateway_route is the route of what no location took
--- config
    gateway_trace on;
    gateway_route api;
    if ($uri = /elsewhere) {
        return 404;
    }
    location /t {
        return 200;
    }
--- request eval
["GET /elsewhere", "GET /otlp/spans?where=url.path=/elsewhere&count=1"]
--- error_code eval
[404, 200]
--- response_body_like eval
[qr/404/,
qr/^invalid=0 spans=1\n.* name="GET api" kind=SPAN_KIND_SERVER .* http\.response\.status_code=404 http\.route="api" /]



=== TEST 25: the circuit state of the peer the gateway's balancer chose
--- http_config
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms;
    upstream guarded {
        gateway_balancer round_robin;
        gateway_circuit_breaker failures=5 open=30s;
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- config
    location /t {
        gateway_trace on;
        gateway_trace_attr test circuit;
        proxy_pass http://guarded/echo;
    }
--- request eval
["GET /t", "GET /otlp/spans?where=test=circuit&count=1"]
--- response_body_like eval
[qr/^00-/,
qr/^invalid=0 spans=1\n.* gateway\.circuit\.state="closed" .*network\.peer\.port=$ENV{TEST_NGINX_SERVER_PORT} /]



=== TEST 26: each request of a connection carries its connection's attributes and its own method, and each connection its own after many others came and went
--- http_config
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms;
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_2;
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_3;
        location /other {
            gateway_trace on;
            gateway_trace_attr test other-connection;
            gateway_trace_attr port $server_port;
            return 200 "other\n";
        }
    }
--- config
    location /conn {
        gateway_trace on;
        gateway_trace_attr test one-connection;
        return 200 "$connection_requests\n";
    }
    location /via1 {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/other;
    }
    location /via2 {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/other;
    }
    location /via3 {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_3/other;
    }
--- pipelined_requests eval
["GET /conn", ("GET /via1", "GET /via2", "GET /via3") x 40, "POST /conn",
 "GET /conn",
 "GET /otlp/spans?where=test=one-connection&count=3",
 "GET /otlp/spans?where=test=one-connection&count=3",
 "GET /otlp/spans?where=test=other-connection&count=120"]
--- response_body_like eval
[qr/^1$/, (qr/^other$/) x 120, qr/^122$/, qr/^123$/,
qr/^invalid=0 spans=3\n(?:.* name="(GET|POST) \/conn" .* client\.address="127\.0\.0\.1" .* http\.request\.method="\1" .* network\.protocol\.version="1\.1" .* server\.port=$ENV{TEST_NGINX_SERVER_PORT} .* url\.scheme="http"[^\n]*\n){3}$/,
qr/^invalid=0 spans=3\n.* name="GET \/conn" [^\n]*\n.* name="POST \/conn" [^\n]*\n.* name="GET \/conn" /,
qr/^invalid=0 spans=120\n(?:.* client\.address="127\.0\.0\.1" .* port="(\d+)" server\.address="[^"]*" server\.port=\1 .* url\.scheme="http"[^\n]*\n){120}$/]



=== TEST 27: on a kept-alive connection, each request has the client address the realip module gave it
--- http_config
    gateway_trace_export 127.0.0.1:$TEST_NGINX_OTLP_PORT batch=1 interval=100ms;
    upstream self {
        server 127.0.0.1:$TEST_NGINX_SERVER_PORT;
        keepalive 2;
    }
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Real-IP;
    location /real {
        gateway_trace on;
        gateway_trace_attr test realip;
        return 200 "$remote_addr $connection_requests\n";
    }
    location /relay {
        proxy_pass http://self/real;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Real-IP $arg_ip;
    }
--- request eval
["GET /relay?ip=192.0.2.1", "GET /relay?ip=192.0.2.2",
 "GET /otlp/spans?where=test=realip&count=2"]
--- response_body_like eval
[qr/^192\.0\.2\.1 1$/, qr/^192\.0\.2\.2 2$/,
qr/^invalid=0 spans=2\n.* client\.address="192\.0\.2\.1" [^\n]*\n.* client\.address="192\.0\.2\.2" /]
