/* SPDX-License-Identifier: ISC */
/*
 * Flushing the queue (-q), and a send's flush of its account's due
 * messages over its own connection.  Each flushed message gets one
 * syslog line, as a sent one does.  flush_open.c opens the queue.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "flush.h"
#include "log.h"

/* The connection of the account being flushed. */
enum flush_conn {
	CONN_NONE,   /* not opened yet: opened for the first due message */
	CONN_OPEN,   /* carries the account's messages one after another */
	CONN_FAILED, /* could not be opened: each message gets open_err */
	CONN_LOST    /* lost or out of step: the rest stay queued */
};

/* What one flush pass carries from message to message. */
struct flush_ctx {
	const struct options *o;
	struct conf_account acct; /* the account of the last message */
	int have_acct;
	int borrowed; /* acct is the send's: not freed, its password gone */
	int code;     /* the exit code of the pass */
	int quiet;    /* errors go to syslog only */
	/* What the pass did, for the summary of -q: sent, deferred (still
	 * queued), moved to failed/ (refused or expired), left as they were
	 * (untried after a lost connection). */
	size_t sent, deferred, failed, left;
	enum flush_conn state;
	struct smtp_conn *conn;
	struct smtp_params p; /* of acct; conn points into it */
	char port[16];
	struct smtp_result open_res;
	struct err open_err;
	size_t lost; /* messages left after the connection was lost */
	/* The account of this pass could not be used (its configuration,
	 * its password or its connection): the first such error, and how
	 * many messages it deferred; said once, at the end of the pass. */
	struct err acct_err;
	size_t acct_deferred, acct_expired;
	/* The password of acct could not be had: its error, so that the
	 * password command runs once per pass, not once per message. */
	struct err pw_err;
	char pw_account[128];
	/* A send carrying the queue: how many it may still take, and until
	 * when it may start one (0: not a carry). */
	size_t carry_left;
	long long carry_until;
};

/* The comma-joined recipients of e for the log line (malloc'ed). */
static char *
join(const struct queue_entry *e)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < e->nrcpt; i++)
		len += strlen(e->rcpt[i]) + 1;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < e->nrcpt; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, e->rcpt[i]);
	}
	return s;
}

/* The syslog line of one flushed message. */
static void
log_entry(const struct flush_ctx *c, const struct queue_entry *e,
    const struct smtp_result *res, const char *status, const char *reply,
    int code)
{
	struct log_rec lr = { 0 };
	char *rcpts = join(e);

	lr.msgid = e->msgid;
	lr.account = e->account;
	lr.host = c->have_acct ? c->acct.host : NULL;
	lr.tls = res->tls;
	lr.auth = res->mech;
	lr.uid = e->uid; /* who queued it, not who flushes it */
	lr.from = e->sender[0] == '\0' ? "<>" : e->sender;
	lr.rcpt = rcpts;
	lr.size = e->size;
	lr.queue = e->id;
	lr.status = status;
	lr.reply = reply;
	lr.exit = code;
	log_message(&lr);
	free(rcpts);
	if (c->o->verbose && !c->quiet)
		fprintf(stderr, "mailhop: %s: %s: %s\n", e->id, status, reply);
}

/* Load the account of e unless it is loaded, its password too.  Returns
 * 0, or -1 with er filled: the account cannot be used. */
static int
load_account(struct flush_ctx *c, const struct queue_entry *e, struct err *er)
{
	err_clear(er);
	if (c->have_acct && strcmp(c->acct.name, e->account) == 0)
		return 0;
	if (c->pw_err.class != ERR_NONE &&
	    strcmp(c->pw_account, e->account) == 0) {
		*er = c->pw_err;
		return -1;
	}
	if (c->have_acct && !c->borrowed)
		conf_account_free(&c->acct);
	c->have_acct = c->borrowed = 0;
	if (conf_load_queued(c->o->config, e->account, e->id, &c->acct, er) ==
	    -1)
		return -1;
	c->have_acct = 1;
	if (conf_password(&c->acct, er) == 0)
		return 0;
	c->pw_err = *er;
	snprintf(c->pw_account, sizeof(c->pw_account), "%s", e->account);
	conf_account_free(&c->acct);
	c->have_acct = 0;
	return -1;
}

