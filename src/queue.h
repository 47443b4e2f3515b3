/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_QUEUE_H
#define MAILHOP_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

/* Room for a queue id and its NUL: "674f3a2c.1a2b.00019f8e" (creation
 * time, pid, a per-process counter and random bits, all hex). */
#define QUEUE_ID_SIZE 32
/* How long a message may stay queued before it moves to failed/. */
#define QUEUE_LIFETIME (5 * 24 * 3600LL)
/* The retry schedule: the first delay, doubled per attempt up to the
 * ceiling, each drawn within +-QUEUE_JITTER_PCT percent. */
#define QUEUE_DELAY_FIRST (5 * 60LL)
#define QUEUE_DELAY_MAX (4 * 3600LL)
#define QUEUE_JITTER_PCT 20
/* The furthest next try the schedule sets: a next try (or a creation
 * time) further out than this from now was written by a clock that was
 * ahead, and a flush brings it back (queue_due). */
#define QUEUE_LATEST_TRY (QUEUE_DELAY_MAX * (100 + QUEUE_JITTER_PCT) / 100)
/* How the last error of a message that expired starts ("expired after
 * 5 days; last error: ..."): mailq tells it from a refused one. */
#define QUEUE_EXPIRED "expired after "
/* Temporary files of a crashed writer older than this are removed. */
#define QUEUE_TMP_AGE 3600
/* Caps on what the queue reads back: envelope file and recipients. */
#define QUEUE_ENV_MAX (4 * 1024 * 1024)
#define QUEUE_RCPT_MAX 10000

struct queue;	  /* an open queue directory */
struct queue_msg; /* one message, taken under its exclusive lock */

struct queue_params {
	/* 0: a user's private queue: directories 0700, files 0600.
	 * 1: the shared system queue (SPOOLDIR, /var/spool/mailhop):
	 * directories 02770 and files 0660, so that every process of the
	 * queue's group may flush it.  Deploy it as root:mailhop 2770 with
	 * mailhop set-group-id mailhop (as Postfix's postdrop) or with only
	 * trusted users in the group: the group can read queued mail. */
	int system;
	/* Seconds a message may wait before queue_retry_later moves it to
	 * failed/; 0 means QUEUE_LIFETIME. */
	long long lifetime;
};

/* The envelope given to queue_put.  Strings must hold no byte below 0x20
 * and no DEL (addresses as smtp_send takes them); they are copied.  The
 * submitter is not among them: the process that writes the message
 * records its own real uid (getuid), so that no caller can name another
 * (through the queue keeper it is the keeper's, the caller's own). */
struct queue_env {
	const char *account; /* non-empty */
	const char *sender;  /* "" for the null sender */
	const char *const *rcpt;
	size_t nrcpt;	    /* 1 .. QUEUE_RCPT_MAX */
	const char *msgid;  /* Message-ID without <>, for the log; or NULL */
	const char *params; /* opaque to the queue: what send.c needs again
			     * to send (BODY, SMTPUTF8, DSN); or NULL */
};

/* A queued message as listed or taken.  Every string is valid until the
 * callback that received it returns; "" when absent. */
struct queue_entry {
	const char *id;
	/* Non-NULL: the entry cannot be read or is corrupt, and this says
	 * why; only id is set then.  It is reported, never sent, never
	 * removed: queue_delete removes it. */
	const char *bad;
	int failed; /* in failed/: refused or expired, kept, not retried */
	const char *account;
	const char *sender;
	const char *const *rcpt;
	size_t nrcpt;
	const char *msgid;
	const char *params;
	long long created;  /* seconds since the epoch */
	long long next_try; /* due when next_try <= now */
	unsigned attempts;  /* failed attempts so far */
	const char *last_error;
	long long size; /* bytes of the message */
	/* The real uid of the process that queued the message, its
	 * submitter (for the log and mailq); -1 when unknown: an envelope
	 * of format 1, written before mailhop kept it. */
	long long uid;
};

/* What one queue_due pass did: messages handed to the callback, skipped
 * because another process holds them, skipped as unreadable or corrupt
 * (the last of those, and why). */
