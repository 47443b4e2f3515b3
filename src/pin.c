/* SPDX-License-Identifier: ISC */
/*
 * Public key pins (tls_pin, security.md S17): "sha256//" and the base64
 * of the SHA-256 of a certificate's DER SubjectPublicKeyInfo, the form
 * curl's --pinnedpubkey takes; several, for a key rollover, are separated
 * by ";".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "pin.h"

/* Pins: "sha256//" and the base64 of the SHA-256 of the DER
 * SubjectPublicKeyInfo, as curl's --pinnedpubkey writes them, or the
 * same digest as gnutls-cli prints it ("pin-sha256:"); several are
 * separated by ";" (a key rollover). */

#define PIN_B64_LEN 44
#define PIN_GNUTLS "pin-sha256:"

/* Decode the pin of n bytes at p into out; -1 when malformed. */
static int
pin_decode(const char *p, size_t n, unsigned char out[32])
{
	size_t plen = strlen(PIN_PREFIX);
	gnutls_datum_t in, raw = { NULL, 0 };
	int ok;

	if (n == strlen(PIN_GNUTLS) + PIN_B64_LEN &&
	    strncmp(p, PIN_GNUTLS, strlen(PIN_GNUTLS)) == 0)
		plen = strlen(PIN_GNUTLS);
	else if (n != plen + PIN_B64_LEN || strncmp(p, PIN_PREFIX, plen) != 0)
		return -1;
	in.data = (unsigned char *)(uintptr_t)(p + plen);
	in.size = PIN_B64_LEN;
	if (gnutls_base64_decode2(&in, &raw) < 0)
		return -1;
	ok = raw.size == 32;
	if (ok)
		memcpy(out, raw.data, 32);
	gnutls_free(raw.data);
	return ok ? 0 : -1;
}

/* The next pin of the list at p: its start, and its length in *n. */
static const char *
pin_next(const char *p, size_t *n)
{
	p += strspn(p, "; \t");
	*n = strcspn(p, "; \t");
	return p;
}

int
pin_check(const char *v, char *why, size_t sz)
{
	unsigned char d[32];
	const char *p = v;
	size_t n;
	int count = 0;

	while (*(p = pin_next(p, &n)) != '\0') {
		if (pin_decode(p, n, d) == -1) {
			snprintf(why, sz,
			    "\"%.*s\" is not a pin (write sha256// and the 44 base64 characters that mailhop --serverinfo prints)",
			    (int)(n > 60 ? 60 : n), p);
			return -1;
		}
		count++;
		p += n;
	}
	if (count == 0) {
		snprintf(why, sz,
		    "empty (write the pin that mailhop --serverinfo prints)");
		return -1;
	}
	return 0;
}

int
pin_listed(const char *list, const char *seen)
{
	unsigned char want[32], got[32];
	const char *p = list;
	size_t n;

	if (pin_decode(seen, strlen(seen), got) == -1)
		return 0;
	while (*(p = pin_next(p, &n)) != '\0') {
		if (pin_decode(p, n, want) == 0 &&
		    gnutls_memcmp(want, got, sizeof(got)) == 0)
			return 1;
		p += n;
	}
	return 0;
}

int
pin_cert(const gnutls_datum_t *der, char *out, size_t sz)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_pubkey_t pk = NULL;
	gnutls_datum_t spki = { NULL, 0 }, raw, b64 = { NULL, 0 };
	unsigned char dig[32];
	int r = -1;

	if (gnutls_x509_crt_init(&crt) == 0 &&
	    gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) == 0 &&
	    gnutls_pubkey_init(&pk) == 0 &&
	    gnutls_pubkey_import_x509(pk, crt, 0) == 0 &&
	    gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &spki) == 0 &&
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, dig) ==
		0) {
		raw.data = dig;
		raw.size = sizeof(dig);
		if (gnutls_base64_encode2(&raw, &b64) == 0 &&
		    b64.size >= PIN_B64_LEN &&
		    (size_t)snprintf(out, sz, "%s%.*s", PIN_PREFIX, PIN_B64_LEN,
			(const char *)b64.data) < sz)
			r = 0;
	}
	gnutls_free(b64.data);
	gnutls_free(spki.data);
	if (pk != NULL)
		gnutls_pubkey_deinit(pk);
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return r;
}
