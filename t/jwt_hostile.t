# Hostile tokens: every one is refused with 401 (or 403), none crashes or
# gets a 500.
use FindBin;
use lib $FindBin::Bin;
use Test::Nginx::Socket 'no_plan';
use JwtMint;
use MIME::Base64 qw(encode_base64url);

my $exp = time + 3600;
my $claims = qq({"sub":"mallory","exp":$exp,"roles":["admin"]});
my $pem = do { local $/; open my $f, '<', keys_dir() . '/rsa1.pub' or die; <$f> };

our @H;    # [name, token]

sub add { push @H, [@_] }

# alg none, in any case, with and without a signature
for my $none (qw(none None NONE nOnE)) {
    my $t = b64u(qq({"alg":"$none","typ":"JWT"})) . '.' . b64u($claims);
    add("alg $none, empty signature", "$t.");
    add("alg $none, a signature", "$t." . b64u("x" x 32));
}
add("no alg", jwt_raw(qq({"typ":"JWT"}), $claims, 'HS256', \'top-secret'));

# algorithm confusion: HS256 keyed with the RSA public key's PEM
add("HS256 with the RSA PEM as secret", jwt('HS256', \$pem, { sub => 'mallory', exp => $exp }));
add("HS256 with the RSA PEM, kid rsa1", jwt('HS256', \$pem, { sub => 'mallory', exp => $exp }, { kid => 'rsa1' }));

# empty secret
add("HS256 with an empty secret", jwt('HS256', \'', { sub => 'mallory', exp => $exp }));

