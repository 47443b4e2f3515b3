/* SPDX-License-Identifier: ISC */
/*
 * SMTP submission client: one session per message over io (plain,
 * STARTTLS or implicit TLS), AUTH through sasl, MAIL and RCPT as one
 * pipelined group when offered (DATA too when safe), the dot-stuffed
 * message, QUIT.  A state machine: enter() changes state, send_state()
 * sends a state's command, handle_reply() acts on its reply.  Replies
 * and EHLO keywords are parsed by reply.c, the MAIL and RCPT parameters
 * built by esmtp.c.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "err.h"
#include "esmtp.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "sasl.h"
#include "smtp.h"
#include "tls.h"

/* Longest command line, CRLF included: 512 (RFC 5321 4.5.3.1.4), plus
 * 500 that RFC 3461 5 allows RCPT for NOTIFY and ORCPT. */
#define CMD_MAX 1024
/* Longest AUTH challenge we decode (security.md S25). */
#define CHALLENGE_MAX 65536
/* Spool file read size while streaming the message. */
#define CHUNK 65536
/* A reply flattened to one line, for errors and the log line. */
#define FLAT_MAX 1024
/* The reply to the final dot may take 10 minutes (RFC 5321 4.5.3.2.6). */
#define FINAL_DOT_MS (10 * 60 * 1000)
/* How long QUIT and RSET may take once the outcome is known. */
#define WINDDOWN_MS 10000

enum smtp_state {
	ST_GREETING,
	ST_EHLO,
	ST_STARTTLS,
	ST_AUTH,
	ST_AUTH_NEXT,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_RSET,
	ST_QUIT,
	ST_DONE
};

static const char *const state_names[] = {
	[ST_GREETING] = "GREETING",
	[ST_EHLO] = "EHLO",
	[ST_STARTTLS] = "STARTTLS",
	[ST_AUTH] = "AUTH",
	[ST_AUTH_NEXT] = "AUTH-NEXT",
	[ST_MAIL] = "MAIL",
	[ST_RCPT] = "RCPT",
	[ST_DATA] = "DATA",
	[ST_BODY] = "BODY",
	[ST_RSET] = "RSET",
	[ST_QUIT] = "QUIT",
	[ST_DONE] = "DONE",
};

struct session {
	const struct smtp_params *p;
	const struct smtp_envelope *env;
	int msgfd;
	long long size; /* of the spool file, for SIZE */
	struct smtp_result *res;
	struct tls_params tlsp;
	struct io *io;
	enum smtp_state state;
	struct reply_caps caps;
	int sane;      /* the dialogue is in step: QUIT may be sent */
	int winddown;  /* sending RSET or QUIT after the outcome */
	int pipelined; /* MAIL and every RCPT have left as one group */
	int data_sent; /* DATA went with them */
	int rset;      /* end the transaction with RSET before QUIT */
	size_t rcpt_i; /* recipient whose reply comes next */
	int txn_failed;
	int partial;	/* some recipients refused, the others get it */
	struct err txn; /* why the transaction failed, once it has */
	size_t nrefused;
	int refused_perm;
	char refused[ERR_TEXT_MAX]; /* "<a@b> 550 ...; <c@d> 450 ..." */
	char refused_reply[FLAT_MAX];
	size_t refused_len;
	struct sasl *sasl;
	int sasl_more; /* the mechanism still wants a challenge */
	char *auth_out;
	char mech[32];
	int bol; /* streaming: the last byte sent ended a line */
	char flat[FLAT_MAX];
	size_t flatlen;
	char cmd[CMD_MAX];
	struct reply reply;
	char line[CHALLENGE_MAX + 8];
	char chunk[CHUNK];
};

