/* SPDX-License-Identifier: ISC */
/*
 * Which queue a run uses, and what a send and mailq do with it: keep a
 * message that failed, hold a send's own message, list the queue (-bp),
 * make messages due now (-qI) or delete them (-qD).  Also the account's
 * smtp_params and the params string a queued envelope carries.  flush.c
 * sends what is queued (-q).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "flush.h"
#include "priv.h"

void
flush_smtp_params(const struct conf_account *a, struct smtp_params *p,
    char *port, size_t portsz)
{
	static const enum smtp_tls tls[] = {
		[CONF_TLS_STARTTLS] = SMTP_TLS_STARTTLS,
		[CONF_TLS_IMPLICIT] = SMTP_TLS_IMPLICIT,
		[CONF_TLS_OFF] = SMTP_TLS_OFF,
	};
	static const enum smtp_auth auth[] = {
		[CONF_AUTH_OFF] = SMTP_AUTH_OFF,
		[CONF_AUTH_ON] = SMTP_AUTH_ANY,
		[CONF_AUTH_MECH] = SMTP_AUTH_MECH,
	};

	snprintf(port, portsz, "%d", a->port);
	memset(p, 0, sizeof(*p));
	p->host = a->host;
	p->port = port;
	p->tls = tls[a->tls];
	p->ca_file = a->tls_ca_file;
	p->tls_pin = a->tls_pin;
	p->tls_priorities = a->tls_priorities;
	p->tls_cert_file = a->tls_cert_file;
	p->tls_key_file = a->tls_key_file;
	p->auth = auth[a->auth];
	p->mech = a->auth_mech;
	p->user = a->user;
	p->password = a->password;
	p->helo = a->helo;
	p->timeout_ms = a->timeout * 1000;
	p->partial = a->partial_delivery;
}

void
flush_params_format(const struct smtp_envelope *env, char *buf, size_t sz)
{
	snprintf(buf, sz, "%s%s%s%s%s%s%s%s", env->eightbit ? "8bit " : "",
	    env->smtputf8 ? "smtputf8 " : "", env->notify ? "notify=" : "",
	    env->notify ? env->notify : "", env->notify ? " " : "",
	    env->ret ? "ret=" : "", env->ret ? env->ret : "",
	    env->ret ? " " : "");
	if (env->envid != NULL)
		snprintf(buf + strlen(buf), sz - strlen(buf), "envid=%s",
		    env->envid);
}

void
flush_params_parse(
    const char *s, struct smtp_envelope *env, char *buf, size_t sz)
{
	char *w, *save = NULL, *envid;

	snprintf(buf, sz, "%s", s);
	envid = strstr(buf, "envid=");
	if (envid != NULL && (envid == buf || envid[-1] == ' ')) {
		*envid = '\0';
		env->envid = envid + 6;
	}
	for (w = strtok_r(buf, " ", &save); w != NULL;
	     w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "8bit") == 0)
			env->eightbit = 1;
		else if (strcmp(w, "smtputf8") == 0)
			env->smtputf8 = 1;
		else if (strncmp(w, "notify=", 7) == 0)
			env->notify = w + 7;
		else if (strncmp(w, "ret=", 4) == 0)
			env->ret = w + 4;
	}
}

/* Which queue a run uses (mailhop(1) FILES): the system queue
 * (SPOOLDIR) in system mode (priv.h), whoever runs it, and for root with
 * -C naming the system file; every other run, root's included, a private
 * user queue. */
static int
use_system_queue(const char *config)
{
	if (priv_system())
		return 1;
	return geteuid() == 0 && config != NULL &&
	    strcmp(config, SYSCONFDIR "/mailhop.conf") == 0;
}

int
flush_open(const char *config, struct queue **q, struct err *rec)
{
	struct queue_params qp = { 0 };
	char dir[4096];

	qp.system = use_system_queue(config);
	if (queue_default_dir(dir, sizeof(dir), qp.system) == -1)
		return err_set(rec, ERR_LOCAL, EX_CANTCREAT,
		    "cannot find the queue directory (set HOME or "
		    "XDG_STATE_HOME)");
	return queue_open(dir, &qp, q, rec);
}

