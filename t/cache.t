# gateway_cache's directives and what it does without a Redis to talk to:
# bad configuration fails naming the directive's file and line; a Redis
# that cannot be reached is a miss marked ERROR, never a failed request;
# requests the cache must not answer are marked BYPASS without asking
# Redis. t/cache_redis.t runs the cache against a real redis-server.

use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an unknown gateway_redis
--- config
    location /t {
        gateway_cache nosuch;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*gateway_cache uses an unknown gateway_redis "nosuch" in .*nginx\.conf:\d+/



=== TEST 2: gateway_cache twice
--- http_config
    gateway_redis r 127.0.0.1:1;
--- config
    location /t {
        gateway_cache r;
        gateway_cache off;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*"gateway_cache" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 3: a key twice
--- config
    location /t {
        gateway_cache_key $uri;
        gateway_cache_key $uri$args;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*"gateway_cache_key" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 4: an empty key
--- config
    location /t {
        gateway_cache_key "";
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*invalid value "" in .*nginx\.conf:\d+/



=== TEST 5: a method that is never cached
--- config
    location /t {
        gateway_cache_methods GET PUT;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*invalid value "PUT" in .*nginx\.conf:\d+/



=== TEST 6: a bad TTL
--- config
    location /t {
        gateway_cache_ttl soon;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*"gateway_cache_ttl" directive invalid value in .*nginx\.conf:\d+/



=== TEST 7: a max size Redis would refuse
--- config
    location /t {
        gateway_cache_max_size 600m;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*"gateway_cache_max_size" directive must be less than 512m in .*nginx\.conf:\d+/



=== TEST 8: gateway_cache_authorized takes on or off
--- config
    location /t {
        gateway_cache_authorized yes;
        return 200;
    }
--- must_die
--- error_log eval
qr/\[emerg\].*invalid value "yes" in "gateway_cache_authorized" directive, it must be "on" or "off" in .*nginx\.conf:\d+/



=== TEST 9: a Redis that cannot be reached: served by the upstream, ERROR
--- http_config
    gateway_redis r 127.0.0.1:1 connect_timeout=500ms;
--- config
    location /t {
        gateway_cache r;
        add_header X-Cache $gateway_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        add_header Cache-Control "max-age=60";
        return 200 "from the upstream\n";
    }
--- request eval
["GET /t", "GET /t", "GET /t"]
--- response_body eval
["from the upstream\n", "from the upstream\n", "from the upstream\n"]
--- response_headers eval
["X-Cache: ERROR", "X-Cache: ERROR", "X-Cache: ERROR"]
--- no_error_log
[alert]
[crit]



=== TEST 10: what the cache must not answer is BYPASS, without Redis
--- http_config
    gateway_redis r 127.0.0.1:1;
--- config
    location /t {
        gateway_cache r;
        add_header X-Cache $gateway_cache_status always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /t", "PUT /t", "DELETE /t"]
--- more_headers eval
["Authorization: Bearer x", "Cookie: a=b", "", ""]
--- response_headers eval
["X-Cache: BYPASS", "X-Cache: BYPASS", "X-Cache: BYPASS", "X-Cache: BYPASS"]



=== TEST 11: inherited from the http level; off below it
--- http_config
    gateway_redis r 127.0.0.1:1;
    gateway_cache r;
--- config
    location /t {
        add_header X-Cache "[$gateway_cache_status]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /off {
        gateway_cache off;
        add_header X-Cache "[$gateway_cache_status]" always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /off"]
--- response_headers eval
["X-Cache: [ERROR]", "X-Cache: []"]



=== TEST 12: subrequests are not cached
--- http_config
    gateway_redis r 127.0.0.1:1;
--- config
    location /t {
        gateway_cache r;
        add_header X-Cache "[$gateway_cache_status]" always;
        auth_request /auth;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /auth {
        gateway_cache r;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request
GET /t
--- response_headers
X-Cache: [ERROR]
--- response_body
ok



=== TEST 13: results are counted by route and status
--- http_config
    gateway_redis r 127.0.0.1:1;
--- config
    location /t13 {
        gateway_route cached13;
        gateway_cache r;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
    location = /stats { return 200 $gateway_stats; }
--- request eval
["GET /t13", "GET /t13", "GET /t13", "GET /stats"]
--- more_headers eval
["", "Authorization: Bearer x", "", ""]
--- response_body_like eval
["ok", "ok", "ok",
 qr/^gateway_cache_results_total\{route="cached13",status="bypass"\} 1$
^gateway_cache_results_total\{route="cached13",status="error"\} 2$/m]
