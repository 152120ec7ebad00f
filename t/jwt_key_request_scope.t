# gateway_jwt_key_request: fetched keys belong to the directive and the
# server{} that fetched them, never to the URI's text. Two servers whose
# "/_jwks" lead to different providers (say a staging tenant) each trust
# only their own provider's keys, also after an unknown kid forced each of
# them to fetch again. (The reload case is in t/jwt_reload.t.)
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$T{a} = token_by('rsa1', sub => 'alice');
$T{b} = token_by('rsa2', sub => 'mallory');

sub req {
    my ($host, $tok) = @_;
    return "Host: $host\nAuthorization: Bearer $T{$tok}";
}

# provider A serves the key rsa1 (at /jwks/rsa1), provider B the key rsa2
add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $block->http_config . idp_server());
});
add_echo_location();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: two servers, the same key_request URI, two providers: neither accepts the other's tokens
--- http_config
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name b.test;
        location /t {
            gateway_jwt "b";
            gateway_jwt_key_request /_jwks;
            proxy_set_header X-Sub $gateway_jwt_claim_sub;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
        }
        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/rsa2;
        }
        location = /_echo {
            return 200 "sub=$http_x_sub\n";
        }
    }
--- config
    location /t {
        gateway_jwt "a";
        gateway_jwt_key_request /_jwks;
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/rsa1;
    }
--- request eval
[("GET /t") x 6]
--- more_headers eval
[main::req('localhost', 'a'), main::req('b.test', 'b'),
 main::req('localhost', 'b'), main::req('b.test', 'a'),
 main::req('localhost', 'a'), main::req('b.test', 'b')]
--- error_code eval
[200, 200, 401, 401, 200, 200]
--- response_body_like eval
["sub=alice", "sub=mallory", "", "", "sub=alice", "sub=mallory"]



=== TEST 2: one key_request at the http{} level, inherited by two servers: each server's own keys
--- http_config
    gateway_jwt_key_request /_jwks;
    server {
        listen $TEST_NGINX_SERVER_PORT;
        server_name b.test;
        location /t {
            gateway_jwt "b";
            proxy_set_header X-Sub $gateway_jwt_claim_sub;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
        }
        location = /_jwks {
            internal;
            proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/rsa2;
        }
        location = /_echo {
            return 200 "sub=$http_x_sub\n";
        }
    }
--- config
    location /t {
        gateway_jwt "a";
        proxy_set_header X-Sub $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_IDP_PORT/jwks/rsa1;
    }
--- request eval
[("GET /t") x 6]
--- more_headers eval
[main::req('localhost', 'a'), main::req('b.test', 'b'),
 main::req('localhost', 'b'), main::req('b.test', 'a'),
 main::req('localhost', 'a'), main::req('b.test', 'b')]
--- error_code eval
[200, 200, 401, 401, 200, 200]
