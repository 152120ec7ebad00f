package JwtMint;

# Mints JWTs for the tests with the keys in t/keys, independently of the
# module's own code: HMAC with Digest::SHA, everything else with the openssl
# command line tool. Also the pieces of nginx configuration the JWT suites
# share: the identity provider double, the key request, the echo upstream.
#
#   use FindBin; use lib $FindBin::Bin; use JwtMint;
#   my $t = jwt('RS256', 'rsa1', { sub => 'alice', exp => time + 3600 });
#   my $t = jwt('HS256', \'secret', { ... }, { kid => 'k1' });
#   my $t = jwt_raw('{"alg":"HS256"}', '{"sub":"x"}', 'HS256', \'secret');
#   $T{rsa1} = token_by('rsa1', sub => 'alice');   # a suite's tokens by name
#   --- more_headers eval
#   main::bearer('rsa1')

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempfile);
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);

use Exporter 'import';
our @EXPORT = qw(jwt jwt_raw jwt_sign b64u json_text keys_dir token_by
                 %T bearer idp_server key_request_config echo_location
                 add_echo_location);

my $Keys = dirname(abs_path(__FILE__)) . '/keys';

# what the configurations below name: t/keys, and the port of the identity
# provider double (default: the server port + 110)
$ENV{TEST_NGINX_JWT_KEYS} = $Keys;
$ENV{TEST_NGINX_IDP_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 110;

sub keys_dir { $Keys }

sub b64u { encode_base64url(shift) }

sub json_text {
    my $data = shift;
    return JSON::PP->new->canonical->encode($data);
}

sub _openssl {
    my ($input, @args) = @_;
    my ($fh, $file) = tempfile(UNLINK => 1);
    binmode $fh;
    print $fh $input;
    close $fh;
    # dgst takes the file as an operand, pkeyutl with -in
    my $cmd = join ' ', 'openssl', @args, ($args[0] eq 'dgst' ? () : '-in'), $file;
    my $out = `$cmd 2>/dev/null`;
    die "openssl failed: $cmd" if $? != 0;
    unlink $file;
    return $out;
}

# DER ECDSA-Sig-Value to the JOSE form r || s, each $size bytes.
sub _der_to_raw {
    my ($der, $size) = @_;
    my @b = unpack 'C*', $der;
    my $i = 0;
    die "not a SEQUENCE" unless $b[$i++] == 0x30;
    my $len = $b[$i++];
    $i += $len & 0x7f if $len & 0x80;
    my @parts;
    for (1 .. 2) {
        die "not an INTEGER" unless $b[$i++] == 0x02;
        my $l = $b[$i++];
        my @int = @b[$i .. $i + $l - 1];
        $i += $l;
        shift @int while @int > $size && $int[0] == 0;
        unshift @int, 0 while @int < $size;
        push @parts, pack 'C*', @int;
    }
    return $parts[0] . $parts[1];
}

my %EC_SIZE = (ES256 => 32, ES384 => 48, ES512 => 66);

# The signature of $input with alg and key (a key name in t/keys, or a
# reference to an HMAC secret).
sub jwt_sign {
    my ($alg, $key, $input) = @_;
    if ($alg =~ /^HS(\d+)$/) {
        my $secret = ref $key ? $$key : $key;
        return hmac_sha256($input, $secret) if $1 == 256;
        return hmac_sha384($input, $secret) if $1 == 384;
        return hmac_sha512($input, $secret);
    }
    my $file = "$Keys/$key.key";
    if ($alg =~ /^RS(\d+)$/) {
        return _openssl($input, 'dgst', "-sha$1", '-sign', $file);
    }
    if ($alg =~ /^PS(\d+)$/) {
        return _openssl($input, 'dgst', "-sha$1", '-sign', $file,
                        '-sigopt', 'rsa_padding_mode:pss',
                        '-sigopt', 'rsa_pss_saltlen:digest');
    }
    if ($alg =~ /^ES(\d+)$/) {
        my $der = _openssl($input, 'dgst', "-sha$1", '-sign', $file);
        return _der_to_raw($der, $EC_SIZE{$alg});
    }
    if ($alg eq 'EdDSA') {
        return _openssl($input, 'pkeyutl', '-sign', '-rawin', '-inkey', $file);
    }
    die "unknown alg $alg";
}

# A token from header and payload texts as given (so tests can send
# duplicate keys and other hostile JSON); $sign_alg picks the signature.
sub jwt_raw {
    my ($header, $payload, $sign_alg, $key) = @_;
    my $input = b64u($header) . '.' . b64u($payload);
    return $input . '.' . b64u(jwt_sign($sign_alg, $key, $input));
}

sub jwt {
    my ($alg, $key, $claims, $header) = @_;
    my %h = (alg => $alg, typ => 'JWT', %{ $header // {} });
    delete $h{typ} if exists $header->{typ} && !defined $header->{typ};
    return jwt_raw(json_text(\%h), json_text($claims // {}), $alg, $key);
}

# The tokens of a suite, by name, and the header that sends one.
our %T;

sub bearer { "Authorization: Bearer $T{$_[0]}" }

my %KEY_ALG = (ec256 => 'ES256', ec384 => 'ES384', ec521 => 'ES512',
               ed25519 => 'EdDSA');

# A token signed with the key $key of t/keys (RS256 for an RSA key) and
# naming it as its kid, valid for an hour unless the claims say otherwise.
sub token_by {
    my ($key, %claims) = @_;
    return jwt($KEY_ALG{$key} // 'RS256', $key,
               { exp => time + 3600, %claims }, { kid => $key });
}

# http{} text: the identity provider double on $TEST_NGINX_IDP_PORT. It
# serves every JWKS of t/keys at /jwks/NAME, and replies no provider
# should give at /jwks/garbage, /jwks/broken (a 500) and /jwks/empty.
sub idp_server { <<'_EOC_' }
    server {
        listen 127.0.0.1:$TEST_NGINX_IDP_PORT;
        location ~ ^/jwks/(?<set>\w+)$ {
            default_type application/json;
            alias $TEST_NGINX_JWT_KEYS/$set.jwks;
        }
        location = /jwks/garbage { return 200 "{\"keys\": [garbage"; }
        location = /jwks/broken { return 500; }
        location = /jwks/empty { return 200 '{"keys":[]}'; }
    }
_EOC_

# server{} text: location /t verifies tokens (realm "api") with the keys
# its gateway_jwt_key_request fetches from $jwks (a path on the provider
# double, or a URL) and passes the sub claim on to /_echo. $directives
# (lines of text) go into /t too.
sub key_request_config {
    my ($jwks, $directives) = @_;
    $jwks = "http://127.0.0.1:\$TEST_NGINX_IDP_PORT$jwks" if $jwks =~ m{^/};
    my $more = join '', map { "        $_\n" } grep { /\S/ }
                        map { s/^\s+|\s+$//gr } split /\n/, $directives // '';
    return <<"_EOC_";
    location /t {
        gateway_jwt "api";
        gateway_jwt_key_request /_jwks;
$more        proxy_set_header X-Sub \$gateway_jwt_claim_sub;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/_echo;
    }
    location = /_jwks {
        internal;
        proxy_pass $jwks;
    }
_EOC_
}

# server{} text: /_echo, where the suites' locations proxy to, shows the
# sub claim it was given.
sub echo_location { <<'_EOC_' }
    location = /_echo {
        return 200 "sub=$http_x_sub\n";
    }
_EOC_

# Appends echo_location() to the config of every block that has one (a
# block preprocessor of Test::Nginx, for the suites that run with it).
sub add_echo_location {
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        $block->set_value('config', $block->config . echo_location())
            if defined $block->config;
    });
}

1;
