/* SPDX-License-Identifier: ISC */
/*
 * One mail transaction on an open connection: RSET before the second and
 * later ones, MAIL, RCPT, then the message with BDAT (RFC 3030) when the
 * server offers CHUNKING, else DATA and the dot-stuffed text.  With
 * PIPELINING (RFC 2920) the commands leave as one group in one write,
 * the message (and QUIT after the last one) with them when a refused
 * recipient cannot leave the others a message that should not go.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "err.h"
#include "esmtp.h"
#include "io.h"
#include "log.h"
#include "net.h"
#include "reply.h"
#include "smtp_int.h"

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

int
smtp_txn_check(const struct smtp_params *p, const struct smtp_envelope *env,
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
	return esmtp_check_envelope(env, rec);
}

/* The size of the spool file, and what BDAT sends: the same bytes, with
 * a CRLF added when the last line lacks one (as DATA adds it before the
 * dot). */
static int
measure(struct smtp_conn *s, struct err *rec)
{
	char end[2];
	struct stat st;

	if (fstat(s->t.msgfd, &st) == -1 ||
	    (st.st_size >= 2 && pread(s->t.msgfd, end, 2, st.st_size - 2) != 2))
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "cannot read the spooled message: %s", strerror(errno));
	s->t.size = (long long)st.st_size;
	s->t.wire_size = s->t.size;
	if (s->t.size > 0 && (s->t.size < 2 || memcmp(end, "\r\n", 2) != 0))
		s->t.wire_size += 2;
	return 0;
}

/* What the server said in EHLO decides before MAIL: a message it cannot
 * take is refused with nothing sent (RFC 1870, RFC 6531). */
static int
check_caps(struct smtp_conn *s, struct err *rec)
{
	if (measure(s, rec) == -1)
		return -1;
	if (esmtp_check(&s->caps, s->t.env, s->t.size, rec) == -1)
		return -1;
	/* B25: without DSN the request is dropped, and the log says so. */
	if (esmtp_dsn_dropped(&s->caps, s->t.env)) {
		s->res->dsn_dropped = 1;
		log_tracef(
		    "%s does not offer DSN: NOTIFY, RET and ENVID dropped",
		    s->p->host);
	}
	return 0;
}

int
smtp_txn_begin(struct smtp_conn *s, const struct smtp_envelope *env, int msgfd,
    int quit, struct err *rec)
{
	if (smtp_txn_check(s->p, env, rec) == -1)
		return -1;
	memset(&s->t, 0, sizeof(s->t));
	err_clear(&s->t.err);
	s->t.env = env;
	s->t.msgfd = msgfd;
	s->t.quit = quit;
	s->t.bdat = (s->caps.flags & REPLY_CAP_CHUNKING) != 0;
	if (env->rcpt_codes != NULL)
		memset(env->rcpt_codes, 0, env->nrcpt * sizeof(int));
	if (check_caps(s, rec) == -1)
		return -1;
	return smtp_enter(s, s->ntxn > 0 ? ST_RSET_FIRST : ST_MAIL);
}

/* Commands */

static int
pipelining(const struct smtp_conn *s)
{
	return (s->caps.flags & REPLY_CAP_PIPELINING) != 0;
}

static int
put_mail(struct smtp_conn *s, struct err *rec)
{
	char params[SMTP_CMD_MAX];

	if (esmtp_mail_params(
		params, sizeof(params), &s->caps, s->t.env, s->t.size) == -1)
		return smtp_refuse_cmd(s, "MAIL parameters too long", rec);
	s->ntxn++;
	return smtp_put_cmd(s, rec, "MAIL FROM:<%s>%s", s->t.env->from, params);
}

static int
put_rcpt(struct smtp_conn *s, size_t i, struct err *rec)
{
	const char *to = s->t.env->rcpt[i];
	char params[SMTP_CMD_MAX];

	if (esmtp_rcpt_params(params, sizeof(params), &s->caps, s->t.env, to) ==
	    -1)
		return smtp_refuse_cmd(s, "RCPT parameters too long", rec);
	return smtp_put_cmd(s, rec, "RCPT TO:<%s>%s", to, params);
}

/* QUIT joins the group of the last message when pipelining allows it
 * (RFC 2920 3.1: QUIT may end a group). */
