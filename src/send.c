/* SPDX-License-Identifier: ISC */
/*
 * One message's send: the attempt through the account's server, the
 * queue's copy when it fails (queued, or kept in the failed area), the
 * log line, and the exit code.  main.c tells the caller.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "run.h"
#include "secret.h"

/* Does an envelope address need SMTPUTF8 (RFC 6531)? */
static int
needs_utf8(const struct run *r)
{
	size_t i;

	if (addr_needs_utf8(r->sender))
		return 1;
	for (i = 0; i < r->rcpt.n; i++)
		if (addr_needs_utf8(r->rcpt.v[i].mailbox))
			return 1;
	return 0;
}

/* -N as the NOTIFY value of RFC 3461 section 4.1, in buf. */
static const char *
notify_text(unsigned bits, char *buf, size_t sz)
{
	static const struct {
		unsigned bit;
		const char *word;
	} words[] = {
		{ OPT_NOTIFY_NEVER, "NEVER" },
		{ OPT_NOTIFY_SUCCESS, "SUCCESS" },
		{ OPT_NOTIFY_FAILURE, "FAILURE" },
		{ OPT_NOTIFY_DELAY, "DELAY" },
	};
	size_t i, off = 0;

	if (bits == 0)
		return NULL;
	buf[0] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if ((bits & words[i].bit) && off < sz)
			off += snprintf(buf + off, sz - off, "%s%s",
			    off > 0 ? "," : "", words[i].word);
	return buf;
}

/* The DSN requests of -N, -R and -V (RFC 3461). */
static void
fill_dsn(
    const struct options *o, struct smtp_envelope *env, char *buf, size_t sz)
{
	static const char *const ret[] = {
		[OPT_RET_UNSET] = NULL,
		[OPT_RET_FULL] = "FULL",
		[OPT_RET_HDRS] = "HDRS",
	};

	env->notify = notify_text(o->notify, buf, sz);
	env->ret = ret[o->ret];
	env->envid = o->envid;
}

static size_t queue_rcpts(const struct run *r, int want, const char **v);

/* The queue's envelope of the message for the recipients of kind want
 * (rcpt_is), which go into v (room for every recipient). */
static void
queue_envelope(
    const struct run *r, int want, const char **v, struct queue_env *qe)
{
	memset(qe, 0, sizeof(*qe));
	qe->account = r->acct.name;
	qe->sender = r->wire_sender;
	qe->rcpt = v;
	qe->nrcpt = queue_rcpts(r, want, v);
	qe->msgid = r->msg.msgid;
	qe->params = r->params;
}

/* The server said 250 to the held message: it leaves the queue at once,
 * not after QUIT's reply, so that a kill while QUIT is answered does not
 * send it again.  A failure to remove it is left to settle_held. */
static void
held_accepted(void *arg)
{
	struct run *r = arg;
	struct err qerr;

	err_clear(&qerr);
	if (r->held.m != NULL && !r->held_gone &&
	    queue_done(r->held.m, &qerr) == 0)
		r->held_gone = 1;
}

/* With the queue on: publish the message into the queue, due now, and
 * hold it for the send (flush_hold), so that from here on a kill leaves
 * it queued, and the next flush sends it.  A queue that cannot take it
 * does not stop the send: it goes as without (a failure is then queued
 * as before, if the queue takes it then, or its error is the run's),
 * with a warning under -v. */
static void
hold_message(struct run *r)
{
	struct queue_env qe;
	const char **v = calloc(r->rcpt.n, sizeof(*v));
	struct err qerr;

	err_clear(&qerr);
	if (v == NULL)
		err_set(&qerr, ERR_LOCAL, EX_OSERR, "out of memory");
	else {
		queue_envelope(r, 0, v, &qe);
		(void)flush_hold(
		    r->opt.config, &qe, r->msg.fd, &r->held, &qerr);
	}
	free(v);
	if (r->held.m == NULL && r->opt.verbose)
		fprintf(stderr,
		    "mailhop: warning: cannot queue the message before sending it: %s\n",
		    qerr.text);
}

