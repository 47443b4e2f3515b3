/* SPDX-License-Identifier: ISC */
/*
 * Opening an SMTP session: the greeting, EHLO, STARTTLS (or implicit TLS
 * from the start), EHLO again inside TLS, and AUTH through sasl.  After
 * it the connection is ready for any number of transactions
 * (smtp_txn.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "err.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "sasl.h"
#include "secret.h"
#include "smtp_int.h"
#include "tls.h"

/* Greeting, EHLO, STARTTLS */

int
smtp_open_start_tls(struct smtp_conn *s, struct err *rec)
{
	gnutls_session_t tls;
	char *desc;

	/* The handshake gets a whole timeout, not what the wait for the 220
	 * to STARTTLS left of it.  io refuses bytes that arrived behind the
	 * 220 (RFC 3207 4.2). */
	io_set_deadline(s->io, net_now_ms() + s->p->timeout_ms);
	if (io_starttls(s->io, &s->tlsp, rec) == -1) {
		if (rec->code == EX_PROTOCOL)
			smtp_not_sent(rec);
		return smtp_io_failed(s);
	}
	tls = io_tls(s->io);
	/* A second check of the verdict, before anything is sent inside
	 * TLS: the verify callback fails the handshake on a refusal, and
	 * tls_verify_result also refuses a handshake in which no
	 * certificate was checked at all (security.md S15). */
	if (tls_verify_result(tls, rec) == -1)
		return smtp_io_failed(s);
	snprintf(s->tls, sizeof(s->tls), "%s", tls_version_name(tls));
	snprintf(s->res->tls, sizeof(s->res->tls), "%s", s->tls);
	if (log_trace_enabled()) {
		desc = gnutls_session_get_desc(tls);
		log_tracef("%s established with %s: %s", s->tls, s->p->host,
		    desc != NULL ? desc : "?");
		gnutls_free(desc);
	}
	return 0;
}

static int
on_greeting(struct smtp_conn *s, struct err *rec)
{
	if (s->reply.code == 220)
		return smtp_enter(s, ST_EHLO);
	return smtp_fail_reply(s, rec, EX_UNAVAILABLE,
	    "server %s refused the session", s->p->host);
}

static int
on_ehlo(struct smtp_conn *s, struct err *rec)
{
	if (s->reply.code != 250)
		return smtp_fail_reply(
		    s, rec, EX_PROTOCOL, "server %s refused EHLO", s->p->host);
	reply_caps_parse(&s->caps, &s->reply);
	/* Once TLS is on, a STARTTLS keyword is ignored (RFC 3207 4.2). */
	if (s->p->tls == SMTP_TLS_STARTTLS && io_tls(s->io) == NULL) {
		if (!(s->caps.flags & REPLY_CAP_STARTTLS))
			return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
			    "server %s did not offer STARTTLS (it may be stripped by an attacker; if the server has TLS on port 465, use tls = implicit)",
			    s->p->host);
		return smtp_enter(s, ST_STARTTLS);
	}
	return smtp_enter(s, s->p->auth != SMTP_AUTH_OFF ? ST_AUTH : ST_READY);
}

static int
on_starttls(struct smtp_conn *s, struct err *rec)
{
	if (s->reply.code != 220) {
		/* RFC 3207 4: no plaintext continuation after a refusal. */
		return smtp_fail_reply(s, rec, EX_PROTOCOL,
		    "server %s did not start TLS", s->p->host);
	}
	if (smtp_open_start_tls(s, rec) == -1)
		return -1;
	/* RFC 3207 4.2: forget what was learned in clear, EHLO again. */
	memset(&s->caps, 0, sizeof(s->caps));
	return smtp_enter(s, ST_EHLO);
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
 * only its length (security.md S34).  The response is wiped. */
static int
put_secret(struct smtp_conn *s, int initial, struct err *rec)
{
	const char *out = s->auth_out != NULL ? s->auth_out : "";
	char prefix[64], shown[128];
	int n = 0, rc;

	if (initial) {
		n = snprintf(prefix, sizeof(prefix), "AUTH %s ", s->mech);
		/* RFC 4954 4: an empty initial response is sent as "=". */
		if (out[0] == '\0')
			out = "=";
	}
	prefix[n] = '\0';
	smtp_redacted(shown, sizeof(shown), prefix, strlen(out));
	log_trace('>', shown, strlen(shown));
	rc = io_put(s->io, prefix, (size_t)n, rec);
	if (rc == 0)
		rc = io_put(s->io, out, strlen(out), rec);
	if (rc == 0)
		rc = io_put(s->io, "\r\n", 2, rec);
	sasl_free_out(s->auth_out);
	s->auth_out = NULL;
	if (rc == -1)
		return smtp_io_failed(s);
	return smtp_flush(s, rec);
}

void
smtp_open_auth_end(struct smtp_conn *s)
{
	char *pw = s->p->password;

	sasl_free(s->sasl);
	s->sasl = NULL;
	sasl_free_out(s->auth_out);
	s->auth_out = NULL;
	if (s->io != NULL)
		io_forget_sent(s->io);
	if (pw != NULL)
		secret_wipe(pw, strlen(pw));
}

static int
auth_begin(struct smtp_conn *s, struct err *rec)
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
	/* Wiped after an earlier connection's AUTH (smtp.h): never sent
	 * as an empty password. */
	if (s->p->password != NULL && s->p->password[0] == '\0')
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "the password for %s was used up by an earlier connection",
		    s->p->host);
	snprintf(s->res->mech, sizeof(s->res->mech), "%s", s->mech);
	s->sasl =
	    sasl_new(s->mech, s->p->user, s->p->password, io_tls(s->io), rec);
	if (s->sasl == NULL)
		return -1;
	sasl_set_server(s->sasl, s->p->host, s->p->port);
	s->sasl_more = 1;
	if (!has_initial_response(s->mech))
		return smtp_send_cmd(s, rec, "AUTH %s", s->mech);
	rc = sasl_step(s->sasl, NULL, &s->auth_out, rec);
	if (rc == -1)
		return -1;
	s->sasl_more = rc;
	return put_secret(s, 1, rec);
}

