/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target, differential: the body canonicalisers.  The line-end
 * normaliser (msg_crlf_feed), the quoted-printable encoder (qp_encode)
 * and the UTF-8 check (qp_utf8_feed) are fed the input in chunks whose
 * sizes the first byte picks, and compared with simple references
 * written here: every line end one CRLF; QP that decodes to the input
 * with no line over 76 octets; UTF-8 as RFC 3629 defines it.
 */
#include <stdio.h>

#include "fuzz.h"
#include "msg.h"
#include "qp.h"

/* The size of chunk i for seed. */
static size_t
chunk(unsigned seed, size_t i, size_t left)
{
	size_t n = 1 + (seed * 7 + i * 13) % (seed % 64 + 1);

	return n < left ? n : left;
}

static size_t
ref_crlf(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
		} else
			out[o++] = (char)in[i];
	}
	return o;
}

static void
crlf(unsigned seed, const uint8_t *in, size_t n)
{
	char *a = malloc(2 * n + 1), *b = malloc(2 * n + 1);
	struct msg_crlf st = { 0 };
	size_t i = 0, k, o = 0, c;

	for (k = 0; i < n; k++, i += c) {
		c = chunk(seed, k, n - i);
		o += msg_crlf_feed(&st, (const char *)in + i, c, a + o);
	}
	if (o != ref_crlf(in, n, b) || memcmp(a, b, o) != 0)
		abort();
	free(a);
	free(b);
}

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	abort(); /* the encoder wrote lower case or junk */
}

/* Decode q (n bytes), checking its form; returns the decoded length. */
static size_t
ref_unqp(const char *q, size_t n, char *out)
{
	size_t i, o = 0, col = 0;

	for (i = 0; i < n; i++) {
		if (q[i] == '\r') {
			if (i + 1 >= n || q[i + 1] != '\n')
				abort();
			if (col > QP_LINE_MAX)
				abort();
			/* RFC 2045 6.7 (3): no white space before a break */
			if (i > 0 && (q[i - 1] == ' ' || q[i - 1] == '\t'))
				abort();
			out[o++] = '\r';
			out[o++] = '\n';
			i++;
			col = 0;
		} else if (q[i] == '=' && i + 1 < n && q[i + 1] == '\r') {
			if (i + 2 >= n || q[i + 2] != '\n' || col + 1 > 76)
				abort();
			i += 2;
			col = 0;
		} else if (q[i] == '=') {
			if (i + 2 >= n)
				abort();
			out[o++] = (char)(hex(q[i + 1]) * 16 + hex(q[i + 2]));
			i += 2;
			col += 3;
		} else if ((q[i] < 33 || q[i] > 126) && q[i] != ' ' &&
		    q[i] != '\t') {
			abort();
		} else {
			out[o++] = q[i];
			col++;
		}
	}
	if (col > QP_LINE_MAX)
		abort();
	return o;
}

static void
qp(unsigned seed, const uint8_t *in, size_t n)
{
	char *q = malloc(QP_OUT_MAX(n) + 16), *back = malloc(n + 1);
	struct qp_enc st = { 0 };
	size_t i = 0, k, o = 0, c;

	for (k = 0; i < n; k++, i += c) {
		c = chunk(seed, k, n - i);
		o += qp_encode(&st, (const char *)in + i, c, q + o);
	}
	o += qp_finish(&st, q + o);
	if (ref_unqp(q, o, back) != n || memcmp(back, in, n) != 0)
		abort();
	free(q);
	free(back);
}

/* RFC 3629 section 4, as a table of byte ranges. */
static int
ref_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0, k, len;
	uint8_t lo, hi;

	while (i < n) {
		lo = 0x80, hi = 0xbf;
		if (s[i] < 0x80)
			len = 1;
		else if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2;
		else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			len = 3;
			lo = s[i] == 0xe0 ? 0xa0 : 0x80;
			hi = s[i] == 0xed ? 0x9f : 0xbf;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			len = 4;
			lo = s[i] == 0xf0 ? 0x90 : 0x80;
			hi = s[i] == 0xf4 ? 0x8f : 0xbf;
		} else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if (s[i + k] < (k == 1 ? lo : 0x80) ||
			    s[i + k] > (k == 1 ? hi : 0xbf))
				return 0;
		}
		i += len;
	}
	return 1;
}

static void
utf8(unsigned seed, const uint8_t *in, size_t n)
{
	struct qp_utf8 st = { 0 };
	size_t i = 0, k, c;

	for (k = 0; i < n; k++, i += c) {
		c = chunk(seed, k, n - i);
		qp_utf8_feed(&st, (const char *)in + i, c);
	}
	if (qp_utf8_ok(&st) != ref_utf8(in, n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	crlf(data[0], data + 1, size - 1);
	qp(data[0], data + 1, size - 1);
	utf8(data[0], data + 1, size - 1);
	return 0;
}
