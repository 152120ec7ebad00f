# gateway_rate_limit_zone, gateway_rate_limit, gateway_rate_limit_status,
# gateway_rate_limit_headers and $gateway_rate_limit_status, against zones
# in shared memory.
#
# Every block uses its own zone names, so the file also runs under
# TEST_NGINX_USE_HUP (where zones of the same name live on across blocks).
# Rates are chosen so that nothing refills while a block runs (1r/m and
# such) unless a block is about refill, and then only "at least" is
# asserted after a pause, never "within". Times that count down from a
# block's first request (Retry-After, t=, RateLimit-Reset) are matched as
# any value the countdown passes through in the block's first 20 s, so a
# busy machine that takes seconds between two requests still passes.

use Test::Nginx::Socket 'no_plan';

# The values, as a regex, that a countdown from $from seconds shows while
# up to 20 seconds pass.
sub main::counting_down {
    my ($from) = @_;
    my $to = $from > 20 ? $from - 20 : 1;
    return '(?:' . join('|', reverse $to .. $from) . ')';
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a token bucket admits its burst, then answers 429 with Retry-After
--- http_config
    gateway_rate_limit_zone t1 key=$binary_remote_addr rate=1r/m burst=3 size=1m;
--- config
    location /t {
        gateway_rate_limit t1;
        add_header X-Status $gateway_rate_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200, 429, 429]
--- response_headers eval
["X-Status: PASSED\n!Retry-After",
 "X-Status: PASSED\n!Retry-After",
 "X-Status: PASSED\n!Retry-After",
 "X-Status: REJECTED",
 "X-Status: REJECTED"]
--- raw_response_headers_like eval
["", "", "",
 ("\nRetry-After: " . main::counting_down(60) . "\r") x 2]



=== TEST 2: IETF headers on passed and rejected responses
--- http_config
    gateway_rate_limit_zone t2 key=$binary_remote_addr rate=1r/m burst=10 size=1m;
--- config
    location /t {
        gateway_rate_limit t2 cost=4;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit-Policy: \"t2\";q=10;w=600\nRateLimit: \"t2\";r=6;t=240",
 "RateLimit-Policy: \"t2\";q=10;w=600\nRateLimit: \"t2\";r=2;t=" . main::counting_down(480),
 "RateLimit-Policy: \"t2\";q=10;w=600\nRateLimit: \"t2\";r=2;t=" . main::counting_down(480)
   . "\nRetry-After: " . main::counting_down(120)]



=== TEST 3: legacy headers
--- http_config
    gateway_rate_limit_zone t3 key=$binary_remote_addr rate=2r/m size=1m;
--- config
    location /t {
        gateway_rate_limit t3;
        gateway_rate_limit_headers legacy;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit-Limit: 2\nRateLimit-Remaining: 1\nRateLimit-Reset: 30\n!RateLimit-Policy\n!RateLimit",
 "RateLimit-Limit: 2\nRateLimit-Remaining: 0\nRateLimit-Reset: " . main::counting_down(60),
 "RateLimit-Limit: 2\nRateLimit-Remaining: 0\nRetry-After: " . main::counting_down(30)]



=== TEST 4: headers off; Retry-After stays on rejections
--- http_config
    gateway_rate_limit_zone t4 key=$binary_remote_addr rate=1r/m size=1m;
--- config
    location /t {
        gateway_rate_limit t4;
        gateway_rate_limit_headers off;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 429]
--- response_headers eval
["!RateLimit\n!RateLimit-Policy\n!RateLimit-Limit\n!Retry-After",
 "!RateLimit\n!RateLimit-Policy\n!RateLimit-Remaining"]
--- raw_response_headers_like eval
["", "\nRetry-After: " . main::counting_down(60) . "\r"]



=== TEST 5: gateway_rate_limit_status, inherited from the server level
--- http_config
    gateway_rate_limit_zone t5 key=$binary_remote_addr rate=1r/m size=1m;
--- config
    gateway_rate_limit_status 503;
    location /t {
        gateway_rate_limit t5;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t"]
--- error_code eval
[200, 503]
--- response_headers_like eval
["", "Retry-After: " . main::counting_down(60)]



=== TEST 6: dry_run counts and logs but never rejects
--- http_config
    gateway_rate_limit_zone t6 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    location /t {
        gateway_rate_limit t6 dry_run;
        add_header X-Status $gateway_rate_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200, 200]
--- response_headers_like eval
["X-Status: PASSED\nRateLimit: \"t6\";r=1;.*",
 "X-Status: PASSED\nRateLimit: \"t6\";r=0;.*",
 "X-Status: REJECTED_DRY_RUN\nRateLimit: \"t6\";r=0;.*\n!Retry-After",
 "X-Status: REJECTED_DRY_RUN\n!Retry-After"]



=== TEST 7: cost
--- http_config
    gateway_rate_limit_zone t7 key=$binary_remote_addr rate=10r/m size=1m;
--- config
    location /heavy {
        gateway_rate_limit t7 cost=3;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /light {
        gateway_rate_limit t7;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /heavy", "GET /heavy", "GET /heavy", "GET /heavy", "GET /light", "GET /light"]
--- error_code eval
[200, 200, 200, 429, 200, 429]



=== TEST 8: an empty key is not limited
--- http_config
    gateway_rate_limit_zone t8 key=$http_x_api_key rate=1r/m size=1m;
--- config
    location /t {
        gateway_rate_limit t8;
        add_header X-Status "[$gateway_rate_limit_status]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["", "", "X-API-Key: abc", "X-API-Key: abc", "X-API-Key: other"]
--- error_code eval
[200, 200, 200, 429, 200]
--- response_headers eval
["X-Status: []\n!RateLimit", "X-Status: []", "X-Status: [PASSED]",
 "X-Status: [REJECTED]", "X-Status: [PASSED]"]



=== TEST 9: two zones are all-or-nothing: a rejection by the second leaves the first untouched
--- http_config
    gateway_rate_limit_zone t9a key=$arg_user rate=1r/m burst=5 size=1m;
    gateway_rate_limit_zone t9b key=$arg_ip rate=1r/m burst=1 size=1m;
--- config
    location /t {
        gateway_rate_limit t9a;
        gateway_rate_limit t9b;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t?user=u&ip=1", "GET /t?user=u&ip=1", "GET /t?user=u&ip=1", "GET /t?user=u&ip=2"]
--- error_code eval
[200, 429, 429, 200]
--- response_headers_like eval
["RateLimit: \"t9a\";r=4;t=\\d+, \"t9b\";r=0;t=\\d+",
 "RateLimit: \"t9a\";r=4;t=\\d+, \"t9b\";r=0;t=\\d+",
 "RateLimit: \"t9a\";r=4;t=\\d+, \"t9b\";r=0;t=\\d+",
 "RateLimit: \"t9a\";r=3;t=\\d+, \"t9b\";r=0;t=\\d+"]



=== TEST 10: a dry-run zone does not veto, and is rolled back with the others
--- http_config
    gateway_rate_limit_zone t10a key=$arg_k rate=1r/m burst=1 size=1m;
    gateway_rate_limit_zone t10b key=$arg_k rate=1r/m burst=3 size=1m;
--- config
    location /t {
        gateway_rate_limit t10b dry_run;
        gateway_rate_limit t10a;
        add_header X-Status $gateway_rate_limit_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t?k=a", "GET /t?k=a", "GET /t?k=a"]
--- error_code eval
[200, 429, 429]
--- response_headers_like eval
["X-Status: PASSED\nRateLimit: \"t10b\";r=2;t=\\d+, \"t10a\";r=0;.*",
 "X-Status: REJECTED\nRateLimit: \"t10b\";r=2;t=\\d+, \"t10a\";r=0;.*",
 "X-Status: REJECTED\nRateLimit: \"t10b\";r=2;t=\\d+, \"t10a\";r=0;.*"]



=== TEST 11: the sliding window admits the rate per window
--- http_config
    gateway_rate_limit_zone t11 key=$binary_remote_addr rate=3r/m algorithm=sliding_window size=1m;
--- config
    location /t {
        gateway_rate_limit t11;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
["RateLimit-Policy: \"t11\";q=3;w=60\nRateLimit: \"t11\";r=2;t=\\d+",
 "RateLimit: \"t11\";r=1;.*",
 "RateLimit: \"t11\";r=0;.*",
 "RateLimit: \"t11\";r=0;.*\nRetry-After: \\d+"]



=== TEST 12: tokens come back with time
The first request takes all ten tokens; the second, wanting ten again, is
refused unless ten seconds passed; one token is back a second later.
--- http_config
    gateway_rate_limit_zone t12 key=$binary_remote_addr rate=1r/s burst=10 size=1m;
--- config
    location /all {
        gateway_rate_limit t12 cost=10;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /one {
        gateway_rate_limit t12;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /all", "GET /all", ["GET ", {value => "/one", delay_before => 1.5}]]
--- error_code eval
[200, 429, 200]



=== TEST 13: limits are inherited only by levels that declare none
--- http_config
    # the backend below is in the same server: keep it out of the limit
    map $uri $t13_key {
        /back    "";
        default  $binary_remote_addr;
    }
    gateway_rate_limit_zone t13a key=$t13_key rate=1r/m size=1m;
    gateway_rate_limit_zone t13b key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    gateway_rate_limit t13a;
    location /inherits {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /own {
        gateway_rate_limit t13b;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        gateway_rate_limit_headers off;
        return 200 "ok\n";
    }
--- request eval
["GET /own", "GET /own", "GET /own", "GET /inherits", "GET /inherits"]
--- error_code eval
[200, 200, 429, 200, 429]



=== TEST 14: a rejection is decided once per request, across internal redirects
--- http_config
    gateway_rate_limit_zone t14 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    location /t {
        gateway_rate_limit t14;
        error_page 404 = /fallback;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/missing;
        proxy_intercept_errors on;
    }
    location /fallback {
        gateway_rate_limit t14;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /missing {
        return 404;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- error_code eval
[200, 200, 429]
--- response_headers_like eval
["RateLimit: \"t14\";r=1;.*", "RateLimit: \"t14\";r=0;.*", "Retry-After: \\d+"]



=== TEST 15: keys longer than 64 bytes are limited as their digest
--- http_config
    gateway_rate_limit_zone t15 key=$http_x_api_key rate=1r/m size=1m;
--- config
    location /t {
        gateway_rate_limit t15;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-API-Key: " . ("k" x 300), "X-API-Key: " . ("k" x 300),
 "X-API-Key: " . ("k" x 299) . "j", "X-API-Key: " . ("k" x 299) . "j"]
--- error_code eval
[200, 429, 200, 429]



=== TEST 16: a rejection is logged, at error by default (as limit_req)
--- http_config
    gateway_rate_limit_zone t16 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    location /t {
        gateway_rate_limit t16 cost=3;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- error_code: 429
--- error_log eval
qr/\[error\] .*gateway rate limit: rejected by zone "t16"/



=== TEST 17: a dry-run rejection is logged, the request goes on
--- http_config
    gateway_rate_limit_zone t17 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    location /t {
        gateway_rate_limit t17 cost=3 dry_run;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[error\] .*gateway rate limit: dry run, would reject by zone "t17"/



=== TEST 18: a key made of several variables and text
--- http_config
    gateway_rate_limit_zone t18 key=$arg_tenant:$request_method rate=1r/m size=1m;
--- config
    location /t {
        gateway_rate_limit t18;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t?tenant=a", "GET /t?tenant=a", "HEAD /t?tenant=a", "GET /t?tenant=b", "GET /t"]
--- error_code eval
[200, 429, 200, 200, 200]



=== TEST 19: status variable is empty where no limit applies
--- config
    location /t {
        add_header X-Status "[$gateway_rate_limit_status]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Status: []
!RateLimit
!RateLimit-Policy
--- no_error_log
[error]



=== TEST 20: gateway_rate_limit_log_level, inherited from the server level
--- http_config
    gateway_rate_limit_zone t20 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    gateway_rate_limit_log_level info;
    location /t {
        gateway_rate_limit t20 cost=3;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- error_code: 429
--- error_log eval
qr/\[info\] .*gateway rate limit: rejected by zone "t20"/
--- no_error_log eval
qr/\[(?:error|warn|notice)\] .*gateway rate limit/



=== TEST 21: gateway_rate_limit_log_level applies to dry runs too
--- http_config
    gateway_rate_limit_zone t21 key=$binary_remote_addr rate=1r/m burst=2 size=1m;
--- config
    location /t {
        gateway_rate_limit t21 cost=3 dry_run;
        gateway_rate_limit_log_level notice;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
--- error_log eval
qr/\[notice\] .*gateway rate limit: dry run, would reject by zone "t21"/
--- no_error_log eval
qr/\[(?:error|warn)\] .*gateway rate limit/



=== TEST 22: nginx -t: gateway_rate_limit_log_level takes info, notice, warn or error
--- config
    location /t {
        gateway_rate_limit_log_level debug;
    }
--- must_die
--- error_log eval
qr{\[emerg\] .*invalid value "debug" in .*nginx.conf:\d+}



=== TEST 23: keys put together in one pass, by nginx's engine, and hashed
A key of text and variables is put together in one pass, a key with a
capture by nginx's script engine, one over 256 bytes by the engine too;
keys over 64 bytes are kept as their digest. "1x2x" is a=1x2 and, with
the text between the variables, a=1 b=2x.
--- http_config
    gateway_rate_limit_zone t23a key=${arg_a}x$arg_b rate=1r/m size=1m;
    gateway_rate_limit_zone t23c key=c:$1 rate=1r/m size=1m;
    gateway_rate_limit_zone t23l key=$arg_l:$arg_m rate=1r/m size=1m;
--- config
    location /a {
        gateway_rate_limit t23a;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location ~ ^/c/(\w+)$ {
        gateway_rate_limit t23c;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back$is_args$args;
    }
    location /l {
        gateway_rate_limit t23l;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
my ($m, $l) = ('A' x 100, 'A' x 300);
["GET /a?a=1&b=2", "GET /a?a=1&b=2", "GET /a?a=1x2", "GET /a?a=1&b=2x",
 "GET /c/one", "GET /c/one", "GET /c/two",
 "GET /l?l=$m", "GET /l?l=$m", "GET /l?l=${m}B", "GET /l?l=$m&m=B",
 "GET /l?l=$l", "GET /l?l=$l", "GET /l?l=${l}B"]
--- error_code eval
[200, 429, 200, 429,
 200, 429, 200,
 200, 429, 200, 200,
 200, 429, 200]
--- no_error_log
[crit]
[alert]