struct queue_stats {
	size_t taken;
	size_t locked;
	size_t waiting; /* not due yet, or of another account */
	size_t bad;
	char bad_id[QUEUE_ID_SIZE];
	char bad_why[ERR_TEXT_MAX];
};

/* Called for each listed entry; nonzero stops the listing. */
typedef int queue_list_fn(const struct queue_entry *e, void *arg);
/* Called for each due message, which m holds locked.  The callback sends
 * it and then calls queue_done, queue_retry_later or queue_fail on m; if
 * it calls none, the message stays as it was.  m is released when the
 * callback returns.  Nonzero stops the pass. */
typedef int queue_due_fn(
    struct queue_msg *m, const struct queue_entry *e, void *arg);

/* Write the queue directory into buf (size sz): for the system queue
 * /var/spool/mailhop, else $XDG_STATE_HOME/mailhop/queue, or
 * $HOME/.local/state/mailhop/queue when XDG_STATE_HOME is unset or not
 * absolute.  Returns 0, or -1 when HOME is unset too or buf is short. */
int queue_default_dir(char *buf, size_t sz, int system);

/* Open the queue in dir, creating dir (and its parents, for a user
 * queue) and its subdirectories tmp/, msg/ and failed/ with the modes of
 * p (NULL: a user queue).  An existing user queue that others can enter
 * is refused.  Each directory made is fsynced into its parent.  Removes
 * what crashed writers left in tmp/ more than QUEUE_TMP_AGE seconds ago.
 * Returns 0 with *q set (release with queue_close), or -1 with rec
 * filled (ERR_LOCAL, EX_CANTCREAT; also for a queue others may enter,
 * or EX_OSERR).  Does not block on locks. */
int queue_open(const char *dir, const struct queue_params *p, struct queue **q,
    struct err *rec);

/* System mode (priv.c), before the set-group-id group is given up: fork
 * the queue keeper, a process that keeps the group and does the work of
 * the system queue dir (opened with p) on request, and nothing else.
 * From then on queue_open of a system queue in this process returns a
 * remote queue whose calls the keeper carries out, with the same
 * contracts.  The keeper ends when this process does.  Returns 0, or -1
 * with rec filled (ERR_LOCAL, EX_OSERR). */
int queue_keeper_start(
    const char *dir, const struct queue_params *p, struct err *rec);

/* Set the lifetime (as queue_params.lifetime; 0: QUEUE_LIFETIME) that
 * the calls on q after it use: an account's own, for a pass over its
 * messages (queue_due, queue_entry_due, queue_retry_later).  A remote
 * queue passes it on with each queue_due. */
void queue_set_lifetime(struct queue *q, long long lifetime);

/* Release q; NULL is allowed. */
void queue_close(struct queue *q);

/* Queue a copy of the message in msgfd (read with pread from offset 0 to
 * EOF) with env, after a failed first attempt whose error is reason (it
 * becomes attempt 1, due again after the first delay), or, with reason
 * NULL, never tried (due at once).  now is the time (time(NULL)).
 * Returns 0 once the message is durable on disk (fsynced, renamed into
 * msg/, directory fsynced), with its id in id; or -1 with rec filled
 * (ERR_LOCAL/EX_CANTCREAT or EX_IOERR; ERR_USAGE/EX_SOFTWARE for an
 * envelope the queue cannot store) and nothing queued. */
int queue_put(struct queue *q, const struct queue_env *env, int msgfd,
    const char *reason, long long now, char id[QUEUE_ID_SIZE], struct err *rec);

/* A send's own message (send.c), before its first attempt: publish the
 * message in msgfd with env into msg/, never tried (attempts 0, due at
 * now), and hold it: *m is locked by this process (or, in system mode,
 * by its queue keeper), as a message queue_due hands its callback is, so
 * that no flusher (this run's own after the send, or a concurrent -q)
 * takes it while the send runs.  A kill ends the lock, and the next
 * flush sends it.  Nothing is fsynced yet (queue.c's header says why):
 * queue_retry_later and queue_fail make it durable before they return
 * 0; queue_done removes it (after a 250, or when it is not to be kept).
 * Release it with queue_release whatever happened; q must stay open
 * until then.  Returns 0 with *m and id set, or -1 with rec filled and
 * nothing queued. */
