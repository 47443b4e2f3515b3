/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SMTP_INT_H
#define MAILHOP_SMTP_INT_H

/* What smtp.c, smtp_open.c and smtp_txn.c share: the connection, its
 * states, and the plumbing that sends commands and reads replies.  Not
 * for other modules: they use smtp.h. */

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "io.h"
#include "reply.h"
#include "sasl.h"
#include "smtp.h"
#include "tls.h"

/* Longest command line, CRLF included: 512 (RFC 5321 4.5.3.1.4), plus
 * 500 that RFC 3461 5 allows RCPT for NOTIFY and ORCPT. */
#define SMTP_CMD_MAX 1024
/* Longest AUTH challenge we decode (security.md S25). */
#define SMTP_CHALLENGE_MAX 65536
/* Spool file read size while streaming the message. */
#define SMTP_CHUNK 65536
/* A reply flattened to one line, for errors and the log line. */
#define SMTP_FLAT_MAX 1024

enum smtp_state {
	/* open (smtp_open.c) */
	ST_GREETING,
	ST_EHLO,
	ST_STARTTLS,
	ST_AUTH,
	ST_AUTH_NEXT,
	/* between transactions: the connection may take a message */
	ST_READY,
	/* transaction (smtp_txn.c) */
	ST_RSET_FIRST, /* RSET before the second and later transactions */
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_BDAT,
	/* close (smtp.c) */
	ST_RSET,
	ST_QUIT,
	ST_DONE
};

/* One transaction's state, cleared before each message. */
struct smtp_txn {
	const struct smtp_envelope *env;
	int msgfd;
	long long size;	     /* of the spool file, for SIZE */
	long long wire_size; /* bytes BDAT sends: size, + 2 if no final CRLF */
	int bdat;	     /* CHUNKING: BDAT instead of DATA (RFC 3030) */
	int quit;	     /* QUIT follows the message in its group */
	int group_sent;	     /* MAIL and every RCPT have left as one group */
	int data_sent;	     /* DATA, or the BDAT LAST, went with them */
	int last_sent;	     /* the final dot or BDAT LAST has gone out */
	size_t rcpt_i;	     /* recipient whose reply comes next */
	int failed;
	int partial;	/* some recipients refused, the others get it */
	struct err err; /* why the transaction failed, once it has */
	size_t nrefused;
	int refused_perm;
	char refused[ERR_TEXT_MAX]; /* "<a@b> 550 ...; <c@d> 450 ..." */
	char refused_reply[SMTP_FLAT_MAX];
	size_t refused_len;
	int bol; /* streaming: the last byte sent ended a line */
};

struct smtp_conn {
	const struct smtp_params *p;
	struct smtp_result *res; /* of the current call */
	struct tls_params tlsp;
	struct io *io;
	enum smtp_state state;
	struct reply_caps caps;
	int sane;      /* the dialogue is in step: QUIT may be sent */
	int winddown;  /* sending RSET or QUIT after the outcome */
	int rset;      /* a transaction is open: RSET before QUIT */
	int quit_sent; /* QUIT went out with the last message */
	unsigned ntxn; /* transactions begun on this connection */
	char tls[16];  /* what open() learned, for each smtp_result */
	struct sasl *sasl;
	int sasl_more; /* the mechanism still wants a challenge */
	char *auth_out;
	char mech[32];
	struct smtp_txn t;
	char flat[SMTP_FLAT_MAX];
	size_t flatlen;
	char cmd[SMTP_CMD_MAX];
	struct reply reply;
	char line[SMTP_CHALLENGE_MAX + 8];
	char chunk[SMTP_CHUNK];
};

/* Plumbing, in smtp.c */

/* Change state; returns 0. */
int smtp_enter(struct smtp_conn *s, enum smtp_state st);

/* The connection is out of step: no more commands; returns -1. */
int smtp_io_failed(struct smtp_conn *s);

/* Write what is buffered (one write per pipelined group). */
int smtp_flush(struct smtp_conn *s, struct err *rec);

/* A command we will not send (ERR_USAGE, EX_DATAERR why); the session
 * ends without QUIT since a group may be half buffered.  Returns -1. */
int smtp_refuse_cmd(struct smtp_conn *s, const char *why, struct err *rec);

/* Buffer one command line (CRLF added), refusing control bytes; the
 * transcript shows it.  smtp_send_cmd also flushes.  Return 0 or -1. */
int smtp_put_cmd(struct smtp_conn *s, struct err *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int smtp_send_cmd(struct smtp_conn *s, struct err *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill rec from a reply that is not the one hoped for: 4xx temporary,
 * 5xx permanent with permcode, else a protocol error.  Returns -1. */
int smtp_fail_reply(struct smtp_conn *s, struct err *rec, int permcode,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Server text read in clear while TLS is to come (STARTTLS mode): anyone
 * on the path could have written it, so the transcript and the error
 * lines that quote it say so (security.md S09). */
#define SMTP_BEFORE_TLS "said before TLS, not authenticated"
int smtp_before_tls(const struct smtp_conn *s);

/* What the transcript shows for AUTH data (security.md S34): prefix, then
 * "<redacted, LEN bytes>", into buf (size sz). */
void smtp_redacted(char *buf, size_t sz, const char *prefix, size_t len);

/* Append "; the message was not sent" to rec's text.  Returns -1. */
int smtp_not_sent(struct err *rec);

/* Open (smtp_open.c): greeting, EHLO, STARTTLS, EHLO, AUTH.  send_state
 * and handle_reply for ST_GREETING .. ST_AUTH_NEXT; start_tls for
 * implicit TLS. */
int smtp_open_send(struct smtp_conn *s, struct err *rec);
int smtp_open_reply(struct smtp_conn *s, struct err *rec);
int smtp_open_start_tls(struct smtp_conn *s, struct err *rec);

/* The AUTH exchange is over, or will never run: end the SASL session
 * (with what it copied), wipe the last response, what the output buffer
 * kept of the responses sent, and the password in s->p (S35).  Safe to
 * call more than once. */
void smtp_open_auth_end(struct smtp_conn *s);

/* The reply in an AUTH exchange could not be read (rec says why: a line
 * over the cap, a NUL, a malformed line): cancel with "*" and end the
 * session; rec is rewritten to name the mechanism and the host. */
void smtp_open_auth_unreadable(struct smtp_conn *s, struct err *rec);

/* Refuse before connecting an envelope no server should see: no
 * recipient, a control byte or an overlong word (S26), bad DSN values.
 * Returns 0, or -1 with rec filled (ERR_USAGE). */
int smtp_txn_check(const struct smtp_params *p, const struct smtp_envelope *env,
    struct err *rec);

/* Transaction (smtp_txn.c): send_state and handle_reply for
 * ST_RSET_FIRST .. ST_BDAT.  smtp_txn_begin checks env, clears s->t and
 * picks the first state. */
int smtp_txn_begin(struct smtp_conn *s, const struct smtp_envelope *env,
    int msgfd, int quit, struct err *rec);
int smtp_txn_send(struct smtp_conn *s, struct err *rec);
int smtp_txn_reply(struct smtp_conn *s, struct err *rec);

#endif
