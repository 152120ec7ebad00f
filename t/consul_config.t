# Bad gateway_consul configuration fails at start (and nginx -t), naming
# the directive's file and line; what the configuration may leave out has
# its default. A block's "gateway_consul" section holds the directive's
# arguments, for an upstream that has only that and one server.

use Test::Nginx::Socket 'no_plan';

no_shuffle();

add_block_preprocessor(sub {
    my $block = shift;
    if (defined(my $args = $block->gateway_consul)) {
        $block->set_value('http_config', <<"_EOC_");
    upstream u {
        gateway_consul $args;
        server 127.0.0.1:1;
    }
_EOC_
    }
    $block->set_value('config', '') unless defined $block->config;
    $block->set_value('must_die', '') unless defined $block->request;
});

run_tests();

__DATA__

=== TEST 1: twice in one upstream
--- http_config
    upstream u {
        gateway_consul web;
        gateway_consul api;
        server 127.0.0.1:1;
    }
--- error_log eval
qr/\[emerg\].*"gateway_consul" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 2: an unknown parameter, a parameter twice
--- gateway_consul: web tags=v1
--- error_log eval
qr/\[emerg\].*invalid parameter "tags=v1" in .*nginx\.conf:\d+/



=== TEST 3: a parameter twice
--- gateway_consul: web tag=v1 tag=v2
--- error_log eval
qr/\[emerg\].*duplicate parameter "tag=v2" in .*nginx\.conf:\d+/



=== TEST 4: wait beyond Consul's 10 minutes
--- gateway_consul: web wait=11m
--- error_log eval
qr/\[emerg\].*invalid value "wait=11m", it must be from 1s to 10m in .*nginx\.conf:\d+/



=== TEST 5: max_peers=0
--- gateway_consul: web max_peers=0
--- error_log eval
qr/\[emerg\].*max_peers=0.* in .*nginx\.conf:\d+/



=== TEST 6: empty= takes only "allow"
--- gateway_consul: web empty=deny
--- error_log eval
qr/\[emerg\].*invalid empty "deny", expected "allow" in .*nginx\.conf:\d+/



=== TEST 7: a token that cannot go into a header
nginx turns \r and \n in a quoted string into the characters.
--- gateway_consul: web "token=abc\r\nX-Evil: 1"
--- error_log eval
qr/\[emerg\].*invalid token in "web" in .*nginx\.conf:\d+/



=== TEST 8: a service name with a control character
--- gateway_consul: "web\tx"
--- error_log eval
qr/\[emerg\].*invalid service name in ".*" in .*nginx\.conf:\d+/



=== TEST 9: a server that is not HOST:PORT
--- gateway_consul: web server=127.0.0.1:http
--- error_log eval
qr/\[emerg\].*invalid port in "127\.0\.0\.1:http"/



=== TEST 10: a host name without a resolver
--- gateway_consul: web server=consul.example:8500
--- error_log eval
qr/\[emerg\].*"consul\.example" is not an IP address and no "resolver" is defined at http level/



=== TEST 11: after keepalive, or with another balancing method
--- http_config
    upstream u {
        server 127.0.0.1:1;
        keepalive 4;
        gateway_consul web;
    }
--- error_log eval
qr/\[emerg\].*"gateway_consul" must come before "keepalive" and cannot be combined with another balancing method in .*nginx\.conf:\d+/



=== TEST 12: another balancing method after it
--- http_config
    upstream u {
        gateway_consul web;
        server 127.0.0.1:1;
        hash $uri;
    }
--- error_log eval
qr/\[emerg\].*the gateway balancer of upstream "u" in .*nginx\.conf:\d+ was replaced by another balancing method/



=== TEST 13: gateway_consul_server twice
--- http_config
    gateway_consul_server 127.0.0.1:8500;
    gateway_consul_server 127.0.0.1:8501;
--- error_log eval
qr/\[emerg\].*"gateway_consul_server" directive is duplicate in .*nginx\.conf:\d+/



=== TEST 14: outside upstream{}
--- config
    location / {
        gateway_consul web;
    }
--- error_log eval
qr/\[emerg\].*"gateway_consul" directive is not allowed here in .*nginx\.conf:\d+/



=== TEST 15: the defaults: the local agent, 5m waits, 128 peers
http-level servers may come after the upstreams that use them.
--- http_config
    upstream u {
        gateway_consul web dump=logs/web.peers empty=allow;
        server 127.0.0.1:1;
    }
    upstream v {
        gateway_consul api tag=v1 dc=dc2 "token=s3cr3t-token";
        server 127.0.0.1:1;
    }
    gateway_consul_server 127.0.0.1:1 [::1]:1;
--- request
GET /
--- error_code: 200
--- no_error_log
[emerg]
