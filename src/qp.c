/* SPDX-License-Identifier: ISC */
/*
 * Encodings that keep a message within what SMTP carries: a streaming
 * quoted-printable encoder for bodies with over-long lines (RFC 2045), a
 * UTF-8 check for the charset it declares, display names as RFC 5322
 * phrases or RFC 2047 encoded words, and folding of long header lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qp.h"

/* Longest header line RFC 5322 section 2.1.1 allows, without CRLF. */
#define HEADER_LINE_MAX 998
/* Text of one encoded word: 75 octets less "=?UTF-8?Q?" and "?=". */
#define WORD_TEXT_MAX (75 - 12)

static const char hexdig[] = "0123456789ABCDEF";

/* Put k octets of tok on the line, after a soft line break ("=" CRLF)
 * when they would not fit before the "=" (RFC 2045 section 6.7 (5)). */
static size_t
put(struct qp_enc *st, char *out, const char *tok, size_t k)
{
	size_t o = 0;

	if (st->col + k > QP_LINE_MAX - 1) {
		memcpy(out, "=\r\n", 3);
		o = 3;
		st->col = 0;
	}
	memcpy(out + o, tok, k);
	st->col += k;
	return o + k;
}

static size_t
put_code(struct qp_enc *st, char *out, unsigned char c)
{
	char tok[3] = { '=', hexdig[c >> 4], hexdig[c & 15] };

	return put(st, out, tok, 3);
}

/* A held space or tab that has text after it on its line is literal. */
static size_t
flush_pend(struct qp_enc *st, char *out)
{
	char c = (char)st->pend;

	if (st->pend == 0)
		return 0;
	st->pend = 0;
	return put(st, out, &c, 1);
}

static size_t
encode_byte(struct qp_enc *st, unsigned char c, char *out)
{
	size_t o = 0;
	char lit = (char)c;

	if (st->cr) {
		st->cr = 0;
		if (c == '\n') {
			/* White space at the end of a line is encoded (rule
			 * 3): transports may strip it. */
			if (st->pend != 0)
				o += put_code(st, out, (unsigned char)st->pend);
			st->pend = 0;
			memcpy(out + o, "\r\n", 2);
			st->col = 0;
			return o + 2;
		}
		o += flush_pend(st, out);
		o += put_code(st, out + o, '\r');
	}
	if (c == '\r') {
		st->cr = 1;
		return o;
	}
	o += flush_pend(st, out + o);
	if (c == ' ' || c == '\t')
		st->pend = c;
	else if (c >= 33 && c <= 126 && c != '=')
		o += put(st, out + o, &lit, 1);
	else
		o += put_code(st, out + o, c);
	return o;
}

size_t
qp_encode(struct qp_enc *st, const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++)
		o += encode_byte(st, (unsigned char)in[i], out + o);
	return o;
}

size_t
qp_finish(struct qp_enc *st, char *out)
{
	size_t o = 0;

	if (st->cr) {
		st->cr = 0;
		o += flush_pend(st, out);
		o += put_code(st, out + o, '\r');
	}
	if (st->pend != 0)
		o += put_code(st, out + o, (unsigned char)st->pend);
	st->pend = 0;
	return o;
}

static void
utf8_lead(struct qp_utf8 *st, unsigned char c)
{
	if (c < 0x80)
		return;
	if ((c & 0xe0) == 0xc0) {
		st->need = 1;
		st->cp = c & 0x1f;
		st->min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		st->need = 2;
		st->cp = c & 0x0f;
		st->min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		st->need = 3;
		st->cp = c & 0x07;
		st->min = 0x10000;
	} else
		st->bad = 1;
}

void
qp_utf8_feed(struct qp_utf8 *st, const char *p, size_t n)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < n && !st->bad; i++) {
		c = (unsigned char)p[i];
		if (st->need == 0) {
			utf8_lead(st, c);
			continue;
		}
		if ((c & 0xc0) != 0x80) {
			st->bad = 1;
			break;
		}
		st->cp = st->cp << 6 | (c & 0x3f);
		if (--st->need == 0 &&
		    (st->cp < st->min || st->cp > 0x10ffff ||
			(st->cp >= 0xd800 && st->cp <= 0xdfff)))
			st->bad = 1;
	}
}

int
qp_utf8_ok(const struct qp_utf8 *st)
{
	return !st->bad && st->need == 0;
}

/* atext of RFC 5322 section 3.2.3, in ASCII. */
static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* May byte c stand for itself in a Q-encoded phrase (RFC 2047 5 (3))?
 * A space is written "_"; "=", "?" and "_" are encoded. */
static int
q_plain(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!*+-/", c) != NULL;
}

static size_t
q_len(unsigned char c)
{
	return c == ' ' || q_plain(c) ? 1 : 3;
}

/* Length of the UTF-8 sequence led by c (valid input). */
static size_t
seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

static size_t
q_put(char *out, unsigned char c)
{
	if (c == ' ') {
		*out = '_';
		return 1;
	}
	if (q_plain(c)) {
		*out = (char)c;
		return 1;
	}
	out[0] = '=';
	out[1] = hexdig[c >> 4];
	out[2] = hexdig[c & 15];
	return 3;
}

