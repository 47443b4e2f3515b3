/* SPDX-License-Identifier: ISC */
/*
 * The message: standard input read to EOF into a private, unlinked spool
 * file with CRLF line ends.  The header is scanned one field at a time
 * (Bcc, Resent-Bcc and Content-Length removed, recipients and From parsed,
 * addresses rewritten, long lines folded) and Date, Message-ID and From
 * are added when missing; the body is copied through in chunks, so memory
 * stays bounded whatever the message size.  A body line over 998 octets
 * makes a second pass that copies the spool into a new one, the body as
 * quoted-printable.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "hdr.h"
#include "msg.h"
#include "qp.h"

#define READ_CHUNK 65536
#define OUT_CHUNK 65536
/* Longest header field kept in memory, unfolded. */
#define FIELD_MAX (1024 * 1024)
/* Most addresses taken from To, Cc and Bcc together, and from From: it
 * bounds memory, and the time of de-duplication, which is quadratic. */
#define LIST_MAX 10000
/* Lines of a field folded by mailhop, and of an added From, aim at this
 * (RFC 5322 section 2.1.1: SHOULD be no more than 78). */
#define FOLD_SOFT 78
/* Input read at a time when re-encoding: its quoted-printable form fits
 * in the 2 * READ_CHUNK line-end buffer. */
#define QP_CHUNK 8000

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
	size_t nrcpt, nfrom; /* addresses seen, at most: see list_bound */
	int resent;	     /* 0: no Resent- field yet; 1: in the newest Resent
			      * block; 2: past it */
	unsigned rseen;	     /* Resent-From, -Sender, -Date seen in it */
	struct addr_list resent_rcpt; /* with extract: of that block */
	struct hdr_mime mime;
	long long cte_off;   /* Content-Transfer-Encoding in the spool, or -1 */
	size_t cte_len;	     /* and its length there */
	long long body_off;  /* where the body starts in the spool */
	long long long_line; /* first body line over MSG_LINE_MAX, or 0 */
	size_t long_len;
	struct qp_utf8 utf8;  /* the body's bytes */
	int body8;	      /* a body byte over 0x7f */
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
		fail_errno(r, EX_CANTCREAT, "cannot create a spool file in");
		return;
	}
	r->m->fd = mkostemp(path, O_CLOEXEC);
	if (r->m->fd == -1 || unlink(path) == -1)
		fail_errno(r, EX_CANTCREAT, "cannot create a spool file in");
}

static void
line_done(struct reader *r)
{
	r->line++;
	r->linelen = 0;
}

/* Body bytes, as they are written. */
static void
body_write(struct reader *r, const char *p, size_t n)
{
	size_t i;

	for (i = 0; !r->body8 && i < n; i++)
		r->body8 = (unsigned char)p[i] >= 0x80;
	qp_utf8_feed(&r->utf8, p, n);
	spool_write(r, p, n);
}

/* Body line lineno of len octets ended.  RFC 5321 section 4.5.3.1.6
 * limits a line to 998 octets before its CRLF: the first one over is
 * remembered, and finish re-encodes the body or refuses it. */
static void
body_line(struct reader *r, long long lineno, size_t len)
{
	if (len > MSG_LINE_MAX && r->long_line == 0) {
		r->long_line = lineno;
		r->long_len = len;
	}
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

/* With extract: the mailboxes of a To, Cc or Bcc field (or a Resent-
 * one) go to the list to. */
static void
collect(struct reader *r, const char *f, size_t len, size_t nlen, size_t v,
    struct addr_list *to)
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
	else if (addr_parse_list(val, to, &e) == -1)
		fail(r, e.class, e.code, "header field %s at line %lld: %s",
		    name, r->fline, e.text);
	free(val);
}

/* Parse the value of field f into dst; *n counts the addresses seen so
 * far, against LIST_MAX.  Returns -1 when the value does not parse. */
