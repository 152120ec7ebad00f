# JWT authentication: directives, variables, every algorithm, answers.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

my $now = time;
my %claims = (sub => 'alice', exp => $now + 3600, iss => 'https://idp.example',
              aud => ['api', 'web'], roles => ['viewer'], admin => 1,
              realm_access => { roles => ['ops', 'dev'] }, email => 'a@example.com');
$T{hs} = jwt('HS256', \'top-secret', \%claims);
$T{hs_other} = jwt('HS256', \'other-secret', \%claims);
$T{hs_expired} = jwt('HS256', \'top-secret', { %claims, exp => $now - 3600 });
$T{hs_noexp} = do { my %c = %claims; delete $c{exp}; jwt('HS256', \'top-secret', \%c) };
$T{hs_notadmin} = jwt('HS256', \'top-secret', { %claims, admin => 0 });
# the leeway edges are a day wide (gateway_jwt_leeway 1d in TEST 16), so
# how long the run takes to get there does not matter
$T{hs_leeway_exp} = jwt('HS256', \'top-secret', { %claims, exp => $now - 3600 });
$T{hs_leeway_exp_far} = jwt('HS256', \'top-secret', { %claims, exp => $now - 2 * 86400 });
$T{hs_leeway_nbf} = jwt('HS256', \'top-secret', { %claims, nbf => $now + 12 * 3600 });
$T{hs_leeway_nbf_far} = jwt('HS256', \'top-secret', { %claims, nbf => $now + 2 * 86400 });
$T{hs_decimal} = jwt('HS256', \'top-secret', { %claims, exp => $now + 3600.25, nbf => $now - 0.5 });
$T{hs_iss} = jwt('HS256', \'top-secret', { %claims, iss => 'https://evil.example' });
$T{hs_aud} = jwt('HS256', \'top-secret', { %claims, aud => 'api' });
$T{hs_big} = jwt('HS256', \'top-secret', { %claims, pad => 'x' x 9000 });
$T{hs_typ_at} = jwt('HS256', \'top-secret', \%claims, { typ => 'at+jwt' });
$T{hs_typ_none} = jwt('HS256', \'top-secret', \%claims, { typ => undef });
for my $alg (qw(RS256 RS384 RS512 PS256 PS384 PS512)) {
    $T{$alg} = jwt($alg, 'rsa1', \%claims, { kid => 'rsa1' });
}
$T{ES256} = token_by('ec256', %claims);
$T{ES384} = token_by('ec384', %claims);
$T{ES512} = token_by('ec521', %claims);
$T{EdDSA} = token_by('ed25519', %claims);
for my $alg (qw(HS256 HS384 HS512)) {
    $T{"oct_$alg"} = jwt($alg, \'hmac-secret-of-the-jwks-32-bytes', \%claims, { kid => 'oct1' });
}
$T{rsa1_nokid} = jwt('RS256', 'rsa1', \%claims);
$T{rsa2} = token_by('rsa2', %claims);
$T{rsa2_nokid} = jwt('RS256', 'rsa2', \%claims);

# every test proxies to /_echo, which shows what the upstream receives
add_echo_location();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a valid HS256 token passes; claims reach the upstream
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('hs')
--- response_body
sub=alice
--- no_error_log
[error]



=== TEST 2: no token: 401 with the realm and no error
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api"
--- error_log
gateway jwt: no token, request id



=== TEST 3: another scheme is no token
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers
Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api"



=== TEST 4: a token signed with another secret: invalid_token, reason logged at info without the token
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('hs_other')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="signature verification failed"
--- error_log
gateway jwt: signature verification failed, request id
--- log_level: info
--- no_error_log eval
[substr($main::T{hs_other}, 0, 20), substr($main::T{hs_other}, -20)]