int queue_hold(struct queue *q, const struct queue_env *env, int msgfd,
    long long now, char id[QUEUE_ID_SIZE], struct queue_msg **m,
    struct err *rec);

/* Give up the lock of queue_hold's m and free it; the message stays as
 * it was settled (or, unsettled, due for the next flush).  NULL is
 * allowed. */
void queue_release(struct queue_msg *m);

/* As queue_put, but the message goes straight to failed/, for
 * inspection: the server refused it permanently.  reason is required. */
int queue_put_failed(struct queue *q, const struct queue_env *env, int msgfd,
    const char *reason, long long now, char id[QUEUE_ID_SIZE], struct err *rec);

/* Call fn for each entry of msg/ and then of failed/, oldest first,
 * without taking locks.  Entries that vanish meanwhile are left out.
 * Returns 0, or -1 with rec filled when a directory cannot be read. */
int queue_list(struct queue *q, queue_list_fn *fn, void *arg, struct err *rec);

/* Write the queue to f in mailq style: a header, for each message its
 * id, size, age (queue_text_age), arrival time and sender, then attempts, next
 * try and last error, then the recipients; then a total.  An empty queue is
 * "mail queue is empty".  Returns 0, or -1 with rec filled (EX_IOERR when f
 * cannot be written). */
int queue_print(struct queue *q, FILE *f, long long now, struct err *rec);

/* Take each message of msg/ that is due at now (and, with account not
 * NULL, of that account), oldest first, under an exclusive non-blocking
 * lock, and call fn with it.  A message is due when its next try has
 * come, or when it is older than the lifetime (one last try: its next
 * failure moves it to failed/, see queue_retry_later), whatever its next
 * try says.  A message with a next try or a creation time more than
 * QUEUE_LATEST_TRY from now (a clock that was ahead) is corrected on
 * the way: its next try becomes at most now + QUEUE_DELAY_MAX, its
 * creation time at most now.  A message another process holds is skipped
 * (stats->locked); a lock of a dead process is gone with it.  A corrupt
 * message is skipped and counted (stats->bad).  stats may be NULL.
 * Returns 0, or -1 with rec filled when msg/ cannot be read. */
int queue_due(struct queue *q, const char *account, long long now,
    queue_due_fn *fn, void *arg, struct queue_stats *stats, struct err *rec);

/* Whether a flush at now should take e, as queue_due would (due, past
 * its lifetime, or with times to correct); never a failed or corrupt
 * entry.  For callers that look at queue_list first. */
int queue_entry_due(
    const struct queue *q, const struct queue_entry *e, long long now);

/* The message file of m: CRLF lines, read with pread from offset 0 to EOF
 * (as smtp_send wants it); owned by m. */
int queue_msg_fd(const struct queue_msg *m);

/* The server said 250 to m: remove it from the queue (durably: the
 * directory is fsynced; for an unsynced message of queue_hold, no sync).
 * Also removes queue_hold's message when it is not to be kept.  Returns
 * 0, or -1 with rec filled (then it stays and may be sent again). */
int queue_done(struct queue_msg *m, struct err *rec);

/* The attempt failed temporarily with reason: count it and set the next
 * try to now plus the next delay of the schedule (crash-safe rewrite of
 * the envelope).  A forced try (next-try 0: queue_retry_now or
 * queue_retry_all) is not counted, unless the message was never tried:
 * the same delay starts again.  If the message is older than the
 * lifetime, it moves to failed/ instead, its last error "expired after
 * 5 days; last error: REASON" (QUEUE_EXPIRED), and *expired is set to 1
 * (the caller logs it).  Returns 0, or -1 with rec
 * filled (the message stays as it was). */
int queue_retry_later(struct queue_msg *m, const char *reason, long long now,
    int *expired, struct err *rec);

/* m was taken but not tried (its connection was lost before its turn):
 * a try forced by mailq (next-try 0) becomes an ordinary one, due at now,
 * so that the failure of its next try counts (queue_retry_later).
 * Anything else stays as it was.  Returns 0, or -1 with rec filled. */