static int
put_quit(struct smtp_conn *s, struct err *rec)
{
	if (!s->t.quit || !pipelining(s))
		return 0;
	s->quit_sent = 1;
	return smtp_put_cmd(s, rec, "QUIT");
}

/* Read len bytes of the spool file from off into s->chunk.  A short read
 * before the size fstat gave is an error: the BDAT size is promised. */
static ssize_t
read_spool(struct smtp_conn *s, off_t off, struct err *rec)
{
	ssize_t n;

	do
		n = pread(s->t.msgfd, s->chunk, sizeof(s->chunk), off);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "cannot read the spooled message: %s", strerror(errno));
	return n;
}

/* BDAT <size> LAST, the spool file as it is (CRLF lines, no
 * dot-stuffing: RFC 3030 2), QUIT after the last message, all in the
 * output buffer, which leaves in writes of its size (64 KiB): a small
 * message with its commands is one write, a large one never is in memory
 * whole.  Until the last byte has left, the server is inside the chunk
 * and no command can follow. */
static int
put_bdat(struct smtp_conn *s, struct err *rec)
{
	long long off = 0;
	ssize_t n;

	if (smtp_put_cmd(s, rec, "BDAT %lld LAST", s->t.wire_size) == -1)
		return -1;
	s->sane = 0;
	while (off < s->t.size) {
		if ((n = read_spool(s, off, rec)) == -1)
			return -1;
		if (n == 0 || off + n > s->t.size)
			return err_set(rec, ERR_LOCAL, EX_IOERR,
			    "the spooled message changed size while it was being sent");
		/* RFC 5321 4.5.3.2.5: a deadline per block of data. */
		io_set_deadline(s->io, net_now_ms() + s->p->timeout_ms);
		if (io_put(s->io, s->chunk, (size_t)n, rec) == -1)
			return -1;
		off += n;
	}
	if (s->t.wire_size > s->t.size && io_put(s->io, "\r\n", 2, rec) == -1)
		return -1;
	log_tracef(
	    "message sent: %lld bytes in one BDAT chunk", s->t.wire_size);
	s->sane = 1;
	if (put_quit(s, rec) == -1)
		return -1;
	s->t.data_sent = 1;
	s->t.last_sent = 1;
	return smtp_flush(s, rec);
}

/* RFC 2920 3.1: [RSET,] MAIL and every RCPT leave as one group, in one
 * write; the replies are read afterwards, in order.  The message (BDAT)
 * or DATA joins the group only when a refused recipient cannot leave the
 * others a message to abort: with one recipient (the server then refuses
 * BDAT or DATA: RFC 3030 2, RFC 2920 3.1) or with partial delivery.  Else
 * it waits for the RCPT replies (field-bugs B27; DEPARTURES). */
static int
send_group(struct smtp_conn *s, int rset, struct err *rec)
{
	size_t i;
	int with_msg;

	if (rset && smtp_put_cmd(s, rec, "RSET") == -1)
		return -1;
	if (put_mail(s, rec) == -1)
		return -1;
	for (i = 0; i < s->t.env->nrcpt; i++)
		if (put_rcpt(s, i, rec) == -1)
			return -1;
	s->t.group_sent = 1;
	with_msg = s->t.env->nrcpt == 1 || s->p->partial;
	if (with_msg && s->t.bdat)
		return put_bdat(s, rec);
	s->t.data_sent = with_msg;
	if (with_msg && smtp_put_cmd(s, rec, "DATA") == -1)
		return -1;
	return smtp_flush(s, rec);
}

static int
send_rset_first(struct smtp_conn *s, struct err *rec)
{
	s->rset = 0;
	if (pipelining(s))
		return send_group(s, 1, rec);
	return smtp_send_cmd(s, rec, "RSET");
}

static int
send_mail(struct smtp_conn *s, struct err *rec)
{
	if (s->t.group_sent)
		return 0;
	if (pipelining(s))
		return send_group(s, 0, rec);
	if (put_mail(s, rec) == -1)
		return -1;
	return smtp_flush(s, rec);
}

/* Replies to MAIL and RCPT */

