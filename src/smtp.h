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

/* One account's server, as flush_smtp_params builds it from the
 * configuration. */
struct smtp_params {
	const char *host; /* name or IP literal; also the TLS identity */
	const char *port; /* "587" */
	enum smtp_tls tls;
	const char *ca_file; /* NULL: system trust store */
	const char *tls_pin; /* tls_params.pin */
	const char *tls_priorities;
	const char *tls_cert_file; /* client certificate and key, or NULL */
	const char *tls_key_file;
	enum smtp_auth auth;
	const char *mech; /* upper case, for SMTP_AUTH_MECH */
	const char *user;
	/* Owned by the caller, who frees it; smtp_conn_open wipes its
	 * bytes as soon as the AUTH exchange ends, success or failure,
	 * and smtp_send before it returns in any case (security.md S35):
	 * it serves one connection only. */
	char *password;
	const char *helo; /* name sent with EHLO */
	int timeout_ms;	  /* connect budget and base for each step */
	/* 0: all or nothing (DESIGN.md): one recipient refused, nobody
	 * gets the message.  1: deliver to the recipients the server
	 * accepted; smtp_send still returns -1 naming the refused ones
	 * (config key partial_delivery; flush.c maps it). */
	int partial;
	/* Called once the server has said 250 to a message that went to
	 * every recipient, before QUIT's reply is awaited; NULL: none. */
	void (*accepted)(void *arg);
	void *accepted_arg;
};

struct smtp_envelope {
	const char *from;	 /* "" for the null sender */
	const char *const *rcpt; /* ASCII or A-label addresses */
	size_t nrcpt;
	int eightbit; /* body has 8-bit bytes: BODY=8BITMIME */
	/* An envelope address has a non-ASCII local part (its domain is
	 * already an A-label): MAIL gets SMTPUTF8 (RFC 6531 3.4); a
	 * server without it refuses the message before MAIL.  0: the
	 * keyword is never sent, even when offered. */
	int smtputf8;
	/* DSN requests (RFC 3461), NULL when not asked for (-N, -R, -V).
	 * Sent only to a server that offers DSN; otherwise dropped and
	 * res->dsn_dropped set.  Checked as given: options.c validates. */
	const char *notify; /* "NEVER" or "SUCCESS,FAILURE,DELAY" subset,
			     * upper case: NOTIFY= on each RCPT */
	const char *ret;    /* "FULL" or "HDRS": RET= on MAIL */
	const char *envid;  /* printable ASCII, raw (xtext-encoded here,
			     * at most 100 bytes encoded): ENVID= on MAIL */
	/* NULL, or the caller's array of nrcpt ints that smtp_send fills
	 * with each recipient's RCPT reply code (0: no reply read); with
	 * partial delivery it tells the refused (4xx to retry, 5xx) from
	 * the delivered ones. */
	int *rcpt_codes;
};

/* What the session learned, for the log line; filled as far as the
 * session got, also on failure. */
struct smtp_result {
	char tls[16];		   /* "TLS1.3", or "none" */
	char mech[32];		   /* AUTH mechanism, or "none" */
	char reply[ERR_REPLY_MAX]; /* last reply, sanitised, one line */
	/* A DSN request (notify, ret or envid) was dropped because the
	 * server does not offer DSN; the log line says "dsn=dropped". */
	int dsn_dropped;
	/* Recipients the server took the message for: env->nrcpt when
	 * smtp_send returns 0; with params->partial, the accepted ones
	 * also when it returns -1 because others were refused (then
	 * rec names the refused ones); else 0. */
	size_t delivered;
	/* The refused recipients of each kind, as rec lists them all
	 * ("<a@b> 450 ...; <c@d> 451 ..."), for a caller that keeps the
	 * ones refused for now apart from the others (partial delivery). */
	char refused_temp[ERR_TEXT_MAX];
	char refused_perm[ERR_TEXT_MAX];
};

/* Deliver the message in msgfd (the spool file: CRLF lines, read with
 * pread from offset 0 to EOF) to the server in params: smtp_conn_open,
 * smtp_conn_send with QUIT in the message's group, smtp_conn_close.
 * An envelope no server should see is refused before connecting
 * (ERR_USAGE).  Returns and fills res and rec as smtp_conn_send.
 * params->password is wiped (smtp_params).  Blocks. */
int smtp_send(const struct smtp_params *params, const struct smtp_envelope *env,
    int msgfd, struct smtp_result *res, struct err *rec);

struct smtp_conn;

/* As smtp_send, but without QUIT: the connection is left in *keep (NULL
 * when none was opened) for more messages, closed with smtp_conn_close
 * whatever the outcome (smtp_conn_usable tells whether it can take
 * another). */
int smtp_send_keep(const struct smtp_params *params,
    const struct smtp_envelope *env, int msgfd, struct smtp_result *res,
    struct err *rec, struct smtp_conn **keep);

/* A session that can carry several messages (a queue flush). */
struct smtp_conn;

/* Connect to the server in params (which must outlive the connection),
 * read the greeting, EHLO, STARTTLS or implicit TLS, EHLO again, AUTH;
 * params->password is wiped once the AUTH exchange is over, and before
 * this returns in any case.
 * Every wait has a deadline.  Returns 0 with *conn set (release with
 * smtp_conn_close); or -1 with *conn NULL and rec filled: ERR_TEMP for
 * 4xx, timeouts, refused or lost connections, ERR_PERM with the sysexits
 * code of DESIGN.md otherwise.  res gets the TLS version and the AUTH
 * mechanism as far as the session got, and the last reply.  Blocks. */
int smtp_conn_open(const struct smtp_params *params, struct smtp_result *res,
    struct smtp_conn **conn, struct err *rec);

/* One mail transaction on conn: RSET first unless it is the first, MAIL,
 * RCPT, then BDAT (RFC 3030) when the server offers CHUNKING, else DATA
 * and the dot-stuffed message.  With PIPELINING the commands leave as
 * one group in one write, with the message when one recipient is named
 * or params->partial is set (else it waits for the RCPT replies), and,
 * with quit set, QUIT after it; quit ends the connection's use either
 * way.  Returns 0 once the server said 250 to the message; else -1 with
 * rec filled: ERR_TEMP for 4xx, timeouts and lost connections (once the
 * end of the message went out, rec says delivery is uncertain), ERR_PERM
 * with the sysexits code of DESIGN.md otherwise.  A message over the
 * server's SIZE, or one that needs SMTPUTF8 when the server lacks it, is
 * refused before MAIL (ERR_PERM, EX_DATAERR).  If any recipient is
 * refused, rec names each refused address (EX_NOUSER, or ERR_TEMP when
 * every refusal was 4xx) and no message is sent, unless params->partial:
 * then the accepted recipients get it and res->delivered counts them.
 * env must be wholly initialised (unused fields 0 or NULL).  After a
 * failure, smtp_conn_usable says whether conn can take another message.
 * Blocks. */
int smtp_conn_send(struct smtp_conn *conn, const struct smtp_envelope *env,
    int msgfd, int quit, struct smtp_result *res, struct err *rec);

/* Whether conn is open, in step and may carry another transaction. */
int smtp_conn_usable(const struct smtp_conn *conn);

/* End the session: RSET if a refused transaction is open, QUIT (waiting
 * briefly for its 221) when the dialogue is in step; close; free.  NULL
 * is fine.  Blocks at most a few seconds. */
void smtp_conn_close(struct smtp_conn *conn);

#endif
