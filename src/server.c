/* SPDX-License-Identifier: ISC */
/*
 * sendmail -bs: a small SMTP server (RFC 5321) on standard input and
 * output, for programs that speak SMTP to their sendmail (Alpine,
 * Symfony).  It collects one envelope and the data at a time and hands
 * them to a callback that relays them through the account; the reply to
 * the final dot is the relay's outcome: sent, queued, or refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "server.h"

struct server {
	int in, out;
	const struct server_params *p;
	struct err *rec;
	char buf[8192]; /* input; a longer data line comes in pieces */
	size_t start, end;
	int eof;
	char *from; /* MAIL FROM, or NULL before MAIL */
	char *rcpt[SERVER_RCPT_MAX];
	size_t nrcpt;
};

static int
fill(struct server *s)
{
	struct pollfd pfd = { .fd = s->in, .events = POLLIN };
	ssize_t n;
	int rc;

	memmove(s->buf, s->buf + s->start, s->end - s->start);
	s->end -= s->start;
	s->start = 0;
	do
		rc = poll(&pfd, 1, s->p->timeout_ms);
	while (rc == -1 && errno == EINTR);
	if (rc == 0)
		return err_set(s->rec, ERR_TEMP, EX_TEMPFAIL,
		    "-bs: no command for %d seconds; closing",
		    s->p->timeout_ms / 1000);
	do
		n = read(s->in, s->buf + s->end, sizeof(s->buf) - s->end);
	while (n == -1 && errno == EINTR);
	if (rc == -1 || n == -1)
		return err_set(s->rec, ERR_LOCAL, EX_IOERR,
		    "-bs: cannot read standard input: %s", strerror(errno));
	if (n == 0)
		s->eof = 1;
	s->end += n;
	return 0;
}

/* The next piece of input: a line without its CRLF or LF (*whole = 1), or
 * as much of a longer line as the buffer holds (*whole = 0).  Returns 1, 0
 * at the end of input, or -1 with s->rec filled. */
static int
next_segment(struct server *s, char **seg, size_t *n, int *whole)
{
	char *b, *nl;
	size_t len;

	for (;;) {
		b = s->buf + s->start;
		len = s->end - s->start;
		nl = memchr(b, '\n', len);
		if (nl != NULL) {
			*seg = b, *n = nl - b, *whole = 1;
			s->start += *n + 1;
			if (*n > 0 && b[*n - 1] == '\r')
				(*n)--;
			return 1;
		}
		if (len == sizeof(s->buf) || (s->eof && len > 0)) {
			/* Keep a last CR: its LF may come next. */
			*seg = b, *n = len, *whole = 0;
			if (len > 1 && b[len - 1] == '\r')
				(*n)--;
			s->start += *n;
			return 1;
		}
		if (s->eof)
			return 0;
		if (fill(s) == -1)
			return -1;
	}
}

static int reply(struct server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reply(struct server *s, const char *fmt, ...)
{
	char line[SERVER_LINE_MAX];
	size_t off = 0;
	ssize_t w;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	while (off < (size_t)n + 2) {
		w = write(s->out, line + off, n + 2 - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return err_set(s->rec, ERR_LOCAL, EX_IOERR,
			    "-bs: cannot write to standard output: %s",
			    strerror(errno));
		off += w;
	}
	return 0;
}

static void
reset(struct server *s)
{
	size_t i;

	free(s->from);
	s->from = NULL;
	for (i = 0; i < s->nrcpt; i++)
		free(s->rcpt[i]);
	s->nrcpt = 0;
}

/* The path of "MAIL FROM:<path> params" after the colon: what is inside
 * <>, or the first word.  Returns a malloc'ed string, or NULL. */
static char *
get_path(const char *arg)
{
	const char *e;

	while (*arg == ' ')
		arg++;
	if (*arg == '<') {
		e = strchr(++arg, '>');
		return e != NULL ? strndup(arg, e - arg) : NULL;
	}
	e = arg + strcspn(arg, " ");
	return e > arg ? strndup(arg, e - arg) : NULL;
}

/* Does line start with cmd, ignoring case?  Returns what follows. */
static const char *
verb(const char *line, const char *cmd)
{
	size_t n = strlen(cmd);

	if (strncasecmp(line, cmd, n) != 0)
		return NULL;
	if (line[n] != '\0' && line[n] != ' ' && cmd[n - 1] != ':')
		return NULL;
	return line + n;
}

/* A private file for the data: unlinked from the start where the file
 * system allows it. */
static int
data_file(const struct server_params *p)
{
	const char *dir = p->tmpdir;
	char path[4096];
	int fd;

	if (dir == NULL)
		dir = getenv("TMPDIR");
	if (dir == NULL || dir[0] == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1)
		return fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/mailhop-bs.XXXXXX", dir) >=
	    sizeof(path))
		return -1;
	fd = mkstemp(path);
	if (fd != -1)
		unlink(path);
	return fd;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w, n -= w;
	}
	return 0;
}

/* Copy the data up to the lone dot into fd (-1: read and drop), undoing
 * the dot-stuffing (RFC 5321 4.5.2).  Returns 0, 1 when fd could not be
 * written, or -1 when the input ended or failed first. */
static int
read_data(struct server *s, int fd)
{
	int bol = 1, whole, bad = fd == -1;
	size_t n;
	char *seg;

	for (;;) {
		if (next_segment(s, &seg, &n, &whole) != 1)
			return -1;
		if (bol && whole && n == 1 && seg[0] == '.')
			return bad;
		if (bol && n > 0 && seg[0] == '.')
			seg++, n--;
		if (!bad &&
		    (write_all(fd, seg, n) == -1 ||
			(whole && write_all(fd, "\r\n", 2) == -1)))
			bad = 1;
		bol = whole;
	}
}