/* Whether er, the failure of a message's own transaction, refuses the
 * message: a 5xx to MAIL, RCPT, DATA or the message, or a limit the
 * server declared (SIZE, SMTPUTF8), which no retry changes.  Anything
 * else (a lost connection, a protocol error, a local failure) is about
 * the server or this machine, and the message is retried. */
static int
refuses_message(const struct err *er)
{
	return er->class == ERR_PERM &&
	    (er->code == EX_DATAERR || er->code == EX_NOUSER);
}

enum outcome { SENT, DEFER, FAIL };

/* Settle m after the attempt: done, retry later (or expired), failed. */
static void
settle(struct flush_ctx *c, struct queue_msg *m, const struct queue_entry *e,
    const struct smtp_result *res, struct err *er, enum outcome how)
{
	struct err qe;
	int expired = 0, rc;
	const char *status;

	err_clear(&qe);
	if (how == SENT) {
		rc = queue_done(m, &qe);
		status = "sent";
		c->sent++;
	} else if (how == DEFER) {
		rc = queue_retry_later(m, er->text, time(NULL), &expired, &qe);
		status = expired ? "expired" : "deferred";
		*(expired ? &c->failed : &c->deferred) += 1;
	} else {
		rc = queue_fail(m, er->text, &qe);
		status = "refused";
		c->failed++;
	}
	log_entry(c, e, res, status, how == SENT ? res->reply : er->text,
	    how == SENT ? 0 : er->code);
	if (rc == -1) {
		syslog(LOG_ERR, "queue %s: %s", e->id, qe.text);
		if (!c->quiet)
			fprintf(
			    stderr, "mailhop: queue %s: %s\n", e->id, qe.text);
		c->code = qe.code;
	}
}

/* The account of m cannot be used (er: its configuration, its password,
 * its connection): the message is not at fault.  It is deferred, the
 * attempt counted with er as its error (so it still expires), and the
 * account's error is told once, at the end of the pass. */
static void
account_failed(struct flush_ctx *c, struct queue_msg *m,
    const struct queue_entry *e, const struct smtp_result *res, struct err *er)
{
	struct smtp_result none;
	size_t failed = c->failed;

	if (res == NULL) {
		memset(&none, 0, sizeof(none));
		res = &none;
	}
	if (c->acct_deferred + c->acct_expired == 0)
		c->acct_err = *er;
	settle(c, m, e, res, er, DEFER);
	*(c->failed > failed ? &c->acct_expired : &c->acct_deferred) += 1;
}

/* Open the connection of c's account for its first due message.  The
 * queue's messages go all or nothing even with partial_delivery: the
 * queue cannot cut a queued envelope down to the refused recipients, and
 * delivering to some would send the message twice to them next time. */
static void
open_conn(struct flush_ctx *c)
{
	err_clear(&c->open_err);
	if (c->borrowed) {
		/* The send's connection is gone, and its password with it:
		 * the rest waits for the next -q. */
		c->state = CONN_LOST;
		return;
	}
	flush_smtp_params(&c->acct, &c->p, c->port, sizeof(c->port));
	c->p.partial = 0;
	if (smtp_conn_open(&c->p, &c->open_res, &c->conn, &c->open_err) == 0)
		c->state = CONN_OPEN;
	else
		c->state = CONN_FAILED;
}

/* The account's error, once per pass: its messages stay queued.  A
 * temporary one (the server is down) is no news, and not told. */
static void
tell_account(struct flush_ctx *c, const char *account)
{
	const struct err *er = &c->acct_err;
	size_t n = c->acct_deferred, x = c->acct_expired;
	char what[96] = "", more[64] = "";

	if (n + x == 0 || er->class == ERR_TEMP)
		return;
	if (c->code == EX_OK)
		c->code = er->code;
	if (n > 0)
		snprintf(what, sizeof(what), "%zu message%s stay%s queued", n,
		    n == 1 ? "" : "s", n == 1 ? "s" : "");
	if (x > 0)
		snprintf(more, sizeof(more),
		    "%s%zu expired (moved to the failed area)",
		    n > 0 ? ", " : "", x);
	syslog(LOG_ERR, "queue: account %s: %s; %s%s",
	    account != NULL ? account : "?", er->text, what, more);
	if (c->quiet)
		return;
	/* A missing account's error names the message and the fix. */
	if (strncmp(er->text, "queued message ", 15) == 0)
		fprintf(stderr, "mailhop: %s%s\n", er->text,
		    n + x > 1 ? " (and the other messages of that account)"
			      : "");
	else
		fprintf(stderr, "mailhop: queue: account %s: %s; %s%s\n",
		    account != NULL ? account : "?", er->text, what, more);
}