int queue_untried(struct queue_msg *m, long long now, struct err *rec);

/* The server refused m permanently with reason: move it to failed/.
 * Returns 0, or -1 with rec filled. */
int queue_fail(struct queue_msg *m, const char *reason, struct err *rec);

/* For mailq: make message id due at once.  One in failed/ goes back
 * into msg/ as if queued anew (attempts 0, created now: its lifetime
 * starts again; its last error stays).  Returns 0, or -1 with rec
 * filled: no such message (ERR_USAGE/EX_USAGE), it is being sent now
 * (ERR_TEMP/EX_TEMPFAIL), it is corrupt (EX_DATAERR), or a local error.
 * Uses the clock (time(NULL)). */
int queue_retry_now(struct queue *q, const char *id, struct err *rec);

/* queue_retry_now for a user of the system queue (the queue keeper): a
 * message in failed/ stays there (ERR_USAGE/EX_NOPERM), as putting
 * others' refused mail back is root's, as removing it is. */
int queue_retry_queued(struct queue *q, const char *id, struct err *rec);

/* For mailq: put every message of failed/ back as queue_retry_now does
 * (locked and corrupt ones stay); *count gets how many.  Returns 0, or
 * -1 with rec filled when failed/ cannot be read. */
int queue_retry_failed(struct queue *q, size_t *count, struct err *rec);

/* For mailq: remove message id, queued or failed (also a corrupt one).
 * Fails as queue_retry_now. */
int queue_delete(struct queue *q, const char *id, struct err *rec);

/* For mailq: make every queued message due at once (next-try 0; a try so
 * forced that fails does not count in the schedule, see
 * queue_retry_later).  Messages being sent now and corrupt ones are left
 * alone.  *count gets how many were made due.  Returns 0, or -1 with rec
 * filled when msg/ cannot be read. */
int queue_retry_all(struct queue *q, size_t *count, struct err *rec);

/* For mailq: remove every message of the failed area (corrupt ones too)
 * but those locked at the time; *count gets how many.  Returns 0, or -1
 * with rec filled when failed/ cannot be read. */
int queue_delete_failed(struct queue *q, size_t *count, struct err *rec);

/* The delay before attempt attempts + 1, given random bits rnd: the
 * schedule without the clock, exposed for the unit tests. */
long long queue_backoff(unsigned attempts, uint32_t rnd);

/* The envelope file (its format is described in queue.c), in
 * queue_text.c: for queue.c and the unit tests. */
struct queue_text {
	char *buf;		/* the file, lines cut in place; owned */
	const char **rcpt;	/* owned */
	struct queue_entry e;	/* strings point into buf; id not set */
	char why[ERR_TEXT_MAX]; /* after a failure: what is wrong */
};

/* Fill e from env for queue_put, checked: an empty account, no
 * recipient or over QUEUE_RCPT_MAX, an empty recipient, or a control
 * byte anywhere is refused (-1, rec ERR_USAGE/EX_SOFTWARE).  e points
 * into env. */
int queue_text_check(
    const struct queue_env *env, struct queue_entry *e, struct err *rec);

/* Format the envelope fields of e as an envelope file: malloc'ed text in
 * *text (not NUL-terminated), its length in *len.  Returns 0, or -1 when
 * out of memory. */
int queue_text_format(const struct queue_entry *e, char **text, size_t *len);

/* Parse buf (len bytes, malloc'ed with room for one more byte), which t
 * takes over whatever happens.  Returns 0 with t->e filled, or -1 with
 * t->why saying what is wrong (one line, safe to print).  Release t with
 * queue_text_free either way. */
int queue_text_parse(struct queue_text *t, char *buf, size_t len);

/* The age of a message, secs seconds, as mailq shows it in buf (size
 * sz, 16 is enough): "45s" under a minute, "13m" under an hour,
 * "2h05m" under a day, then "3d04h"; whole units, rounded down.  A
 * negative age (a creation time ahead of the clock) is "0s". */
void queue_text_age(char *buf, size_t sz, long long secs);

/* Free what t holds and clear it; a cleared t is allowed. */
void queue_text_free(struct queue_text *t);

#endif