static int send_cmd(struct session *s, struct err *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int put_cmd(struct session *s, struct err *rec, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_reply(struct session *s, struct err *rec, int permcode,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Plumbing: deadlines, commands, replies */

static int
enter(struct session *s, enum smtp_state st)
{
	s->state = st;
	return 0;
}

static void
set_deadline(struct session *s)
{
	long long ms = s->p->timeout_ms;

	if (s->state == ST_BODY && ms < FINAL_DOT_MS)
		ms = FINAL_DOT_MS;
	if (s->winddown && ms > WINDDOWN_MS)
		ms = WINDDOWN_MS;
	io_set_deadline(s->io, net_now_ms() + ms);
}

static int
io_failed(struct session *s)
{
	s->sane = 0;
	return -1;
}

static int
flush(struct session *s, struct err *rec)
{
	if (io_flush(s->io, rec) == -1)
		return io_failed(s);
	return 0;
}

/* A command line we will not send.  It may follow others of a pipelined
 * group in the output buffer, so the session ends without QUIT. */
static int
refuse_cmd(struct session *s, const char *why, struct err *rec)
{
	s->sane = 0;
	return err_set(rec, ERR_USAGE, EX_DATAERR, "%s", why);
}

/* Queue one command line.  A backstop to check_envelope: a control byte
 * could smuggle a second command (security.md S26). */
static int
vput_cmd(struct session *s, struct err *rec, const char *fmt, va_list ap)
{
	int n;
	size_t i;

	n = vsnprintf(s->cmd, sizeof(s->cmd) - 2, fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(s->cmd) - 2)
		return refuse_cmd(s, "SMTP command over 1022 bytes", rec);
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)s->cmd[i] < 0x20 || s->cmd[i] == 0x7f)
			return refuse_cmd(s, "control byte in a command", rec);
	log_trace('>', s->cmd, (size_t)n);
	memcpy(s->cmd + n, "\r\n", 2);
	if (io_put(s->io, s->cmd, (size_t)n + 2, rec) == -1)
		return io_failed(s);
	return 0;
}

static int
put_cmd(struct session *s, struct err *rec, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vput_cmd(s, rec, fmt, ap);
	va_end(ap);
	return rc;
}

static int
send_cmd(struct session *s, struct err *rec, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vput_cmd(s, rec, fmt, ap);
	va_end(ap);
	if (rc == -1)
		return -1;
	return flush(s, rec);
}

/* Is the reply being read an AUTH challenge? */
static int
is_challenge(const struct session *s)
{
	return (s->state == ST_AUTH || s->state == ST_AUTH_NEXT) &&
	    strncmp(s->line, "334", 3) == 0;
}

/* Trace one server line.  A SCRAM challenge holds the salt, the iteration
 * count and the server's proof: with the user name that is enough to test
 * password guesses offline, so no challenge is shown (S34). */
static void
trace_reply_line(struct session *s, size_t len)
{
	if (is_challenge(s))
		log_trace('<', "334 <redacted>", 14);
	else
		log_trace('<', s->line, len);
}

static int
read_reply(struct session *s, struct err *rec)
{
	size_t len, sz = IO_LINE_MAX + 1;
	int rc;

	/* RFC 4954 4: a challenge may be longer than a reply line. */
	if (s->state == ST_AUTH || s->state == ST_AUTH_NEXT)
		sz = sizeof(s->line);
	reply_init(&s->reply);
	do {
		if (io_getline(s->io, s->line, sz, &len, rec) == -1)
			return -1;
		trace_reply_line(s, len);
		rc = reply_line(&s->reply, s->line, len, rec);
	} while (rc == 0);
	if (rc == -1)
		return -1;
	s->flatlen = reply_flatten(&s->reply, s->flat, sizeof(s->flat));
	if (!s->winddown && !is_challenge(s))
		err_sanitize(
		    s->res->reply, sizeof(s->res->reply), s->flat, s->flatlen);
	return 0;
}

/* Fill rec from a reply that is not the one hoped for: 4xx is temporary,
 * 5xx permanent with permcode, anything else a protocol error. */
static int
fail_reply(
    struct session *s, struct err *rec, int permcode, const char *fmt, ...)
{
	char what[256], shown[ERR_REPLY_MAX];
	int cls = s->reply.code / 100;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err_sanitize(shown, sizeof(shown), s->flat, s->flatlen);
	if (cls == 4)
		err_set(rec, ERR_TEMP, EX_TEMPFAIL, "%s: %s", what, shown);
	else if (cls == 5)
		err_set(rec, ERR_PERM, permcode, "%s: %s", what, shown);
	else {
		s->sane = 0;
		err_set(rec, ERR_PERM, EX_PROTOCOL, "%s: unexpected reply %s",
		    what, shown);
	}
	err_reply(rec, s->flat, s->flatlen);
	return -1;
}

/* Greeting, EHLO, STARTTLS */

static int
start_tls(struct session *s, struct err *rec)
{
	gnutls_session_t tls;
	char *desc;

	/* io refuses bytes that arrived behind the 220 (RFC 3207 4.2). */
	if (io_starttls(s->io, &s->tlsp, rec) == -1)
		return io_failed(s);
	tls = io_tls(s->io);
	snprintf(s->res->tls, sizeof(s->res->tls), "%s", tls_version_name(tls));
	if (log_trace_enabled()) {
		desc = gnutls_session_get_desc(tls);
		log_tracef("%s established with %s: %s", s->res->tls,
		    s->p->host, desc != NULL ? desc : "?");
		gnutls_free(desc);
	}
	return 0;
}

static int
on_greeting(struct session *s, struct err *rec)
{
	if (s->reply.code == 220)
		return enter(s, ST_EHLO);
	return fail_reply(s, rec, EX_UNAVAILABLE,
	    "server %s refused the session", s->p->host);
}

static int
on_ehlo(struct session *s, struct err *rec)
{
	if (s->reply.code != 250)
		return fail_reply(
		    s, rec, EX_PROTOCOL, "server %s refused EHLO", s->p->host);
	reply_caps_parse(&s->caps, &s->reply);
	/* Once TLS is on, a STARTTLS keyword is ignored (RFC 3207 4.2). */
	if (s->p->tls == SMTP_TLS_STARTTLS && io_tls(s->io) == NULL) {
		if (!(s->caps.flags & REPLY_CAP_STARTTLS))
			return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
			    "server %s did not offer STARTTLS (it may be stripped by an attacker; if the server has TLS on port 465, use tls = implicit)",
			    s->p->host);
		return enter(s, ST_STARTTLS);
	}
	return enter(s, s->p->auth != SMTP_AUTH_OFF ? ST_AUTH : ST_MAIL);
}

