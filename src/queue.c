/* SPDX-License-Identifier: ISC */
/*
 * The on-disk queue: messages the account's server could not take yet
 * (retried on a growing schedule), messages it refused (kept in failed/
 * for inspection), and the message of a send in progress (queue_hold).
 * Writing, locking, listing and the schedule; send.c decides what to
 * queue and does the sending.
 *
 * Format.  The queue directory holds tmp/, msg/ and failed/.  Each message
 * is a directory named by its id (creation time, pid, a per-process
 * counter and random bits, in hex) holding two files:
 *   data  the message exactly as smtp_send sends it (CRLF lines, read
 *         with pread from 0 to EOF); never changed once written.
 *   env   the envelope, UTF-8 text, one "key value" line each, in this
 *         order (an empty value leaves "key" alone on its line):
 *           mailhop-queue 2        format version
 *           account NAME
 *           sender ADDR            empty for the null sender
 *           uid N                  the real uid of the process that
 *                                  queued it (its submitter; the
 *                                  log's uid=, mailq's "uid N")
 *           created SECONDS        since the epoch
 *           attempts N             failed attempts so far (tries
 *                                  forced by mailq do not count)
 *           next-try SECONDS       0: made due by mailq (-qI)
 *           size BYTES             of data
 *           last-error TEXT        sanitised (err_sanitize)
 *           msgid TEXT
 *           params TEXT            opaque to the queue (send.c's)
 *           rcpt ADDR              once per recipient, at least one
 *           end
 *         No value holds a control byte.  Anything else is corrupt,
 *         but for format 1 (mailhop before the uid line): the same
 *         without uid, read with the submitter unknown (uid=- in the
 *         log, "uid unknown" in mailq) and rewritten as format 1.
 *         (An older mailhop reports format 2 as an unknown version: it
 *         keeps such a message, never sends it.)
 *         A next-try or created further in the future than the schedule
 *         can set (QUEUE_LATEST_TRY: a clock that was ahead) is brought
 *         back by the next flush that sees it; a message past its
 *         lifetime is due whatever its next-try.
 * A message is in the queue exactly when msg/ID (or failed/ID) exists; it
 * is taken by flock(LOCK_EX | LOCK_NB) on the directory msg/ID, and is
 * still ours only if msg/ID is still that directory after the lock.
 *
 * Crash safety (kill -9 or power loss at any point).
 * - queue_open makes each missing directory (the queue, tmp/, msg/,
 *   failed/ and a user queue's parents) with mkdir, then fsyncs it and
 *   its parent: a message fsynced into msg/ must not vanish after a
 *   crash with a directory entry that never reached the disk.
 * - queue_put builds tmp/ID/data and tmp/ID/env, fsyncs both and tmp/ID,
 *   then renames tmp/ID to msg/ID (one atomic step: no reader ever sees
 *   a message without both files whole) and fsyncs msg/.  Only then does
 *   it return 0: that is the durability point.  Before it, a crash leaves
 *   at most a directory in tmp/, which no reader looks at and queue_open
 *   removes once it is QUEUE_TMP_AGE old; the caller was not told
 *   success, and mailhop exits non-zero.
 * - If that last fsync of msg/ fails, the message is in msg/ for every
 *   reader but may not survive a crash, and the caller is about to hear
 *   that it is not queued (and may send it again).  Saying it is queued
 *   would break the durability point: a crash could lose it.  Leaving it
 *   there and saying it is not would send it twice.  So queue_put holds
 *   the message directory's lock from before the rename to its return
 *   (no flusher takes it meanwhile) and takes the message back out: a
 *   rename to tmp/, or failing that its env and data unlinked in place
 *   (what lacks either is never sent).  Only if that fails too does it
 *   stay queued, and the error says it may be sent twice: a duplicate
 *   at worst, never a loss.
 * - env is changed by writing env.new, fsync, rename over env, fsync of
 *   the message directory: a crash leaves the old or the new envelope,
 *   whole (and maybe a stale env.new, which is ignored and overwritten).
 * - queue_done renames msg/ID out to tmp/ (atomic), fsyncs msg/, then
 *   removes the files.  It is called only after the server's 250, so a
 *   crash before the rename sends the message again (at least once,
 *   never zero times).
 * - Moving to failed/ is one rename of the directory, then fsyncs.
 *   Moving back (queue_retry_now, queue_mailq.c) rewrites the envelope
 *   in failed/ first (created now, attempts 0), then renames: a crash
 *   leaves it failed or queued, whole either way.
 * - A send's own message (queue_hold, issue 6: "kill -9 at each step of
 *   sending: afterwards every message is either delivered or queued
 *   intact").  It is built in tmp/ID as above, locked, and renamed into
 *   msg/ID before the first connection, due now with attempts 0, and
 *   held (locked) until the send settles it: a flusher, the send's own
 *   included, skips it as locked; a kill ends the lock, and the next
 *   flush sends it.  Where the fsyncs go: surviving kill -9 needs only
 *   the rename, since the page cache outlives the process; the fsyncs
 *   are what survives a power loss, and they cost a send several
 *   journal commits.  A power loss during a send ends its caller too,
 *   which was told nothing and promised nothing; so nothing is fsynced
 *   before connecting.  The fsyncs come where a promise is made: a
 *   temporary failure (queue_retry_later) or a permanent one
 *   (queue_fail) first fsyncs data, the message directory and msg/
 *   (sync_held), then rewrites the envelope as always, and only then
 *   is send.c told 0 and its caller exit 0: the durability point stays
 *   where it was.  After a 250, queue_done takes the unsynced message
 *   out without an fsync either: should a power loss bring it back
 *   (written out by the kernel meanwhile), the next flush sends it
 *   again, at least once, never zero times; should it come back
 *   half-written (data shorter than env says, or env cut), it is
 *   reported as corrupt and never sent.  A kill between the rename and
 *   the settling leaves it whole in msg/: sent again if the server had
 *   already said 250 (the reply to QUIT goes after it), else sent once.
 * - A lock is an flock on an open file description: it dies with its
 *   process, so a crashed flusher never blocks the message.
 * - data's size is also in env, and env must end with "end": a file cut
 *   short by something outside our control is reported, never sent.
 * Every fsync and rename result is checked; a failure before the
 * durability point removes what was made and reports EX_IOERR.  (The
 * unit tests cannot observe an fsync; they check the states a crash can
 * leave: half-built directories in tmp/, cut or missing files in msg/.)
 *
 * Locking.  A flusher reads a message's envelope without a lock (it is
 * replaced whole, so always readable) and locks only messages it wants;
 * it then reads the envelope again under the lock.  Listing takes no
 * lock, so mailq never makes a flusher skip a message.
 *
 * queue_dir.c has the directory helpers, queue_text.c the envelope text
 * and the listing, queue_mailq.c what mailq asks of one message or of
 * all (-qI, -qD).
 */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "queue_dir.h"

