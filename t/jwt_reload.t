# nginx -s reload: keys fetched by gateway_jwt_key_request belong to the
# configuration that fetched them, so a reload that points the key location
# at another provider stops trusting the old provider's keys at once. The
# verified-token cache, keyed by the keys themselves, survives: the same
# keys fetched again still find the tokens verified with them.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;

$T{rsa1} = token_by('rsa1', sub => 'alice');
$T{rsa2} = token_by('rsa2', sub => 'bob');

# provider a serves rsa1, provider b rsa2; each block's /_jwks picks one
my %jwks = (a => 'rsa1', b => 'rsa2');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "    gateway_jwt_cache 1m;\n" . idp_server());
    $block->set_value('config',
        key_request_config("/jwks/$jwks{$block->provider}",
                           'add_header X-JWT-Cache $gateway_jwt_cache_status always;')
        . echo_location());
});

use_hup();
master_on();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: keys fetched from provider a, a token verified and cached
--- provider: a
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::T{rsa1}"
--- response_headers
X-JWT-Cache: MISS
--- response_body
sub=alice



=== TEST 2: a reload points /_jwks at provider b: provider a's token is refused at once
--- provider: b
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa2}"]
--- error_code eval
[401, 200]
--- response_body_like eval
["", "sub=bob"]



=== TEST 3: a reload back to provider a: its keys are fetched again and find the cached token
--- provider: a
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $main::T{rsa1}", "Authorization: Bearer $main::T{rsa2}"]
--- error_code eval
[200, 401]
--- response_headers eval
["X-JWT-Cache: HIT", ""]
--- no_error_log
fetching keys
