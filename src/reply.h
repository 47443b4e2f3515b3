/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_REPLY_H
#define MAILHOP_REPLY_H

#include <stddef.h>

#include "err.h"

/* Caps on one reply: every buffer fed by the network has one. */
#define REPLY_LINES_MAX 1000
#define REPLY_TEXT_MAX 65536

/* One server reply (RFC 5321 section 4.2), as reply_line builds it. */
struct reply {
	int code; /* 3 digits, 0 until the first line */
	size_t nlines;
	size_t len;		   /* bytes used in text */
	char text[REPLY_TEXT_MAX]; /* line texts, '\n'-joined */
};

/* Make r empty, ready for the first line of a reply.  Never fails. */
void reply_init(struct reply *r);

/* Feed one reply line without its line end.  Returns 1 when the reply is
 * complete, 0 when more lines follow, -1 with rec filled (ERR_PERM,
 * EX_PROTOCOL) when the line is malformed: not three digits then SP, '-'
 * or end of line; a code that differs from the first line's; NUL; or over
 * the line or size caps.  r keeps the lines accepted before. */
int reply_line(struct reply *r, const char *line, size_t len, struct err *rec);

/* Write r as one line "CODE text text" (lines joined by spaces, raw: not
 * sanitised) into dst of sz bytes (sz > 0), cut to fit and always
 * terminated.  Returns the length written.  Never fails. */
size_t reply_flatten(const struct reply *r, char *dst, size_t sz);

/* Fill rec for a reply r that is not the one hoped for, as every
 * dialogue does (a send, --serverinfo): 4xx is ERR_TEMP/EX_TEMPFAIL, 5xx
 * ERR_PERM with permcode, anything else ERR_PERM/EX_PROTOCOL "unexpected
 * reply".  The text is what, ": ", the reply flattened and sanitised,
 * then note ("" for none); rec->reply gets the reply.  Returns -1. */
int reply_fail(const struct reply *r, const char *what, const char *note,
    int permcode, struct err *rec);

/* EHLO keywords (RFC 5321 4.1.1.1), as flags of struct reply_caps. */
#define REPLY_CAP_PIPELINING 0x01 /* RFC 2920 */
#define REPLY_CAP_STARTTLS 0x02	  /* RFC 3207 */
#define REPLY_CAP_8BITMIME 0x04	  /* RFC 6152 */
#define REPLY_CAP_SMTPUTF8 0x08	  /* RFC 6531 */
#define REPLY_CAP_DSN 0x10	  /* RFC 3461 */
#define REPLY_CAP_CHUNKING 0x20	  /* RFC 3030 */
#define REPLY_CAP_ENHANCED 0x40	  /* ENHANCEDSTATUSCODES, RFC 2034 */
#define REPLY_CAP_AUTH 0x80	  /* RFC 4954 */
#define REPLY_CAP_SIZE 0x100	  /* RFC 1870 */

/* What an EHLO reply offered. */
struct reply_caps {
	unsigned flags;	 /* REPLY_CAP_* */
	long long size;	 /* SIZE (RFC 1870); -1: none or unknown */
	char auth[1024]; /* AUTH mechanisms, space-separated */
};

/* Fill c (cleared first) from the 250 reply r to EHLO.  Keywords are
 * compared whole and case-insensitively; the first line (the server's
 * name) is skipped; "AUTH=MECH ..." counts as AUTH.  Mechanisms are
 * collected from every AUTH line; one that does not fit whole is left
 * out.  A SIZE argument that is absent, malformed or too large gives -1.
 * Never fails. */
void reply_caps_parse(struct reply_caps *c, const struct reply *r);

#endif