#define COPY_CHUNK 65536

/* Writing a message. */

/* Copy msgfd from offset 0 to EOF into a new file "data" in dfd, fsynced
 * with sync; its size in *size. */
static int
write_data(struct queue *q, int dfd, int msgfd, long long *size, int sync,
    struct err *rec)
{
	char buf[COPY_CHUNK];
	off_t off = 0;
	ssize_t n = 0;
	int fd, ret = -1;

	fd = openat(dfd, "data",
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, q->fmode);
	if (fd == -1)
		return queue_dir_err(
		    rec, EX_CANTCREAT, "create a message file in", q->path);
	while ((n = pread(msgfd, buf, sizeof(buf), off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || queue_dir_write_all(fd, buf, (size_t)n) == -1)
			break;
		off += n;
	}
	if (n == 0 && fchmod(fd, q->fmode) == 0 && (!sync || fsync(fd) == 0))
		ret = 0;
	if (close(fd) == -1)
		ret = -1;
	*size = (long long)off;
	if (ret == -1)
		return queue_dir_err(
		    rec, EX_IOERR, "write a message file in", q->path);
	return 0;
}

/* Fill the new message directory dfd: data, env, then the directory
 * itself, each fsynced with sync. */
static int
fill_dir(struct queue *q, int dfd, struct queue_entry *e, int msgfd, int sync,
    struct err *rec)
{
	char *text;
	size_t len;
	int ret;