static int
on_starttls(struct session *s, struct err *rec)
{
	if (s->reply.code != 220) {
		/* RFC 3207 4: no plaintext continuation after a refusal. */
		return fail_reply(s, rec, EX_PROTOCOL,
		    "server %s did not start TLS", s->p->host);
	}
	if (start_tls(s, rec) == -1)
		return -1;
	/* RFC 3207 4.2: forget what was learned in clear, EHLO again. */
	memset(&s->caps, 0, sizeof(s->caps));
	return enter(s, ST_EHLO);
}

/* AUTH (RFC 4954) */

/* Mechanisms whose client speaks first, so the first response goes with
 * the AUTH command.  Tried with libgsasl 2.2: PLAIN and SCRAM answer a
 * NULL challenge with their first message; LOGIN is server-first by its
 * specification (gsasl would send the user name, but servers send
 * "Username:" first and some reject an early answer). */
static int
has_initial_response(const char *mech)
{
	static const char *const first[] = { "PLAIN", "SCRAM-SHA-1",
		"SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS",
		"EXTERNAL", "ANONYMOUS", "XOAUTH2", "OAUTHBEARER" };
	size_t i;

	for (i = 0; i < sizeof(first) / sizeof(first[0]); i++)
		if (strcasecmp(mech, first[i]) == 0)
			return 1;
	return 0;
}

/* Send a response, after "AUTH MECH " when initial; the transcript shows
 * <redacted> for it (security.md S34).  The response is wiped. */
static int
put_secret(struct session *s, int initial, struct err *rec)
{
	const char *out = s->auth_out != NULL ? s->auth_out : "";
	char prefix[64], shown[80];
	int n = 0, rc;

	if (initial) {
		n = snprintf(prefix, sizeof(prefix), "AUTH %s ", s->mech);
		/* RFC 4954 4: an empty initial response is sent as "=". */
		if (out[0] == '\0')
			out = "=";
	}
	prefix[n] = '\0';
	snprintf(shown, sizeof(shown), "%s<redacted>", prefix);
	log_trace('>', shown, strlen(shown));
	rc = io_put(s->io, prefix, (size_t)n, rec);
	if (rc == 0)
		rc = io_put(s->io, out, strlen(out), rec);
	if (rc == 0)
		rc = io_put(s->io, "\r\n", 2, rec);
	sasl_free_out(s->auth_out);
	s->auth_out = NULL;
	if (rc == -1)
		return io_failed(s);
	return flush(s, rec);
}

