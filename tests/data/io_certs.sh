#!/bin/sh
# SPDX-License-Identifier: ISC
# Regenerate the test certificates test_io.c uses (certtool, gnutls-bin):
# io_ca.pem signs io_server.pem (localhost, 127.0.0.1); io_other_ca.pem
# signs nothing, for the "issuer unknown" case; io_wild_ca.pem signs
# io_wild.pem (*.example.org only), for the wildcard cases.  Valid for
# 100 years.
set -e
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf 'cn = "mailhop test CA"\nca\ncert_signing_key\nexpiration_days = 36500\n' \
    >"$tmp/ca.tmpl"
printf 'cn = "mailhop other CA"\nca\ncert_signing_key\nexpiration_days = 36500\n' \
    >"$tmp/other.tmpl"
printf '%s\n' 'cn = "localhost"' 'dns_name = "localhost"' \
    'ip_address = "127.0.0.1"' tls_www_server signing_key encryption_key \
    'expiration_days = 36500' >"$tmp/server.tmpl"

certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$tmp/ca.key"
certtool --generate-self-signed --no-text --load-privkey "$tmp/ca.key" \
    --template "$tmp/ca.tmpl" --outfile io_ca.pem
certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$tmp/other.key"
certtool --generate-self-signed --no-text --load-privkey "$tmp/other.key" \
    --template "$tmp/other.tmpl" --outfile io_other_ca.pem
certtool --generate-privkey --key-type=ecdsa --no-text --outfile io_server.key
certtool --generate-certificate --no-text --load-privkey io_server.key \
    --load-ca-certificate io_ca.pem --load-ca-privkey "$tmp/ca.key" \
    --template "$tmp/server.tmpl" --outfile io_server.pem

# The wildcard pair (the part below the mark runs alone too).
# --- wildcard
printf 'cn = "mailhop wildcard test CA"\nca\ncert_signing_key\nexpiration_days = 36500\n' \
    >"$tmp/wild_ca.tmpl"
printf '%s\n' 'cn = "*.example.org"' 'dns_name = "*.example.org"' \
    tls_www_server signing_key encryption_key 'expiration_days = 36500' \
    >"$tmp/wild.tmpl"
certtool --generate-privkey --key-type=ecdsa --no-text --outfile "$tmp/wild_ca.key"
certtool --generate-self-signed --no-text --load-privkey "$tmp/wild_ca.key" \
    --template "$tmp/wild_ca.tmpl" --outfile io_wild_ca.pem
certtool --generate-privkey --key-type=ecdsa --no-text --outfile io_wild.key
certtool --generate-certificate --no-text --load-privkey io_wild.key \
    --load-ca-certificate io_wild_ca.pem --load-ca-privkey "$tmp/wild_ca.key" \
    --template "$tmp/wild.tmpl" --outfile io_wild.pem
