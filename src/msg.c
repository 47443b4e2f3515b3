/* SPDX-License-Identifier: ISC */
/*
 * The message: standard input read to EOF into a private, unlinked spool
 * file with CRLF line ends.  The header is scanned one field at a time
 * (Bcc and Content-Length removed, To, Cc, Bcc and From parsed) and Date,
 * Message-ID and From are added when missing; the body is copied through
 * in chunks, so memory stays bounded whatever the message size.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

#define READ_CHUNK 65536
#define OUT_CHUNK 65536
/* Longest header field kept in memory, unfolded. */
#define FIELD_MAX (1024 * 1024)
/* Most addresses taken from To, Cc and Bcc together, and from From: it
 * bounds memory, and the time of de-duplication, which is quadratic. */
#define LIST_MAX 10000
/* Random bytes in a new Message-ID (96 bits). */
#define MSGID_RANDOM 12

enum phase { P_HEAD, P_BODY };

struct reader {
	const struct msg_opts *opts;
	struct msg *m;
	struct err *rec;
	const char *dir; /* spool directory, for messages */
	int failed;	 /* rec is filled: read on to EOF, keep nothing */
	enum phase phase;
	long long line; /* input line number of the current line, from 1 */
	size_t linelen; /* octets of the current line so far, without CRLF */
	char *fb;	/* the current field's lines, then the current line */
	size_t flen, fcap;
	size_t lstart;	 /* offset of the current line in fb */
	size_t funf;	 /* unfolded length of the field's lines */
	long long fline; /* line where the current field starts */
	int have_date, have_msgid, have_from, from_bad;
	size_t nrcpt, nfrom;  /* addresses seen, at most: see list_bound */
	char *in, *cvt, *out; /* read, line-end and write buffers */
	size_t olen;
};

size_t
msg_crlf_feed(struct msg_crlf *st, const char *in, size_t len, char *out)
{
	size_t i, o = 0;

	/* RFC 5321 section 2.3.8: CR and LF only as CRLF.  A CR ends a line
	 * at once, so an LF right after it (maybe in the next chunk) is its
	 * partner and is dropped. */
	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && st->cr) {
			st->cr = 0;
			continue;
		}
		st->cr = in[i] == '\r';
		if (in[i] == '\r' || in[i] == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
		} else
			out[o++] = in[i];
	}
	return o;
}

