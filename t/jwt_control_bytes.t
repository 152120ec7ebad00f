# No variable the gateway makes from a token or from the client carries a
# control byte (below 0x20, or 0x7f): claims and header members are rendered
# with such bytes as \xHH, so a claim cannot add a header upstream; request
# ids and traceparents with them are replaced.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my %claims = (
    sub     => 'alice',
    exp     => time + 3600,
    name    => "bob\r\nX-Injected: yes",
    cr      => "a\rb",
    lf      => "a\nb",
    nul     => "a\x00b",
    tab     => "a\tb",
    del     => "a\x7fb",
    roles   => ["viewer\nadmin", 'dev'],
    profile => { display => "x\ry" },
);
$T{controls} = jwt('HS256', \'top-secret', \%claims, { kid => "k\n1" });

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a claim with CR LF cannot add a header upstream
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Name $gateway_jwt_claim_name;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        return 200 "name=$http_x_name injected=$http_x_injected\n";
    }
--- request
GET /t
--- more_headers eval
main::bearer('controls')
--- response_body
name=bob\x0D\x0AX-Injected: yes injected=



=== TEST 2: claims with CR, LF, NUL, TAB and DEL reach the upstream escaped, in one header each
--- http_config
    gateway_jwt_claim_set $jwt_display profile display;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_set_header X-CR $gateway_jwt_claim_cr;
        proxy_set_header X-LF $gateway_jwt_claim_lf;
        proxy_set_header X-NUL $gateway_jwt_claim_nul;
        proxy_set_header X-TAB $gateway_jwt_claim_tab;
        proxy_set_header X-DEL $gateway_jwt_claim_del;
        proxy_set_header X-Roles $gateway_jwt_claim_roles;
        proxy_set_header X-Display $jwt_display;
        proxy_set_header X-Kid $gateway_jwt_header_kid;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        return 200 "cr=$http_x_cr
lf=$http_x_lf
nul=$http_x_nul
tab=$http_x_tab
del=$http_x_del
roles=$http_x_roles
display=$http_x_display
kid=$http_x_kid
";
    }
--- request
GET /t
--- more_headers eval
main::bearer('controls')
--- response_body
cr=a\x0Db
lf=a\x0Ab
nul=a\x00b
tab=a\x09b
del=a\x7Fb
roles=viewer\x0Aadmin,dev
display=x\x0Dy
kid=k\x0A1
--- no_error_log
[error]



=== TEST 3: the escaped values reach response headers and gateway_jwt_require alike
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_require $gateway_jwt_claim_nul;
        add_header X-Name $gateway_jwt_claim_name;
        add_header X-NUL $gateway_jwt_claim_nul;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/empty;
    }
    location = /empty {
        return 204;
    }
--- request
GET /t
--- more_headers eval
main::bearer('controls')
--- error_code: 204
--- response_headers
X-Name: bob\x0D\x0AX-Injected: yes
X-NUL: a\x00b
!X-Injected



=== TEST 4: a request id with TAB or DEL is replaced by a generated one
--- config
    location /t {
        gateway_request_id on;
        return 200 "$gateway_request_id\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-Request-ID: abc\tdef", "X-Request-ID: abc\x7fdef"]
--- response_body_like eval
["^[0-9a-f]{32}\$", "^[0-9a-f]{32}\$"]



=== TEST 5: a traceparent with TAB or DEL starts a new trace
--- config
    location /t {
        gateway_trace on;
        return 200 "$gateway_traceparent $gateway_parent_span_id.\n";
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa\t0ba902b7-01",
 "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba\x7f02b7-01"]
--- response_body_like eval
["^00-[0-9a-f]{32}-[0-9a-f]{16}-01 \\.\$", "^00-(?!4bf92f35)[0-9a-f]{32}-[0-9a-f]{16}-01 \\.\$"]