static int
collect_mailboxes(struct reader *r, const char *f, size_t len, size_t v,
    struct addr_list *dst, size_t *n)
{
	struct addr_list l = { 0 };
	struct err e;
	char *val;
	size_t i;
	int rc = 0;

	if ((val = unfold(r, f, len, v)) == NULL)
		return 0;
	err_clear(&e);
	*n += list_bound(val);
	if (*n > LIST_MAX || addr_parse_list(val, &l, &e) == -1 || l.n == 0)
		rc = -1;
	for (i = 0; rc == 0 && i < l.n; i++)
		if (addr_list_add(dst, l.v[i].name, l.v[i].mailbox) == -1)
			fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
	addr_list_free(&l);
	free(val);
	return rc;
}

/* Note the first field the From policy cannot read. */
static void
unparsed(struct reader *r, const char *name)
{
	if (r->m->unparsed == NULL)
		r->m->unparsed = name;
}

/* From: its mailboxes go to m->from.  One that does not parse is not an
 * error here: m->from is left empty, m->unparsed set, and the From policy
 * decides. */
static void
from_field(struct reader *r, const char *f, size_t len, size_t v)
{
	r->have_from = 1;
	if (!r->from_bad &&
	    collect_mailboxes(r, f, len, v, &r->m->from, &r->nfrom) == -1) {
		r->from_bad = 1;
		unparsed(r, "From");
	}
}

/* Sender, and Resent-From and Resent-Sender of the newest block: their
 * mailboxes go to list, for the From policy; one that does not parse
 * sets m->unparsed to name. */
static void
sender_field(struct reader *r, const char *f, size_t len, size_t v,
    struct addr_list *list, const char *name)
{
	size_t n = 0;

	if (collect_mailboxes(r, f, len, v, list, &n) == -1)
		unparsed(r, name);
}

/* Message-ID: the first one gives m->msgid. */
static void
msgid_field(struct reader *r, const char *f, size_t len, size_t v)
{
	char *val;

	if (r->have_msgid)
		return;
	r->have_msgid = 1;
	if ((val = unfold(r, f, len, v)) == NULL)
		return;
	if ((r->m->msgid = hdr_msgid_value(val)) == NULL)
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
	free(val);
}

/* RFC 5322 section 3.6.6: each resend puts a block of Resent- fields on
 * top, so the newest block is the first run of them; a block has one
 * Resent-From, Resent-Sender and Resent-Date at most, so a second one
 * starts the older block when nothing stands between them. */
static void
resent_block(struct reader *r, const char *f, size_t n)
{
	static const char *const once[] = { "Resent-From", "Resent-Sender",
		"Resent-Date" };
	int resent = n > 7 && strncasecmp(f, "Resent-", 7) == 0;
	unsigned i;

	if (resent && r->resent == 0)
		r->resent = 1;
	else if (!resent && r->resent == 1)
		r->resent = 2;
	for (i = 0; r->resent == 1 && i < 3; i++) {
		if (!hdr_name_is(f, n, once[i]))
			continue;
		if (r->rseen & (1u << i))
			r->resent = 2;
		r->rseen |= 1u << i;
	}
}

/* With opts->rewrite (opts->from_rewrite for From and Resent-From): the
 * field with the mailboxes the callback changes put in
 * (addr_rewrite_list), as a new string of *nlen bytes; NULL when there
 * is no callback, nothing changed or the field does not parse. */
