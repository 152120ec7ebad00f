# Bad rate-limit configuration fails at start (and nginx -t), naming the
# directive's file and line.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: rate=0
--- http_config
    gateway_rate_limit_zone c1 key=$binary_remote_addr rate=0r/s size=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*invalid rate "rate=0r\/s".* in .*nginx\.conf:\d+/



=== TEST 2: a rate without a unit we know
--- http_config
    gateway_rate_limit_zone c2 key=$binary_remote_addr rate=10r/h size=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*invalid rate "rate=10r\/h"/



=== TEST 3: unknown algorithm
--- http_config
    gateway_rate_limit_zone c3 key=$binary_remote_addr rate=10r/s size=1m algorithm=leaky;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*invalid algorithm "leaky".* in .*nginx\.conf:\d+/



=== TEST 4: unknown zone
--- config
    location /t {
        gateway_rate_limit nosuch;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*unknown gateway_rate_limit_zone "nosuch" in gateway_rate_limit in .*nginx\.conf:\d+/



=== TEST 5: a zone too small
--- http_config
    gateway_rate_limit_zone c5 key=$binary_remote_addr rate=10r/s size=16k;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*zone "c5" is too small.* in .*nginx\.conf:\d+/



=== TEST 6: duplicate zone names
--- http_config
    gateway_rate_limit_zone c6 key=$binary_remote_addr rate=10r/s size=1m;
    gateway_rate_limit_zone c6 key=$binary_remote_addr rate=10r/s size=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*duplicate zone "c6".* in .*nginx\.conf:\d+/



=== TEST 7: missing parameters
--- http_config
    gateway_rate_limit_zone c7 key=$binary_remote_addr size=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*"gateway_rate_limit_zone" must have "key=", "rate=" and "size=" parameters/



=== TEST 8: bad cost
--- http_config
    gateway_rate_limit_zone c8 key=$binary_remote_addr rate=10r/s size=1m;
--- config
    location /t {
        gateway_rate_limit c8 cost=0;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*invalid parameter "cost=0".* in .*nginx\.conf:\d+/



=== TEST 9: unknown parameter of gateway_rate_limit
--- http_config
    gateway_rate_limit_zone c9 key=$binary_remote_addr rate=10r/s size=1m;
--- config
    location /t {
        gateway_rate_limit c9 nodelay;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*invalid parameter "nodelay"/



=== TEST 10: the same zone twice in one place
--- http_config
    gateway_rate_limit_zone c10 key=$binary_remote_addr rate=10r/s size=1m;
--- config
    location /t {
        gateway_rate_limit c10;
        gateway_rate_limit c10 cost=2;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*duplicate gateway_rate_limit "c10"/



=== TEST 11: a status out of range
--- http_config
    gateway_rate_limit_zone c11 key=$binary_remote_addr rate=10r/s size=1m;
--- config
    gateway_rate_limit_status 200;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid status "200"/



=== TEST 12: an unknown header format
--- config
    gateway_rate_limit_headers draft;
--- must_die
--- error_log eval
qr/\[emerg\].*invalid value "draft"/



=== TEST 13: burst=0
--- http_config
    gateway_rate_limit_zone c13 key=$binary_remote_addr rate=10r/s burst=0 size=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*invalid parameter "burst=0"/



=== TEST 14: the same name for a zone of another module
--- http_config
    limit_req_zone $binary_remote_addr zone=c14:1m rate=1r/s;
    gateway_rate_limit_zone c14 key=$binary_remote_addr rate=10r/s size=1m;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*shared memory zone "c14" is already declared for a different use/



=== TEST 15: redis= names no gateway_redis
--- http_config
    gateway_rate_limit_zone c15 key=$binary_remote_addr rate=10r/s size=1m redis=nosuch;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*gateway_rate_limit_zone "c15" uses an unknown gateway_redis "nosuch" in .*nginx\.conf:\d+/



=== TEST 16: gateway_redis with a bad parameter
--- http_config
    gateway_redis r16 127.0.0.1:6379 timeout=soon;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*invalid parameter "timeout=soon".* in .*nginx\.conf:\d+/



=== TEST 17: gateway_redis declared twice
--- http_config
    gateway_redis r17 127.0.0.1:6379;
    gateway_redis r17 127.0.0.1:6380;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*duplicate gateway_redis "r17".* in .*nginx\.conf:\d+/



=== TEST 18: a host name without a resolver
--- http_config
    gateway_redis r18 redis.example.com:6379;
    gateway_rate_limit_zone c18 key=$binary_remote_addr rate=10r/s size=1m redis=r18;
--- config
--- must_die
--- error_log eval
qr/\[emerg\].*gateway_redis "r18": "redis.example.com" is not an IP address and no "resolver" is defined at http level to resolve it in .*nginx\.conf:\d+/



=== TEST 19: a Redis zone and gateway_redis declared after it start fine
--- http_config
    gateway_rate_limit_zone c19 key=$binary_remote_addr rate=10r/s size=1m redis=r19;
    gateway_redis r19 127.0.0.1:1 connect_timeout=100ms timeout=100ms;
--- config
    location /t {
        gateway_rate_limit c19;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_body
ok