int
flush_keep(const char *config, const struct queue_env *env, int msgfd,
    const char *reason, int failed, char id[QUEUE_ID_SIZE], struct err *rec)
{
	struct queue *q;
	int rc;

	if (flush_open(config, &q, rec) == -1)
		return -1;
	if (failed)
		rc = queue_put_failed(
		    q, env, msgfd, reason, time(NULL), id, rec);
	else
		rc = queue_put(q, env, msgfd, reason, time(NULL), id, rec);
	queue_close(q);
	return rc;
}

int
flush_hold(const char *config, const struct queue_env *env, int msgfd,
    struct flush_held *h, struct err *rec)
{
	memset(h, 0, sizeof(*h));
	if (flush_open(config, &h->q, rec) == -1)
		return -1;
	if (queue_hold(h->q, env, msgfd, time(NULL), h->id, &h->m, rec) == 0)
		return 0;
	queue_close(h->q);
	h->q = NULL;
	return -1;
}

void
flush_release(struct flush_held *h)
{
	queue_release(h->m);
	queue_close(h->q);
	h->m = NULL;
	h->q = NULL;
}

/* Open the queue, run op on it, close it; an error is printed.  Returns
 * the exit code. */
static int
with_queue(const struct options *o,
    int (*op)(struct queue *, const struct options *, struct err *))
{
	struct queue *q;
	struct err e;
	int rc;

	err_clear(&e);
	if (flush_open(o->config, &q, &e) == -1) {
		fprintf(stderr, "mailhop: %s\n", e.text);
		return e.code;
	}
	rc = op(q, o, &e);
	queue_close(q);
	if (rc == -1) {
		fprintf(stderr, "mailhop: %s\n", e.text);
		return e.code;
	}
	return EX_OK;
}

static int
list_op(struct queue *q, const struct options *o, struct err *e)
{
	(void)o;
	if (queue_print(q, stdout, time(NULL), e) == -1)
		return -1;
	if (fflush(stdout) != 0)
		return err_set(e, ERR_LOCAL, EX_IOERR,
		    "cannot write the queue listing to standard output");
	return 0;
}

int
flush_list(const struct options *o)
{
	return with_queue(o, list_op);
}

/* -qIID: make message ID due now (one in the failed area goes back into
 * the queue); -qI: every queued message; -qIfailed: put the failed area
 * back. */
static int
retry_now_op(struct queue *q, const struct options *o, struct err *e)
{
	size_t n;

	if (strcmp(o->queue_id, "failed") == 0) {
		if (queue_retry_failed(q, &n, e) == -1)
			return -1;
		syslog(LOG_NOTICE,
		    "queue: %zu failed message%s put back in the queue by uid %ld",
		    n, n == 1 ? "" : "s", (long)getuid());
		if (o->verbose || isatty(STDERR_FILENO))
			fprintf(stderr,
			    "mailhop: %zu failed message%s back in the queue\n",
			    n, n == 1 ? "" : "s");
		return 0;
	}
	if (o->queue_id[0] != '\0')
		return queue_retry_now(q, o->queue_id, e);
	return queue_retry_all(q, &n, e);
}

/* -qDID: delete message ID; -qDfailed: the failed area. */
static int
delete_op(struct queue *q, const struct options *o, struct err *e)
{
	size_t n;

	if (strcmp(o->queue_del, "failed") != 0) {
		if (queue_delete(q, o->queue_del, e) == -1)
			return -1;
		syslog(LOG_NOTICE, "queue %s: deleted by uid %ld", o->queue_del,
		    (long)getuid());
		if (o->verbose || isatty(STDERR_FILENO))
			fprintf(stderr, "mailhop: deleted %s\n", o->queue_del);
		return 0;
	}
	if (queue_delete_failed(q, &n, e) == -1)
		return -1;
	syslog(LOG_NOTICE, "queue: %zu failed message%s deleted by uid %ld", n,
	    n == 1 ? "" : "s", (long)getuid());
	if (o->verbose || isatty(STDERR_FILENO))
		fprintf(stderr, "mailhop: deleted %zu failed message%s\n", n,
		    n == 1 ? "" : "s");
	return 0;
}

int
flush_ask(const struct options *o)
{
	if (o->queue_del != NULL)
		return with_queue(o, delete_op);
	return with_queue(o, retry_now_op);
}
