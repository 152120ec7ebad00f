# Two workers share one zone: exactly the burst passes, whichever worker
# each connection lands on.

use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: token bucket across two workers
--- http_config
    gateway_rate_limit_zone w1 key=$binary_remote_addr rate=1r/m burst=20 size=1m;
--- config
    location /t {
        gateway_rate_limit w1;
        add_header X-Pid $pid always;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[("GET /t") x 40]
--- error_code eval
[(200) x 20, (429) x 20]



=== TEST 2: sliding window across two workers
--- http_config
    gateway_rate_limit_zone w2 key=$binary_remote_addr rate=15r/m algorithm=sliding_window size=1m;
--- config
    location /t {
        gateway_rate_limit w2;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location /back {
        return 200 "ok\n";
    }
--- request eval
[("GET /t") x 30]
--- error_code eval
[(200) x 15, (429) x 15]
