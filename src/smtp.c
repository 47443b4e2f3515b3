/* SPDX-License-Identifier: ISC */
/*
 * SMTP submission client: a connection opened once (smtp_open.c: the
 * greeting, EHLO, STARTTLS, AUTH), any number of mail transactions on it
 * (smtp_txn.c), and QUIT.  A state machine: smtp_enter() changes state,
 * send_state() sends a state's command, handle_reply() acts on its
 * reply.  This file holds the plumbing (commands, replies, deadlines),
 * the machine, and the API of smtp.h.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "err.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "sasl.h"
#include "secret.h"
#include "smtp.h"
#include "smtp_int.h"
#include "tls.h"

/* The reply to the final dot may take 10 minutes (RFC 5321 4.5.3.2.6). */
#define FINAL_DOT_MS (10 * 60 * 1000)
/* How long QUIT and RSET may take once the outcome is known. */
#define WINDDOWN_MS 10000

static const char *const state_names[] = {
	[ST_GREETING] = "GREETING",
	[ST_EHLO] = "EHLO",
	[ST_STARTTLS] = "STARTTLS",
	[ST_AUTH] = "AUTH",
	[ST_AUTH_NEXT] = "AUTH-NEXT",
	[ST_READY] = "READY",
	[ST_RSET_FIRST] = "RSET",
	[ST_MAIL] = "MAIL",
	[ST_RCPT] = "RCPT",
	[ST_DATA] = "DATA",
	[ST_BODY] = "BODY",
	[ST_BDAT] = "BDAT",
	[ST_RSET] = "RSET",
	[ST_QUIT] = "QUIT",
	[ST_DONE] = "DONE",
};

/* Plumbing: deadlines, commands, replies */

int
smtp_enter(struct smtp_conn *s, enum smtp_state st)
{
	s->state = st;
	return 0;
}

static void
set_deadline(struct smtp_conn *s)
{
	long long ms = s->p->timeout_ms;

	if (s->t.last_sent && ms < FINAL_DOT_MS)
		ms = FINAL_DOT_MS;
	if (s->winddown && ms > WINDDOWN_MS)
		ms = WINDDOWN_MS;
	io_set_deadline(s->io, net_now_ms() + ms);
}

int
smtp_io_failed(struct smtp_conn *s)
{
	s->sane = 0;
	return -1;
}

int
smtp_flush(struct smtp_conn *s, struct err *rec)
{
	if (io_flush(s->io, rec) == -1)
		return smtp_io_failed(s);
	return 0;
}

/* A command line we will not send.  It may follow others of a pipelined
 * group in the output buffer, so the session ends without QUIT. */
int
smtp_refuse_cmd(struct smtp_conn *s, const char *why, struct err *rec)
{
	s->sane = 0;
	return err_set(rec, ERR_USAGE, EX_DATAERR, "%s", why);
}

/* Queue one command line.  A backstop to check_envelope: a control byte
 * could smuggle a second command (security.md S26). */
static int
vput_cmd(struct smtp_conn *s, struct err *rec, const char *fmt, va_list ap)
{
	int n;
	size_t i;

	n = vsnprintf(s->cmd, sizeof(s->cmd) - 2, fmt, ap);
	if (n < 0 || (size_t)n >= sizeof(s->cmd) - 2)
		return smtp_refuse_cmd(s, "SMTP command over 1022 bytes", rec);
	for (i = 0; i < (size_t)n; i++)
		if ((unsigned char)s->cmd[i] < 0x20 || s->cmd[i] == 0x7f)
			return smtp_refuse_cmd(
			    s, "control byte in a command", rec);
	log_trace('>', s->cmd, (size_t)n);
	memcpy(s->cmd + n, "\r\n", 2);
	if (io_put(s->io, s->cmd, (size_t)n + 2, rec) == -1)
		return smtp_io_failed(s);
	return 0;
}

int
smtp_put_cmd(struct smtp_conn *s, struct err *rec, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vput_cmd(s, rec, fmt, ap);
	va_end(ap);
	return rc;
}

int
smtp_send_cmd(struct smtp_conn *s, struct err *rec, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vput_cmd(s, rec, fmt, ap);
	va_end(ap);
	if (rc == -1)
		return -1;
	return smtp_flush(s, rec);
}

/* Is the reply being read an AUTH challenge? */
static int
is_challenge(const struct smtp_conn *s)
{
	return (s->state == ST_AUTH || s->state == ST_AUTH_NEXT) &&
	    strncmp(s->line, "334", 3) == 0;
}

void
smtp_redacted(char *buf, size_t sz, const char *prefix, size_t len)
{
	snprintf(buf, sz, "%s<redacted, %zu byte%s>", prefix, len,
	    len == 1 ? "" : "s");
}

/* Trace one server line.  A SCRAM challenge holds the salt, the iteration
 * count and the server's proof: with the user name that is enough to test
 * password guesses offline, so no challenge is shown, only its length
 * (S34). */