static int
auth_begin(struct session *s, struct err *rec)
{
	const char *forced = s->p->auth == SMTP_AUTH_MECH ? s->p->mech : NULL;
	int rc;

	/* Verified TLS only: io/tls verify the certificate by construction
	 * (security.md S22). */
	if (io_tls(s->io) == NULL)
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "refusing to send a password to %s without TLS (set tls = starttls or tls = implicit)",
		    s->p->host);
	if (!(s->caps.flags & REPLY_CAP_AUTH) || s->caps.auth[0] == '\0')
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "server %s offers no AUTH", s->p->host);
	if (sasl_choose(s->caps.auth, forced, s->mech, sizeof(s->mech), rec) ==
	    -1)
		return -1;
	snprintf(s->res->mech, sizeof(s->res->mech), "%s", s->mech);
	s->sasl =
	    sasl_new(s->mech, s->p->user, s->p->password, io_tls(s->io), rec);
	if (s->sasl == NULL)
		return -1;
	sasl_set_server(s->sasl, s->p->host, s->p->port);
	s->sasl_more = 1;
	if (!has_initial_response(s->mech))
		return send_cmd(s, rec, "AUTH %s", s->mech);
	rc = sasl_step(s->sasl, NULL, &s->auth_out, rec);
	if (rc == -1)
		return -1;
	s->sasl_more = rc;
	return put_secret(s, 1, rec);
}

/* RFC 4954 4: "*" cancels the exchange.  The dialogue is not trusted
 * after that, so the session ends without QUIT. */
static int
auth_cancel(struct session *s)
{
	struct err scratch;

	log_trace('>', "*", 1);
	if (io_put(s->io, "*\r\n", 3, &scratch) == 0)
		(void)io_flush(s->io, &scratch);
	s->sane = 0;
	return -1;
}

static int
b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static int
is_base64(const char *p, size_t n)
{
	size_t i, pad = 0;

	if (n % 4 != 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (p[i] == '=' && i + 2 >= n)
			pad++;
		else if (pad > 0 || !b64_char(p[i]))
			return 0;
	}
	return 1;
}

static int
auth_challenge(struct session *s, struct err *rec)
{
	const char *ch = s->reply.text;
	size_t n = s->reply.len;
	int rc;

	if (!s->sasl_more && !sasl_error_challenge(s->sasl)) {
		err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server %s sent an extra AUTH %s challenge", s->p->host,
		    s->mech);
		return auth_cancel(s);
	}
	if (n > CHALLENGE_MAX || !is_base64(ch, n)) {
		err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server %s sent an AUTH challenge that is not base64",
		    s->p->host);
		return auth_cancel(s);
	}
	rc = sasl_step(s->sasl, ch, &s->auth_out, rec);
	if (rc == -1)
		return auth_cancel(s);
	s->sasl_more = rc;
	return enter(s, ST_AUTH_NEXT);
}

static int
on_auth(struct session *s, struct err *rec)
{
	int code = s->reply.code;
	char hint[160];

	if (code == 334)
		return auth_challenge(s, rec);
	sasl_failure_hint(s->sasl, hint, sizeof(hint));
	sasl_free(s->sasl);
	s->sasl = NULL;
	/* A success the mechanism has not confirmed (SCRAM: the server's
	 * signature is still unchecked) proves nothing (security.md S25). */
	if (code == 235 && s->sasl_more)
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server %s accepted AUTH %s before the exchange was complete (its identity is unproven)",
		    s->p->host, s->mech);
	if (code == 235)
		return enter(s, ST_MAIL);
	/* 503: an AUTH already ran, maybe one injected in clear (S08). */
	if (code == 503)
		return fail_reply(s, rec, EX_PROTOCOL,
		    "server %s refused AUTH as out of sequence", s->p->host);
	/* 535 and other 5xx: no retry, no other mechanism. */
	return fail_reply(s, rec, EX_NOPERM,
	    "authentication failed for user \"%s\" on %s (%s)", s->p->user,
	    s->p->host, hint);
}