/* Record the first error only; later ones are its consequences. */
static void fail(struct reader *r, enum err_class cls, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
fail(struct reader *r, enum err_class cls, int code, const char *fmt, ...)
{
	char text[ERR_TEXT_MAX];
	va_list ap;

	if (r->failed)
		return;
	r->failed = 1;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	err_set(r->rec, cls, code, "%s", text);
}

static void
fail_errno(struct reader *r, int code, const char *what)
{
	fail(r, ERR_LOCAL, code, "%s %s: %s", what, r->dir, strerror(errno));
}

static void
spool_flush(struct reader *r)
{
	size_t off = 0;
	ssize_t n;

	while (off < r->olen && !r->failed) {
		n = write(r->m->fd, r->out + off, r->olen - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fail_errno(
			    r, EX_IOERR, "cannot write the spool file in");
		else
			off += (size_t)n;
	}
	r->olen = 0;
}

static void
spool_write(struct reader *r, const char *p, size_t n)
{
	size_t i, k;

	if (r->failed)
		return;
	for (i = 0; !r->m->eightbit && i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			r->m->eightbit = 1;
	r->m->size += (long long)n;
	while (n > 0 && !r->failed) {
		k = OUT_CHUNK - r->olen < n ? OUT_CHUNK - r->olen : n;
		memcpy(r->out + r->olen, p, k);
		r->olen += k;
		p += k;
		n -= k;
		if (r->olen == OUT_CHUNK)
			spool_flush(r);
	}
}

static void
spool_puts(struct reader *r, const char *s)
{
	spool_write(r, s, strlen(s));
}

/* A new private file (0600) in the spool directory, unlinked at once:
 * O_TMPFILE where the file system has it, else mkstemp and unlink. */
static void
spool_open(struct reader *r)
{
	const char *env = secure_getenv("TMPDIR");
	char path[PATH_MAX];

	r->dir = r->opts->tmpdir;
	if (r->dir == NULL)
		r->dir = env != NULL && env[0] != '\0' ? env : "/tmp";
	r->m->fd = open(r->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (r->m->fd != -1)
		return;
	if (snprintf(path, sizeof(path), "%s/mailhop.XXXXXX", r->dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		fail_errno(r, EX_IOERR, "cannot create a spool file in");
		return;
	}
	r->m->fd = mkostemp(path, O_CLOEXEC);
	if (r->m->fd == -1 || unlink(path) == -1)
		fail_errno(r, EX_IOERR, "cannot create a spool file in");
}

/* Close the current line: RFC 5321 section 4.5.3.1.6 limits a line to
 * 998 octets before its CRLF. */
static void
line_done(struct reader *r)
{
	if (r->linelen > MSG_LINE_MAX)
		fail(r, ERR_USAGE, EX_DATAERR,
		    "line %lld is %zu octets, over the %d limit of RFC 5321 "
		    "(fold headers or encode the body as quoted-printable)",
		    r->line, r->linelen, MSG_LINE_MAX);
	r->line++;
	r->linelen = 0;
}

/* Check a piece of the current line (ending with its CRLF, or not). */
static void
scan_piece(struct reader *r, const char *p, size_t n, int eol)
{
	if (memchr(p, '\0', n) != NULL)
		fail(r, ERR_USAGE, EX_DATAERR, "line %lld contains a NUL byte",
		    r->line);
	r->linelen += eol ? n - 2 : n;
}

/* Length of the field name at the start of l (printable ASCII but ':',
 * RFC 5322 section 2.2), or 0 when l is not a field.  WSP before the
 * colon is allowed, as obs-optional of section 4.5 does.  *value gets the
 * offset after the colon. */
static size_t
field_name(const char *l, size_t len, size_t *value)
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

static int
name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* The value of field f (len bytes with its final CRLF) from offset v,
 * unfolded: RFC 5322 section 2.2.3 removes each CRLF before WSP. */
static char *
unfold(struct reader *r, const char *f, size_t len, size_t v)
{
	char *s, *o;
	size_t i;

	if ((s = malloc(len - v + 1)) == NULL) {
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	for (o = s, i = v; i < len; i++)
		if (f[i] != '\r' && f[i] != '\n')
			*o++ = f[i];
	*o = '\0';
	return s;
}

/* At most how many mailboxes the list v holds: one more than its commas
 * (RFC 5322 section 3.4 separates them by commas, also in groups). */
static size_t
list_bound(const char *v)
{
	size_t n = 1;

	for (; *v != '\0'; v++)
		n += *v == ',';
	return n;
}

/* With extract: the mailboxes of a To, Cc or Bcc field go to rcpt. */
static void
collect(struct reader *r, const char *f, size_t len, size_t nlen, size_t v)
{
	char *val, name[64];
	struct err e;

	if ((val = unfold(r, f, len, v)) == NULL)
		return;
	err_clear(&e);
	r->nrcpt += list_bound(val);
	err_sanitize(name, sizeof(name), f, nlen);
	if (r->nrcpt > LIST_MAX)
		fail(r, ERR_USAGE, EX_DATAERR,
		    "header field %s at line %lld: over %d addresses in To, "
		    "Cc and Bcc",
		    name, r->fline, LIST_MAX);
	else if (addr_parse_list(val, &r->m->rcpt, &e) == -1)
		fail(r, e.class, e.code, "header field %s at line %lld: %s",
		    name, r->fline, e.text);
	free(val);
}

/* From: its mailboxes go to m->from.  One that does not parse is not an
 * error here; m->from is left empty and the policy check decides. */
static void
from_field(struct reader *r, const char *f, size_t len, size_t v)
{
	struct addr_list l = { 0 };
	struct err e;
	char *val;
	size_t i;

	r->have_from = 1;
	if (r->from_bad || (val = unfold(r, f, len, v)) == NULL)
		return;
	err_clear(&e);
	r->nfrom += list_bound(val);
	if (r->nfrom > LIST_MAX || addr_parse_list(val, &l, &e) == -1 ||
	    l.n == 0)
		r->from_bad = 1;
	for (i = 0; !r->from_bad && i < l.n; i++)
		if (addr_list_add(&r->m->from, l.v[i].name, l.v[i].mailbox) ==
		    -1)
			fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
	addr_list_free(&l);
	free(val);
}

/* Message-ID: m->msgid is the text between "<" and ">", else the whole
 * value without surrounding white space. */
static void
msgid_field(struct reader *r, const char *f, size_t len, size_t v)
{
	char *val, *lt, *gt, *end;

	if (r->have_msgid)
		return;
	r->have_msgid = 1;
	if ((val = unfold(r, f, len, v)) == NULL)
		return;
	lt = strchr(val, '<');
	gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (gt != NULL) {
		lt++;
	} else {
		lt = val + strspn(val, " \t");
		gt = lt + strlen(lt);
		while (gt > lt && (gt[-1] == ' ' || gt[-1] == '\t'))
			gt--;
	}
	end = strndup(lt, (size_t)(gt - lt));
	if (end == NULL)
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
	r->m->msgid = end;
	free(val);
}

/* One complete field, len bytes with its continuation lines and CRLFs:
 * look at it, then write it unchanged or drop it. */
static void
flush_field(struct reader *r, const char *f, size_t len)
{
	size_t v = 0, n;

	if (len == 0 || r->failed)
		return;
	n = field_name(f, len, &v);
	/* RFC 5322 section 3.6.3: Bcc recipients are not shown to others. */
	if (name_is(f, n, "Bcc")) {
		if (r->opts->extract)
			collect(r, f, len, n, v);
		return;
	}
	if (name_is(f, n, "Content-Length"))
		return;
	if (r->opts->extract && (name_is(f, n, "To") || name_is(f, n, "Cc")))
		collect(r, f, len, n, v);
	else if (name_is(f, n, "From"))
		from_field(r, f, len, v);
	else if (name_is(f, n, "Date"))
		r->have_date = 1;
	else if (name_is(f, n, "Message-ID"))
		msgid_field(r, f, len, v);
	spool_write(r, f, len);
}

/* RFC 5322 section 3.3 date-time in local time, without the locale. */
static void
format_date(time_t t, char *buf, size_t sz)
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

/* A new unique id: UTC time, 96 random bits, the domain. */
static char *
make_msgid(struct reader *r, time_t now)
{
	unsigned char rnd[MSGID_RANDOM];
	char host[256] = "", hex[2 * MSGID_RANDOM + 1], *id;
	const char *dom = r->opts->domain;
	size_t got = 0, i;
	ssize_t n;
	struct tm tm;

	while (got < sizeof(rnd)) {
		n = getrandom(rnd + got, sizeof(rnd) - got, 0);
		if (n == -1 && errno != EINTR) {
			fail(r, ERR_LOCAL, EX_OSERR,
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
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	return id;
}

/* Date, Message-ID and From when missing, at the end of the header
 * (RFC 5322 section 3.6: Date and From are required; 3.6.4: Message-ID
 * should be there). */
static void
add_fields(struct reader *r)
{
	const char *from = r->opts->from;
	time_t now = r->opts->now != 0 ? r->opts->now : time(NULL);
	char date[64];

	if (!r->have_date) {
		format_date(now, date, sizeof(date));
		spool_puts(r, "Date: ");
		spool_puts(r, date);
		spool_puts(r, "\r\n");
	}
	if (!r->have_msgid && (r->m->msgid = make_msgid(r, now)) != NULL) {
		spool_puts(r, "Message-ID: <");
		spool_puts(r, r->m->msgid);
		spool_puts(r, ">\r\n");
	}
	if (r->have_from || from == NULL || from[0] == '\0')
		return;
	if (strpbrk(from, "\r\n") != NULL) {
		fail(r, ERR_USAGE, EX_DATAERR,
		    "the sender address contains a line break");
		return;
	}
	spool_puts(r, "From: ");
	spool_puts(r, from);
	spool_puts(r, "\r\n");
	if (addr_list_add(&r->m->from, NULL, from) == -1)
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
}

/* The header is complete: its last field, the added ones, and the empty
 * line that separates it from the body (RFC 5322 section 2.1). */
static void
end_header(struct reader *r)
{
	flush_field(r, r->fb, r->lstart);
	add_fields(r);
	spool_puts(r, "\r\n");
	r->phase = P_BODY;
	r->flen = r->lstart = r->funf = 0;
}

static int
is_mbox_from(const char *l, size_t len)
{
	return (len >= 5 && memcmp(l, "From ", 5) == 0) ||
	    (len >= 6 && memcmp(l, ">From ", 6) == 0);
}

/* A continuation line of the open field; the field may not grow past
 * FIELD_MAX. */
static void
continuation(struct reader *r, size_t len)
{
	char name[64];
	size_t v;

	r->funf += len;
	if (r->funf > FIELD_MAX) {
		err_sanitize(
		    name, sizeof(name), r->fb, field_name(r->fb, r->flen, &v));
		fail(r, ERR_USAGE, EX_DATAERR,
		    "header field %s at line %lld is over %d octets unfolded",
		    name, r->fline, FIELD_MAX);
	}
	r->lstart = r->flen;
}

/* The current line of the header is complete (it is at fb + lstart):
 * continue the open field, start a new one, or end the header. */
static void
head_line(struct reader *r)
{
	const char *l = r->fb + r->lstart;
	size_t len = r->linelen, at = r->lstart, v;
	long long lineno = r->line;

	line_done(r);
	if (r->failed)
		return;
	if (len == 0) {
		r->flen = r->lstart;
		end_header(r);
	} else if ((l[0] == ' ' || l[0] == '\t') && at > 0) {
		continuation(r, len);
	} else if (field_name(l, len, &v) > 0) {
		flush_field(r, r->fb, at);
		memmove(r->fb, l, len + 2);
		r->flen = r->lstart = len + 2;
		r->funf = len;
		r->fline = lineno;
	} else if (lineno == 1 && is_mbox_from(l, len)) {
		/* RFC 4155: a mbox From_ line is not part of the message. */
		r->flen = r->lstart = 0;
	} else {
		/* Not a field: the body starts here, after an empty line. */
		r->flen = r->lstart;
		end_header(r);
		spool_write(r, r->fb + at, len + 2);
	}
}

static int
fb_append(struct reader *r, const char *p, size_t n)
{
	size_t ncap;
	char *nb;

	if (r->flen + n > r->fcap) {
		ncap = r->fcap == 0 ? 4096 : r->fcap;
		while (r->flen + n > ncap)
			ncap *= 2;
		if ((nb = realloc(r->fb, ncap)) == NULL) {
			fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
			return -1;
		}
		r->fb = nb;
		r->fcap = ncap;
	}
	memcpy(r->fb + r->flen, p, n);
	r->flen += n;
	return 0;
}

/* Header: take one piece of a line into fb.  A line past MSG_LINE_MAX is
 * only counted, since it will be refused at its end. */
static size_t
head_feed(struct reader *r, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	size_t seg = lf != NULL ? (size_t)(lf - p) + 1 : n;

	scan_piece(r, p, seg, lf != NULL);
	if (r->linelen <= MSG_LINE_MAX && fb_append(r, p, seg) == -1)
		return n;
	if (lf != NULL && !r->failed)
		head_line(r);
	return seg;
}

/* Body: copy through, one line or piece of a line at a time. */
static size_t
body_feed(struct reader *r, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	size_t seg = lf != NULL ? (size_t)(lf - p) + 1 : n;

	scan_piece(r, p, seg, lf != NULL);
	spool_write(r, p, seg);
	if (lf != NULL)
		line_done(r);
	return seg;
}

/* Normalised bytes (CRLF line ends) into the header or body. */
static void
feed(struct reader *r, const char *p, size_t n)
{
	size_t used;

	while (n > 0 && !r->failed) {
		if (r->phase == P_HEAD)
			used = head_feed(r, p, n);
		else
			used = body_feed(r, p, n);
		p += used;
		n -= used;
	}
}

static void
wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	poll(&pfd, 1, -1);
}

/* Read infd to EOF, also after a data error, so that a writer never sees
 * a broken pipe.  Returns -1 on a read error. */
static int
read_all(struct reader *r, int infd)
{
	struct msg_crlf st = { 0 };
	ssize_t n;

	for (;;) {
		n = read(infd, r->in, READ_CHUNK);
		if (n == 0)
			return 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_readable(infd);
			continue;
		}
		if (n == -1) {
			fail(r, ERR_LOCAL, EX_NOINPUT,
			    "cannot read the message: %s", strerror(errno));
			return -1;
		}
		if (!r->failed)
			feed(r, r->cvt,
			    msg_crlf_feed(&st, r->in, (size_t)n, r->cvt));
	}
}

/* At EOF: end a last line that has no line end, and a header that has no
 * body. */
static void
finish(struct reader *r)
{
	if (r->linelen > 0)
		feed(r, "\r\n", 2);
	if (r->phase == P_HEAD && !r->failed) {
		r->flen = r->lstart;
		end_header(r);
	}
	if (r->from_bad)
		addr_list_free(&r->m->from);
	spool_flush(r);
}

int
msg_read(int infd, const struct msg_opts *opts, struct msg *m, struct err *rec)
{
	struct reader r;

	memset(m, 0, sizeof(*m));
	m->fd = -1;
	memset(&r, 0, sizeof(r));
	r.opts = opts;
	r.m = m;
	r.rec = rec;
	r.line = 1;
	r.in = malloc(READ_CHUNK);
	r.cvt = malloc(2 * READ_CHUNK);
	r.out = malloc(OUT_CHUNK);
	if (r.in == NULL || r.cvt == NULL || r.out == NULL)
		fail(&r, ERR_LOCAL, EX_OSERR, "out of memory");
	else
		spool_open(&r);
	if (r.in != NULL && read_all(&r, infd) == 0 && !r.failed)
		finish(&r);
	free(r.in);
	free(r.cvt);
	free(r.out);
	free(r.fb);
	if (r.failed)
		msg_free(m);
	return r.failed ? -1 : 0;
}

void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	addr_list_free(&m->rcpt);
	addr_list_free(&m->from);
	free(m->msgid);
	m->msgid = NULL;
	m->size = 0;
	m->eightbit = 0;
}