static int
deliver(struct run *r)
{
	char notify[32];
	struct smtp_envelope env;
	struct smtp_params *p = &r->p;
	int rc;

	flush_smtp_params(&r->acct, p, r->port, sizeof(r->port));
	/* Fields this run does not set stay 0 or NULL (smtp.h). */
	memset(&env, 0, sizeof(env));
	env.from = r->wire_sender;
	env.rcpt = (const char *const *)r->wire;
	env.nrcpt = r->rcpt.n;
	env.eightbit = r->msg.eightbit;
	env.smtputf8 = needs_utf8(r);
	fill_dsn(&r->opt, &env, notify, sizeof(notify));
	r->codes = calloc(r->rcpt.n, sizeof(*r->codes));
	if (r->codes == NULL)
		return err_set(&r->err, ERR_LOCAL, EX_OSERR, "out of memory");
	env.rcpt_codes = r->codes;
	flush_params_format(&env, r->params, sizeof(r->params));
	if (r->acct.queue)
		hold_message(r);
	r->tried = 1;
	/* Due queued messages of the account follow on this connection
	 * (run_send); without any, QUIT goes with the message.  Its own,
	 * held, is not one of them. */
	if (r->acct.queue)
		r->due =
		    flush_due(&r->opt, &r->held, r->acct.name) == 0 ? 1 : 2;
	p->accepted = r->held.m != NULL ? held_accepted : NULL;
	p->accepted_arg = r;
	if (r->due == 2)
		rc = smtp_send_keep(
		    p, &env, r->msg.fd, &r->res, &r->err, &r->conn);
	else
		rc = smtp_send(p, &env, r->msg.fd, &r->res, &r->err);
	p->accepted = NULL; /* the flush that may follow has its own */
	/* smtp wiped the password when the session's AUTH ended (S35);
	 * the buffer goes too.  A -q flush after this loads its own. */
	secret_free(r->acct.password);
	r->acct.password = NULL;
	p->password = NULL;
	return rc;
}

/* Whether recipient i is of the kind want: 0 any, else the class of its
 * RCPT reply (4 or 5). */
static int
rcpt_is(const struct run *r, size_t i, int want)
{
	return want == 0 || (r->codes != NULL && r->codes[i] / 100 == want);
}

/* The comma-joined recipients of the kind want (rcpt_is) for the log
 * line (malloc'ed, or NULL). */
static char *
join_rcpts(const struct run *r, int want)
{
	const struct addr_list *l = &r->rcpt;
	size_t i, len = 1;
	char *s;

	for (i = 0; i < l->n; i++)
		len += strlen(l->v[i].mailbox) + 1;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (!rcpt_is(r, i, want))
			continue;
		if (s[0] != '\0')
			strcat(s, ",");
		strcat(s, l->v[i].mailbox);
	}
	return s;
}

static const char *
status_name(const struct run *r)
{
	const struct err *e = &r->err;

	if (r->queued)
		return "queued";
	if (e->class == ERR_NONE)
		return "sent";
	if (e->class == ERR_LOCAL)
		return "failed";
	return e->class == ERR_TEMP ? "deferred" : "refused";
}

/* One log line: status, the recipients of the kind want (rcpt_is), the
 * reply, and the exit code. */
static void
log_line(
    struct run *r, const char *status, int want, const char *reply, int code)
{
	struct log_rec lr = { 0 };
	char *rcpts = join_rcpts(r, want);

	lr.msgid = r->have_msg ? r->msg.msgid : NULL;
	lr.account = r->have_acct ? r->acct.name : NULL;
	lr.host = r->have_acct ? r->acct.host : NULL;
	lr.tls = r->res.tls;
	lr.auth = r->res.mech;
	lr.uid = (long long)getuid();
	lr.from = r->sender != NULL && r->sender[0] == '\0' ? "<>" : r->sender;
	lr.rcpt = rcpts;
	lr.size = r->have_msg ? r->msg.size : 0;
	lr.dsn = r->res.dsn_dropped ? "dropped" : NULL;
	if (strcmp(status, "queued") == 0 && r->queued_id[0] != '\0')
		lr.queue = r->queued_id;
	else if ((want == 0 || want == 5) && strcmp(status, "refused") == 0 &&
	    r->failed_id[0] != '\0')
		lr.queue = r->failed_id;
	lr.status = status;
	lr.reply = reply;
	lr.exit = code;
	log_message(&lr);
	free(rcpts);
}