/* Mail transaction: MAIL, RCPT, DATA */

static int
put_mail(struct session *s, struct err *rec)
{
	char params[CMD_MAX];

	if (esmtp_mail_params(
		params, sizeof(params), &s->caps, s->env, s->size) == -1)
		return refuse_cmd(s, "MAIL parameters too long", rec);
	return put_cmd(s, rec, "MAIL FROM:<%s>%s", s->env->from, params);
}

static int
put_rcpt(struct session *s, size_t i, struct err *rec)
{
	const char *to = s->env->rcpt[i];
	char params[CMD_MAX];

	if (esmtp_rcpt_params(params, sizeof(params), &s->caps, s->env, to) ==
	    -1)
		return refuse_cmd(s, "RCPT parameters too long", rec);
	return put_cmd(s, rec, "RCPT TO:<%s>%s", to, params);
}

/* RFC 2920 3.1: MAIL and every RCPT leave as one group, in one write;
 * the replies are read afterwards, in order.  DATA joins the group only
 * when a refused recipient cannot leave the others a message to abort:
 * with one recipient (the server then refuses DATA) or with partial
 * delivery.  Else DATA waits for the RCPT replies (field-bugs B27). */
static int
send_group(struct session *s, struct err *rec)
{
	size_t i;

	if (put_mail(s, rec) == -1)
		return -1;
	for (i = 0; i < s->env->nrcpt; i++)
		if (put_rcpt(s, i, rec) == -1)
			return -1;
	s->pipelined = 1;
	s->data_sent = s->env->nrcpt == 1 || s->p->partial;
	if (s->data_sent && put_cmd(s, rec, "DATA") == -1)
		return -1;
	return flush(s, rec);
}

/* What the server said in EHLO decides before MAIL: a message it cannot
 * take is refused with nothing sent but QUIT (RFC 1870, RFC 6531). */
static int
check_caps(struct session *s, struct err *rec)
{
	struct stat st;

	if (fstat(s->msgfd, &st) == -1)
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "cannot read the spooled message: %s", strerror(errno));
	s->size = (long long)st.st_size;
	if (esmtp_check(&s->caps, s->env, s->size, rec) == -1)
		return -1;
	/* B25: without DSN the request is dropped, and the log says so. */
	if (esmtp_dsn_dropped(&s->caps, s->env)) {
		s->res->dsn_dropped = 1;
		log_tracef(
		    "%s does not offer DSN: NOTIFY, RET and ENVID dropped",
		    s->p->host);
	}
	return 0;
}

static int
send_mail(struct session *s, struct err *rec)
{
	if (check_caps(s, rec) == -1)
		return -1;
	if (s->caps.flags & REPLY_CAP_PIPELINING)
		return send_group(s, rec);
	if (put_mail(s, rec) == -1)
		return -1;
	return flush(s, rec);
}

static int
on_mail(struct session *s, struct err *rec)
{
	s->rcpt_i = 0;
	if (s->reply.code / 100 == 2)
		return enter(s, ST_RCPT);
	fail_reply(s, &s->txn, EX_DATAERR, "server %s refused the sender <%s>",
	    s->p->host, s->env->from);
	s->txn_failed = 1;
	if (!s->pipelined || !s->sane) {
		*rec = s->txn;
		return -1;
	}
	/* The RCPT and DATA replies are on their way: read them. */
	return enter(s, ST_RCPT);
}

static void
rcpt_refused(struct session *s)
{
	size_t used = strlen(s->refused);
	int perm = s->reply.code / 100 == 5;
	char shown[160];

	err_sanitize(shown, sizeof(shown), s->flat, s->flatlen);
	snprintf(s->refused + used, sizeof(s->refused) - used, "%s<%s> %s",
	    used > 0 ? "; " : "", s->env->rcpt[s->rcpt_i], shown);
	/* rec->reply: the first permanent refusal, else the first one. */
	if (s->nrefused == 0 || (perm && !s->refused_perm)) {
		memcpy(s->refused_reply, s->flat, s->flatlen);
		s->refused_len = s->flatlen;
	}
	s->refused_perm |= perm;
	s->nrefused++;
}