/* Close the account's connection (QUIT); the next account opens its
 * own.  Messages left after a lost connection are logged once, and the
 * account's error is told once. */
static void
end_account(struct flush_ctx *c, const char *account)
{
	smtp_conn_close(c->conn);
	c->conn = NULL;
	if (c->lost > 0)
		syslog(LOG_NOTICE,
		    "queue: account %s: connection to %s lost, %zu message(s) left in the queue for the next run",
		    account != NULL ? account : "?",
		    c->have_acct ? c->acct.host : "?", c->lost);
	tell_account(c, account);
	c->state = CONN_NONE;
	c->lost = 0;
	c->acct_deferred = c->acct_expired = 0;
	err_clear(&c->acct_err);
}

/* m is left as it is, untried, for the next run; a try forced by -qI
 * becomes an ordinary due one, so that its next failure counts. */
static void
untried(struct flush_ctx *c, struct queue_msg *m, const struct queue_entry *e)
{
	struct err qe;

	c->left++;
	c->lost++;
	err_clear(&qe);
	if (queue_untried(m, time(NULL), &qe) == -1)
		syslog(LOG_ERR, "queue %s: %s", e->id, qe.text);
}

/* A send carrying the queue stops after FLUSH_CARRY_MAX messages, and
 * starts none after FLUSH_CARRY_SECONDS: its caller is waiting. */
static int
carry_done(struct flush_ctx *c)
{
	if (c->carry_until == 0)
		return 0;
	if (c->carry_left == 0 || (long long)time(NULL) >= c->carry_until)
		return 1;
	c->carry_left--;
	return 0;
}

/* Send m over the open connection and settle it on its own outcome. */
static int
send_queued(
    struct flush_ctx *c, struct queue_msg *m, const struct queue_entry *e)
{
	struct smtp_envelope env;
	struct smtp_result res;
	struct err er;
	char *pbuf;
	size_t psz = strlen(e->params) + 1;

	if ((pbuf = malloc(psz)) == NULL) {
		c->code = EX_OSERR;
		return 1;
	}
	memset(&env, 0, sizeof(env));
	env.from = e->sender;
	env.rcpt = e->rcpt;
	env.nrcpt = e->nrcpt;
	flush_params_parse(e->params, &env, pbuf, psz);
	if (smtp_conn_send(c->conn, &env, queue_msg_fd(m), 0, &res, &er) == 0)
		err_clear(&er);
	settle(c, m, e, &res, &er,
	    er.class == ERR_NONE       ? SENT
		: refuses_message(&er) ? FAIL
				       : DEFER);
	free(pbuf);
	if (!smtp_conn_usable(c->conn))
		c->state = CONN_LOST;
	return 0;
}

/* queue_due's callback: send one message over its account's connection,
 * RSET between messages (smtp_conn_send).  Each message is settled on
 * its own outcome alone; once the connection is lost or out of step, the
 * messages after it are left as they are, due, never sent twice.  When
 * the account cannot be used (its configuration, its password, its
 * connection), no message is at fault: each is deferred. */
static int
flush_one(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct flush_ctx *c = arg;
	struct err er;

	if (carry_done(c))
		return 1;
	if (load_account(c, e, &er) == -1) {
		account_failed(c, m, e, NULL, &er);
		return 0;
	}
	if (c->state == CONN_NONE)
		open_conn(c);
	if (c->state == CONN_LOST) {
		untried(c, m, e);
		return 0;
	}
	if (c->state == CONN_FAILED) {
		er = c->open_err;
		account_failed(c, m, e, &c->open_res, &er);
		return 0;
	}
	return send_queued(c, m, e);
}

/* What a -q run did, on standard error: on a terminal or with -v. */
static void
summary(const struct flush_ctx *c, const struct queue_stats *st)
{
	fprintf(stderr,
	    "mailhop: queue: %zu sent, %zu still queued, %zu moved to the failed area",
	    c->sent, c->deferred + c->left, c->failed);
	if (st->waiting > 0)
		fprintf(stderr, "; %zu not due yet (-qI sends all now)",
		    st->waiting);
	if (st->locked > 0)
		fprintf(
		    stderr, "; %zu being sent by another mailhop", st->locked);
	if (st->bad > 0)
		fprintf(stderr, "; %zu unreadable (mailq shows why)", st->bad);
	fputc('\n', stderr);
}