static char *
rewrite_field(struct reader *r, const char *f, size_t len, size_t n, size_t v,
    size_t *nlen)
{
	static const char *const froms[] = { "From", "Resent-From", NULL };
	addr_rewrite_fn *fn = r->opts->rewrite;
	char *val, *out = NULL, *nf = NULL;
	struct err e;

	if (r->opts->from_rewrite != NULL && hdr_name_in(f, n, froms))
		fn = r->opts->from_rewrite;
	if (fn == NULL)
		return NULL;
	if ((val = strndup(f + v, len - v - 2)) == NULL) {
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	err_clear(&e);
	if (addr_rewrite_list(val, fn, r->opts->rewrite_arg, &out, &e) == -1 &&
	    e.class == ERR_LOCAL)
		fail(r, e.class, e.code, "%s", e.text);
	free(val);
	if (out == NULL)
		return NULL;
	*nlen = v + strlen(out) + 2;
	if ((nf = malloc(*nlen + 1)) == NULL)
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
	else
		snprintf(nf, *nlen + 1, "%.*s%s\r\n", (int)v, f, out);
	free(out);
	return nf;
}

/* Write a field, folding a line over MSG_LINE_MAX at white space. */
static void
write_field(struct reader *r, const char *f, size_t len, size_t n, size_t v)
{
	char *folded, name[64];
	size_t flen, i;

	if (qp_fold(f, len, v, MSG_LINE_MAX, FOLD_SOFT, &folded, &flen) == -1) {
		err_sanitize(name, sizeof(name), f, n);
		if (errno == EINVAL)
			fail(r, ERR_USAGE, EX_DATAERR,
			    "header field %s at line %lld has a line over %d "
			    "octets and no white space to fold it at (RFC "
			    "5322 2.1.1)",
			    name, r->fline, MSG_LINE_MAX);
		else
			fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
		return;
	}
	if (folded != NULL) {
		f = folded;
		len = flen;
	}
	if (r->cte_off == r->m->size)
		r->cte_len = len;
	for (i = 0; i < len && !r->m->utf8_header; i++)
		r->m->utf8_header = (unsigned char)f[i] >= 0x80;
	spool_write(r, f, len);
	free(folded);
}

/* One complete field, len bytes with its continuation lines and CRLFs:
 * look at it, then write it (maybe rewritten or folded) or drop it. */
static void
flush_field(struct reader *r, const char *f, size_t len)
{
	static const char *const rcpt[] = { "To", "Cc", "Bcc", NULL };
	static const char *const rrcpt[] = { "Resent-To", "Resent-Cc",
		"Resent-Bcc", NULL };
	static const char *const rw[] = { "To", "Cc", "From", "Resent-To",
		"Resent-Cc", "Resent-From", NULL };
	static const char *const dropped[] = { "Bcc", "Resent-Bcc",
		"Content-Length", NULL };
	size_t v = 0, n, nlen = 0;
	char *nf = NULL;

	if (len == 0 || r->failed)
		return;
	n = hdr_field_name(f, len, &v);
	resent_block(r, f, n);
	if (r->opts->extract && hdr_name_in(f, n, rcpt))
		collect(r, f, len, n, v, &r->m->rcpt);
	else if (r->opts->extract && r->resent == 1 && hdr_name_in(f, n, rrcpt))
		collect(r, f, len, n, v, &r->resent_rcpt);
	/* RFC 5322 section 3.6.3: Bcc recipients are not shown to others;
	 * Content-Length is meaningless once line ends change. */
	if (hdr_name_in(f, n, dropped))
		return;
	if (hdr_name_in(f, n, rw) &&
	    (nf = rewrite_field(r, f, len, n, v, &nlen)) != NULL) {
		f = nf;
		len = nlen;
	}
	if (hdr_name_is(f, n, "From"))
		from_field(r, f, len, v);
	else if (hdr_name_is(f, n, "Sender"))
		sender_field(r, f, len, v, &r->m->sender, "Sender");
	else if (r->resent == 1 && hdr_name_is(f, n, "Resent-From"))
		sender_field(r, f, len, v, &r->m->resent_from, "Resent-From");
	else if (r->resent == 1 && hdr_name_is(f, n, "Resent-Sender"))
		sender_field(
		    r, f, len, v, &r->m->resent_sender, "Resent-Sender");
	else if (hdr_name_is(f, n, "Date"))
		r->have_date = 1;
	else if (hdr_name_is(f, n, "Message-ID"))
		msgid_field(r, f, len, v);
	else if (hdr_mime_field(&r->mime, f, len, n, v))
		r->cte_off = r->m->size;
	if (!r->failed)
		write_field(r, f, len, n, v);
	free(nf);
}

/* A From field when the message has none: from the sender and -F. */
static void
add_from(struct reader *r, const char *from)
{
	char *f, *name = NULL;
	size_t len;

	if (strpbrk(from, "\r\n") != NULL) {
		fail(r, ERR_USAGE, EX_DATAERR,
		    "the sender address contains a line break");
		return;
	}
	if (r->failed)
		return;
	f = hdr_from(from, r->opts->fullname, &len, &name, r->rec);
	if (f == NULL) {
		r->failed = 1;
		return;
	}
	spool_write(r, f, len);
	if (addr_list_add(&r->m->from, name, from) == -1)
		fail(r, ERR_LOCAL, EX_OSERR, "out of memory");
	r->m->from_added = !r->failed;
	free(name);
	free(f);
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
		hdr_date(now, date, sizeof(date));
		spool_puts(r, "Date: ");
		spool_puts(r, date);
		spool_puts(r, "\r\n");
	}
	if (!r->have_msgid && !r->failed &&
	    (r->m->msgid = hdr_make_msgid(r->opts->domain, now, r->rec)) ==
		NULL)
		r->failed = 1;
	if (!r->have_msgid && r->m->msgid != NULL) {
		spool_puts(r, "Message-ID: <");
		spool_puts(r, r->m->msgid);
		spool_puts(r, ">\r\n");
	}
	if (!r->have_from && from != NULL && from[0] != '\0')
		add_from(r, from);
}

