/* SPDX-License-Identifier: ISC */
/*
 * The server's side of the SMTP wire format: replies (RFC 5321 4.2) are
 * gathered line by line under caps on lines and size, flattened to one
 * line for errors and the log, and an EHLO reply is read into the
 * capabilities the session acts on.  No I/O here.
 */

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "err.h"
#include "reply.h"

/* Reply parser (RFC 5321 4.2) */

void
reply_init(struct reply *r)
{
	r->code = 0;
	r->nlines = 0;
	r->len = 0;
	r->text[0] = '\0';
}

static int
malformed(const char *line, size_t len, const char *why, struct err *rec)
{
	char shown[120];

	err_sanitize(shown, sizeof(shown), line, len);
	err_set(rec, ERR_PERM, EX_PROTOCOL,
	    "server sent a malformed reply (%s): %s", why, shown);
	err_reply(rec, line, len);
	return -1;
}

/* Reply-code = %x32-35 %x30-35 %x30-39 (RFC 5321 4.2); -1 otherwise. */
static int
code_of(const char *l)
{
	if (l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '5' ||
	    l[2] < '0' || l[2] > '9')
		return -1;
	return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
}

int
reply_line(struct reply *r, const char *line, size_t len, struct err *rec)
{
	size_t tlen = len > 4 ? len - 4 : 0;
	int code;

	if (len < 3 || (code = code_of(line)) == -1)
		return malformed(line, len, "no reply code", rec);
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return malformed(line, len, "no space after the code", rec);
	if (memchr(line, '\0', len) != NULL)
		return malformed(line, len, "NUL byte", rec);
	/* RFC 5321 4.2.1: every line of a reply carries the same code. */
	if (r->nlines > 0 && code != r->code)
		return malformed(line, len, "code changed within a reply", rec);
	if (r->nlines >= REPLY_LINES_MAX)
		return malformed(line, len, "over 1000 lines", rec);
	if (r->len + 1 + tlen >= REPLY_TEXT_MAX)
		return malformed(line, len, "reply over 64 KiB", rec);
	if (r->nlines > 0)
		r->text[r->len++] = '\n';
	memcpy(r->text + r->len, line + 4, tlen);
	r->len += tlen;
	r->text[r->len] = '\0';
	r->code = code;
	r->nlines++;
	return len == 3 || line[3] == ' ';
}

size_t
reply_flatten(const struct reply *r, char *dst, size_t sz)
{
	size_t n = r->len, hdr, i;
	int w;

	w = snprintf(dst, sz, "%03d%s", r->code, r->len > 0 ? " " : "");
	if (w < 0 || (size_t)w >= sz)
		return strlen(dst);
	hdr = (size_t)w;
	if (n > sz - hdr - 1)
		n = sz - hdr - 1;
	memcpy(dst + hdr, r->text, n);
	for (i = 0; i < n; i++)
		if (dst[hdr + i] == '\n')
			dst[hdr + i] = ' ';
	dst[hdr + n] = '\0';
	return hdr + n;
}

int
reply_fail(const struct reply *r, const char *what, const char *note,
    int permcode, struct err *rec)
{
	char flat[1024], shown[ERR_REPLY_MAX];
	size_t n = reply_flatten(r, flat, sizeof(flat));

	err_sanitize(shown, sizeof(shown), flat, n);
	if (r->code / 100 == 4)
		err_set(
		    rec, ERR_TEMP, EX_TEMPFAIL, "%s: %s%s", what, shown, note);
	else if (r->code / 100 == 5)
		err_set(rec, ERR_PERM, permcode, "%s: %s%s", what, shown, note);
	else
		err_set(rec, ERR_PERM, EX_PROTOCOL, "%s: unexpected reply %s%s",
		    what, shown, note);
	err_reply(rec, flat, n);
	return -1;
}

/* Capabilities (EHLO keywords compared whole, case-insensitively) */

static const struct {
	const char *name;
	unsigned flag;
} cap_names[] = {
	{ "PIPELINING", REPLY_CAP_PIPELINING },
	{ "STARTTLS", REPLY_CAP_STARTTLS },
	{ "8BITMIME", REPLY_CAP_8BITMIME },
	{ "SMTPUTF8", REPLY_CAP_SMTPUTF8 },
	{ "DSN", REPLY_CAP_DSN },
	{ "CHUNKING", REPLY_CAP_CHUNKING },
	{ "ENHANCEDSTATUSCODES", REPLY_CAP_ENHANCED },
	{ "AUTH", REPLY_CAP_AUTH },
	{ "SIZE", REPLY_CAP_SIZE },
};

/* Append each mechanism of p (n bytes) that fits whole: a cut token could
 * read as a shorter mechanism's name. */
static void
caps_auth(struct reply_caps *c, const char *p, size_t n)
{
	size_t used = strlen(c->auth), t;

	while (n > 0) {
		if (*p == ' ') {
			p++, n--;
			continue;
		}
		for (t = 0; t < n && p[t] != ' '; t++)
			;
		if (used + 1 + t < sizeof(c->auth)) {
			if (used > 0)
				c->auth[used++] = ' ';
			memcpy(c->auth + used, p, t);
			used += t;
			c->auth[used] = '\0';
		}
		p += t, n -= t;
	}
}

/* SIZE's argument (RFC 1870 4); -1 when absent, malformed or too big. */
static long long
caps_size(const char *p, size_t n)
{
	long long v = 0;
	size_t i = 0;

	while (i < n && p[i] == ' ')
		i++;
	if (i == n)
		return -1;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' ||
		    v > (LLONG_MAX - (p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static void
caps_line(struct reply_caps *c, const char *p, size_t n)
{
	size_t kw, i;

	for (kw = 0; kw < n && p[kw] != ' '; kw++)
		;
	/* The pre-RFC 4954 form "AUTH=LOGIN PLAIN" some servers still send. */
	if (kw > 5 && strncasecmp(p, "AUTH=", 5) == 0) {
		c->flags |= REPLY_CAP_AUTH;
		caps_auth(c, p + 5, n - 5);
		return;
	}
	for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++)
		if (strlen(cap_names[i].name) == kw &&
		    strncasecmp(p, cap_names[i].name, kw) == 0)
			c->flags |= cap_names[i].flag;
	if (kw == 4 && strncasecmp(p, "AUTH", 4) == 0)
		caps_auth(c, p + kw, n - kw);
	if (kw == 4 && strncasecmp(p, "SIZE", 4) == 0)
		c->size = caps_size(p + kw, n - kw);
}

void
reply_caps_parse(struct reply_caps *c, const struct reply *r)
{
	const char *p = r->text, *end = r->text + r->len, *nl;

	memset(c, 0, sizeof(*c));
	c->size = -1;
	/* The first line is the server's name, not a keyword. */
	nl = memchr(p, '\n', (size_t)(end - p));
	while (nl != NULL) {
		p = nl + 1;
		nl = memchr(p, '\n', (size_t)(end - p));
		caps_line(c, p, (size_t)((nl != NULL ? nl : end) - p));
	}
}