static int
on_mail(struct smtp_conn *s, struct err *rec)
{
	s->t.rcpt_i = 0;
	if (s->reply.code / 100 == 2)
		return smtp_enter(s, ST_RCPT);
	smtp_fail_reply(s, &s->t.err, EX_DATAERR,
	    "server %s refused the sender <%s>", s->p->host, s->t.env->from);
	s->t.failed = 1;
	if (!s->t.group_sent || !s->sane) {
		*rec = s->t.err;
		return -1;
	}
	/* The RCPT replies, and that to BDAT or DATA, are on their way. */
	return smtp_enter(s, ST_RCPT);
}

static void
rcpt_refused(struct smtp_conn *s)
{
	struct smtp_txn *t = &s->t;
	size_t used = strlen(t->refused);
	int perm = s->reply.code / 100 == 5;
	char shown[160], *kind;
	size_t kused;

	err_sanitize(shown, sizeof(shown), s->flat, s->flatlen);
	snprintf(t->refused + used, sizeof(t->refused) - used, "%s<%s> %s",
	    used > 0 ? "; " : "", t->env->rcpt[t->rcpt_i], shown);
	kind = perm ? s->res->refused_perm : s->res->refused_temp;
	kused = strlen(kind);
	snprintf(kind + kused, sizeof(s->res->refused_perm) - kused,
	    "%s<%s> %s", kused > 0 ? "; " : "", t->env->rcpt[t->rcpt_i], shown);
	/* rec->reply: the first permanent refusal, else the first one. */
	if (t->nrefused == 0 || (perm && !t->refused_perm)) {
		memcpy(t->refused_reply, s->flat, s->flatlen);
		t->refused_len = s->flatlen;
	}
	t->refused_perm |= perm;
	t->nrefused++;
}

/* t->err from the refusals: permanent if any was 5xx. */
static void
refusals_error(struct smtp_txn *t)
{
	if (t->refused_perm)
		err_set(&t->err, ERR_PERM, EX_NOUSER, "recipient refused: %s",
		    t->refused);
	else
		err_set(&t->err, ERR_TEMP, EX_TEMPFAIL, "recipient refused: %s",
		    t->refused);
	err_reply(&t->err, t->refused_reply, t->refused_len);
}

static int
rcpt_done(struct smtp_conn *s, struct err *rec)
{
	struct smtp_txn *t = &s->t;

	if (t->nrefused > 0 && !t->failed) {
		refusals_error(t);
		/* B27: with partial delivery the accepted recipients get the
		 * message; the refusals are still the outcome. */
		if (s->p->partial && t->nrefused < t->env->nrcpt)
			t->partial = 1;
		else
			t->failed = 1;
	}
	/* All or nothing (DESIGN.md): one recipient refused, none get it;
	 * no BDAT or DATA, RSET before what follows. */
	if (t->failed && !t->data_sent) {
		s->rset = 1;
		*rec = t->err;
		return -1;
	}
	return smtp_enter(s, t->bdat ? ST_BDAT : ST_DATA);
}

static int
on_rcpt(struct smtp_conn *s, struct err *rec)
{
	int cls = s->reply.code / 100;

	if (cls != 2 && cls != 4 && cls != 5)
		return smtp_fail_reply(
		    s, rec, EX_PROTOCOL, "server %s answered RCPT", s->p->host);
	if (s->t.env->rcpt_codes != NULL)
		s->t.env->rcpt_codes[s->t.rcpt_i] = s->reply.code;
	if (cls != 2 && !s->t.failed)
		rcpt_refused(s);
	if (++s->t.rcpt_i < s->t.env->nrcpt)
		return smtp_enter(s, ST_RCPT);
	return rcpt_done(s, rec);
}

/* The message with DATA */

static int
on_data(struct smtp_conn *s, struct err *rec)
{
	if (s->t.failed) {
		/* Pipelined, and DATA was accepted although a recipient or
		 * the sender was refused.  The final dot would deliver to the
		 * others, and anything else we sent now would be message
		 * text.  Closing the connection before the dot makes the
		 * server drop the transaction (RFC 5321 3.3, 3.8). */
		if (s->reply.code == 354)
			s->sane = 0;
		*rec = s->t.err;
		return -1;
	}
	if (s->reply.code == 354)
		return smtp_enter(s, ST_BODY);
	return smtp_fail_reply(
	    s, rec, EX_DATAERR, "server %s refused DATA", s->p->host);
}