/* The header is complete: its last field, the added ones, and the empty
 * line that separates it from the body (RFC 5322 section 2.1). */
static void
end_header(struct reader *r)
{
	struct addr_list l;

	flush_field(r, r->fb, r->lstart);
	add_fields(r);
	spool_puts(r, "\r\n");
	r->body_off = r->m->size;
	r->phase = P_BODY;
	r->flen = r->lstart = r->funf = 0;
	/* With Resent- fields, -t means the newest block's recipients. */
	r->m->resent = r->resent != 0;
	if (r->resent != 0 && r->opts->extract) {
		l = r->m->rcpt;
		r->m->rcpt = r->resent_rcpt;
		r->resent_rcpt = l;
	}
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
		err_sanitize(name, sizeof(name), r->fb,
		    hdr_field_name(r->fb, r->flen, &v));
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
	} else if (hdr_field_name(l, len, &v) > 0) {
		flush_field(r, r->fb, at);
		memmove(r->fb, l, len + 2);
		r->flen = r->lstart = len + 2;
		r->funf = len;
		r->fline = lineno;
	} else if (lineno == 1 && hdr_is_mbox_from(l, len)) {
		/* RFC 4155: a mbox From_ line is not part of the message. */
		r->flen = r->lstart = 0;
	} else {
		/* Not a field: the body starts here, after an empty line. */
		r->flen = r->lstart;
		end_header(r);
		body_write(r, r->fb + at, len + 2);
		body_line(r, lineno, len);
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

/* Header: take one piece of a line into fb; a line may not grow past
 * FIELD_MAX. */
static size_t
head_feed(struct reader *r, const char *p, size_t n)
{
	const char *lf = memchr(p, '\n', n);
	size_t seg = lf != NULL ? (size_t)(lf - p) + 1 : n;

	scan_piece(r, p, seg, lf != NULL);
	if (r->linelen > FIELD_MAX) {
		fail(r, ERR_USAGE, EX_DATAERR,
		    "line %lld is over %d octets, too long for a header field",
		    r->line, FIELD_MAX);
		return n;
	}
	if (fb_append(r, p, seg) == -1)
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
	body_write(r, p, seg);
	if (lf != NULL) {
		body_line(r, r->line, r->linelen);
		line_done(r);
	}
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
	size_t k, off;
	ssize_t n;

	for (off = 0; off < r->opts->head_len && !r->failed; off += k) {
		k = r->opts->head_len - off;
		k = k < READ_CHUNK ? k : READ_CHUNK;
		feed(r, r->cvt,
		    msg_crlf_feed(&st, r->opts->head + off, k, r->cvt));
	}
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

/* Copy the bytes [from, to) of the spool file fd to the new one; with
 * qp, quoted-printable. */
static void
copy_range(struct reader *r, int fd, long long from, long long to, int qp)
{
	struct qp_enc st = { 0 };
	ssize_t k;

	while (from < to && !r->failed) {
		k = pread(fd, r->in,
		    to - from < QP_CHUNK ? to - from : QP_CHUNK, from);
		if (k == -1 && errno == EINTR)
			continue;
		if (k <= 0) {
			errno = k == 0 ? EIO : errno;
			fail_errno(
			    r, EX_IOERR, "cannot read the spool file in");
			return;
		}
		if (qp)
			spool_write(r, r->cvt,
			    qp_encode(&st, r->in, (size_t)k, r->cvt));
		else
			spool_write(r, r->in, (size_t)k);
		from += k;
	}
	if (qp)
		spool_write(r, r->cvt, qp_finish(&st, r->cvt));
}

/* The second pass: a new spool file with the header as it was, but for
 * Content-Transfer-Encoding, plus the MIME fields that say what the body
 * is now, then the body as quoted-printable (RFC 2045 sections 4, 5, 6). */
static void
reencode(struct reader *r)
{
	const struct hdr_mime *mi = &r->mime;
	long long hdr_end = r->body_off - 2, end = r->m->size;
	long long cut = r->cte_off >= 0 ? r->cte_off : hdr_end;
	int old = r->m->fd;

	spool_open(r);
	r->m->size = 0;
	r->m->eightbit = 0;
	copy_range(r, old, 0, cut, 0);
	copy_range(r, old, cut + (r->cte_off >= 0 ? (long long)r->cte_len : 0),
	    hdr_end, 0);
	if (!mi->version)
		spool_puts(r, "MIME-Version: 1.0\r\n");
	/* RFC 2045 section 5.2: the default is text/plain; us-ascii. */
	if (mi->ntype == 0 && r->body8)
		spool_puts(r, "Content-Type: text/plain; charset=utf-8\r\n");
	else if (mi->ntype == 0)
		spool_puts(r, "Content-Type: text/plain; charset=us-ascii\r\n");
	spool_puts(r, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	copy_range(r, old, r->body_off, end, 1);
	spool_flush(r);
	close(old);
	r->m->qp = !r->failed;
}

/* A body line is over MSG_LINE_MAX: re-encode, or refuse naming it. */
static void
long_body(struct reader *r)
{
	char buf[128];
	const char *why =
	    hdr_qp_refusal(&r->mime, qp_utf8_ok(&r->utf8), buf, sizeof(buf));

	if (why == NULL) {
		reencode(r);
		return;
	}
	fail(r, ERR_USAGE, EX_DATAERR,
	    "line %lld is %zu octets, over the %d limit of RFC 5321, and "
	    "cannot be re-encoded: %s",
	    r->long_line, r->long_len, MSG_LINE_MAX, why);
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
	if (r->long_line != 0 && !r->failed)
		long_body(r);
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
	r.cte_off = -1;
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
	addr_list_free(&r.resent_rcpt);
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
	addr_list_free(&m->sender);
	addr_list_free(&m->resent_from);
	addr_list_free(&m->resent_sender);
	free(m->msgid);
	m->msgid = NULL;
	m->size = 0;
	m->eightbit = m->from_added = m->resent = 0;
	m->utf8_header = m->qp = 0;
	m->unparsed = NULL;
}
