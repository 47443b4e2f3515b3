/* SPDX-License-Identifier: ISC */
/*
 * Base64 for SASL (RFC 4954 4) through GnuTLS's coder, into buffers of
 * our own that are wiped when freed: what is coded is often a password.
 */
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "base64.h"

/* A malloc'ed copy of d with a NUL after it; d is wiped and freed. */
static int
take(gnutls_datum_t *d, char **out, size_t *len)
{
	char *p = malloc((size_t)d->size + 1);

	if (p != NULL) {
		memcpy(p, d->data, d->size);
		p[d->size] = '\0';
		if (len != NULL)
			*len = d->size;
	}
	gnutls_memset(d->data, 0, d->size);
	gnutls_free(d->data);
	*out = p;
	return p != NULL ? 0 : -1;
}

int
b64_encode(const void *raw, size_t len, char **out)
{
	gnutls_datum_t in = { (unsigned char *)raw, (unsigned int)len };
	gnutls_datum_t res = { NULL, 0 };

	*out = NULL;
	if (len == 0)
		return (*out = strdup("")) != NULL ? 0 : -1;
	if (len > 0xffffffu / 2 || gnutls_base64_encode2(&in, &res) < 0)
		return -1;
	return take(&res, out, NULL);
}

int
b64_decode(const char *in, char **out, size_t *len)
{
	gnutls_datum_t b64 = { (unsigned char *)in, (unsigned int)strlen(in) };
	gnutls_datum_t res = { NULL, 0 };

	*out = NULL;
	*len = 0;
	if (b64.size == 0)
		return (*out = strdup("")) != NULL ? 0 : -1;
	if (gnutls_base64_decode2(&b64, &res) < 0)
		return -1;
	return take(&res, out, len);
}
