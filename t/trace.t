# gateway_trace: W3C Trace Context. A valid traceparent is continued with a
# new span, anything else starts a trace; the child traceparent goes upstream.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a trace is started without a traceparent
--- config
    location /t {
        gateway_trace on;
        proxy_set_header X-Vars "$gateway_trace_id-$gateway_span_id";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent $http_x_vars\n";
    }
--- request
GET /t
--- response_body_like
^00-([0-9a-f]{32})-([0-9a-f]{16})-01 \1-\2$
--- no_error_log
[error]



=== TEST 2: a valid parent is continued with a new span
--- config
    location /t {
        gateway_trace on;
        proxy_set_header X-Vars "$gateway_trace_id $gateway_parent_span_id";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent|$http_tracestate|$http_x_vars\n";
    }
--- request
GET /t
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
tracestate: rojo=00f067aa0ba902b7,congo=t61rcWkgMzE
--- response_body_like
^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01\|rojo=00f067aa0ba902b7,congo=t61rcWkgMzE\|4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7$



=== TEST 3: the parent's flags are kept
--- config
    location /t {
        gateway_trace on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent\n";
    }
--- request
GET /t
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00
--- response_body_like
^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$



=== TEST 4: invalid parents start a new trace and drop tracestate
--- config
    location /t {
        gateway_trace on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent|$http_tracestate\n";
    }
--- request eval
[("GET /t") x 12]
--- more_headers eval
[map { "traceparent: $_\ntracestate: vendor=1" }
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
    "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
    "garbage",
    ("0" x 4000)]
--- response_body_like eval
[(qr/^00-(?!4bf92f3577b34da6a3ce929d0e0e4736)[0-9a-f]{32}-[0-9a-f]{16}-01\|$/) x 12]



=== TEST 5: two traceparent headers are ambiguous and start a new trace
--- config
    location /t {
        gateway_trace on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent|$http_tracestate\n";
    }
--- request
GET /t
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
tracestate: vendor=1
--- response_body_like
^00-(?!4bf92f3577b34da6a3ce929d0e0e4736)[0-9a-f]{32}-[0-9a-f]{16}-01\|$



=== TEST 6: off leaves the headers alone, the variables still work
--- config
    location /t {
        gateway_trace off;
        proxy_set_header X-Vars $gateway_trace_id;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent|$http_tracestate|$http_x_vars\n";
    }
--- request
GET /t
--- more_headers
traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01
tracestate: vendor=1
--- response_body_like
^00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\|vendor=1\|[0-9a-f]{32}$



=== TEST 7: the variables are stable across an internal redirect
--- config
    location /t {
        gateway_trace on;
        set $first "$gateway_trace_id $gateway_span_id";
        rewrite ^ /next last;
    }
    location /next {
        gateway_trace on;
        return 200 "$first|$gateway_trace_id $gateway_span_id\n";
    }
--- request
GET /t
--- response_body_like
^([0-9a-f]{32} [0-9a-f]{16})\|\1$



=== TEST 8: the traceparent sent upstream matches $gateway_traceparent
--- config
    location /t {
        gateway_trace on;
        proxy_set_header X-Var $gateway_traceparent;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent $http_x_var\n";
    }
--- request
GET /t
--- more_headers
traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
--- response_body_like
^(00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01) \1$



=== TEST 9: $gateway_parent_span_id is empty for a new trace
--- config
    location /t {
        gateway_trace on;
        return 200 "[$gateway_parent_span_id]\n";
    }
--- request
GET /t
--- response_body
[]



=== TEST 10: two workers
--- workers: 2
--- master_on
--- config
    location /t {
        gateway_trace on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_traceparent\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""]
--- response_body_like eval
[qr/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/, qr/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/]



=== TEST 11: a bad value fails the configuration test
--- config
    gateway_trace yes;
--- must_die
--- error_log eval
qr/invalid value "yes" in "gateway_trace" directive, it must be "on" or "off" in .*nginx\.conf:\d+/



=== TEST 12: a duplicate fails the configuration test
--- http_config
    gateway_trace on;
    gateway_trace on;
--- config
--- must_die
--- error_log eval
qr/"gateway_trace" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 13: the directive is not allowed in upstream blocks
--- http_config
    upstream u {
        server 127.0.0.1:1;
        gateway_trace on;
    }
--- config
--- must_die
--- error_log eval
qr/"gateway_trace" directive is not allowed here in .*nginx\.conf:\d+/
