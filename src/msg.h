/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_MSG_H
#define MAILHOP_MSG_H

#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "err.h"

/* Longest line SMTP allows, without its CRLF (RFC 5321 4.5.3.1.6). */
#define MSG_LINE_MAX 998

struct msg_opts {
	int extract;	    /* -t: collect To, Cc and Bcc */
	const char *from;   /* envelope sender, for a missing From header */
	const char *domain; /* right-hand side of a new Message-ID */
	const char *tmpdir; /* spool directory; NULL: $TMPDIR, else /tmp */
	time_t now;	    /* for a new Date header; 0: time(NULL) */
};

struct msg {
	int fd;		       /* spool file: the message as it will be sent,
				* CRLF line ends, unlinked; -1 when closed */
	long long size;	       /* bytes in the spool file */
	struct addr_list rcpt; /* with extract: To, Cc, Bcc mailboxes */
	struct addr_list from; /* mailboxes of the From header */
	char *msgid;	       /* Message-ID without <> (found or made) */
	int eightbit;	       /* a byte over 0x7f anywhere */
};

/* Read infd to EOF and write the message to a new private spool file:
 * every line end becomes CRLF without doubling a CR; a leading mbox
 * "From " line is dropped; the header ends at the first empty line or the
 * first line that is not a header field or continuation; Bcc and
 * Content-Length fields are removed; Date, Message-ID and From are added
 * when missing.  Returns 0 with m filled (the caller frees it with
 * msg_free), or -1 with rec filled: unreadable input ERR_LOCAL/EX_NOINPUT
 * (read error) or EX_IOERR (spool), a NUL byte or a line over MSG_LINE_MAX
 * ERR_USAGE/EX_DATAERR naming the line number, an address-list syntax error
 * in To, Cc or Bcc with extract ERR_USAGE/EX_DATAERR naming the field.
 * Reads everything before returning, also on a data error. */
int msg_read(
    int infd, const struct msg_opts *opts, struct msg *m, struct err *rec);

void msg_free(struct msg *m);

/* Line-end normaliser, exposed for the unit tests: feed chunks of any
 * size; LF, CRLF and lone CR each end a line and come out as CRLF, and a CR
 * split from its LF across chunks is handled. */
struct msg_crlf {
	int cr; /* the last byte fed was CR */
};

/* Convert len bytes from in into out, which has room for 2 * len bytes.
 * Returns the bytes written. */
size_t msg_crlf_feed(
    struct msg_crlf *st, const char *in, size_t len, char *out);

#endif