/* Put n bytes, doubling a '.' that starts a line (RFC 5321 4.5.2);
 * t.bol carries the line start across chunks. */
static int
put_stuffed(struct smtp_conn *s, const char *buf, size_t n, struct err *rec)
{
	size_t start = 0, i;

	for (i = 0; i < n; i++) {
		if (s->t.bol && buf[i] == '.') {
			if (io_put(s->io, buf + start, i - start, rec) == -1 ||
			    io_put(s->io, ".", 1, rec) == -1)
				return -1;
			start = i;
		}
		s->t.bol = buf[i] == '\n';
	}
	return io_put(s->io, buf + start, n - start, rec);
}

/* The dot, with QUIT after the last message (RFC 2920 3.1: the message
 * text may begin a group). */
static int
put_end(struct smtp_conn *s, off_t size, struct err *rec)
{
	log_tracef(
	    "message sent: %lld bytes before dot-stuffing", (long long)size);
	if (!s->t.bol && io_put(s->io, "\r\n", 2, rec) == -1)
		return -1;
	log_trace('>', ".", 1);
	if (io_put(s->io, ".\r\n", 3, rec) == -1)
		return -1;
	s->sane = 1;
	if (put_quit(s, rec) == -1)
		return -1;
	s->t.last_sent = 1;
	return smtp_flush(s, rec);
}

/* Stream the spool file from offset 0.  Any failure here leaves the
 * server inside DATA without the final dot: nothing is delivered. */
static int
send_body(struct smtp_conn *s, struct err *rec)
{
	off_t off = 0;
	ssize_t n;

	s->sane = 0;
	s->t.bol = 1;
	for (;;) {
		if ((n = read_spool(s, off, rec)) == -1)
			return -1;
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

/* The reply to the final dot or to BDAT LAST */
static int
on_message(struct smtp_conn *s, struct err *rec)
{
	if (s->t.failed) {
		/* BDAT went with a refused sender or recipient: the server
		 * refuses it, as it has no recipient left (RFC 3030 2). */
		*rec = s->t.err;
		return -1;
	}
	if (s->reply.code / 100 != 2)
		return smtp_fail_reply(s, rec, EX_DATAERR,
		    "server %s refused the message", s->p->host);
	/* Durability point: the server has taken the message (RFC 5321
	 * 4.1.1.4); res->reply holds its 250. */
	s->res->delivered = s->t.env->nrcpt - s->t.nrefused;
	if (s->t.partial) {
		*rec = s->t.err;
		return -1;
	}
	if (s->p->accepted != NULL)
		s->p->accepted(s->p->accepted_arg);
	return smtp_enter(s, ST_READY);
}

int
smtp_txn_send(struct smtp_conn *s, struct err *rec)
{
	switch (s->state) {
	case ST_RSET_FIRST:
		return send_rset_first(s, rec);
	case ST_MAIL:
		return send_mail(s, rec);
	case ST_RCPT:
		if (s->t.group_sent)
			return 0;
		if (put_rcpt(s, s->t.rcpt_i, rec) == -1)
			return -1;
		return smtp_flush(s, rec);
	case ST_DATA:
		return s->t.data_sent ? 0 : smtp_send_cmd(s, rec, "DATA");
	case ST_BODY:
		return send_body(s, rec);
	case ST_BDAT:
		return s->t.data_sent ? 0 : put_bdat(s, rec);
	default:
		return 0;
	}
}

int
smtp_txn_reply(struct smtp_conn *s, struct err *rec)
{
	switch (s->state) {
	case ST_RSET_FIRST:
		/* Whatever it said, MAIL decides: a transaction still open
		 * on the server makes it refuse MAIL (503). */
		return smtp_enter(s, ST_MAIL);
	case ST_MAIL:
		return on_mail(s, rec);
	case ST_RCPT:
		return on_rcpt(s, rec);
	case ST_DATA:
		return on_data(s, rec);
	case ST_BODY:
	case ST_BDAT:
		return on_message(s, rec);
	default:
		return 0;
	}
}