# a valid RS256 token to mangle
our $good = jwt('RS256', 'rsa1', { sub => 'alice', exp => $exp, roles => ['viewer'] }, { kid => 'rsa1' });
my ($h, $p, $s) = split /\./, $good;
add("padded signature", "$good=");
add("padded signature 2", "$h.$p.$s==");
add("standard base64 alphabet", "$h.$p." . ($s =~ tr/-_/+\//r));
(my $flip = $s) =~ s/(.)$/$1 eq 'A' ? 'B' : 'A'/e;
add("last signature character changed", "$h.$p.$flip");
add("trailing garbage", "$good" . "AAAA");
add("two segments", "$h.$p");
add("four segments", "$good.$s");
add("five segments", "$good.$p.$s");
add("empty payload", "$h..$s");
add("whitespace inside", "$h. $p.$s");
add("signature of another token", "$h." . b64u(qq({"sub":"mallory","exp":$exp})) . ".$s");

# kid games
add("kid path traversal", jwt('HS256', \'attacker', { sub => 'x', exp => $exp }, { kid => '../../../../../etc/passwd' }));
add("kid 10 KB", jwt('RS256', 'rsa1', { sub => 'x', exp => $exp }, { kid => 'k' x 10240 }));
add("kid a number", jwt_raw(qq({"alg":"RS256","kid":1}), $claims, 'RS256', 'rsa1'));
add("kid an object", jwt_raw(qq({"alg":"RS256","kid":{"a":"rsa1"}}), $claims, 'RS256', 'rsa1'));
add("kid null", jwt_raw(qq({"alg":"RS256","kid":null}), $claims, 'RS256', 'rsa1'));

# claims
add("exp a string", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":"$exp"}), 'RS256', 'rsa1'));
add("exp negative", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":-1}), 'RS256', 'rsa1'));
add("exp huge", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":1e400}), 'RS256', 'rsa1'));
add("exp huge integer", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":99999999999999999999999999}), 'RS256', 'rsa1'));
add("exp int64 max", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":9223372036854775807}), 'RS256', 'rsa1'));
add("exp an array", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":[$exp]}), 'RS256', 'rsa1'));
add("nbf huge", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":$exp,"nbf":1e30}), 'RS256', 'rsa1'));

# JSON games (correctly signed)
add("duplicate alg", jwt_raw(qq({"alg":"RS256","alg":"HS256"}), $claims, 'RS256', 'rsa1'));
add("duplicate exp", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","exp":1,"exp":$exp}), 'RS256', 'rsa1'));
add("duplicate sub escaped", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"x","s\\u0075b":"admin","exp":$exp}), 'RS256', 'rsa1'));
add("deeply nested payload", jwt_raw(qq({"alg":"RS256"}), qq({"exp":$exp,"x":) . ('[' x 1000) . (']' x 1000) . '}', 'RS256', 'rsa1'));
add("deeply nested header", jwt_raw(qq({"alg":"RS256","x":) . ('{"a":' x 100) . '1' . ('}' x 100) . '}', $claims, 'RS256', 'rsa1'));
add("payload not an object", jwt_raw(qq({"alg":"RS256"}), qq(["admin"]), 'RS256', 'rsa1'));
add("header with trailing data", jwt_raw(qq({"alg":"RS256"}x), $claims, 'RS256', 'rsa1'));
add("lone surrogate in a claim", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"\\ud800","exp":$exp}), 'RS256', 'rsa1'));
add("invalid UTF-8", jwt_raw(qq({"alg":"RS256"}), qq({"sub":"\xc0\xaf","exp":$exp}), 'RS256', 'rsa1'));

# headers we refuse or never follow
add("crit", jwt_raw(qq({"alg":"RS256","crit":["exp"]}), $claims, 'RS256', 'rsa1'));
add("typ JOSE", jwt_raw(qq({"alg":"RS256","typ":"JOSE"}), $claims, 'RS256', 'rsa1'));
add("nested JWT", jwt_raw(qq({"alg":"RS256","cty":"JWT"}), $claims, 'RS256', 'rsa1'));
add("embedded jwk of the attacker", jwt_raw(qq({"alg":"RS256","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}}), $claims, 'RS256', 'rsa2'));
add("jku to the attacker", jwt_raw(qq({"alg":"RS256","jku":"http://127.0.0.1:1/jwks"}), $claims, 'RS256', 'rsa2'));
add("x5u to the attacker", jwt_raw(qq({"alg":"RS256","x5u":"http://127.0.0.1:1/cert"}), $claims, 'RS256', 'rsa2'));

# key type and algorithm mismatches
add("ES256 claiming kid rsa1", jwt('ES256', 'ec256', { sub => 'x', exp => $exp }, { kid => 'rsa1' }));
add("PS256 signed as RS256", do { my $t = jwt('RS256', 'rsa1', { sub => 'x', exp => $exp }); my @s = split /\./, $t; b64u(qq({"alg":"PS256"})) . ".$s[1].$s[2]" });
add("EdDSA with the RSA key", jwt('EdDSA', 'ed25519', { sub => 'x', exp => $exp }, { kid => 'rsa1' }));

# size
add("past the size limit", jwt('RS256', 'rsa1', { sub => 'x', exp => $exp, pad => 'p' x 9000 }));
add("garbage", "\x01\x02\x03");
add("only dots", "..");
add("a JSON object", '{"alg":"none"}');

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every hostile token is refused with 401 invalid_token
--- http_config
    gateway_rbac_role admin *:*;
    gateway_rbac_role viewer orders:read;
--- config
    large_client_header_buffers 4 64k;
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        gateway_jwt_secret "top-secret";
        gateway_authorize orders:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_echo { return 200 "ok\n"; }
--- request eval
[map { "GET /t?case=$_" } 1 .. @main::H]
--- more_headers eval
[map { "Authorization: Bearer $_->[1]" } @main::H]
--- error_code eval
[(401) x @main::H]
--- response_headers_like eval
[('WWW-Authenticate: Bearer realm="api", error="invalid_token", error_description=".+"') x @main::H]
--- no_error_log
[alert]
[crit]
[emerg]



=== TEST 2: the same good token passes (the suite can fail)
--- http_config
    gateway_rbac_role viewer orders:read;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_file $TEST_NGINX_JWT_KEYS/rsa1.jwks;
        gateway_jwt_secret "top-secret";
        gateway_authorize orders:read;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_echo { return 200 "ok\n"; }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer $main::good"
--- error_code: 200

=== TEST 3: roles given as "viewer,admin" where admin is needed
--- http_config
    gateway_rbac_role admin orders:delete;
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        gateway_authorize orders:delete;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_echo { return 200 "ok\n"; }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . JwtMint::jwt('HS256', \'top-secret', { sub => 'x', exp => time + 3600, roles => ['viewer,admin'] })
--- error_code: 403



=== TEST 4: spoofed X-Gateway-* headers prove nothing
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_set_header X-Gateway-User $gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_echo { return 200 "user=$http_x_gateway_user\n"; }
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-Gateway-User: admin\nX-Gateway-JWT-Claim-Sub: admin\nX-Gateway-Verified: 1",
 "X-Gateway-User: admin\nAuthorization: Bearer " . JwtMint::jwt('HS256', \'top-secret', { sub => 'alice', exp => time + 3600 })]
--- error_code eval
[401, 200]
--- response_body_like eval
[qr/.*/, qr/^user=alice$/]



=== TEST 5: an empty bearer token is no token
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret "top-secret";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers
Authorization: Bearer    
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="api"



=== TEST 6: a secret variable that is empty refuses every token
--- config
    location /t {
        gateway_jwt "api";
        gateway_jwt_secret $http_x_secret;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/_echo;
    }
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . JwtMint::jwt('HS256', \'', { sub => 'x', exp => time + 3600 })
--- error_code: 401