	if (write_data(q, dfd, msgfd, &e->size, sync, rec) == -1)
		return -1;
	if (queue_text_format(e, &text, &len) == -1)
		return err_set(
		    rec, ERR_LOCAL, EX_OSERR, "queue: out of memory");
	if (len > QUEUE_ENV_MAX) {
		free(text);
		return err_set(rec, ERR_USAGE, EX_SOFTWARE,
		    "queue: the envelope is over %d bytes", QUEUE_ENV_MAX);
	}
	ret = queue_dir_write_file(dfd, "env", text, len, q->fmode, sync);
	free(text);
	if (ret == -1 || (sync && fsync(dfd) == -1))
		return queue_dir_err(
		    rec, EX_IOERR, "write an envelope in", q->path);
	return 0;
}

/* A new empty message directory tmp/ID, open on *dfd. */
static int
make_tmp(struct queue *q, long long now, char id[QUEUE_ID_SIZE], int *dfd,
    struct err *rec)
{
	int tries;

	for (tries = 0; tries < 8; tries++) {
		queue_dir_new_id(id, now);
		if (mkdirat(q->tmp, id, 0700) == 0)
			break;
		if (errno != EEXIST || tries == 7) {
			id[0] = '\0'; /* not ours: nothing to remove */
			return queue_dir_err(
			    rec, EX_CANTCREAT, "create a file in", q->path);
		}
	}
	*dfd =
	    openat(q->tmp, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd == -1 || fchmod(*dfd, q->dmode) == -1)
		return queue_dir_err(
		    rec, EX_CANTCREAT, "create a file in", q->path);
	return 0;
}

/* The fsync of target failed after tmp/ID was renamed there: the message
 * is in target/ for every reader, but may not survive a crash, and the
 * caller is about to hear that it is not queued.  Take it back out:
 * rename it to tmp/, else unlink its files in place (a message without
 * its env or its data is never sent).  dfd is the message's directory,
 * locked, so no flusher has taken it.  Returns 0 once it is out, -1 when
 * it is still whole in target/. */
static int
withdraw(struct queue *q, int target, int dfd, const char *id)
{
	if (renameat(target, id, q->tmp, id) == 0)
		return 0;
	unlinkat(dfd, "env", 0);
	unlinkat(dfd, "data", 0);
	unlinkat(target, id, AT_REMOVEDIR);
	if ((faccessat(dfd, "env", F_OK, AT_SYMLINK_NOFOLLOW) == -1 &&
		errno == ENOENT) ||
	    (faccessat(dfd, "data", F_OK, AT_SYMLINK_NOFOLLOW) == -1 &&
		errno == ENOENT))
		return 0;
	return -1;
}

/* Rename tmp/ID to target/ID (a new id if one is there already) and,
 * with sync, fsync target.  On failure, the message is not queued (tmp/ID
 * may be left for the caller to remove), or rec says that it still is. */
static int
publish(struct queue *q, int target, int dfd, char id[QUEUE_ID_SIZE],
    long long now, int sync, struct err *rec)
{
	char why[128];

	char old[QUEUE_ID_SIZE];
	int tries;

	for (tries = 0;; tries++) {
		if (renameat2(q->tmp, id, target, id, RENAME_NOREPLACE) == 0)
			break;
		if (errno == EINVAL && renameat(q->tmp, id, target, id) == 0)
			break; /* no RENAME_NOREPLACE here; ids are unique */
		if ((errno != EEXIST && errno != ENOTEMPTY) || tries == 7)
			return queue_dir_err(
			    rec, EX_IOERR, "queue a message in", q->path);
		memcpy(old, id, QUEUE_ID_SIZE);
		queue_dir_new_id(id, now);
		if (renameat2(q->tmp, old, q->tmp, id, RENAME_NOREPLACE) ==
		    -1) {
			memcpy(id, old, QUEUE_ID_SIZE);
			return queue_dir_err(
			    rec, EX_IOERR, "queue a message in", q->path);
		}
	}
	if (!sync || fsync(target) == 0)
		return 0;
	snprintf(why, sizeof(why), "%s", strerror(errno));
	if (withdraw(q, target, dfd, id) == 0)
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "queue: cannot sync %s: %s", q->path, why);
	return err_set(rec, ERR_LOCAL, EX_IOERR,
	    "queue: cannot sync %s: %s (message %s could not be taken back out of the queue, and may be sent twice)",
	    q->path, why, id);
}