/* Whether a recipient is of the kind want (rcpt_is, not 0). */
static int
has_kind(const struct run *r, int want)
{
	size_t i;

	for (i = 0; i < r->rcpt.n; i++)
		if (rcpt_is(r, i, want))
			return 1;
	return 0;
}

/* The error of the recipients of kind want (4 or 5) alone, for their
 * copy and their log line; r->err names every refusal. */
static const char *
part_error(const struct run *r, int want, char *buf, size_t sz)
{
	const char *only = want == 4 ? r->res.refused_temp
	    : want == 5		     ? r->res.refused_perm
				     : "";

	if (only[0] == '\0')
		return r->err.text;
	snprintf(buf, sz, "recipient refused: %s", only);
	return buf;
}

static void
report(struct run *r, int code)
{
	size_t got = r->res.delivered;
	int part =
	    r->codes != NULL && (r->split || (got > 0 && got < r->rcpt.n));
	int kept = r->queued || r->split_queued;
	char why[ERR_TEXT_MAX + 32];

	if (part) {
		/* A line for each outcome: the recipients that got the
		 * message, those refused (5xx), those refused for now (4xx:
		 * queued, or the line says why not). */
		if (got > 0)
			log_line(r, "sent", 2, r->res.reply, EX_OK);
		if (has_kind(r, 5))
			log_line(r, "refused", 5,
			    part_error(r, 5, why, sizeof(why)), code);
		if (has_kind(r, 4))
			log_line(r,
			    kept	   ? "queued"
				: r->split ? "failed"
					   : "deferred",
			    4,
			    r->split && !kept
				? r->split_why
				: part_error(r, 4, why, sizeof(why)),
			    kept ? EX_OK : code);
	} else
		log_line(r, status_name(r), 0,
		    code == 0 && !r->queued ? r->res.reply : r->err.text, code);
}

/* The recipients to keep, of the kind want (rcpt_is).  Returns how
 * many. */
static size_t
queue_rcpts(const struct run *r, int want, const char **v)
{
	size_t i, n = 0;

	for (i = 0; i < r->rcpt.n; i++)
		if (rcpt_is(r, i, want))
			v[n++] = r->wire[i];
	return n;
}

/* A permanent refusal of recipients with partial_delivery on, where
 * others were refused only for now: those are retried, as
 * mailhop.conf(5) promises, not kept in failed/ with the rest. */
static int
is_split(const struct run *r)
{
	size_t i;

	if (!r->p.partial || r->err.class != ERR_PERM ||
	    r->err.code != EX_NOUSER || r->codes == NULL)
		return 0;
	for (i = 0; i < r->rcpt.n; i++)
		if (rcpt_is(r, i, 4))
			return 1;
	return 0;
}

/* Keep a copy of the message for the recipients of kind want (see
 * rcpt_is), queued for retry or in the failed area.  For all of them
 * (want 0), the held message is the copy: counted as a failed attempt
 * (queue_retry_later) or moved to failed/ (queue_fail), each made
 * durable before it returns 0; for some, a new copy is written
 * (flush_keep), and the held one goes (settle_held). */
static int
keep_copy(struct run *r, int want, int failed, struct err *qerr)
{
	struct queue_env qe;
	char id[QUEUE_ID_SIZE];
	const char **v;
	char why[ERR_TEXT_MAX + 32];
	const char *reason = part_error(r, want, why, sizeof(why));
	char *kept = failed ? r->failed_id : r->queued_id;
	int rc, expired = 0;

	if (want == 0 && r->held.m != NULL) {
		rc = failed ? queue_fail(r->held.m, reason, qerr)
			    : queue_retry_later(r->held.m, reason,
				  (long long)time(NULL), &expired, qerr);
		r->held_kept = rc == 0;
		if (rc == 0)
			snprintf(kept, QUEUE_ID_SIZE, "%s", r->held.id);
		return rc;
	}
	if ((v = calloc(r->rcpt.n, sizeof(*v))) == NULL)
		return err_set(qerr, ERR_LOCAL, EX_OSERR, "out of memory");
	queue_envelope(r, want, v, &qe);
	rc =
	    flush_keep(r->opt.config, &qe, r->msg.fd, reason, failed, id, qerr);
	free(v);
	if (rc == 0)
		snprintf(kept, QUEUE_ID_SIZE, "%s", id);
	return rc;
}