/* s (valid UTF-8) as encoded words, each cut between characters. */
static char *
encode_words(const char *s)
{
	size_t n = strlen(s), i, j, k, cl, wl = 0, o = 0;
	char *out = malloc(3 * n + 14 * (n + 1) + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < n; i += k) {
		k = seq_len((unsigned char)s[i]);
		k = i + k <= n ? k : n - i;
		for (j = 0, cl = 0; j < k; j++)
			cl += q_len((unsigned char)s[i + j]);
		if (o == 0 || wl + cl > WORD_TEXT_MAX) {
			if (o != 0)
				o += (size_t)sprintf(out + o, "?= ");
			o += (size_t)sprintf(out + o, "=?UTF-8?Q?");
			wl = 0;
		}
		wl += cl;
		for (j = 0; j < k; j++)
			o += q_put(out + o, (unsigned char)s[i + j]);
	}
	strcpy(out + o, "?=");
	return out;
}

/* s (printable ASCII) as one quoted string (RFC 5322 section 3.2.4). */
static char *
quote(const char *s)
{
	char *out = malloc(2 * strlen(s) + 3), *o = out;

	if (out == NULL)
		return NULL;
	*o++ = '"';
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '"';
	*o = '\0';
	return out;
}

/* Words of atext separated by spaces, which would not read as an
 * encoded word (RFC 2047 section 6.1). */
static int
plain_words(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s != ' ' && !is_atext((unsigned char)*s))
			return 0;
	return 1;
}

static char *
render_phrase(const char *s)
{
	struct qp_utf8 u = { 0 };
	const char *p;

	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			break;
	if (*p == '\0')
		return plain_words(s) && strstr(s, "=?") == NULL ? strdup(s)
								 : quote(s);
	qp_utf8_feed(&u, s, strlen(s));
	if (!qp_utf8_ok(&u)) {
		errno = EILSEQ;
		return NULL;
	}
	return encode_words(s);
}

char *
qp_phrase(const char *name)
{
	char *s = strdup(name), *p, *start, *out;
	size_t n;

	if (s == NULL)
		return NULL;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	start = s + strspn(s, " ");
	n = strlen(start);
	while (n > 0 && start[n - 1] == ' ')
		start[--n] = '\0';
	if (n == 0) {
		free(s);
		errno = EINVAL;
		return NULL;
	}
	out = render_phrase(start);
	free(s);
	return out;
}

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The last WSP at an offset in [lo, hi] of l, or 0 (lo is over 0). */
static size_t
find_break(const char *l, size_t lo, size_t hi)
{
	size_t b;

	for (b = hi + 1; b > lo; b--)
		if (is_wsp(l[b - 1]))
			return b - 1;
	return 0;
}

/* Fold one line l of n octets (without its CRLF, which follows it) into
 * o, with its CRLF.  A break at b puts CRLF before the WSP l[b]; text must
 * stay on both sides of it, and with minb (the value's offset) the first
 * line keeps the value's first word.  Returns the
 * octets written, or 0 when the line cannot be brought within 998. */
static size_t
fold_line(const char *l, size_t n, size_t minb, size_t soft, char *o)
{
	size_t pos = 0, b, w = 0, lastns = n, lo, hi;

	while (lastns > 0 && is_wsp(l[lastns - 1]))
		lastns--;
	/* The first line keeps a word of the value, not just the name. */
	if (minb > 0)
		minb += strspn(l + minb, " \t") + 1;
	while (n - pos > soft) {
		lo = pos + strspn(l + pos, " \t") + 1;
		lo = lo > minb ? lo : minb;
		hi = lastns < 2 ? 0 : lastns - 2;
		b = find_break(l, lo, pos + soft < hi ? pos + soft : hi);
		if (b == 0 && n - pos <= HEADER_LINE_MAX)
			break;
		if (b == 0)
			b = find_break(l, lo,
			    pos + HEADER_LINE_MAX < hi ? pos + HEADER_LINE_MAX
						       : hi);
		if (b == 0)
			return 0;
		memcpy(o + w, l + pos, b - pos);
		memcpy(o + w + b - pos, "\r\n", 2);
		w += b - pos + 2;
		pos = b;
	}
	memcpy(o + w, l + pos, n - pos);
	memcpy(o + w + n - pos, "\r\n", 2);
	return w + n - pos + 2;
}

static int
needs_fold(const char *f, size_t len, size_t trigger)
{
	const char *p = f, *e = f + len, *cr;

	for (; p < e; p = cr + 2) {
		cr = memchr(p, '\r', (size_t)(e - p));
		if (cr == NULL)
			cr = e - 2;
		if ((size_t)(cr - p) > trigger)
			return 1;
	}
	return 0;
}

int
qp_fold(const char *f, size_t len, size_t value, size_t trigger, size_t soft,
    char **out, size_t *outlen)
{
	size_t ls = 0, n, w = 0, k;
	const char *cr;
	char *o;

	*out = NULL;
	*outlen = 0;
	if (!needs_fold(f, len, trigger))
		return 0;
	if ((o = malloc(3 * len + 8)) == NULL)
		return -1;
	for (ls = 0; ls < len; ls += n + 2) {
		cr = memchr(f + ls, '\r', len - ls);
		n = cr != NULL ? (size_t)(cr - (f + ls)) : len - ls;
		if (n <= trigger) {
			memcpy(o + w, f + ls, n + 2);
			w += n + 2;
			continue;
		}
		k = fold_line(f + ls, n, ls == 0 ? value : 0, soft, o + w);
		if (k == 0) {
			free(o);
			errno = EINVAL;
			return -1;
		}
		w += k;
	}
	*out = o;
	*outlen = w;
	return 0;
}