=== TEST 5: the request id is logged with the reason
--- config
    location /t {
        gateway_request_id on;
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('hs_other') . "\nX-Request-ID: req-4711"
--- error_code: 401
--- error_log
gateway jwt: signature verification failed, request id "req-4711"



=== TEST 6: expired
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('hs_expired')
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description="token expired"



=== TEST 7: every algorithm against one JWKS (kid picks the key)
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/all.jwks;
        proxy_set_header X-Sub "$gateway_jwt_header_alg $gateway_jwt_header_kid $gateway_jwt_claim_sub";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
[("GET /t") x 13]
--- more_headers eval
[map { main::bearer($_) } qw(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA oct_HS256 oct_HS384 oct_HS512)]
--- response_body eval
["sub=RS256 rsa1 alice\n", "sub=RS384 rsa1 alice\n", "sub=RS512 rsa1 alice\n",
 "sub=PS256 rsa1 alice\n", "sub=PS384 rsa1 alice\n", "sub=PS512 rsa1 alice\n",
 "sub=ES256 ec256 alice\n", "sub=ES384 ec384 alice\n", "sub=ES512 ec521 alice\n",
 "sub=EdDSA ed25519 alice\n", "sub=HS256 oct1 alice\n", "sub=HS384 oct1 alice\n",
 "sub=HS512 oct1 alice\n"]



=== TEST 8: PEM public keys: RSA (SPKI and PKCS#1), EC, Ed25519
--- config
    location /rsa {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /pkcs1 {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pkcs1.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /ec {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/ec256.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /ed {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/ed25519.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /rsa", "GET /rsa", "GET /pkcs1", "GET /ec", "GET /ed", "GET /ec", "GET /ed"]
--- more_headers eval
[map { main::bearer($_) } qw(rsa1_nokid PS256 RS256 ES256 EdDSA RS256 ES256)]
--- error_code eval
[200, 200, 200, 200, 200, 401, 401]



=== TEST 9: several key files: keys from each, rotation without kid
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa2.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[map { main::bearer($_) } qw(RS256 rsa1_nokid rsa2 rsa2_nokid)]
--- error_code eval
[200, 200, 200, 200]



=== TEST 10: the realm from a variable, escaped as a quoted string
--- config
    location /t {
        set $realm 'my "api" \\ realm';
        gateway_jwt $realm;
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="my \"api\" \\ realm"



=== TEST 11: the realm "off" from a map exempts preflights
--- http_config
    map $request_method $jwt_realm {
        OPTIONS  off;
        default  "api";
    }
--- config
    location /t {
        gateway_jwt $jwt_realm;
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["OPTIONS /t", "GET /t"]
--- error_code eval
[200, 401]



=== TEST 12: gateway_jwt off in a location
--- config
    gateway_jwt "api";
    gateway_jwt_secret "top-secret";
    location /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /public {
        gateway_jwt off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /public"]
--- error_code eval
[401, 200]



=== TEST 13: token from a cookie or an argument
--- config
    location /cookie {
        gateway_jwt "api" token=$cookie_auth;
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /arg {
        gateway_jwt "api" token=$arg_access_token;
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /cookie", "GET /arg?access_token=$main::T{hs}", "GET /arg", "GET /cookie"]
--- more_headers eval
["Cookie: auth=$main::T{hs}", "", "", main::bearer('hs')]
--- error_code eval
[200, 200, 401, 401]



=== TEST 14: gateway_jwt_algorithms narrows what the keys allow
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.pub;
        gateway_jwt_algorithms RS256 ES256;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[map { main::bearer($_) } qw(RS256 PS256 RS512)]
--- error_code eval
[200, 401, 401]
--- response_headers_like eval
["", 'WWW-Authenticate: .*error_description="algorithm not allowed"', ""]



=== TEST 15: issuer and audience
--- config
    location /ok {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_issuer https://other.example https://idp.example;
        gateway_jwt_audience web;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /aud {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_audience mobile;
        gateway_jwt_audience api;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /bad {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_audience mobile;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /ok", "GET /ok", "GET /aud", "GET /bad", "GET /aud"]
--- more_headers eval
[map { main::bearer($_) } qw(hs hs_iss hs_aud hs hs)]
--- error_code eval
[200, 401, 200, 401, 200]



=== TEST 16: leeway edges for exp and nbf
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_leeway 1d;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /strict {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /strict", "GET /strict", "GET /strict"]
--- more_headers eval
[map { main::bearer($_) } qw(hs_leeway_exp hs_leeway_exp_far hs_leeway_nbf hs_leeway_nbf_far hs_leeway_exp hs_leeway_nbf hs_decimal)]
--- error_code eval
[200, 401, 200, 401, 401, 401, 200]



=== TEST 17: a token without exp needs gateway_jwt_require_exp off
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /lax {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_require_exp off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /lax"]
--- more_headers eval
[main::bearer('hs_noexp'), main::bearer('hs_noexp')]
--- error_code eval
[401, 200]
--- response_headers_like eval
['WWW-Authenticate: .*error_description="token without expiry"', ""]



=== TEST 18: gateway_jwt_require, 401 by default or 403
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_require $gateway_jwt_claim_email;
        gateway_jwt_require $gateway_jwt_claim_admin error=403;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /missing {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_require $gateway_jwt_claim_nope;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /missing"]
--- more_headers eval
[main::bearer('hs'), main::bearer('hs_notadmin'), main::bearer('hs')]
--- error_code eval
[200, 403, 401]



=== TEST 19: gateway_jwt_claim_set reaches nested claims; arrays are joined
--- http_config
    gateway_jwt_claim_set $jwt_realm_roles realm_access roles;
    gateway_jwt_claim_set $jwt_missing realm_access nope;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Sub "$jwt_realm_roles|$gateway_jwt_claim_aud|$jwt_missing|$gateway_jwt_claim_realm_access";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('hs')
--- response_body
sub=ops,dev|api,web||{"roles":["ops","dev"]}



=== TEST 20: variables are empty when the token is not verified
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        add_header X-Seen "[$gateway_jwt_claim_sub]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
main::bearer('hs_other')
--- error_code: 401
--- response_headers
X-Seen: []



=== TEST 21: gateway_jwt_max_size
--- config
    large_client_header_buffers 4 32k;
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /big {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_max_size 16k;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /small {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_jwt_max_size 100;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /big", "GET /small"]
--- more_headers eval
[main::bearer('hs_big'), main::bearer('hs_big'), main::bearer('hs')]
--- error_code eval
[401, 200, 401]
--- response_headers_like eval
['error_description="token too large"', "", 'error_description="token too large"']



=== TEST 22: typ JWT, at+jwt or absent
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer('hs_typ_at'), main::bearer('hs_typ_none')]
--- error_code eval
[200, 200]



=== TEST 23: an internal redirect is decided by the new location's rules
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        try_files /nonexistent @next;
    }
    location @next {
        gateway_jwt "other";
        gateway_jwt_secret "a-different-secret";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
    location /s {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        try_files /nonexistent @same;
    }
    location @same {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        rewrite ^ /_echo break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT;
    }
--- request eval
["GET /t", "GET /s"]
--- more_headers eval
[main::bearer('hs'), main::bearer('hs')]
--- error_code eval
[401, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="other", error="invalid_token", error_description="signature verification failed"', ""]
--- response_body_like eval
["", "^sub=alice\n\$"]



=== TEST 24: error_page for 401 is served, with the header kept
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        error_page 401 /login.html;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /login.html {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        return 401 "please log in\n";
    }
--- request
GET /t
--- error_code: 401
--- response_body
please log in



=== TEST 25: a secret from a variable
--- config
    location /t {
        set $secret "top-secret";
        gateway_jwt "api";
        gateway_jwt_secret $secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location /empty {
        gateway_jwt "api";
        gateway_jwt_secret $arg_nothing;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request eval
["GET /t", "GET /t", "GET /empty"]
--- more_headers eval
[main::bearer('hs'), main::bearer('hs_other'), main::bearer('hs')]
--- error_code eval
[200, 401, 401]



=== TEST 26: nginx -t: a missing key file names the directive's file and line
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file /nonexistent/keys.jwks;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*"/nonexistent/keys.jwks" failed .* in .*nginx.conf:\d+}



=== TEST 27: nginx -t: a private key is refused
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.key;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid key file ".*rsa1.key": a private key was given where a public key is expected in .*nginx.conf:\d+}



=== TEST 28: nginx -t: weak RSA keys, empty secrets, "none", unknown algorithms
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1024.pub;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid key file ".*rsa1024.pub": RSA key shorter than 2048 bits}



=== TEST 29: nginx -t: empty secret
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*empty secret in "gateway_jwt_secret" in .*nginx.conf:\d+}



=== TEST 30: nginx -t: "none" is never an algorithm
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "s";
        gateway_jwt_algorithms HS256 none;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*algorithm "none" is never accepted in .*nginx.conf:\d+}



=== TEST 31: nginx -t: unknown algorithm and bad parameters
--- config
    location /t {
        gateway_jwt "api" cookie=$cookie_x;
        gateway_jwt_secret "s";
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid parameter "cookie=\$cookie_x", expected "token=\$variable" in .*nginx.conf:\d+}



=== TEST 32: nginx -t: a JWKS without usable keys
--- user_files
>>> bad.jwks
{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file ../html/bad.jwks;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid key file ".*bad.jwks": no usable key in the JWKS}