static int load(int dfd, struct queue_text *t, int *fdp);

/* Write the message into tmp/ID and rename it into target.  With held
 * NULL, everything is fsynced first (queue_put); else nothing is, and
 * the message stays locked in held (queue_hold). */
static int
put_in(struct queue *q, int target, const struct queue_env *env, int msgfd,
    const char *reason, long long now, char id[QUEUE_ID_SIZE],
    struct queue_msg *held, struct err *rec)
{
	struct queue_entry e;
	struct err ignored;
	char last[ERR_TEXT_MAX];
	int dfd = -1, ret = -1, sync = held == NULL;

	if (queue_text_check(env, &e, rec) == -1)
		return -1;
	e.uid = (long long)getuid(); /* the submitter: see struct queue_env */
	e.created = now;
	e.attempts = reason != NULL;
	e.next_try = now + queue_backoff(e.attempts, queue_dir_random());
	err_sanitize(last, sizeof(last), reason != NULL ? reason : "",
	    reason != NULL ? strlen(reason) : 0);
	e.last_error = last;
	if (make_tmp(q, now, id, &dfd, rec) == -1)
		goto out;
	if (fill_dir(q, dfd, &e, msgfd, sync, rec) == -1)
		goto out;
	/* Held until dfd is closed: no flusher takes the message before it
	 * is durable (or taken back out by publish); for queue_hold, until
	 * queue_release. */
	if (flock(dfd, LOCK_EX | LOCK_NB) == -1) {
		queue_dir_err(rec, EX_IOERR, "lock a new message in", q->path);
		goto out;
	}
	if (publish(q, target, dfd, id, now, sync, rec) == -1)
		goto out;
	if (held != NULL) {
		/* Published, not durable: survives kill -9 (the page cache
		 * outlives the process), not yet a power loss. */
		queue_msg_init(held, q, target, id);
		held->dfd = dfd;
		held->locked = held->unsynced = 1;
		dfd = -1;
		if (load(held->dfd, &held->env, &held->fd) == 0) {
			held->env.e.id = held->id;
			return 0;
		}
		/* What was just written cannot be read back: take it out
		 * (it is no longer in tmp/, so not removed below). */
		err_set(rec, ERR_LOCAL, EX_IOERR,
		    "queue: cannot read back message %s: %s", id,
		    held->env.why);
		(void)queue_remove_msg(held, &ignored);
		queue_msg_release(held);
		return -1;
	}
	/* DURABILITY POINT: the message is whole in msg/ID (or failed/ID)
	 * and every step there is fsynced; only now may the caller be told
	 * that it is queued. */
	ret = 0;
out:
	if (ret == -1 && id[0] != '\0')
		queue_dir_remove(q->tmp, id);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

int
queue_put(struct queue *q, const struct queue_env *env, int msgfd,
    const char *reason, long long now, char id[QUEUE_ID_SIZE], struct err *rec)
{
	id[0] = '\0';
	if (q->remote)
		return queue_keeper_put(env, msgfd, reason, now, 'P', id, rec);
	return put_in(q, q->msg, env, msgfd, reason, now, id, NULL, rec);
}

int
queue_hold(struct queue *q, const struct queue_env *env, int msgfd,
    long long now, char id[QUEUE_ID_SIZE], struct queue_msg **mp,
    struct err *rec)
{
	struct queue_msg *m;

