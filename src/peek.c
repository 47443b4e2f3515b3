/* SPDX-License-Identifier: ISC */
/*
 * The header of a message, read before the account is chosen, for its
 * From addresses (mailhop.1, "Choosing the account").  The bytes read
 * here are handed to msg_read as the start of the message, so the input
 * is still read once and to EOF there.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "hdr.h"
#include "msg.h"
#include "peek.h"

#define PEEK_CHUNK 8192

/* The header read so far with CRLF line ends. */
struct norm {
	char *s;
	size_t len;
	struct msg_crlf st;
};

/* Offset of the CRLF that ends the line at i, or n. */
static size_t
line_end(const char *s, size_t n, size_t i)
{
	const char *e = memmem(s + i, n - i, "\r\n", 2);

	return e != NULL ? (size_t)(e - s) : n;
}

/* Where the header ends (after its empty line), or 0 while it is open. */
static size_t
header_end(const char *s, size_t n)
{
	const char *e;

	if (n >= 2 && memcmp(s, "\r\n", 2) == 0)
		return 2;
	e = memmem(s, n, "\r\n\r\n", 4);
	return e != NULL ? (size_t)(e - s) + 4 : 0;
}

/* The bytes of s that end in a line end (all of them at EOF): a field
 * cut by PEEK_MAX is not looked at. */
static size_t
whole_lines(const char *s, size_t n, int eof)
{
	while (!eof && n > 0 && s[n - 1] != '\n')
		n--;
	return n;
}

/* The mailboxes of one From value (len bytes, maybe folded). */
static int
add_from(const char *v, size_t len, struct addr_list *from)
{
	struct addr_list l = { 0 };
	struct err e;
	char *val = malloc(len + 1);
	size_t i, k = 0;
	int rc = 0;

	if (val == NULL)
		return -1;
	for (i = 0; i < len; i++)
		if (v[i] != '\r' && v[i] != '\n')
			val[k++] = v[i];
	val[k] = '\0';
	/* A field that does not parse chooses nothing; msg_read and the
	 * From policy deal with it. */
	if (addr_parse_list(val, &l, &e) == 0)
		for (i = 0; rc == 0 && i < l.n; i++)
			rc = addr_list_add(from, l.v[i].name, l.v[i].mailbox);
	addr_list_free(&l);
	free(val);
	return rc;
}

/* The From fields of the header s (n bytes, CRLF line ends). */
static int
collect_from(const char *s, size_t n, struct addr_list *from)
{
	size_t i = 0, eol, end, name, v;

	eol = line_end(s, n, 0);
	if (hdr_is_mbox_from(s, eol))
		i = eol + 2;
	while (i < n) {
		eol = line_end(s, n, i);
		if (eol == i)
			break;
		name = hdr_field_name(s + i, eol - i, &v);
		if (name == 0)
			break;
		end = eol;
		while (end + 2 < n && (s[end + 2] == ' ' || s[end + 2] == '\t'))
			end = line_end(s, n, end + 2);
		if (hdr_name_is(s + i, name, "From") &&
		    add_from(s + i + v, end - i - v, from) == -1)
			return -1;
		i = end + 2;
	}
	return 0;
}

/* Read one chunk into p and its normalised form into nm; 0 at EOF. */
static ssize_t
read_chunk(int fd, struct peek *p, struct norm *nm)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t r;

	for (;;) {
		r = read(fd, p->buf + p->len, PEEK_CHUNK);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			poll(&pfd, 1, -1);
			continue;
		}
		break;
	}
	if (r > 0) {
		nm->len += msg_crlf_feed(
		    &nm->st, p->buf + p->len, (size_t)r, nm->s + nm->len);
		p->len += (size_t)r;
	}
	return r;
}

int
peek_header(int fd, struct peek *p, struct addr_list *from, struct err *rec)
{
	struct norm nm = { 0 };
	size_t end = 0;
	ssize_t r = 1;
	int e, rc = 0;

	memset(p, 0, sizeof(*p));
	p->buf = malloc(PEEK_MAX + PEEK_CHUNK);
	nm.s = malloc(2 * (PEEK_MAX + PEEK_CHUNK));
	if (p->buf == NULL || nm.s == NULL)
		rc = err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	while (rc == 0 && end == 0 && p->len < PEEK_MAX &&
	    (r = read_chunk(fd, p, &nm)) > 0)
		end = header_end(nm.s, nm.len);
	if (rc == 0 && r == -1) {
		e = errno;
		rc = err_set(rec, ERR_LOCAL, EX_NOINPUT,
		    "cannot read the message: %s", strerror(e));
	}
	p->eof = r == 0;
	if (end == 0)
		end = whole_lines(nm.s, nm.len, p->eof);
	if (rc == 0 && collect_from(nm.s, end, from) == -1)
		rc = err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	free(nm.s);
	return rc;
}

void
peek_free(struct peek *p)
{
	if (p == NULL)
		return;
	free(p->buf);
	p->buf = NULL;
	p->len = 0;
}