/* The attempt failed with the queue on: queue a temporary failure (exit
 * 0, or the queue's error); keep a permanent one in the failed area
 * (exit with its code even when the copy cannot be written); with a
 * split (is_split), both, each for its own recipients.  After a partial
 * delivery only the refused recipients are kept, so that a copy sent
 * again never reaches one who has the message.  Returns the exit
 * code. */
static int
keep(struct run *r, int code)
{
	int some = r->res.delivered > 0;
	char why[ERR_TEXT_MAX];
	struct err qerr;

	err_clear(&qerr);
	r->split = is_split(r);
	if (r->split) {
		if (keep_copy(r, 4, 0, &qerr) == 0)
			r->split_queued = 1;
		else {
			snprintf(r->split_why, sizeof(r->split_why),
			    "the recipients refused for now could not be queued: %.400s",
			    qerr.text);
			code = qerr.code;
		}
	} else if (r->err.class == ERR_TEMP) {
		if (keep_copy(r, some ? 4 : 0, 0, &qerr) == 0) {
			/* DURABILITY POINT of a queued send: the copy is
			 * fsynced (queue_retry_later or queue_put), and only
			 * now is the caller told 0. */
			r->queued = 1;
			return EX_OK;
		}
		snprintf(why, sizeof(why), "%s", r->err.text);
		err_set(&r->err, qerr.class, qerr.code,
		    "%s; the message was not sent and could not be queued: %s",
		    why, qerr.text);
		return qerr.code;
	}
	err_clear(&qerr);
	if (keep_copy(r, r->split || some ? 5 : 0, 1, &qerr) == -1)
		syslog(LOG_ERR, "cannot keep a copy of the refused message: %s",
		    qerr.text);
	return code;
}

/* The held message after the attempt: kept by keep (queued or failed),
 * or else taken out of the queue: the server took it, or copies for the
 * refused recipients alone were kept, or the failure is not one the
 * queue keeps (the caller hears that nothing was sent).  The lock goes
 * with it.  Before the send's own flush, which must not see it. */
static void
settle_held(struct run *r, int code)
{
	struct err qerr;

	if (r->held.m == NULL)
		return;
	err_clear(&qerr);
	if (!r->held_kept && !r->held_gone &&
	    queue_done(r->held.m, &qerr) == -1)
		syslog(LOG_ERR, "queue %s: %s%s", r->held.id, qerr.text,
		    code == EX_OK ? " (it may be sent again)" : "");
	flush_release(&r->held);
}

void
run_cleanup(struct run *r)
{
	size_t i;

	for (i = 0; r->wire != NULL && i < r->rcpt.n; i++)
		free(r->wire[i]);
	free(r->wire);
	free(r->codes);
	addr_list_free(&r->rcpt);
	alias_free(r->aliases);
	peek_free(&r->peek);
	free(r->sender);
	free(r->wire_sender);
	free(r->wire_from);
	free(r->wire_local);
	flush_release(&r->held);
	if (r->have_msg)
		msg_free(&r->msg);
	if (r->have_acct)
		conf_account_free(&r->acct);
	opt_free(&r->opt);
}

/* Send the message on infd as r->opt says; log it.  Returns the exit
 * code, with r->err filled on failure. */
int
run_send(struct run *r, int infd, int stdin_closed)
{
	int code;

	/* The password command runs only for a message that will be sent. */
	if (run_prepare(r, infd, stdin_closed) == 0 &&
	    conf_password(&r->acct, &r->err) == 0 && deliver(r) == 0)
		err_clear(&r->err);
	code = r->err.class == ERR_NONE ? EX_OK : r->err.code;
	if (r->err.class == ERR_TEMP)
		code = EX_TEMPFAIL;
	if (r->tried && code != EX_OK && r->acct.queue &&
	    (r->err.class == ERR_TEMP || r->err.class == ERR_PERM))
		code = keep(r, code);
	settle_held(r, code);
	report(r, code);
	if (code == EX_OK && !r->queued && r->acct.queue && r->due != 1)
		flush_account_over(&r->opt, &r->acct, r->conn);
	else
		smtp_conn_close(r->conn);
	r->conn = NULL;
	return code;
}
