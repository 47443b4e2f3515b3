/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SERVER_H
#define MAILHOP_SERVER_H

#include <stddef.h>

#include "err.h"

/* Most RCPT commands one message may have. */
#define SERVER_RCPT_MAX 1000
/* Longest command line, without its line end (RFC 5321 4.5.3.1.4 says
 * 512; we take more). */
#define SERVER_LINE_MAX 2048

/* One message received in the dialogue, as the relay callback sees it. */
struct server_msg {
	const char *from;	 /* MAIL FROM path without <>; "" for <> */
	const char *const *rcpt; /* RCPT TO paths without <> */
	size_t nrcpt;
	int fd; /* the data, dot-stuffing undone, at offset 0; the
		 * callback reads it and need not close it */
};

/* Relay one message.  Returns 0 when the account's server took it or it
 * was queued, with rec's text saying which (class ERR_NONE; the 250
 * quotes it, sanitised; "" gives a bare 250); else -1 with rec filled
 * (its class picks the reply: ERR_PERM and ERR_USAGE give 554, the
 * others 451). */
typedef int server_relay_fn(
    void *arg, const struct server_msg *m, struct err *rec);

struct server_params {
	const char *hostname; /* in the greeting and the EHLO reply */
	const char *tmpdir;   /* for the data; NULL: $TMPDIR, else /tmp */
	int timeout_ms;	      /* longest wait for a command or data line */
};

/*
 * Speak SMTP (RFC 5321) as a server on infd and outfd, as sendmail -bs
 * does: greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY, HELP,
 * QUIT.  Each message's data goes to a private unlinked file and to fn;
 * the reply to the final dot says what fn said.  Returns 0 after QUIT or
 * at the end of input; -1 with rec filled when the input cannot be read,
 * the output cannot be written (ERR_LOCAL, EX_IOERR), or no command comes
 * within the timeout (ERR_TEMP, EX_TEMPFAIL).  Blocks.
 */
int server_run(int infd, int outfd, const struct server_params *p,
    server_relay_fn *fn, void *arg, struct err *rec);

#endif