/* s->txn from the refusals: permanent if any was 5xx. */
static void
refusals_error(struct session *s)
{
	if (s->refused_perm)
		err_set(&s->txn, ERR_PERM, EX_NOUSER, "recipient refused: %s",
		    s->refused);
	else
		err_set(&s->txn, ERR_TEMP, EX_TEMPFAIL, "recipient refused: %s",
		    s->refused);
	err_reply(&s->txn, s->refused_reply, s->refused_len);
}

static int
rcpt_done(struct session *s, struct err *rec)
{
	if (s->nrefused > 0 && !s->txn_failed) {
		refusals_error(s);
		/* B27: with partial delivery the accepted recipients get the
		 * message; the refusals are still the outcome. */
		if (s->p->partial && s->nrefused < s->env->nrcpt)
			s->partial = 1;
		else
			s->txn_failed = 1;
	}
	/* All or nothing (DESIGN.md): one recipient refused, none get it;
	 * RSET instead of DATA. */
	if (s->txn_failed && !s->data_sent) {
		s->rset = 1;
		*rec = s->txn;
		return -1;
	}
	return enter(s, ST_DATA);
}

static int
on_rcpt(struct session *s, struct err *rec)
{
	int cls = s->reply.code / 100;

	if (cls != 2 && cls != 4 && cls != 5)
		return fail_reply(
		    s, rec, EX_PROTOCOL, "server %s answered RCPT", s->p->host);
	if (s->env->rcpt_codes != NULL)
		s->env->rcpt_codes[s->rcpt_i] = s->reply.code;
	if (cls != 2 && !s->txn_failed)
		rcpt_refused(s);
	if (++s->rcpt_i < s->env->nrcpt)
		return enter(s, ST_RCPT);
	return rcpt_done(s, rec);
}

static int
on_data(struct session *s, struct err *rec)
{
	if (s->txn_failed) {
		/* Pipelined, and DATA was accepted although a recipient or
		 * the sender was refused.  The final dot would deliver to the
		 * others, and anything else we sent now would be message
		 * text.  Closing the connection before the dot makes the
		 * server drop the transaction (RFC 5321 3.3, 3.8). */
		if (s->reply.code == 354)
			s->sane = 0;
		*rec = s->txn;
		return -1;
	}
	if (s->reply.code == 354)
		return enter(s, ST_BODY);
	return fail_reply(
	    s, rec, EX_DATAERR, "server %s refused DATA", s->p->host);
}

/* The message */

/* Put n bytes, doubling a '.' that starts a line (RFC 5321 4.5.2); s->bol
 * carries the line start across chunks. */
static int
put_stuffed(struct session *s, const char *buf, size_t n, struct err *rec)
{
	size_t start = 0, i;

	for (i = 0; i < n; i++) {
		if (s->bol && buf[i] == '.') {
			if (io_put(s->io, buf + start, i - start, rec) == -1 ||
			    io_put(s->io, ".", 1, rec) == -1)
				return -1;
			start = i;
		}
		s->bol = buf[i] == '\n';
	}
	return io_put(s->io, buf + start, n - start, rec);
}

static int
put_end(struct session *s, off_t size, struct err *rec)
{
	log_tracef(
	    "message sent: %lld bytes before dot-stuffing", (long long)size);
	if (!s->bol && io_put(s->io, "\r\n", 2, rec) == -1)
		return -1;
	log_trace('>', ".", 1);
	if (io_put(s->io, ".\r\n", 3, rec) == -1)
		return -1;
	return io_flush(s->io, rec);
}

/* Stream the spool file from offset 0.  Any failure here leaves the
 * server inside DATA without the final dot: nothing is delivered. */