/* RFC 4954 4: "*" cancels the exchange.  The dialogue is not trusted
 * after that, so the session ends without QUIT. */
static int
auth_cancel(struct smtp_conn *s)
{
	struct err scratch;

	log_trace('>', "*", 1);
	if (io_put(s->io, "*\r\n", 3, &scratch) == 0)
		(void)io_flush(s->io, &scratch);
	s->sane = 0;
	return -1;
}

void
smtp_open_auth_unreadable(struct smtp_conn *s, struct err *rec)
{
	char why[ERR_TEXT_MAX];
	struct err scratch;
	size_t len;

	snprintf(why, sizeof(why), "%s", rec->text);
	err_set(rec, ERR_PERM, EX_PROTOCOL,
	    "AUTH %s with %s cancelled (\"*\"): %s", s->mech, s->p->host, why);
	smtp_not_sent(rec);
	(void)auth_cancel(s);
	/* The rest of a refused line is dropped and the answer to "*"
	 * read (within the reply's deadline), so that the server reads the
	 * "*" before the connection closes.  Nothing else is sent. */
	if (io_skip_line(s->io, &scratch) == 0 &&
	    io_getline(s->io, s->line, IO_LINE_MAX + 1, &len, &scratch) == 0)
		log_trace('<', s->line, len);
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
auth_challenge(struct smtp_conn *s, struct err *rec)
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
	if (n > SMTP_CHALLENGE_MAX || !is_base64(ch, n)) {
		err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server %s sent an AUTH challenge that is not base64",
		    s->p->host);
		return auth_cancel(s);
	}
	rc = sasl_step(s->sasl, ch, &s->auth_out, rec);
	if (rc == -1)
		return auth_cancel(s);
	s->sasl_more = rc;
	return smtp_enter(s, ST_AUTH_NEXT);
}

static int
on_auth(struct smtp_conn *s, struct err *rec)
{
	int code = s->reply.code;
	char hint[160];

	if (code == 334)
		return auth_challenge(s, rec);
	sasl_failure_hint(s->sasl, hint, sizeof(hint));
	/* The exchange is over: the password is not needed any more. */
	smtp_open_auth_end(s);
	/* A success the mechanism has not confirmed (SCRAM: the server's
	 * signature is still unchecked) proves nothing (security.md S25). */
	if (code == 235 && s->sasl_more)
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server %s accepted AUTH %s before the exchange was complete (its identity is unproven)",
		    s->p->host, s->mech);
	if (code == 235)
		return smtp_enter(s, ST_READY);
	/* 503: an AUTH already ran, maybe one injected in clear (S08). */
	if (code == 503)
		return smtp_fail_reply(s, rec, EX_PROTOCOL,
		    "server %s refused AUTH as out of sequence", s->p->host);
	/* 535 and other 5xx: no retry, no other mechanism. */
	if (s->p->user == NULL) /* AUTH EXTERNAL */
		return smtp_fail_reply(s, rec, EX_NOPERM,
		    "authentication failed on %s (%s)", s->p->host, hint);
	return smtp_fail_reply(s, rec, EX_NOPERM,
	    "authentication failed for user \"%s\" on %s (%s)", s->p->user,
	    s->p->host, hint);
}

int
smtp_open_send(struct smtp_conn *s, struct err *rec)
{
	switch (s->state) {
	case ST_EHLO:
		return smtp_send_cmd(s, rec, "EHLO %s", s->p->helo);
	case ST_STARTTLS:
		/* RFC 3207 4: STARTTLS alone, nothing after it. */
		return smtp_send_cmd(s, rec, "STARTTLS");
	case ST_AUTH:
		return auth_begin(s, rec);
	case ST_AUTH_NEXT:
		return put_secret(s, 0, rec);
	default:
		return 0;
	}
}

int
smtp_open_reply(struct smtp_conn *s, struct err *rec)
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
	default:
		return 0;
	}
}