static void
trace_reply_line(struct smtp_conn *s, size_t len)
{
	char shown[64];

	if (is_challenge(s)) {
		smtp_redacted(
		    shown, sizeof(shown), "334 ", len > 4 ? len - 4 : 0);
		log_trace('<', shown, strlen(shown));
	} else if (smtp_before_tls(s))
		log_trace_note('<', s->line, len, SMTP_BEFORE_TLS);
	else
		log_trace('<', s->line, len);
}

static int
read_reply(struct smtp_conn *s, struct err *rec)
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

/* Fill rec from a reply that is not the one hoped for (reply_fail); a
 * reply that is neither 4xx nor 5xx puts the dialogue out of step. */
int
smtp_fail_reply(
    struct smtp_conn *s, struct err *rec, int permcode, const char *fmt, ...)
{
	char what[256];
	int cls = s->reply.code / 100;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (cls != 4 && cls != 5)
		s->sane = 0;
	return reply_fail(&s->reply, what,
	    smtp_before_tls(s) ? " (" SMTP_BEFORE_TLS ")" : "", permcode, rec);
}

/* The machine */

static int
is_open_state(enum smtp_state st)
{
	return st <= ST_AUTH_NEXT;
}

static int
is_txn_state(enum smtp_state st)
{
	return st >= ST_RSET_FIRST && st <= ST_BDAT;
}

static int
send_state(struct smtp_conn *s, struct err *rec)
{
	if (is_open_state(s->state))
		return smtp_open_send(s, rec);
	if (is_txn_state(s->state))
		return smtp_txn_send(s, rec);
	if (s->state == ST_RSET)
		return smtp_send_cmd(s, rec, "RSET");
	if (s->state == ST_QUIT && !s->quit_sent)
		return smtp_send_cmd(s, rec, "QUIT");
	return 0;
}

static int
handle_reply(struct smtp_conn *s, struct err *rec)
{
	if (is_open_state(s->state))
		return smtp_open_reply(s, rec);
	if (is_txn_state(s->state))
		return smtp_txn_reply(s, rec);
	if (s->state == ST_RSET)
		return smtp_enter(s, ST_QUIT);
	return smtp_enter(s, ST_DONE);
}

int
smtp_before_tls(const struct smtp_conn *s)
{
	return s->p->tls == SMTP_TLS_STARTTLS && s->io != NULL &&
	    io_tls(s->io) == NULL;
}

int
smtp_not_sent(struct err *rec)
{
	size_t n = strlen(rec->text);

	snprintf(
	    rec->text + n, sizeof(rec->text) - n, "; the message was not sent");
	return -1;
}

/* A reply that breaks the protocol (malformed, a NUL byte, a line over
 * the cap): the line says where, and what became of the message. */
static void
broke_protocol(struct smtp_conn *s, struct err *rec)
{
	char why[ERR_TEXT_MAX];

	if (rec->code != EX_PROTOCOL)
		return;
	snprintf(why, sizeof(why), "%s", rec->text);
	if (s->t.last_sent && !s->winddown) {
		err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "%s (%s, in reply to the end of the message: delivery is uncertain, the server may have it)",
		    why, s->p->host);
		return;
	}
	err_set(rec, ERR_PERM, EX_PROTOCOL, "%s (%s, at %s%s%s)", why,
	    s->p->host, state_names[s->state], smtp_before_tls(s) ? "; " : "",
	    smtp_before_tls(s) ? SMTP_BEFORE_TLS : "");
	smtp_not_sent(rec);
}

/* A reply could not be read.  A transaction already refused keeps that
 * reason; a timeout or lost connection says where it happened.  Once the
 * final dot or BDAT LAST has gone out the outcome is open: the server may
 * have the message. */
static void
read_failed(struct smtp_conn *s, struct err *rec)
{
	char why[ERR_TEXT_MAX];

	s->sane = 0;
	if (s->t.failed && !s->winddown) {
		*rec = s->t.err;
		return;
	}
	if (rec->class == ERR_PERM && s->sasl != NULL &&
	    (s->state == ST_AUTH || s->state == ST_AUTH_NEXT)) {
		smtp_open_auth_unreadable(s, rec);
		return;
	}
	if (rec->class != ERR_TEMP) {
		broke_protocol(s, rec);
		return;
	}
	snprintf(why, sizeof(why), "%s", rec->text);
	if (s->state == ST_GREETING && s->p->tls != SMTP_TLS_IMPLICIT)
		err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "%s (%s sent no greeting; if it speaks TLS from the start, as on port 465, set tls = implicit)",
		    why, s->p->host);
	else if (!s->t.last_sent || s->winddown)
		err_set(rec, ERR_TEMP, EX_TEMPFAIL, "%s (%s, at %s)", why,
		    s->p->host, state_names[s->state]);
	else
		err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "no reply from %s to the end of the message (%s): delivery is uncertain, the server may have it",
		    s->p->host, why);
}