/* The queue_lifetime of account in config (a -C argument or NULL), or
 * 0 (the queue's default) when the account cannot be loaded: its pass
 * then tells why (load_account). */
static long long
account_lifetime(const char *config, const char *account)
{
	struct conf_account a;
	struct err er;
	long long t;

	err_clear(&er);
	if (conf_load_queued(config, account, "", &a, &er) == -1)
		return 0;
	t = a.queue_lifetime;
	conf_account_free(&a);
	return t;
}

/* The accounts of the queued messages, each once, with its lifetime
 * and whether it has a message due; and how many messages are not due
 * yet. */
struct due_accounts {
	struct queue *q;
	const char *config;
	long long now;
	char **v;
	long long *life;
	int *due;
	size_t n;
	size_t waiting;
	int oom;
	long long lifetime; /* flush_due's one account: life points here */
};

/* The index of account in a, added with its lifetime if new; -1 when
 * out of memory. */
static long
account_slot(struct due_accounts *a, const char *account)
{
	char **v;
	long long *life;
	int *due;
	size_t i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], account) == 0)
			return (long)i;
	if ((v = realloc(a->v, (a->n + 1) * sizeof(*v))) != NULL)
		a->v = v;
	if ((life = realloc(a->life, (a->n + 1) * sizeof(*life))) != NULL)
		a->life = life;
	if ((due = realloc(a->due, (a->n + 1) * sizeof(*due))) != NULL)
		a->due = due;
	if (v == NULL || life == NULL || due == NULL ||
	    (v[a->n] = strdup(account)) == NULL)
		return -1;
	life[a->n] = account_lifetime(a->config, account);
	due[a->n] = 0;
	return (long)a->n++;
}

static int
collect_account(const struct queue_entry *e, void *arg)
{
	struct due_accounts *a = arg;
	long i;

	if (e->bad != NULL || e->failed)
		return 0;
	if ((i = account_slot(a, e->account)) == -1) {
		a->oom = 1;
		return 1;
	}
	queue_set_lifetime(a->q, a->life[i]);
	if (queue_entry_due(a->q, e, a->now))
		a->due[i] = 1;
	else
		a->waiting++;
	return 0;
}

static void
free_accounts(struct due_accounts *a)
{
	while (a->n > 0)
		free(a->v[--a->n]);
	free(a->v);
	free(a->life);
	free(a->due);
}

/* Send the due messages of one account (NULL: any) over one connection
 * (one per account, in turn, for NULL), with lifetime as the account's
 * queue_lifetime (0: the default). */
static int
flush_account_due(struct flush_ctx *c, struct queue *q, const char *account,
    long long lifetime, long long now, struct queue_stats *st, struct err *e)
{
	int rc;

	queue_set_lifetime(q, lifetime);
	rc = queue_due(q, account, now, flush_one, c, st, e);
	end_account(c, account);
	return rc;
}

/* Add the stats of one account's pass to the run's: the unreadable ones
 * are counted by every pass, so the largest count is theirs. */
static void
add_stats(struct queue_stats *all, const struct queue_stats *one)
{
	all->taken += one->taken;
	all->locked += one->locked;
	if (one->bad > all->bad) {
		all->bad = one->bad;
		memcpy(all->bad_id, one->bad_id, sizeof(all->bad_id));
		memcpy(all->bad_why, one->bad_why, sizeof(all->bad_why));
	}
}

/* Send the due messages of account; with NULL, of every account, one
 * account after another, each over a connection of its own (a pass over
 * all would interleave them).  st gets what was found. */
static int
flush_queue(struct flush_ctx *c, struct queue *q, const char *account,
    struct queue_stats *st, struct err *e)
{
	struct due_accounts a = { 0 };
	struct queue_stats one;
	long long now = time(NULL);
	size_t i, ndue = 0;
	int rc = 0;

