#!/usr/bin/perl
# Writes the JWKS files used by the tests from the PEM keys beside it.
use strict;
use warnings;
use MIME::Base64 qw(encode_base64url);

sub hexbytes { my $h = shift; $h =~ s/[^0-9a-f]//gi; return pack('H*', $h); }

sub rsa_jwk {
    my ($file, $kid) = @_;
    my $mod = `openssl rsa -pubin -in $file -noout -modulus`;
    $mod =~ s/^Modulus=//; chomp $mod;
    my $n = hexbytes($mod);
    return qq({"kty":"RSA","kid":"$kid","use":"sig","n":") . encode_base64url($n)
        . qq(","e":"AQAB"});
}

sub ec_jwk {
    my ($file, $kid, $crv, $size) = @_;
    my $text = `openssl pkey -pubin -in $file -noout -text`;
    my ($pub) = $text =~ /pub:\s*\n((?:\s+[0-9a-f:]+\n)+)/;
    my $bytes = hexbytes($pub);
    die "not uncompressed" unless substr($bytes, 0, 1) eq "\x04";
    my $x = substr($bytes, 1, $size);
    my $y = substr($bytes, 1 + $size, $size);
    return qq({"kty":"EC","kid":"$kid","crv":"$crv","x":") . encode_base64url($x)
        . qq(","y":") . encode_base64url($y) . qq("});
}

sub ed_jwk {
    my ($file, $kid) = @_;
    my $text = `openssl pkey -pubin -in $file -noout -text`;
    my ($pub) = $text =~ /pub:\s*\n((?:\s+[0-9a-f:]+\n)+)/;
    return qq({"kty":"OKP","kid":"$kid","crv":"Ed25519","x":") . encode_base64url(hexbytes($pub)) . qq("});
}

sub oct_jwk {
    my ($secret, $kid) = @_;
    return qq({"kty":"oct","kid":"$kid","k":") . encode_base64url($secret) . qq("});
}

sub write_file {
    my ($name, @keys) = @_;
    open my $fh, '>', $name or die $!;
    print $fh qq({"keys":[\n  ) . join(",\n  ", @keys) . qq(\n]}\n);
    close $fh;
}

write_file('all.jwks',
    rsa_jwk('rsa1.pub', 'rsa1'), rsa_jwk('rsa2.pub', 'rsa2'),
    ec_jwk('ec256.pub', 'ec256', 'P-256', 32), ec_jwk('ec384.pub', 'ec384', 'P-384', 48),
    ec_jwk('ec521.pub', 'ec521', 'P-521', 66), ed_jwk('ed25519.pub', 'ed25519'),
    oct_jwk('hmac-secret-of-the-jwks-32-bytes', 'oct1'));
write_file('rsa1.jwks', rsa_jwk('rsa1.pub', 'rsa1'));
write_file('rsa2.jwks', rsa_jwk('rsa2.pub', 'rsa2'));
write_file('rotation.jwks', rsa_jwk('rsa1.pub', 'rsa1'), rsa_jwk('rsa2.pub', 'rsa2'));
write_file('ec.jwks', ec_jwk('ec256.pub', 'ec256', 'P-256', 32));
