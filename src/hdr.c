/* SPDX-License-Identifier: ISC */
/*
 * Header fields: names, the fields mailhop adds (Date, Message-ID, From
 * with a -F display name), and what MIME-Version, Content-Type and
 * Content-Transfer-Encoding say about the body, for msg.c, which decides
 * from them whether a body with long lines may become quoted-printable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sysexits.h>
#include <unistd.h>

#include "hdr.h"
#include "qp.h"

/* Random bytes in a new Message-ID (96 bits). */
#define MSGID_RANDOM 12
/* Lines of an added From aim at this (RFC 5322 section 2.1.1). */
#define FROM_SOFT 78

size_t
hdr_field_name(const char *l, size_t len, size_t *value)
{
	size_t i = 0, n;

	while (i < len && l[i] >= 33 && l[i] <= 126 && l[i] != ':')
		i++;
	n = i;
	while (i < len && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (n == 0 || i == len || l[i] != ':')
		return 0;
	*value = i + 1;
	return n;
}

int
hdr_name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

int
hdr_name_in(const char *name, size_t n, const char *const names[])
{
	for (; *names != NULL; names++)
		if (hdr_name_is(name, n, *names))
			return 1;
	return 0;
}

int
hdr_is_mbox_from(const char *l, size_t len)
{
	return (len >= 5 && memcmp(l, "From ", 5) == 0) ||
	    (len >= 6 && memcmp(l, ">From ", 6) == 0);
}

void
hdr_date(time_t t, char *buf, size_t sz)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
		"Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
		"Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL) {
		gmtime_r(&t, &tm);
		tm.tm_gmtoff = 0;
	}
	off = tm.tm_gmtoff / 60;
	snprintf(buf, sz, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
	    labs(off) / 60, labs(off) % 60);
}

/* A right-hand side fit for a msg-id (RFC 5322 section 3.6.4): a
 * dot-atom-text in ASCII, or a literal in brackets. */
static int
id_domain_ok(const char *d)
{
	size_t i, n = d != NULL ? strlen(d) : 0;

	if (n == 0 || d[0] == '.' || d[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if (d[i] <= ' ' || d[i] > '~' || strchr("()<>@,;:\\\"", d[i]))
			return 0;
	if (d[0] == '[' || d[n - 1] == ']')
		return d[0] == '[' && d[n - 1] == ']' && n > 2;
	return strchr(d, '[') == NULL && strstr(d, "..") == NULL;
}

char *
hdr_make_msgid(const char *dom, time_t now, struct err *rec)
{
	unsigned char rnd[MSGID_RANDOM];
	char host[256] = "", hex[2 * MSGID_RANDOM + 1], *id;
	size_t got = 0, i;
	ssize_t n;
	struct tm tm;

	while (got < sizeof(rnd)) {
		n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n == -1 && errno != EINTR) {
			err_set(rec, ERR_LOCAL, EX_OSERR,
			    "cannot get random bytes for a Message-ID: %s",
			    strerror(errno));
			return NULL;
		}
		got += n > 0 ? (size_t)n : 0;
	}
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	if (!id_domain_ok(dom) && gethostname(host, sizeof(host) - 1) == 0)
		dom = host;
	if (!id_domain_ok(dom))
		dom = "localhost";
	gmtime_r(&now, &tm);
	if (asprintf(&id, "%04d%02d%02d%02d%02d%02d.%s@%s", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		hex, dom) == -1) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	return id;
}

char *
hdr_msgid_value(const char *val)
{
	const char *lt = strchr(val, '<'), *gt;

	gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (gt != NULL) {
		lt++;
	} else {
		lt = val + strspn(val, " \t");
		gt = lt + strlen(lt);
		while (gt > lt && (gt[-1] == ' ' || gt[-1] == '\t'))
			gt--;
	}
	return strndup(lt, (size_t)(gt - lt));
}

/* The display name for an added From (RFC 5322 section 3.2.5): 0 with
 * *name the phrase or NULL for none, or -1 with rec filled. */
static int
fullname_phrase(const char *fullname, char **name, struct err *rec)
{
	*name = NULL;
	if (fullname == NULL || fullname[0] == '\0')
		return 0;
	if ((*name = qp_phrase(fullname)) != NULL || errno == EINVAL)
		return 0;
	if (errno == EILSEQ)
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "the full name (-F) is not valid UTF-8");
	return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
}