static int
send_body(struct session *s, struct err *rec)
{
	off_t off = 0;
	ssize_t n;

	s->sane = 0;
	s->bol = 1;
	for (;;) {
		n = pread(s->msgfd, s->chunk, sizeof(s->chunk), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_set(rec, ERR_LOCAL, EX_IOERR,
			    "cannot read the spooled message: %s",
			    strerror(errno));
		if (n == 0)
			break;
		/* RFC 5321 4.5.3.2.5: a deadline per block of data. */
		io_set_deadline(s->io, net_now_ms() + s->p->timeout_ms);
		if (put_stuffed(s, s->chunk, (size_t)n, rec) == -1)
			return -1;
		off += n;
	}
	return put_end(s, off, rec);
}

static int
on_body(struct session *s, struct err *rec)
{
	s->sane = 1;
	if (s->reply.code / 100 != 2)
		return fail_reply(s, rec, EX_DATAERR,
		    "server %s refused the message", s->p->host);
	/* Durability point: the server has taken the message (RFC 5321
	 * 4.1.1.4); res->reply holds its 250. */
	s->res->delivered = s->env->nrcpt - s->nrefused;
	if (s->partial) {
		*rec = s->txn;
		return -1;
	}
	return enter(s, ST_QUIT);
}

/* The machine */

static int
send_state(struct session *s, struct err *rec)
{
	switch (s->state) {
	case ST_GREETING:
	case ST_DONE:
		return 0;
	case ST_EHLO:
		return send_cmd(s, rec, "EHLO %s", s->p->helo);
	case ST_STARTTLS:
		/* RFC 3207 4: STARTTLS alone, nothing after it. */
		return send_cmd(s, rec, "STARTTLS");
	case ST_AUTH:
		return auth_begin(s, rec);
	case ST_AUTH_NEXT:
		return put_secret(s, 0, rec);
	case ST_MAIL:
		return send_mail(s, rec);
	case ST_RCPT:
		if (s->pipelined)
			return 0;
		if (put_rcpt(s, s->rcpt_i, rec) == -1)
			return -1;
		return flush(s, rec);
	case ST_DATA:
		return s->data_sent ? 0 : send_cmd(s, rec, "DATA");
	case ST_BODY:
		return send_body(s, rec);
	case ST_RSET:
		return send_cmd(s, rec, "RSET");
	case ST_QUIT:
		return send_cmd(s, rec, "QUIT");
	}
	return 0;
}

static int
handle_reply(struct session *s, struct err *rec)
{
	switch (s->state) {
	case ST_GREETING:
		return on_greeting(s, rec);
	case ST_EHLO:
		return on_ehlo(s, rec);
	case ST_STARTTLS:
		return on_starttls(s, rec);
	case ST_AUTH:
	case ST_AUTH_NEXT:
		return on_auth(s, rec);
	case ST_MAIL:
		return on_mail(s, rec);
	case ST_RCPT:
		return on_rcpt(s, rec);
	case ST_DATA:
		return on_data(s, rec);
	case ST_BODY:
		return on_body(s, rec);
	case ST_RSET:
		return enter(s, ST_QUIT);
	case ST_QUIT:
	case ST_DONE:
		return enter(s, ST_DONE);
	}
	return 0;
}

/* A reply could not be read.  A transaction already refused keeps that
 * reason; a timeout or lost connection says where it happened.  After the
 * final dot the outcome is open: the server may have the message. */
static void
read_failed(struct session *s, struct err *rec)
{
	char why[ERR_TEXT_MAX];

	s->sane = 0;
	if (s->txn_failed && !s->winddown) {
		*rec = s->txn;
		return;
	}
	if (rec->class != ERR_TEMP)
		return;
	snprintf(why, sizeof(why), "%s", rec->text);
	if (s->state == ST_GREETING && s->p->tls != SMTP_TLS_IMPLICIT)
		err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "%s (%s sent no greeting; if it speaks TLS from the start, as on port 465, set tls = implicit)",
		    why, s->p->host);
	else if (s->state != ST_BODY)
		err_set(rec, ERR_TEMP, EX_TEMPFAIL, "%s (%s, at %s)", why,
		    s->p->host, state_names[s->state]);
	else
		err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "no reply from %s to the end of the message (%s): delivery is uncertain, the server may have it",
		    s->p->host, why);
}

static int
run(struct session *s, enum smtp_state stop, struct err *rec)
{
	while (s->state != stop) {
		set_deadline(s);
		if (send_state(s, rec) == -1)
			return -1;
		set_deadline(s);
		if (read_reply(s, rec) == -1) {
			read_failed(s, rec);
			return -1;
		}
		if (handle_reply(s, rec) == -1)
			return -1;
	}
	return 0;
}

