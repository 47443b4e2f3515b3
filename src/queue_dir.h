/* SPDX-License-Identifier: ISC */
/* Private to the queue module (queue.c, queue_dir.c, queue_mailq.c,
 * queue_keeper.c): the open queue and the directory helpers.  Everything
 * else uses queue.h. */
#ifndef MAILHOP_QUEUE_DIR_H
#define MAILHOP_QUEUE_DIR_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "queue.h"

struct queue {
	char *path;
	int remote;		   /* the keeper does the work (below) */
	int dir, tmp, msg, failed; /* directory fds */
	mode_t dmode, fmode;	   /* exact modes of what we create */
	long long lifetime;
};

/* A message taken for sending; for a remote queue only q, fd, id and env
 * are set (the keeper holds the lock). */
struct queue_msg {
	struct queue *q;
	int where; /* q->msg or q->failed: the directory that holds it */
	int dfd;   /* the message's directory; its flock is the lock */
	int fd;	   /* data */
	char id[QUEUE_ID_SIZE];
	int locked;
	/* A send's own message, published by queue_hold and not fsynced
	 * yet: queue_retry_later and queue_fail sync it first, queue_done
	 * removes it without a sync (queue.c's header). */
	int unsynced;
	struct queue_text env;
	char last_error[ERR_TEXT_MAX];
};

/* The queue keeper (queue_keeper.c): whether this process has one; and
 * the calls of a remote queue, each as its queue.h namesake.  put's op is
 * 'P' (queue_put), 'F' (queue_put_failed) or 'H' (queue_hold: the keeper
 * holds the message).  settle's op is 'd' (queue_done), 'r'
 * (queue_retry_later), 'u' (queue_untried) or 'f' (queue_fail) of the
 * message of the current due pass, or outside a pass of the held one;
 * 'z' releases the held one (queue_release).  by_id's op is 'I'
 * (queue_retry_now) or 'X' (queue_delete); all's 'A' (queue_retry_all),
 * 'B' (queue_retry_failed) or 'Y' (queue_delete_failed). */
int queue_keeper_on(void);
int queue_keeper_put(const struct queue_env *env, int msgfd, const char *reason,
    long long now, char op, char id[QUEUE_ID_SIZE], struct err *rec);
int queue_keeper_by_id(char op, const char *id, struct err *rec);
int queue_keeper_all(char op, size_t *count, struct err *rec);
int queue_keeper_list(
    struct queue *q, queue_list_fn *fn, void *arg, struct err *rec);
int queue_keeper_due(struct queue *q, const char *account, long long now,
    queue_due_fn *fn, void *arg, struct queue_stats *stats, struct err *rec);
int queue_keeper_settle(
    char op, const char *reason, long long now, int *expired, struct err *rec);

/* Taking a message (queue.c), for queue_mailq.c.  queue_take locks
 * message id of where into m if it is due at now for account (account
 * NULL and now LLONG_MAX: any); m is to be released with
 * queue_msg_release whatever it returns.  queue_rewrite_env replaces the
 * envelope with m->env.e's fields; queue_remove_msg takes m out of the
 * queue.  Both return 0, or -1 with rec filled. */
enum queue_take {
	QUEUE_TAKEN,
	QUEUE_SKIPPED,
	QUEUE_LOCKED,
	QUEUE_GONE,
	QUEUE_BAD
};
void queue_msg_init(
    struct queue_msg *m, struct queue *q, int where, const char *id);
void queue_msg_release(struct queue_msg *m);
enum queue_take queue_take(struct queue *q, int where, const char *id,
    const char *account, long long now, struct queue_msg *m);
int queue_rewrite_env(struct queue_msg *m, struct err *rec);
int queue_remove_msg(struct queue_msg *m, struct err *rec);

/* Fill rec (ERR_LOCAL, code) with "queue: cannot WHAT PATH: strerror";
 * returns -1. */
int queue_dir_err(
    struct err *rec, int code, const char *what, const char *path);

/* Close *fd if open and set it to -1. */
void queue_dir_close(int *fd);

/* write(2) all of buf, retrying on EINTR.  Returns 0, or -1 (errno). */
int queue_dir_write_all(int fd, const char *buf, size_t len);

/* Create or truncate name in dfd with exactly mode, write text, fsync
 * (with sync), close.  Returns 0, or -1 (errno). */
int queue_dir_write_file(int dfd, const char *name, const char *text,
    size_t len, mode_t mode, int sync);

/* Whether id has the shape of a queue id: a hex digit, then hex digits
 * and dots (so never "..", a path, or a temporary name). */
int queue_dir_valid_id(const char *id);

/* 32 random bits (getrandom; the clock and pid if it fails). */
uint32_t queue_dir_random(void);

/* A new id for a message created at now. */
void queue_dir_new_id(char id[QUEUE_ID_SIZE], long long now);

/* Remove name in dirfd, a file or a directory of files; best effort. */
void queue_dir_remove(int dirfd, const char *name);

/* The names in dirfd, sorted (only ids with ids_only; never "." or "..").
 * Returns the count with *names set (queue_dir_free_names), or -1. */
long queue_dir_names(int dirfd, int ids_only, char ***names);
void queue_dir_free_names(char **names, long n);

/* Whether id in where is still the directory open on dfd. */
int queue_dir_same(int where, const char *id, int dfd);

#endif