char *
hdr_from(const char *from, const char *fullname, size_t *len, char **name,
    struct err *rec)
{
	char *line = NULL, *folded = NULL;
	int n;

	if (fullname_phrase(fullname, name, rec) == -1)
		return NULL;
	n = *name != NULL ? asprintf(&line, "From: %s <%s>\r\n", *name, from)
			  : asprintf(&line, "From: %s\r\n", from);
	/* An encoded word goes on a line of at most 76 octets (RFC 2047
	 * section 2), so the field is folded between the words. */
	if (n != -1 &&
	    qp_fold(line, (size_t)n, 5, FROM_SOFT, FROM_SOFT, &folded, len) ==
		0) {
		if (folded != NULL) {
			free(line);
			return folded;
		}
		*len = (size_t)n;
		return line;
	}
	if (n != -1 && errno == EINVAL)
		err_set(rec, ERR_USAGE, EX_USAGE,
		    "the full name (-F) is too long for a From line");
	else
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	free(line);
	free(*name);
	*name = NULL;
	return NULL;
}

/* The first word of a MIME field value (a type/subtype or a mechanism),
 * lower-cased into out; comments and parameters are left out. */
static void
mime_word(const char *f, size_t len, size_t v, char *out, size_t sz)
{
	size_t o = 0;

	while (v < len && strchr(" \t\r\n", f[v]) != NULL)
		v++;
	for (; v < len && o + 1 < sz; v++) {
		if (strchr(" \t\r\n;(", f[v]) != NULL)
			break;
		out[o++] =
		    (char)(f[v] >= 'A' && f[v] <= 'Z' ? f[v] + 32 : f[v]);
	}
	out[o] = '\0';
}

int
hdr_mime_field(
    struct hdr_mime *mi, const char *f, size_t len, size_t n, size_t v)
{
	char w[64];

	if (hdr_name_is(f, n, "MIME-Version")) {
		mi->version = 1;
		return 0;
	}
	mime_word(f, len, v, w, sizeof(w));
	if (hdr_name_is(f, n, "Content-Type")) {
		mi->ntype++;
		mi->composite = strncmp(w, "multipart/", 10) == 0 ||
		    strncmp(w, "message/", 8) == 0;
		mi->text = strncmp(w, "text/", 5) == 0;
		return 0;
	}
	if (!hdr_name_is(f, n, "Content-Transfer-Encoding"))
		return 0;
	mi->ncte++;
	mi->cte = strcmp(w, "7bit") == 0 ? HDR_CTE_7BIT
	    : strcmp(w, "8bit") == 0	 ? HDR_CTE_8BIT
	    : strcmp(w, "binary") == 0	 ? HDR_CTE_BINARY
					 : HDR_CTE_OTHER;
	err_sanitize(mi->cte_name, sizeof(mi->cte_name), w, strlen(w));
	return 1;
}

const char *
hdr_qp_refusal(const struct hdr_mime *mi, int utf8, char *buf, size_t sz)
{
	/* RFC 2046 section 5: a composite body is 7bit, 8bit or binary. */
	if (mi->composite)
		return "the body is multipart or message/... (encode the part "
		       "as quoted-printable)";
	if (mi->ntype > 1 || mi->ncte > 1)
		return "the header has two Content-Type or "
		       "Content-Transfer-Encoding fields";
	if (mi->cte == HDR_CTE_OTHER) {
		snprintf(buf, sz,
		    "the body's Content-Transfer-Encoding is \"%s\"",
		    mi->cte_name);
		return buf;
	}
	/* Line ends of binary data are data, not CRLF (RFC 2045 6.2). */
	if (mi->cte == HDR_CTE_BINARY && mi->ntype > 0 && !mi->text)
		return "the body is binary and not text/...";
	/* Without a Content-Type, only a UTF-8 body can be labelled truly. */
	if (mi->ntype == 0 && !utf8)
		return "the body is 8-bit but not UTF-8, and no Content-Type "
		       "names its charset";
	return NULL;
}
