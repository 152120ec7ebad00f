#!/bin/sh
# Regenerates the test keys (private keys here are for tests only).
# JWKS files are derived from them by jwks.pl.
set -e
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa1.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2.key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.key
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out ec521.key
openssl genpkey -algorithm ED25519 -out ed25519.key
for k in rsa1 rsa2 rsa1024 ec256 ec384 ec521 ed25519; do
    openssl pkey -in $k.key -pubout -out $k.pub
done
openssl rsa -in rsa1.key -RSAPublicKey_out -out rsa1.pkcs1.pub 2>/dev/null
perl jwks.pl
