# Zone memory (keys of 60 bytes take 128-byte slab chunks, so a 32k zone
# holds about 190 of them): a full zone rejects new keys with the zone's status and logs
# it once; idle keys are evicted, least recently used first (busy keys the
# search passes move to the head, so drained keys cannot wall off the idle
# ones behind them), so a zone of
# idle keys never refuses a new one.
#
# The blocks of the full zone share one nginx (the second has no config),
# and the error log is read from the start of the run.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
log_level("warn");
check_accum_error_log();
run_tests();

__DATA__

=== TEST 1: a full zone of busy keys rejects new keys
--- http_config
    gateway_rate_limit_zone z1 key=$arg_k rate=1r/m size=32k;
--- config
    location /t {
        gateway_rate_limit z1;
        gateway_rate_limit_status 503;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[map { sprintf "GET /t?k=%060d", $_ } 1 .. 220]
--- error_code_like eval
[("^200\$") x 150, ("^(200|503)\$") x 69, "^503\$"]



=== TEST 2: keys already in the zone still pass; a new key gets the zone's status, logged
--- request eval
[sprintf("GET /t?k=%060d", 1), sprintf("GET /t?k=%060d", 2), sprintf("GET /t?k=new%060d", 1)]
--- error_code eval
[503, 503, 503]
--- response_headers_like eval
["Retry-After: \\d+", "Retry-After: \\d+", "Retry-After: 1"]
--- error_log
gateway_rate_limit_zone "z1" is full and no key is idle: new keys are rejected
--- no_error_log
[crit]
ngx_slab_alloc() failed



=== TEST 3: idle keys make room: a zone never refuses a key while others are idle
--- http_config
    gateway_rate_limit_zone z3 key=$arg_k rate=100000r/s burst=1 size=32k;
--- config
    location /t {
        gateway_rate_limit z3;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[map { sprintf "GET /t?k=%060d", $_ } 1 .. 300]
--- error_code eval
[(200) x 300]
--- no_error_log
is full



=== TEST 4: once the keys that filled a zone are idle, new keys take their place
--- http_config
    gateway_rate_limit_zone z4 key=$arg_k rate=1r/s burst=1 size=32k;
--- config
    location /t {
        gateway_rate_limit z4;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[(map { sprintf "GET /t?k=old%060d", $_ } 1 .. 220),
 ["GET ", {value => "/t?k=new0", delay_before => 1.5}],
 (map { sprintf "GET /t?k=new%060d", $_ } 1 .. 120)]
--- error_code_like eval
[("^(200|429)\$") x 220, ("^200\$") x 121]



=== TEST 5: keys that drained their quota at the LRU tail do not keep new clients out of a full zone
# 300 drained keys (more than one search looks at) fill most of the zone's
# ~400 places (the exact number depends on the slab layout). The first new
# key after it is full meets only drained ones and is refused; they move to
# the head, so the next new keys evict the idle keys behind them, until the
# drained ones are back at the tail (about a hundred keys later). Wherever
# the zone fills up, the last keys must all get in again.
--- http_config
    gateway_rate_limit_zone z5 key=$arg_k rate=100000r/s burst=100000000 size=64k;
--- config
    location /drain {
        # each key takes its whole bucket: busy for 1000s
        gateway_rate_limit z5 cost=100000000;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /t {
        # each key takes one token, back within a millisecond: idle
        gateway_rate_limit z5;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[(map { sprintf "GET /drain?k=d%059d", $_ } 1 .. 300),
 (map { sprintf "GET /t?k=%060d", $_ } 1 .. 220)]
--- error_code_like eval
[("^200\$") x 360, ("^(200|429)\$") x 100, ("^200\$") x 60]
