# gateway_request_id: keep a valid X-Request-ID or make one, send it upstream
# as X-Gateway-Request-ID, return it to the client, expose $gateway_request_id.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an id is generated, sent upstream and returned
--- config
    location /t {
        gateway_request_id on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        add_header X-Match "$gateway_request_id=$upstream_http_x_seen";
    }
    location /echo {
        add_header X-Seen $http_x_gateway_request_id;
        return 200 "upstream saw $http_x_gateway_request_id\n";
    }
--- request
GET /t
--- response_body_like
^upstream saw [0-9a-f]{32}$
--- response_headers_like
X-Gateway-Request-ID: ^[0-9a-f]{32}$
X-Request-ID: ^[0-9a-f]{32}$
X-Match: ^([0-9a-f]{32})=\1$
--- no_error_log
[error]



=== TEST 2: a valid incoming X-Request-ID is kept
--- config
    location /t {
        gateway_request_id on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "gateway=$http_x_gateway_request_id client=$http_x_request_id\n";
    }
--- request
GET /t
--- more_headers
X-Request-ID: f058ebd6-02f7-4d3f-942e-904344e8cde5
--- response_body
gateway=f058ebd6-02f7-4d3f-942e-904344e8cde5 client=f058ebd6-02f7-4d3f-942e-904344e8cde5
--- response_headers
X-Request-ID: f058ebd6-02f7-4d3f-942e-904344e8cde5
X-Gateway-Request-ID: f058ebd6-02f7-4d3f-942e-904344e8cde5



=== TEST 3: an id of 200 characters is kept
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request
GET /t
--- more_headers eval
"X-Request-ID: " . ("a" x 200)
--- response_body eval
("a" x 200) . "\n"



=== TEST 4: an oversized id is replaced
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request
GET /t
--- more_headers eval
"X-Request-ID: " . ("a" x 201)
--- response_body_like
^[0-9a-f]{32}$



=== TEST 5: a 4 KB id is replaced
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request
GET /t
--- more_headers eval
"X-Request-ID: " . ("x" x 4096)
--- response_body_like
^[0-9a-f]{32}$



=== TEST 6: ids with spaces, controls or non-ASCII bytes are replaced
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Request-ID: two words", "X-Request-ID: tab\there", "X-Request-ID: caf\xc3\xa9", "X-Request-ID: bell\x07"]
--- response_body_like eval
[qr/^[0-9a-f]{32}$/, qr/^[0-9a-f]{32}$/, qr/^[0-9a-f]{32}$/, qr/^[0-9a-f]{32}$/]



=== TEST 7: an empty id is replaced
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request
GET /t
--- more_headers eval
"X-Request-ID: "
--- response_body_like
^[0-9a-f]{32}$



=== TEST 8: encoded header injection stays one literal value
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request
GET /t
--- more_headers
X-Request-ID: abc%0d%0aSet-Cookie:%20a=1
--- response_body
abc%0d%0aSet-Cookie:%20a=1
--- response_headers
X-Request-ID: abc%0d%0aSet-Cookie:%20a=1
!Set-Cookie



=== TEST 9: a client cannot spoof the upstream header
--- config
    location /t {
        gateway_request_id on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_x_gateway_request_id\n";
    }
--- request
GET /t
--- more_headers
X-Gateway-Request-ID: spoofed-1
X-Request-ID: real-id
X-Gateway-Request-ID: spoofed-2
--- response_body
real-id
--- response_headers
X-Gateway-Request-ID: real-id



=== TEST 10: an upstream's own id header does not reach the client
--- config
    location /t {
        gateway_request_id on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        add_header X-Gateway-Request-ID upstream-made;
        add_header X-Request-ID upstream-made;
        return 200 "ok\n";
    }
--- request
GET /t
--- more_headers
X-Request-ID: client-id
--- response_headers
X-Gateway-Request-ID: client-id
X-Request-ID: client-id



=== TEST 11: off sends nothing
--- config
    location /t {
        gateway_request_id off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "[$http_x_gateway_request_id]\n";
    }
--- request
GET /t
--- response_body
[]
--- response_headers
!X-Gateway-Request-ID
!X-Request-ID



=== TEST 12: off, the variable still works
--- config
    location /t {
        gateway_request_id off;
        return 200 "$gateway_request_id\n";
    }
--- request
GET /t
--- response_body_like
^[0-9a-f]{32}$



=== TEST 13: off by default
--- config
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
!X-Gateway-Request-ID



=== TEST 14: inherited from the server level
--- config
    gateway_request_id on;
    location /t {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers_like
X-Gateway-Request-ID: ^[0-9a-f]{32}$



=== TEST 15: turned off in a location below an enabled server
--- config
    gateway_request_id on;
    location /t {
        gateway_request_id off;
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
!X-Gateway-Request-ID



=== TEST 16: error responses carry the id
--- config
    location /t {
        gateway_request_id on;
        return 403;
    }
--- request
GET /t
--- more_headers
X-Request-ID: denied-1
--- error_code: 403
--- response_headers
X-Gateway-Request-ID: denied-1



=== TEST 17: the id survives an internal redirect
--- config
    location /t {
        gateway_request_id on;
        set $first $gateway_request_id;
        rewrite ^ /next last;
    }
    location /next {
        gateway_request_id on;
        return 200 "$first $gateway_request_id\n";
    }
--- request
GET /t
--- response_body_like
^([0-9a-f]{32}) \1$



=== TEST 18: subrequests see the main request's id
--- config
    location /t {
        gateway_request_id on;
        auth_request /auth;
        auth_request_set $seen $upstream_http_x_seen;
        proxy_set_header X-Seen $seen;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_x_gateway_request_id $http_x_seen\n";
    }
    location = /auth {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/check;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Main-Id $gateway_request_id;
    }
    location /check {
        add_header X-Seen $http_x_main_id;
        return 204;
    }
--- request
GET /t
--- response_body_like
^([0-9a-f]{32}) \1$



=== TEST 19: two workers
--- workers: 2
--- master_on
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- response_body_like eval
[qr/^[0-9a-f]{32}$/, qr/^[0-9a-f]{32}$/, qr/^[0-9a-f]{32}$/]



=== TEST 20: a bad value fails the configuration test
--- config
    location /t {
        gateway_request_id maybe;
    }
--- must_die
--- error_log eval
qr/invalid value "maybe" in "gateway_request_id" directive, it must be "on" or "off" in .*nginx\.conf:\d+/



=== TEST 21: a duplicate fails the configuration test
--- config
    location /t {
        gateway_request_id on;
        gateway_request_id off;
    }
--- must_die
--- error_log eval
qr/"gateway_request_id" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 22: the directive is not allowed in the main context
--- main_config
gateway_request_id on;
--- config
--- must_die
--- error_log eval
qr/"gateway_request_id" directive is not allowed here in .*nginx\.conf:\d+/



=== TEST 23: the directive takes one argument
--- config
    gateway_request_id;
--- must_die
--- error_log eval
qr/invalid number of arguments in "gateway_request_id" directive in .*nginx\.conf:\d+/



=== TEST 24: the id survives a jump to a named location
--- config
    location /t {
        gateway_request_id on;
        error_page 418 = @named;
        set $first $gateway_request_id;
        return 418;
    }
    location @named {
        gateway_request_id on;
        return 200 "$first $gateway_request_id\n";
    }
--- request
GET /t
--- response_body_like
^([0-9a-f]{32}) \1$
--- response_headers_like
X-Gateway-Request-ID: ^[0-9a-f]{32}$
