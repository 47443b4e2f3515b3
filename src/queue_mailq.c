/* SPDX-License-Identifier: ISC */
/*
 * What mailq asks of the queue (queue.c has its format and crash
 * safety): make a message or every message due at once (-qI), put failed
 * ones back (-qI, -qIfailed), delete one or the failed area (-qD,
 * -qDfailed).  Each works on a message under its lock, as a flusher
 * does, so that nothing is changed under a flusher's feet.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "queue_dir.h"

/* Lock message id for mailq, in msg/ or (with failed_too) failed/. */
static int
take_by_id(struct queue *q, const char *id, int failed_too, struct queue_msg *m,
    struct err *rec)
{
	enum queue_take r = QUEUE_GONE;

	if (queue_dir_valid_id(id))
		r = queue_take(q, q->msg, id, NULL, LLONG_MAX, m);
	if (r == QUEUE_GONE && queue_dir_valid_id(id) && failed_too) {
		queue_msg_release(m);
		r = queue_take(q, q->failed, id, NULL, LLONG_MAX, m);
	}
	if (r == QUEUE_TAKEN || (r == QUEUE_BAD && m->locked))
		return 0;
	if (r == QUEUE_LOCKED)
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "queue: message %s is being sent right now; try again in a minute",
		    id);
	if (r == QUEUE_BAD)
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "queue: message %s: %s", id, m->env.why);
	return err_set(rec, ERR_USAGE, EX_USAGE,
	    "queue: no message %.40s is in the queue (mailq lists them)", id);
}

/* Put failed message m (locked) back into msg/, due at once, as if
 * queued anew: attempts 0, created now (its lifetime starts again),
 * next-try 0 (forced); the last error stays, for mailq.  The envelope is
 * rewritten in failed/ first, then the directory is renamed, then both
 * directories are fsynced: a crash leaves it in failed/ (maybe with the
 * new envelope) or in msg/, whole either way. */
static int
requeue(struct queue_msg *m, long long now, struct err *rec)
{
	struct queue *q = m->q;

	m->env.e.attempts = 0;
	m->env.e.created = now;
	m->env.e.next_try = 0;
	if (queue_rewrite_env(m, rec) == -1)
		return -1;
	if (renameat2(q->failed, m->id, q->msg, m->id, RENAME_NOREPLACE) == -1)
		return queue_dir_err(
		    rec, EX_IOERR, "move back into the queue message", m->id);
	m->where = q->msg;
	if (fsync(q->msg) == -1 || fsync(q->failed) == -1)
		return queue_dir_err(rec, EX_IOERR, "sync the move of", m->id);
	return 0;
}

/* Make m (locked, in msg/ or failed/) due at once. */
static int
make_due_now(struct queue_msg *m, struct err *rec)
{
	if (m->env.why[0] != '\0')
		return err_set(rec, ERR_LOCAL, EX_DATAERR,
		    "queue: message %s cannot be sent: %s", m->id, m->env.why);
	if (m->where == m->q->failed)
		return requeue(m, (long long)time(NULL), rec);
	m->env.e.next_try = 0;
	return queue_rewrite_env(m, rec);
}

/* queue_retry_now, and with failed_too 0 queue_retry_queued. */
static int
retry_now(struct queue *q, const char *id, int failed_too, struct err *rec)
{
	struct queue_msg m;
	int ret = -1;

	queue_msg_init(&m, q, q->msg, id);
	if (take_by_id(q, id, 1, &m, rec) == -1)
		;
	else if (!failed_too && m.where == q->failed)
		err_set(rec, ERR_USAGE, EX_NOPERM,
		    "queue: message %s is in the failed area, and only root may put it back in the system queue (run mailhop -qI%s as root)",
		    id, id);
	else
		ret = make_due_now(&m, rec);
	queue_msg_release(&m);
	return ret;
}

int
queue_retry_now(struct queue *q, const char *id, struct err *rec)
{
	if (q->remote)
		return queue_keeper_by_id('I', id, rec);
	return retry_now(q, id, 1, rec);
}

int
queue_retry_queued(struct queue *q, const char *id, struct err *rec)
{
	return retry_now(q, id, 0, rec);
}

int
queue_delete(struct queue *q, const char *id, struct err *rec)
{
	struct queue_msg m;
	int ret = -1;

	if (q->remote)
		return queue_keeper_by_id('X', id, rec);
	queue_msg_init(&m, q, q->msg, id);
	if (take_by_id(q, id, 1, &m, rec) == 0)
		ret = queue_remove_msg(&m, rec);
	queue_msg_release(&m);
	return ret;
}

/* Apply op to every message of where that is not locked; *count gets how
 * many it was applied to. */
static int
each_message(struct queue *q, int where, int (*op)(struct queue_msg *),
    size_t *count, struct err *rec)
{
	struct queue_msg m;
	char **names;
	long n, i;
	enum queue_take r;

	*count = 0;
	if ((n = queue_dir_names(where, 1, &names)) == -1)
		return queue_dir_err(rec, EX_IOERR, "read the queue", q->path);
	for (i = 0; i < n; i++) {
		r = queue_take(q, where, names[i], NULL, LLONG_MAX, &m);
		if ((r == QUEUE_TAKEN || (r == QUEUE_BAD && m.locked)) &&
		    op(&m) == 0)
			(*count)++;
		queue_msg_release(&m);
	}
	queue_dir_free_names(names, n);
	return 0;
}

static int
make_due(struct queue_msg *m)
{
	struct err ignored;

	if (m->env.why[0] != '\0' || m->env.e.next_try == 0)
		return -1;
	m->env.e.next_try = 0;
	return queue_rewrite_env(m, &ignored);
}

int
queue_retry_all(struct queue *q, size_t *count, struct err *rec)
{
	if (q->remote)
		return queue_keeper_all('A', count, rec);
	return each_message(q, q->msg, make_due, count, rec);
}

static int
requeue_any(struct queue_msg *m)
{
	struct err ignored;

	if (m->env.why[0] != '\0')
		return -1;
	return requeue(m, (long long)time(NULL), &ignored);
}

int
queue_retry_failed(struct queue *q, size_t *count, struct err *rec)
{
	if (q->remote)
		return queue_keeper_all('B', count, rec);
	return each_message(q, q->failed, requeue_any, count, rec);
}

static int
remove_any(struct queue_msg *m)
{
	struct err ignored;

	return queue_remove_msg(m, &ignored);
}

int
queue_delete_failed(struct queue *q, size_t *count, struct err *rec)
{
	if (q->remote)
		return queue_keeper_all('Y', count, rec);
	return each_message(q, q->failed, remove_any, count, rec);
}