	a.q = q;
	a.config = c->o->config;
	a.now = now;
	if (account == NULL && queue_list(q, collect_account, &a, e) == -1) {
		free_accounts(&a);
		return -1;
	}
	for (i = 0; i < a.n; i++)
		ndue += a.due[i] != 0;
	/* With nothing due, a pass for the counts of the summary only: no
	 * lifetime makes a message due in it, since no account's did. */
	if (a.oom)
		rc = err_set(e, ERR_LOCAL, EX_OSERR, "out of memory");
	else if (account != NULL)
		rc = flush_account_due(c, q, account,
		    c->have_acct ? c->acct.queue_lifetime : 0, now, st, e);
	else if (ndue == 0)
		rc = flush_account_due(c, q, NULL, LLONG_MAX, now, st, e);
	for (i = 0; rc == 0 && i < a.n; i++) {
		if (!a.due[i])
			continue;
		rc = flush_account_due(c, q, a.v[i], a.life[i], now, &one, e);
		add_stats(st, &one);
	}
	if (ndue > 0)
		st->waiting = a.waiting;
	free_accounts(&a);
	return rc;
}

/* Send the due messages of account (NULL: of every account) as c says;
 * with tell, say what was done.  c->conn, when set, is account's open
 * connection: the pass uses it first.  Closes it, and frees c's account
 * unless borrowed.  Returns the exit code. */
static int
flush_pass(struct flush_ctx *c, const char *account, int tell)
{
	struct queue_stats st = { 0 };
	struct queue *q = NULL;
	struct err e;

	err_clear(&e);
	if (flush_open(c->o->config, &q, &e) == -1 ||
	    flush_queue(c, q, account, &st, &e) == -1) {
		syslog(LOG_ERR, "queue: %s", e.text);
		if (!c->quiet)
			fprintf(stderr, "mailhop: %s\n", e.text);
		c->code = e.code;
	} else if (tell)
		summary(c, &st);
	queue_close(q);
	smtp_conn_close(c->conn);
	c->conn = NULL;
	if (c->have_acct && !c->borrowed)
		conf_account_free(&c->acct);
	return c->code;
}

int
flush_run(const struct options *o)
{
	struct flush_ctx c = { 0 };
	int code;

	if (o->queue_del != NULL)
		return flush_ask(o);
	if (o->queue_id != NULL && (code = flush_ask(o)) != 0)
		return code;
	if (o->verbose)
		log_trace_enable(STDERR_FILENO);
	c.o = o;
	return flush_pass(&c, NULL, o->verbose || isatty(STDERR_FILENO));
}

void
flush_account_over(
    const struct options *o, struct conf_account *acct, struct smtp_conn *conn)
{
	struct flush_ctx c = { 0 };

	if (!smtp_conn_usable(conn)) {
		smtp_conn_close(conn);
		return;
	}
	c.o = o;
	c.quiet = 1;
	c.acct = *acct;
	c.have_acct = c.borrowed = 1;
	c.conn = conn;
	c.state = CONN_OPEN;
	c.carry_left = FLUSH_CARRY_MAX;
	c.carry_until = (long long)time(NULL) + FLUSH_CARRY_SECONDS;
	(void)flush_pass(&c, acct->name, 0);
}

/* queue_list's callback for flush_due: stop at the first due message of
 * the account (v[0]) but the send's own (v[1]). */
static int
due_of(const struct queue_entry *e, void *arg)
{
	struct due_accounts *a = arg;

	if (e->bad != NULL || e->failed || strcmp(e->account, a->v[0]) != 0 ||
	    (a->v[1] != NULL && strcmp(e->id, a->v[1]) == 0))
		return 0;
	if (a->life == NULL) {
		/* looked up once, and only when the account has mail here */
		a->life = &a->lifetime;
		a->lifetime = account_lifetime(a->config, a->v[0]);
		queue_set_lifetime(a->q, a->lifetime);
	}
	if (!queue_entry_due(a->q, e, a->now))
		return 0;
	a->n = 1;
	return 1;
}

int
flush_due(
    const struct options *o, const struct flush_held *held, const char *account)
{
	struct due_accounts a = { 0 };
	char *v[2] = { NULL, NULL };
	struct queue *q;
	struct err e;
	int rc, opened = 0;

	v[0] = (char *)(uintptr_t)account;
	a.v = v;
	a.config = o->config;
	a.now = time(NULL);
	err_clear(&e);
	if (held != NULL && held->m != NULL) {
		/* the send's queue, open already */
		q = held->q;
		v[1] = (char *)(uintptr_t)held->id;
	} else if (flush_open(o->config, &q, &e) == -1)
		return -1;
	else
		opened = 1;
	a.q = q;
	rc = queue_list(q, due_of, &a, &e);
	if (opened)
		queue_close(q);
	return rc == -1 ? -1 : a.n > 0;
}