static int
run(struct smtp_conn *s, enum smtp_state stop, struct err *rec)
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

/* The connection */

static void
result_init(struct smtp_result *res, const char *tls, const char *mech)
{
	memset(res, 0, sizeof(*res));
	snprintf(res->tls, sizeof(res->tls), "%s", tls);
	snprintf(res->mech, sizeof(res->mech), "%s", mech);
}

static int
connect_io(struct smtp_conn *s, struct err *rec)
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
		return smtp_open_start_tls(s, rec);
	}
	return 0;
}

/* The password serves one connection (S35); see smtp.h. */
static void
wipe_password(const struct smtp_params *p)
{
	if (p->password != NULL)
		secret_wipe(p->password, strlen(p->password));
}

int
smtp_conn_open(const struct smtp_params *params, struct smtp_result *res,
    struct smtp_conn **conn, struct err *rec)
{
	struct smtp_conn *s;
	int rc;

	*conn = NULL;
	err_clear(rec);
	result_init(res, "none", "none");
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		wipe_password(params);
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	}
	s->p = params;
	s->res = res;
	snprintf(s->tls, sizeof(s->tls), "none");
	s->tlsp.host = params->host;
	s->tlsp.ca_file = params->ca_file;
	s->tlsp.pin = params->tls_pin;
	s->tlsp.priorities = params->tls_priorities;
	s->tlsp.cert_file = params->tls_cert_file;
	s->tlsp.key_file = params->tls_key_file;
	s->state = ST_GREETING;
	rc = connect_io(s, rec) == 0 ? run(s, ST_READY, rec) : -1;
	/* Also when AUTH did not run or ended early (S35). */
	smtp_open_auth_end(s);
	if (rc == 0) {
		*conn = s;
		return 0;
	}
	log_tracef(
	    "session ended in state %s: %s", state_names[s->state], rec->text);
	smtp_conn_close(s);
	return -1;
}

int
smtp_conn_usable(const struct smtp_conn *c)
{
	return c != NULL && c->sane && !c->quit_sent && c->state == ST_READY;
}

int
smtp_conn_send(struct smtp_conn *c, const struct smtp_envelope *env, int msgfd,
    int quit, struct smtp_result *res, struct err *rec)
{
	int rc;

	err_clear(rec);
	result_init(res, c->tls, c->mech[0] != '\0' ? c->mech : "none");
	c->res = res;
	if (!smtp_conn_usable(c))
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "the connection to %s cannot take another message",
		    c->p->host);
	if (smtp_txn_begin(c, env, msgfd, quit, rec) == -1) {
		smtp_enter(c, ST_READY);
		return -1;
	}
	rc = run(c, ST_READY, rec);
	if (rc == -1) {
		log_tracef("transaction ended in state %s: %s",
		    state_names[c->state], rec->text);
		/* In step: every reply read, the next command may go. */
		smtp_enter(c, ST_READY);
	}
	return rc;
}

/* End the dialogue politely when it is still in step: RSET when a
 * transaction is open, then QUIT (or only the reply to a QUIT already
 * sent), whose 221 is waited for briefly; failures are ignored. */
void
smtp_conn_close(struct smtp_conn *c)
{
	struct err scratch;

	if (c == NULL)
		return;
	if (c->io != NULL && c->sane) {
		err_clear(&scratch);
		c->winddown = 1;
		if (c->quit_sent)
			smtp_enter(c, ST_QUIT);
		else
			smtp_enter(c, c->rset ? ST_RSET : ST_QUIT);
		(void)run(c, ST_DONE, &scratch);
	}
	io_free(c->io);
	sasl_free(c->sasl);
	sasl_free_out(c->auth_out);
	free(c);
}

int
smtp_send(const struct smtp_params *params, const struct smtp_envelope *env,
    int msgfd, struct smtp_result *res, struct err *rec)
{
	return smtp_send_keep(params, env, msgfd, res, rec, NULL);
}

int
smtp_send_keep(const struct smtp_params *params,
    const struct smtp_envelope *env, int msgfd, struct smtp_result *res,
    struct err *rec, struct smtp_conn **keep)
{
	struct smtp_conn *c;
	int rc;

	if (keep != NULL)
		*keep = NULL;
	err_clear(rec);
	result_init(res, "none", "none");
	if (env->rcpt_codes != NULL)
		memset(env->rcpt_codes, 0, env->nrcpt * sizeof(int));
	if (smtp_txn_check(params, env, rec) == -1) {
		wipe_password(params);
		return -1;
	}
	if (smtp_conn_open(params, res, &c, rec) == -1)
		return -1;
	rc = smtp_conn_send(c, env, msgfd, keep == NULL, res, rec);
	if (keep != NULL)
		*keep = c;
	else
		smtp_conn_close(c);
	return rc;
}
