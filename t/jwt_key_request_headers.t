# gateway_jwt_key_request: the JWKS subrequest carries none of the client's
# headers. Each block starts cold (no keys yet), so the first request makes
# the fetch; the provider (a server block here) honours Range, If-None-Match
# and gzip like any static file server and refuses requests that carry a
# cookie, credentials or other client headers. A body the provider encodes
# anyway is refused, clearly logged. A block's "jwks" section names another
# place to fetch the keys from (default: the provider's /jwks).
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

# a provider that writes its reply byte for byte (TEST 8)
$ENV{TEST_NGINX_RAW_IDP_PORT} ||= ($ENV{TEST_NGINX_PORT} || 1984) + 104;

# the ETag nginx gives the provider's file
my @st = stat(keys_dir() . '/rsa1.jwks');
our $ETag = sprintf '"%x-%x"', $st[9], $st[7];

$T{rsa1} = token_by('rsa1', sub => 'alice');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_') unless defined $block->http_config;
    server {
        listen 127.0.0.1:$TEST_NGINX_IDP_PORT;
        gzip on;
        gzip_types application/json;
        gzip_min_length 1;
        location = /jwks {
            default_type application/json;
            if ($http_cookie) { return 403; }
            if ($http_authorization) { return 403; }
            if ($http_x_client) { return 403; }
            alias $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        }
        location = /jwks-encoded {
            default_type application/json;
            add_header Content-Encoding gzip;
            alias $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        }
    }
_EOC_
    $block->set_value('config', key_request_config($block->jwks // '/jwks')
                                . echo_location());
    $block->set_value('request', "GET /t\n") unless defined $block->request;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: Range does not reach the provider (no 206)
--- more_headers eval
"Range: bytes=0-9\nAuthorization: Bearer $main::T{rsa1}"
--- response_body
sub=alice
--- no_error_log
fetching keys



=== TEST 2: If-None-Match does not reach the provider (no 304)
--- more_headers eval
"If-None-Match: $main::ETag\nAuthorization: Bearer $main::T{rsa1}"
--- response_body
sub=alice
--- no_error_log
fetching keys



=== TEST 3: Accept-Encoding does not reach the provider (no gzip)
--- more_headers eval
"Accept-Encoding: gzip\nAuthorization: Bearer $main::T{rsa1}"
--- response_body
sub=alice
--- no_error_log
fetching keys



=== TEST 4: the client's cookies do not reach the provider
--- more_headers eval
"Cookie: session=s3cr3t\nAuthorization: Bearer $main::T{rsa1}"
--- response_body
sub=alice
--- no_error_log
fetching keys



=== TEST 5: the client's Authorization does not reach the provider, though the key location does not clear it
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- response_body
sub=alice
--- no_error_log
fetching keys



=== TEST 6: nor does any other header of the client
--- more_headers eval
"X-Client: 1\nAuthorization: Bearer $main::T{rsa1}"
--- response_body
sub=alice
--- no_error_log
fetching keys



=== TEST 7: a body the provider encodes is refused, and the log says why
--- jwks: /jwks-encoded
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- error_code: 401
--- error_log
gateway jwt: fetching keys from "/_jwks" failed: the body is encoded (Content-Encoding: gzip); no keys yet



=== TEST 8: the provider's control bytes in the logged reason are escaped
A header value may hold bytes below 0x20 (nginx refuses only NUL, CR and
LF there), such as a terminal's escape sequences: they are logged as \xHH.
--- jwks: http://127.0.0.1:$TEST_NGINX_RAW_IDP_PORT/jwks
--- tcp_listen: $TEST_NGINX_RAW_IDP_PORT
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
. "Content-Encoding: gz\x1b[31mip\x7f\r\n\r\n{}"
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- error_code: 401
--- error_log
gateway jwt: fetching keys from "/_jwks" failed: the body is encoded (Content-Encoding: gz\x1B[31mip\x7F); no keys yet