	id[0] = '\0';
	*mp = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return err_set(
		    rec, ERR_LOCAL, EX_OSERR, "queue: out of memory");
	if (q->remote) {
		queue_msg_init(m, q, -1, "");
		if (queue_keeper_put(env, msgfd, NULL, now, 'H', id, rec) ==
		    -1) {
			free(m);
			return -1;
		}
		snprintf(m->id, sizeof(m->id), "%s", id);
	} else if (put_in(q, q->msg, env, msgfd, NULL, now, id, m, rec) == -1) {
		free(m);
		return -1;
	}
	*mp = m;
	return 0;
}

void
queue_release(struct queue_msg *m)
{
	struct err ignored;

	if (m == NULL)
		return;
	if (m->q->remote)
		(void)queue_keeper_settle('z', NULL, 0, NULL, &ignored);
	queue_msg_release(m);
	free(m);
}

int
queue_put_failed(struct queue *q, const struct queue_env *env, int msgfd,
    const char *reason, long long now, char id[QUEUE_ID_SIZE], struct err *rec)
{
	id[0] = '\0';
	if (q->remote)
		return queue_keeper_put(env, msgfd,
		    reason != NULL ? reason : "", now, 'F', id, rec);
	return put_in(q, q->failed, env, msgfd, reason != NULL ? reason : "",
	    now, id, NULL, rec);
}

/* Reading and taking a message. */

static int why(struct queue_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
why(struct queue_text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* data must be as long as the envelope says: a message cut short is never
 * sent.  Left open on *fdp when fdp is not NULL. */
static int
check_data(int dfd, struct queue_text *t, int *fdp)
{
	struct stat st;
	int fd;

	fd = openat(dfd, "data", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		why(t, "cannot open its message file: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((long long)st.st_size != t->e.size) {
		close(fd);
		return why(t, "its message file has %lld bytes, not %lld",
		    (long long)st.st_size, t->e.size);
	}
	t->e.size = (long long)st.st_size;
	if (fdp != NULL)
		*fdp = fd;
	else
		close(fd);
	return 0;
}

/* Read the envelope of message directory dfd into t and check data.
 * Returns 0, or -1 with t->why set. */
static int
load(int dfd, struct queue_text *t, int *fdp)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	memset(t, 0, sizeof(*t));
	fd = openat(dfd, "env", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return why(t, "cannot open its envelope: %s", strerror(errno));
	if (fstat(fd, &st) == -1 || st.st_size > QUEUE_ENV_MAX ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return why(t, "cannot read its envelope (over %d bytes?)",
		    QUEUE_ENV_MAX);
	}
	n = pread(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return why(t, "cannot read its envelope");
	}
	if (queue_text_parse(t, buf, (size_t)n) == -1)
		return -1;
	return check_data(dfd, t, fdp);
}

void
queue_msg_init(struct queue_msg *m, struct queue *q, int where, const char *id)
{
	memset(m, 0, sizeof(*m));
	m->q = q;
	m->where = where;
	m->dfd = m->fd = -1;
	snprintf(m->id, sizeof(m->id), "%s", id);
}

void
queue_msg_release(struct queue_msg *m)
{
	queue_dir_close(&m->fd);
	queue_dir_close(&m->dfd); /* and with it the lock */
	queue_text_free(&m->env);
}

/* Written by a clock that was ahead: a next try further out than the
 * schedule ever sets, or a creation time as far in the future. */
static int
skewed(const struct queue_entry *e, long long now)
{
	return e->next_try - now > QUEUE_LATEST_TRY ||
	    e->created - now > QUEUE_LATEST_TRY;
}

static int
due(const struct queue *q, const struct queue_entry *e, long long now)
{
	return e->next_try <= now || now - e->created >= q->lifetime;
}

int
queue_entry_due(
    const struct queue *q, const struct queue_entry *e, long long now)
{
	return e->bad == NULL && !e->failed &&
	    (due(q, e, now) || skewed(e, now));
}

static int
wanted(const struct queue *q, const struct queue_entry *e, const char *account,
    long long now)
{
	return due(q, e, now) &&
	    (account == NULL || strcmp(account, e->account) == 0);
}

/* Bring the times of m (locked) that a wrong clock wrote back within
 * reach: the next try at most QUEUE_DELAY_MAX from now, the creation
 * time at most now (the lifetime counts from there).  Best effort: if
 * the envelope cannot be written, the next flush tries again. */
static void
unskew(struct queue_msg *m, long long now)
{
	struct queue_entry *e = &m->env.e;
	struct err ignored;

	if (e->next_try - now > QUEUE_DELAY_MAX)
		e->next_try = now + QUEUE_DELAY_MAX;
	if (e->created > now)
		e->created = now;
	(void)queue_rewrite_env(m, &ignored);
}

/* Lock message id of where into m, if it is due at now for account
 * (account NULL and now LLONG_MAX: any).  The envelope is read first
 * without the lock (it is replaced whole, so always readable) so that
 * messages not wanted are not locked at all; then again under it.  A
 * message of account with skewed times is locked to correct them. */
enum queue_take
queue_take(struct queue *q, int where, const char *id, const char *account,
    long long now, struct queue_msg *m)
{
	int any = now == LLONG_MAX;

	queue_msg_init(m, q, where, id);
	m->dfd =
	    openat(where, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (m->dfd == -1 && errno == ENOENT)
		return QUEUE_GONE;
	if (m->dfd == -1) {
		why(&m->env, "cannot open it: %s", strerror(errno));
		return QUEUE_BAD;
	}
	if (account != NULL || !any) {
		if (load(m->dfd, &m->env, NULL) == -1)
			return queue_dir_same(where, id, m->dfd) ? QUEUE_BAD
								 : QUEUE_GONE;
		if (!wanted(q, &m->env.e, account, now) &&
		    (any || !skewed(&m->env.e, now) ||
			!wanted(q, &m->env.e, account, LLONG_MAX)))
			return QUEUE_SKIPPED;
		queue_text_free(&m->env);
	}
	if (flock(m->dfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			return QUEUE_LOCKED;
		why(&m->env, "cannot lock it: %s", strerror(errno));
		return QUEUE_BAD;
	}
	if (!queue_dir_same(where, id, m->dfd))
		return QUEUE_GONE; /* sent, failed or removed meanwhile */
	m->locked = 1;
	if (load(m->dfd, &m->env, &m->fd) == -1)
		return QUEUE_BAD;
	m->env.e.id = m->id;
	m->env.e.failed = where == q->failed;
	if (!any && skewed(&m->env.e, now))
		unskew(m, now);
	return wanted(q, &m->env.e, account, now) ? QUEUE_TAKEN : QUEUE_SKIPPED;
}

/* Listing and flushing. */

static void
blank(struct queue_entry *e)
{
	static const char *const none[1] = { "" };

	memset(e, 0, sizeof(*e));
	e->account = e->sender = e->msgid = e->params = e->last_error = "";
	e->rcpt = none;
	e->uid = -1;
}

/* Read message id of where and call fn with it; returns what fn
 * returned, or 0 when the message vanished while we read it. */
static int
list_one(int where, const char *id, int failed, queue_list_fn *fn, void *arg)
{
	struct queue_text t;
	struct queue_entry e;
	int dfd, stop = 0;

	memset(&t, 0, sizeof(t));
	dfd =
	    openat(where, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1 && errno == ENOENT)
		return 0;
	if (dfd == -1)
		why(&t, "cannot open it: %s", strerror(errno));
	if (dfd >= 0 && load(dfd, &t, NULL) == 0)
		e = t.e;
	else
		blank(&e);
	e.id = id;
	e.failed = failed;
	e.bad = t.why[0] != '\0' ? t.why : NULL;
	if (dfd == -1 || e.bad == NULL || queue_dir_same(where, id, dfd))
		stop = fn(&e, arg);
	queue_text_free(&t);
	if (dfd >= 0)
		close(dfd);
	return stop;
}

/* Call fn for each message of where; 1 when fn asked to stop. */
static int
list_dir(int where, int failed, queue_list_fn *fn, void *arg)
{
	char **names;
	long n, i;
	int stop = 0;

	if ((n = queue_dir_names(where, 1, &names)) == -1)
		return -1;
	for (i = 0; i < n && !stop; i++)
		stop = list_one(where, names[i], failed, fn, arg) != 0;
	queue_dir_free_names(names, n);
	return stop;
}

int
queue_list(struct queue *q, queue_list_fn *fn, void *arg, struct err *rec)
{
	int r;

	if (q->remote)
		return queue_keeper_list(q, fn, arg, rec);
	r = list_dir(q->msg, 0, fn, arg);
	if (r == 0)
		r = list_dir(q->failed, 1, fn, arg);
	if (r == -1)
		return queue_dir_err(rec, EX_IOERR, "read the queue", q->path);
	return 0;
}

int
queue_due(struct queue *q, const char *account, long long now, queue_due_fn *fn,
    void *arg, struct queue_stats *stats, struct err *rec)
{
	struct queue_stats local;
	struct queue_msg m;
	char **names;
	long n, i;
	int stop = 0;

	if (q->remote)
		return queue_keeper_due(q, account, now, fn, arg, stats, rec);
	if (stats == NULL)
		stats = &local;
	memset(stats, 0, sizeof(*stats));
	if ((n = queue_dir_names(q->msg, 1, &names)) == -1)
		return queue_dir_err(rec, EX_IOERR, "read the queue", q->path);
	for (i = 0; i < n && !stop; i++) {
		switch (queue_take(q, q->msg, names[i], account, now, &m)) {
		case QUEUE_TAKEN:
			stats->taken++;
			stop = fn(&m, &m.env.e, arg) != 0;
			break;
		case QUEUE_LOCKED:
			stats->locked++;
			break;
		case QUEUE_BAD:
			stats->bad++;
			snprintf(stats->bad_id, sizeof(stats->bad_id), "%s",
			    names[i]);
			snprintf(stats->bad_why, sizeof(stats->bad_why), "%s",
			    m.env.why);
			break;
		case QUEUE_SKIPPED:
			stats->waiting++;
			break;
		case QUEUE_GONE:
			break;
		}
		queue_msg_release(&m);
	}
	queue_dir_free_names(names, n);
	return 0;
}

int
queue_msg_fd(const struct queue_msg *m)
{
	return m->fd;
}

/* Take m out of the queue: one rename out of its directory (durable once
 * that directory is fsynced; a message that never was, queue_hold's,
 * needs no sync to go), then the files go. */
int
queue_remove_msg(struct queue_msg *m, struct err *rec)
{
	char gone[QUEUE_ID_SIZE + 8];

	if (m->where == -1)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "queue: message %s is no longer queued", m->id);
	snprintf(gone, sizeof(gone), "%s.gone", m->id);
	if (renameat(m->where, m->id, m->q->tmp, gone) == -1)
		return queue_dir_err(rec, EX_IOERR, "remove message", m->id);
	if (!m->unsynced && fsync(m->where) == -1) {
		m->where = -1;
		return queue_dir_err(
		    rec, EX_IOERR, "sync the removal of", m->id);
	}
	m->where = -1;
	queue_dir_remove(m->q->tmp, gone);
	return 0;
}

int
queue_done(struct queue_msg *m, struct err *rec)
{
	if (m->q->remote)
		return queue_keeper_settle('d', NULL, 0, NULL, rec);
	return queue_remove_msg(m, rec);
}

/* A message of queue_hold is to stay: make what it was published with
 * durable (its data, its directory, and its entry in msg/) before the
 * envelope is rewritten; the caller then fsyncs the rest. */
static int
sync_held(struct queue_msg *m, struct err *rec)
{
	if (!m->unsynced)
		return 0;
	if (fsync(m->fd) == -1 || fsync(m->dfd) == -1 || fsync(m->where) == -1)
		return queue_dir_err(rec, EX_IOERR, "sync message", m->id);
	m->unsynced = 0;
	return 0;
}

/* Replace env with the fields of m->env.e: write env.new, fsync, rename
 * over env, fsync the message directory. */
int
queue_rewrite_env(struct queue_msg *m, struct err *rec)
{
	char *text;
	size_t len;
	int ret;

	if (m->where == -1)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "queue: message %s is no longer queued", m->id);
	if (queue_text_format(&m->env.e, &text, &len) == -1)
		return err_set(
		    rec, ERR_LOCAL, EX_OSERR, "queue: out of memory");
	ret =
	    queue_dir_write_file(m->dfd, "env.new", text, len, m->q->fmode, 1);
	free(text);
	if (ret == -1 || renameat(m->dfd, "env.new", m->dfd, "env") == -1 ||
	    fsync(m->dfd) == -1)
		return queue_dir_err(rec, EX_IOERR, "update message", m->id);
	return 0;
}

static int
move_failed(struct queue_msg *m, struct err *rec)
{
	struct queue *q = m->q;

	if (m->where == q->failed)
		return 0;
	if (renameat(m->where, m->id, q->failed, m->id) == -1)
		return queue_dir_err(
		    rec, EX_IOERR, "move to failed/ message", m->id);
	if (fsync(q->failed) == -1 || fsync(m->where) == -1) {
		m->where = q->failed;
		return queue_dir_err(rec, EX_IOERR, "sync the move of", m->id);
	}
	m->where = q->failed;
	return 0;
}

static void
set_error(struct queue_msg *m, const char *reason)
{
	if (reason == NULL)
		reason = "";
	err_sanitize(
	    m->last_error, sizeof(m->last_error), reason, strlen(reason));
	m->env.e.last_error = m->last_error;
}

/* "expired after 5 days; last error: REASON", what an expired message
 * keeps as its last error (mailq tells it from a refusal by its start,
 * QUEUE_EXPIRED). */
static void
set_expired(struct queue_msg *m, const char *reason)
{
	char buf[ERR_TEXT_MAX + 64];
	long long t = m->q->lifetime, unit = 1;
	const char *name = "second";

	if (t % 86400 == 0)
		unit = 86400, name = "day";
	else if (t % 3600 == 0)
		unit = 3600, name = "hour";
	else if (t % 60 == 0)
		unit = 60, name = "minute";
	snprintf(buf, sizeof(buf), QUEUE_EXPIRED "%lld %s%s; last error: %s",
	    t / unit, name, t / unit == 1 ? "" : "s",
	    reason != NULL ? reason : "");
	set_error(m, buf);
}

int
queue_retry_later(struct queue_msg *m, const char *reason, long long now,
    int *expired, struct err *rec)
{
	struct queue_entry *e = &m->env.e;

	*expired = 0;
	if (m->q->remote)
		return queue_keeper_settle('r', reason, now, expired, rec);
	if (sync_held(m, rec) == -1)
		return -1;
	set_error(m, reason);
	/* next-try 0 is a try forced by mailq (queue_retry_now,
	 * queue_retry_all): it does not count, so the delay stays where the
	 * schedule had it instead of doubling; but a message never tried
	 * before must get onto the schedule (attempt 0 has no delay). */
	if ((e->next_try != 0 || e->attempts == 0) && e->attempts < UINT_MAX)
		e->attempts++;
	e->next_try = now + queue_backoff(e->attempts, queue_dir_random());
	if (now - e->created >= m->q->lifetime) {
		*expired = 1;
		set_expired(m, reason);
	}
	if (queue_rewrite_env(m, rec) == -1)
		return -1;
	return *expired ? move_failed(m, rec) : 0;
}

int
queue_untried(struct queue_msg *m, long long now, struct err *rec)
{
	if (m->q->remote)
		return queue_keeper_settle('u', NULL, now, NULL, rec);
	if (m->env.e.next_try != 0)
		return 0;
	m->env.e.next_try = now;
	return queue_rewrite_env(m, rec);
}

int
queue_fail(struct queue_msg *m, const char *reason, struct err *rec)
{
	if (m->q->remote)
		return queue_keeper_settle('f', reason, 0, NULL, rec);
	if (sync_held(m, rec) == -1)
		return -1;
	set_error(m, reason);
	if (queue_rewrite_env(m, rec) == -1)
		return -1;
	return move_failed(m, rec);
}
