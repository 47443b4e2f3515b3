/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_FLUSH_H
#define MAILHOP_FLUSH_H

#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "options.h"
#include "queue.h"
#include "smtp.h"

/* The glue between a send or a mode and the queue (queue.h): which
 * queue, keeping a message that could not be sent, mailq (-bp, -qI, -qD;
 * flush_open.c) and flushing (-q; flush.c). */

/* Room for the params string of a queued envelope. */
#define FLUSH_PARAMS_MAX 256

/* Fill p from the account a (port is written into port, size portsz). */
void flush_smtp_params(const struct conf_account *a, struct smtp_params *p,
    char *port, size_t portsz);

/* Encode what smtp_send needs again of env (BODY, SMTPUTF8, NOTIFY, RET,
 * ENVID) into buf as "key=value" words, ENVID last. */
void flush_params_format(const struct smtp_envelope *env, char *buf, size_t sz);

/* The reverse of flush_params_format: fill env from s, with the values
 * copied into buf (size sz, at least strlen(s) + 1). */
void flush_params_parse(
    const char *s, struct smtp_envelope *env, char *buf, size_t sz);

/* Open the queue for config (the -C argument, or NULL): the user queue
 * ($XDG_STATE_HOME/mailhop/queue), except for root with -C naming the
 * system file, which uses the system queue.  Returns 0 with *q set, or -1
 * with rec filled. */
int flush_open(const char *config, struct queue **q, struct err *rec);

/* Keep the message in msgfd with env: queued for retry after reason, or
 * with failed set in the failed area.  id gets its id.  Returns 0, or -1
 * with rec filled (73 or 74). */
int flush_keep(const char *config, const struct queue_env *env, int msgfd,
    const char *reason, int failed, char id[QUEUE_ID_SIZE], struct err *rec);

/* A send's own message, published into its account's queue before the
 * first connection and held there during the send (queue_hold). */
struct flush_held {
	struct queue *q;
	struct queue_msg *m; /* NULL: nothing held */
	char id[QUEUE_ID_SIZE];
};

/* Publish and hold the message in msgfd with env (queue_hold) in the
 * queue of config.  Returns 0 with h filled, or -1 with rec filled and
 * h->m NULL. */
int flush_hold(const char *config, const struct queue_env *env, int msgfd,
    struct flush_held *h, struct err *rec);

/* Release what h holds (queue_release) and close its queue. */
void flush_release(struct flush_held *h);

/* mailq, -bp: the queue listing on stdout; returns the exit code. */
int flush_list(const struct options *o);

/* -q: send every due message of every account; returns the exit code:
 * 0, or when an account cannot be used (its configuration, its
 * password, or a permanent failure to connect, log in or start TLS) the
 * code of its error, told once for its messages, which stay queued. */
/* -qI[ID], -qIfailed, -qD<ID>, -qDfailed: what o asks of the queue.
 * Returns the exit code; an error is printed. */
int flush_ask(const struct options *o);

int flush_run(const struct options *o);

/* Before a send: 1 when the queue holds a message of account that is due
 * now other than the send's own (held, or NULL: its queue is used, not
 * opened again), 0 when it holds none, -1 when the queue cannot be
 * read. */
int flush_due(const struct options *o, const struct flush_held *held,
    const char *account);

/* A send carries at most this many of its account's due messages, and
 * starts none after this many seconds: its caller is waiting; -q sends
 * the rest. */
#define FLUSH_CARRY_MAX 16
#define FLUSH_CARRY_SECONDS 10

/* After a successful send: send the due messages of acct (the send's
 * account, used as it is: no password command runs again) over conn,
 * the connection that carried the send, without QUIT, within the limits
 * above; then close it (QUIT).  NULL or unusable: nothing is sent.  Best
 * effort: failures are only logged. */
void flush_account_over(
    const struct options *o, struct conf_account *acct, struct smtp_conn *conn);

#endif
