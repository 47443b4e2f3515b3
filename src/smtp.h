/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SMTP_H
#define MAILHOP_SMTP_H

#include <stddef.h>

#include "err.h"

enum smtp_tls {
	SMTP_TLS_STARTTLS, /* RFC 3207, required: never falls back */
	SMTP_TLS_IMPLICIT, /* RFC 8314 */
	SMTP_TLS_OFF
};

enum smtp_auth {
	SMTP_AUTH_OFF,
	SMTP_AUTH_ANY, /* the strongest mechanism both sides have */
	SMTP_AUTH_MECH /* exactly smtp_params.mech */
};

/* One account's server, as main.c builds it from the configuration. */
struct smtp_params {
	const char *host; /* name or IP literal; also the TLS identity */
	const char *port; /* "587" */
	enum smtp_tls tls;
	const char *ca_file; /* NULL: system trust store */
	enum smtp_auth auth;
	const char *mech; /* upper case, for SMTP_AUTH_MECH */
	const char *user;
	const char *password; /* owned by the caller, who wipes it */
	const char *helo;     /* name sent with EHLO */
	int timeout_ms;	      /* connect budget and base for each step */
};

struct smtp_envelope {
	const char *from;	 /* "" for the null sender */
	const char *const *rcpt; /* ASCII or A-label addresses */
	size_t nrcpt;
	int eightbit; /* body has 8-bit bytes: BODY=8BITMIME */
};

/* What the session learned, for the log line; filled as far as the
 * session got, also on failure. */
struct smtp_result {
	char tls[16];		   /* "TLS1.3", or "none" */
	char mech[32];		   /* AUTH mechanism, or "none" */
	char reply[ERR_REPLY_MAX]; /* last reply, sanitised, one line */
};

/* Deliver the message in msgfd (the spool file: CRLF lines, read with
 * pread from offset 0 to EOF) to the server in params: greeting, EHLO,
 * STARTTLS or implicit TLS, AUTH, then MAIL, RCPT and DATA (one pipelined
 * group when offered), the dot-stuffed message, QUIT.  Every wait has a
 * deadline.  Returns 0 once the server said 250 to the message; else -1
 * with rec filled: ERR_TEMP for 4xx, timeouts and lost connections,
 * ERR_PERM with the sysexits code of DESIGN.md otherwise.  If any
 * recipient is refused, no message is sent and rec names each refused
 * address.  Blocks. */
int smtp_send(const struct smtp_params *params, const struct smtp_envelope *env,
    int msgfd, struct smtp_result *res, struct err *rec);

#endif
