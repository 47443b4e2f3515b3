/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_PEEK_H
#define MAILHOP_PEEK_H

#include <stddef.h>

#include "addr.h"
#include "err.h"

/* Most of a message read ahead for its header; a header still open past
 * it chooses no account by From. */
#define PEEK_MAX (256 * 1024)

/* The start of a message, read before the account is chosen. */
struct peek {
	char *buf; /* the bytes read, as read (msg_opts.head) */
	size_t len;
	int eof; /* the whole input is in buf */
};

/* Read fd until the message's header has ended (its first empty line),
 * EOF, or PEEK_MAX bytes, and append the mailboxes of its From fields to
 * from (a field that does not parse adds none).  Line ends may be LF, CR
 * LF or CR; a leading mbox "From " line is skipped.  Blocks on fd.
 * Returns 0 with p filled (free it with peek_free; the bytes are the
 * message's first and must go to msg_read), or -1 with rec filled: a read
 * error (ERR_LOCAL, EX_NOINPUT), out of memory (ERR_LOCAL, EX_OSERR). */
int peek_header(
    int fd, struct peek *p, struct addr_list *from, struct err *rec);

void peek_free(struct peek *p);

#endif