/* The reply to the final dot: the relay's outcome, and for a 250 what
 * it says happened (sent, or queued and why), one line. */
static int
relay(struct server *s, int fd, server_relay_fn *fn, void *arg)
{
	struct server_msg m = { 0 };
	char note[SERVER_LINE_MAX];
	struct err e;

	err_clear(&e);
	m.from = s->from;
	m.rcpt = (const char *const *)s->rcpt;
	m.nrcpt = s->nrcpt;
	m.fd = fd;
	if (lseek(fd, 0, SEEK_SET) == -1)
		return reply(s, "451 4.3.0 cannot read the message back");
	if (fn(arg, &m, &e) == 0 && e.text[0] == '\0')
		return reply(s, "250 2.0.0 Ok");
	if (e.class == ERR_NONE) {
		err_sanitize(note, sizeof(note), e.text, strlen(e.text));
		return reply(s, "250 2.0.0 Ok: %s", note);
	}
	if (e.class == ERR_PERM || e.class == ERR_USAGE)
		return reply(s, "554 5.0.0 %s", e.text);
	return reply(s, "451 4.3.0 %s", e.text);
}

static int
do_data(struct server *s, server_relay_fn *fn, void *arg)
{
	int fd, rc;

	if (s->nrcpt == 0)
		return reply(s, "503 5.5.1 need RCPT before DATA");
	fd = data_file(s->p);
	if (reply(s, "354 End data with <CR><LF>.<CR><LF>") == -1)
		rc = -1;
	else if ((rc = read_data(s, fd)) == -1 && s->rec->class == ERR_NONE)
		err_set(s->rec, ERR_TEMP, EX_TEMPFAIL,
		    "-bs: the input ended in the middle of a message; it was not sent");
	if (rc == 1)
		rc = reply(s, "451 4.3.0 cannot store the message here");
	else if (rc == 0)
		rc = relay(s, fd, fn, arg);
	if (fd != -1)
		close(fd);
	reset(s);
	return rc;
}

static int
do_mail(struct server *s, const char *arg)
{
	if (s->from != NULL)
		return reply(s, "503 5.5.1 MAIL already given (RSET first)");
	s->from = get_path(arg);
	if (s->from == NULL)
		return reply(s, "501 5.5.4 syntax: MAIL FROM:<address>");
	if (strpbrk(s->from, "\r") != NULL) {
		reset(s);
		return reply(s, "501 5.5.4 bad address");
	}
	return reply(s, "250 2.1.0 Ok");
}

static int
do_rcpt(struct server *s, const char *arg)
{
	char *r;

	if (s->from == NULL)
		return reply(s, "503 5.5.1 need MAIL before RCPT");
	if (s->nrcpt == SERVER_RCPT_MAX)
		return reply(s, "452 4.5.3 too many recipients");
	r = get_path(arg);
	if (r == NULL || r[0] == '\0' || strchr(r, '\r') != NULL) {
		free(r);
		return reply(s, "501 5.5.4 syntax: RCPT TO:<address>");
	}
	s->rcpt[s->nrcpt++] = r;
	return reply(s, "250 2.1.5 Ok");
}

/* One command line.  Returns 0, 1 after QUIT, or -1 with s->rec set. */
static int
dispatch(struct server *s, const char *line, server_relay_fn *fn, void *arg)
{
	const char *a;

	if ((a = verb(line, "EHLO")) != NULL) {
		reset(s);
		if (reply(s, "250-%s", s->p->hostname) == -1)
			return -1;
		return reply(s, "250 8BITMIME");
	}
	if ((a = verb(line, "HELO")) != NULL) {
		reset(s);
		return reply(s, "250 %s", s->p->hostname);
	}
	if ((a = verb(line, "MAIL FROM:")) != NULL)
		return do_mail(s, a);
	if ((a = verb(line, "RCPT TO:")) != NULL)
		return do_rcpt(s, a);
	if (verb(line, "DATA") != NULL)
		return do_data(s, fn, arg);
	if (verb(line, "RSET") != NULL) {
		reset(s);
		return reply(s, "250 2.0.0 Ok");
	}
	if (verb(line, "NOOP") != NULL)
		return reply(s, "250 2.0.0 Ok");
	if (verb(line, "VRFY") != NULL)
		return reply(s, "252 2.1.5 cannot verify; send and see");
	if (verb(line, "HELP") != NULL)
		return reply(s,
		    "214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP VRFY QUIT");
	if (verb(line, "QUIT") != NULL)
		return reply(s, "221 2.0.0 Bye") == -1 ? -1 : 1;
	return reply(s, "502 5.5.2 command not implemented");
}

int
server_run(int infd, int outfd, const struct server_params *p,
    server_relay_fn *fn, void *arg, struct err *rec)
{
	struct server *s;
	char line[SERVER_LINE_MAX + 1], *seg;
	size_t n;
	int whole, rc, toolong = 0;

	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	s->in = infd, s->out = outfd, s->p = p, s->rec = rec;
	rc = reply(s, "220 %s ESMTP mailhop", p->hostname);
	while (rc == 0 && (rc = next_segment(s, &seg, &n, &whole)) == 1) {
		if (!whole || toolong || n > SERVER_LINE_MAX) {
			toolong = !whole;
			rc = whole ? reply(s, "500 5.5.2 line too long") : 0;
			continue;
		}
		memcpy(line, seg, n);
		line[n] = '\0';
		rc = dispatch(s, line, fn, arg);
	}
	reset(s);
	free(s);
	return rc == -1 ? -1 : 0;
}