/* Session */

static int
session_open(struct session *s, struct err *rec)
{
	int fd;

	fd = net_connect(s->p->host, s->p->port, s->p->timeout_ms, rec);
	if (fd == -1)
		return -1;
	if ((s->io = io_new(fd)) == NULL) {
		close(fd);
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	}
	s->sane = 1;
	/* RFC 8314 3.3: implicit TLS starts before the greeting. */
	if (s->p->tls == SMTP_TLS_IMPLICIT) {
		set_deadline(s);
		return start_tls(s, rec);
	}
	return 0;
}

/* End the dialogue politely when it is still in step: RSET when asked,
 * then QUIT, whose 221 is waited for briefly; failures are ignored. */
static void
session_close(struct session *s)
{
	struct err scratch;

	if (s->io != NULL && s->sane) {
		err_clear(&scratch);
		s->winddown = 1;
		enter(s, s->rset ? ST_RSET : ST_QUIT);
		(void)run(s, ST_DONE, &scratch);
	}
	io_free(s->io);
	s->io = NULL;
}

/* Refuse control bytes and overlong words before connecting: an address
 * must never carry a second command (security.md S26); a path is at most
 * 256 octets with its <> (RFC 5321 4.5.3.1.3). */
static int
check_word(const char *w, size_t max, const char *what, struct err *rec)
{
	size_t i, n = strlen(w);
	char shown[80];

	for (i = 0; i < n; i++)
		if ((unsigned char)w[i] < 0x20 || w[i] == 0x7f)
			break;
	if (i == n && n <= max)
		return 0;
	err_sanitize(shown, sizeof(shown), w, n);
	return err_set(rec, ERR_USAGE, EX_DATAERR, "%s %s %s", what, shown,
	    i < n ? "contains a control character" : "is too long");
}

static int
check_envelope(const struct smtp_params *p, const struct smtp_envelope *env,
    struct err *rec)
{
	size_t i;

	if (env->nrcpt == 0)
		return err_set(rec, ERR_USAGE, EX_USAGE, "no recipients");
	if (check_word(p->helo, 255, "EHLO name", rec) == -1 ||
	    check_word(env->from, 254, "sender", rec) == -1)
		return -1;
	for (i = 0; i < env->nrcpt; i++)
		if (check_word(env->rcpt[i], 254, "recipient", rec) == -1)
			return -1;
	return 0;
}

static struct session *
session_new(const struct smtp_params *params, const struct smtp_envelope *env,
    int msgfd, struct smtp_result *res, struct err *rec)
{
	struct session *s;

	if (check_envelope(params, env, rec) == -1 ||
	    esmtp_check_envelope(env, rec) == -1)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	s->p = params;
	s->env = env;
	s->msgfd = msgfd;
	s->res = res;
	s->tlsp.host = params->host;
	s->tlsp.ca_file = params->ca_file;
	s->tlsp.pin = params->tls_pin;
	s->tlsp.priorities = params->tls_priorities;
	s->tlsp.cert_file = params->tls_cert_file;
	s->tlsp.key_file = params->tls_key_file;
	s->state = ST_GREETING;
	err_clear(&s->txn);
	return s;
}

static void
session_free(struct session *s)
{
	sasl_free(s->sasl);
	sasl_free_out(s->auth_out);
	free(s);
}

int
smtp_send(const struct smtp_params *params, const struct smtp_envelope *env,
    int msgfd, struct smtp_result *res, struct err *rec)
{
	struct session *s;
	int rc = -1;

	err_clear(rec);
	memset(res, 0, sizeof(*res));
	snprintf(res->tls, sizeof(res->tls), "none");
	snprintf(res->mech, sizeof(res->mech), "none");
	res->reply[0] = '\0';
	if (env->rcpt_codes != NULL)
		memset(env->rcpt_codes, 0, env->nrcpt * sizeof(int));
	if ((s = session_new(params, env, msgfd, res, rec)) == NULL)
		return -1;
	if (session_open(s, rec) == 0)
		rc = run(s, ST_QUIT, rec);
	if (rc == -1)
		log_tracef("session ended in state %s: %s",
		    state_names[s->state], rec->text);
	session_close(s);
	session_free(s);
	return rc;
}
