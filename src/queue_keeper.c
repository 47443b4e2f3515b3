/* SPDX-License-Identifier: ISC */
/*
 * The system queue of a system-mode run that is not root (priv.c): only
 * the mailhop group may write it, and the group is given up before stdin
 * and the network.  So a child forked while the group is still held, the
 * keeper, does the queue's work on request over a socket, and nothing
 * else: it never reads stdin, the network or the configuration, and runs
 * no command.  In the parent the queue is then remote: queue.c passes
 * each call here.  Frames: one op byte, a 4-byte length, the payload; a
 * message file descriptor may ride along (SCM_RIGHTS).
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "queue.h"
#include "queue_dir.h"

/* The largest payload: an envelope file and a few lines. */
#define FRAME_MAX (QUEUE_ENV_MAX + 2 * ERR_TEXT_MAX + 256)

/* The parent's end of the socket, or -1: no keeper. */
static int keeper = -1;

struct frame {
	char op;
	char *buf; /* payload, NUL-terminated; malloc'ed */
	size_t len;
	int fd; /* the descriptor that came with it, or -1 */
};

static void
frame_free(struct frame *f)
{
	free(f->buf);
	f->buf = NULL;
	queue_dir_close(&f->fd);
}

static int
send_frame(int s, char op, const char *buf, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cm;
	unsigned char hdr[5];
	uint32_t n = (uint32_t)len;
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { 0 };
	struct cmsghdr *c;
	ssize_t r;

	hdr[0] = (unsigned char)op;
	memcpy(hdr + 1, &n, sizeof(n));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		r = sendmsg(s, &mh, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	if (r != (ssize_t)sizeof(hdr))
		return -1;
	return len > 0 ? queue_dir_write_all(s, buf, len) : 0;
}

static int
read_all(int s, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = read(s, (char *)buf + got, len - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The descriptor of a received SCM_RIGHTS message, or -1. */
static int
take_fd(struct msghdr *mh)
{
	struct cmsghdr *c;
	int fd = -1, extra;
	size_t i, n;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&extra, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(int));
			if (fd == -1)
				fd = extra;
			else
				close(extra);
		}
	}
	return fd;
}

/* Receive one frame.  Returns 0, or -1 at the end of the stream or on a
 * malformed frame. */
static int
recv_frame(int s, struct frame *f)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} cm;
	unsigned char hdr[5];
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { 0 };
	uint32_t n;
	ssize_t r;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	do
		r = recvmsg(s, &mh, MSG_CMSG_CLOEXEC);
	while (r == -1 && errno == EINTR);
	if (r <= 0)
		return -1;
	f->fd = take_fd(&mh);
	if ((size_t)r < sizeof(hdr) &&
	    read_all(s, hdr + r, sizeof(hdr) - (size_t)r) == -1)
		return -1;
	f->op = (char)hdr[0];
	memcpy(&n, hdr + 1, sizeof(n));
	if (n > FRAME_MAX || (f->buf = malloc((size_t)n + 1)) == NULL)
		return -1;
	f->len = n;
	f->buf[n] = '\0';
	return read_all(s, f->buf, n);
}

/* The keeper's answer: "RC CLASS CODE EXPIRED TAKEN LOCKED WAITING BAD
 * COUNT\nID\nTEXT"; COUNT is what queue_retry_all counted. */
static int
send_result(int s, int rc, const struct err *e, int expired,
    const struct queue_stats *st, size_t count, const char *id)
{
	char buf[ERR_TEXT_MAX + QUEUE_ID_SIZE + 160];
	struct queue_stats none = { 0 };
	int n;

	if (st == NULL)
		st = &none;
	n = snprintf(buf, sizeof(buf),
	    "%d %d %d %d %zu %zu %zu %zu %zu\n%s\n%s", rc, (int)e->class,
	    e->code, expired, st->taken, st->locked, st->waiting, st->bad,
	    count, id != NULL ? id : "", rc == 0 ? "" : e->text);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = (int)strlen(buf);
	return send_frame(s, 'R', buf, (size_t)n, -1);
}

/* What the parent wants of a result; NULL members are not wanted. */
struct answer {
	int *expired;
	struct queue_stats *st;
	size_t *count;
	char *id; /* QUEUE_ID_SIZE bytes */
};

/* The parent's side of send_result.  Returns the keeper's rc. */
static int
take_result(const struct frame *f, struct err *rec, const struct answer *a)
{
	struct queue_stats st = { 0 };
	int rc, cls, code, exp;
	size_t count;
	char *idp, *text;

	if (f->op != 'R' ||
	    sscanf(f->buf, "%d %d %d %d %zu %zu %zu %zu %zu", &rc, &cls, &code,
		&exp, &st.taken, &st.locked, &st.waiting, &st.bad,
		&count) != 9 ||
	    (idp = strchr(f->buf, '\n')) == NULL ||
	    (text = strchr(idp + 1, '\n')) == NULL)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "queue: the queue keeper sent a malformed answer");
	*text++ = '\0';
	if (a != NULL && a->id != NULL)
		snprintf(a->id, QUEUE_ID_SIZE, "%s", idp + 1);
	if (a != NULL && a->expired != NULL)
		*a->expired = exp;
	if (a != NULL && a->st != NULL)
		*a->st = st;
	if (a != NULL && a->count != NULL)
		*a->count = count;
	if (rc != 0)
		return err_set(rec, (enum err_class)cls, code, "%s", text);
	return 0;
}

/* Send a request and wait for its result. */
static int
call(char op, const char *buf, size_t len, int fd, struct err *rec,
    const struct answer *a)
{
	struct frame f;
	int rc;

	if (send_frame(keeper, op, buf, len, fd) == -1 ||
	    recv_frame(keeper, &f) == -1) {
		frame_free(&f);
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "queue: the queue keeper is gone: %s",
		    errno != 0 ? strerror(errno) : "end of stream");
	}
	rc = take_result(&f, rec, a);
	frame_free(&f);
	return rc;
}

int
queue_keeper_on(void)
{
	return keeper != -1;
}

/* Requests of the parent. */

int
queue_keeper_put(const struct queue_env *env, int msgfd, const char *reason,
    long long now, char op, char id[QUEUE_ID_SIZE], struct err *rec)
{
	struct queue_entry e;
	char *text = NULL, *buf = NULL;
	size_t tlen, rlen = reason != NULL ? strlen(reason) : 0;
	int n, rc;

	if (queue_text_check(env, &e, rec) == -1)
		return -1;
	if (queue_text_format(&e, &text, &tlen) == -1 ||
	    (buf = malloc(tlen + rlen + 64)) == NULL) {
		free(text);
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	}
	n = snprintf(buf, 64, "%lld %d %zu\n", now, reason != NULL, rlen);
	memcpy(buf + n, reason != NULL ? reason : "", rlen);
	memcpy(buf + n + rlen, text, tlen);
	struct answer a = { NULL, NULL, NULL, id };

	rc = call(op, buf, (size_t)n + rlen + tlen, msgfd, rec, &a);
	free(buf);
	free(text);
	return rc;
}

/* -qIID and -qDID: op 'I' (retry now) or 'X' (delete). */
int
queue_keeper_by_id(char op, const char *id, struct err *rec)
{
	return call(op, id, strlen(id), -1, rec, NULL);
}

/* -qI, -qIfailed and -qDfailed: op 'A' (retry all), 'B' (put the failed
 * back) or 'Y' (delete the failed). */
int
queue_keeper_all(char op, size_t *count, struct err *rec)
{
	struct answer a = { NULL, NULL, count, NULL };

	*count = 0;
	return call(op, "", 0, -1, rec, &a);
}

/* Read an entry frame ("ID FAILED\n" then the envelope text, or "!" and
 * why it is bad) into t; id into idbuf. */
static int
take_entry(struct frame *f, struct queue_text *t, char *idbuf)
{
	char *nl = strchr(f->buf, '\n'), *body;
	int failed = 0;
	size_t len;

	memset(t, 0, sizeof(*t));
	if (nl == NULL || sscanf(f->buf, "%31s %d", idbuf, &failed) != 2)
		return -1;
	body = nl + 1;
	len = f->len - (size_t)(body - f->buf);
	if (body[0] == '!') {
		snprintf(t->why, sizeof(t->why), "%s", body + 1);
		t->e.bad = t->why;
	} else {
		memmove(f->buf, body, len + 1);
		if (queue_text_parse(t, f->buf, len) == -1) {
			f->buf = NULL;
			t->e.bad = t->why;
		} else
			f->buf = NULL; /* t owns it now */
	}
	t->e.id = idbuf;
	t->e.failed = failed;
	return 0;
}

/* Entries come until the result; fn sees each one.  For due, a remote
 * message m is made of each, and the stop flag goes back. */
static int
entries(struct queue *q, queue_list_fn *lfn, queue_due_fn *dfn, void *arg,
    struct queue_stats *st, struct err *rec)
{
	struct answer a = { NULL, NULL, NULL, NULL };
	struct queue_msg m;
	struct frame f;
	int stop = 0, rc;

	for (;;) {
		if (recv_frame(keeper, &f) == -1) {
			frame_free(&f);
			return err_set(rec, ERR_LOCAL, EX_OSERR,
			    "queue: the queue keeper is gone");
		}
		if (f.op != 'E') {
			a.st = st;
			rc = take_result(&f, rec, &a);
			frame_free(&f);
			return rc;
		}
		memset(&m, 0, sizeof(m));
		m.q = q;
		m.dfd = -1;
		m.fd = f.fd;
		f.fd = -1;
		if (take_entry(&f, &m.env, m.id) == 0 && !stop)
			stop = lfn != NULL ? lfn(&m.env.e, arg) != 0
					   : dfn(&m, &m.env.e, arg) != 0;
		frame_free(&f);
		queue_dir_close(&m.fd);
		queue_text_free(&m.env);
		if (dfn != NULL &&
		    send_frame(keeper, 'n', stop ? "1" : "0", 1, -1) == -1)
			return err_set(rec, ERR_LOCAL, EX_OSERR,
			    "queue: the queue keeper is gone");
	}
}

int
queue_keeper_list(
    struct queue *q, queue_list_fn *fn, void *arg, struct err *rec)
{
	if (send_frame(keeper, 'L', "", 0, -1) == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "queue: the queue keeper is gone");
	return entries(q, fn, NULL, arg, NULL, rec);
}

int
queue_keeper_due(struct queue *q, const char *account, long long now,
    queue_due_fn *fn, void *arg, struct queue_stats *stats, struct err *rec)
{
	char head[64];
	char *buf;
	size_t alen = account != NULL ? strlen(account) : 0;
	int n, rc;

	if (stats != NULL)
		memset(stats, 0, sizeof(*stats));
	n = snprintf(head, sizeof(head), "%lld %d %lld\n", now, account != NULL,
	    q->lifetime);
	if ((buf = malloc((size_t)n + alen + 1)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	memcpy(buf, head, (size_t)n);
	memcpy(buf + n, account != NULL ? account : "", alen);
	rc = send_frame(keeper, 'Q', buf, (size_t)n + alen, -1);
	free(buf);
	if (rc == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "queue: the queue keeper is gone");
	return entries(q, NULL, fn, arg, stats, rec);
}

/* queue_done ('d'), queue_retry_later ('r'), queue_untried ('u'),
 * queue_fail ('f') of a message the keeper holds for a due pass or for
 * queue_hold; 'z' releases the latter. */
int
queue_keeper_settle(
    char op, const char *reason, long long now, int *expired, struct err *rec)
{
	struct answer a = { expired, NULL, NULL, NULL };
	char *buf;
	size_t rlen = reason != NULL ? strlen(reason) : 0;
	int n, rc;

	if ((buf = malloc(rlen + 32)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	n = snprintf(buf, 32, "%lld\n", now);
	memcpy(buf + n, reason != NULL ? reason : "", rlen);
	rc = call(op, buf, (size_t)n + rlen, -1, rec, &a);
	free(buf);
	return rc;
}

/* The keeper. */

struct kctx {
	int s;
	int dead;		/* the parent is gone */
	struct queue_msg *held; /* the parent's send, queue_hold's */
};

static int
send_entry(int s, const struct queue_entry *e, int fd)
{
	char head[QUEUE_ID_SIZE + 16];
	char *text = NULL, *buf;
	size_t tlen;
	int n, rc;

	n = snprintf(head, sizeof(head), "%s %d\n", e->id, e->failed);
	if (e->bad != NULL) {
		text = strdup(e->bad);
		tlen = text != NULL ? strlen(text) : 0;
	} else if (queue_text_format(e, &text, &tlen) == -1)
		text = NULL;
	if (text == NULL || (buf = malloc((size_t)n + tlen + 1)) == NULL) {
		free(text);
		return -1;
	}
	memcpy(buf, head, (size_t)n);
	if (e->bad != NULL)
		buf[n++] = '!';
	memcpy(buf + n, text, tlen);
	rc = send_frame(s, 'E', buf, (size_t)n + tlen, fd);
	free(buf);
	free(text);
	return rc;
}

static int
serve_list_one(const struct queue_entry *e, void *arg)
{
	struct kctx *k = arg;

	if (send_entry(k->s, e, -1) == -1)
		k->dead = 1;
	return k->dead;
}

/* Settle m as f asks ('d', 'r', 'u' or 'f', see queue_keeper_settle):
 * "NOW\nREASON". */
static int
settle_one(struct queue_msg *m, struct frame *f, int *expired, struct err *er)
{
	char *reason;
	long long now;

	now = strtoll(f->buf, NULL, 10);
	reason = strchr(f->buf, '\n');
	reason = reason != NULL ? reason + 1 : "";
	if (f->op == 'd')
		return queue_done(m, er);
	if (f->op == 'r')
		return queue_retry_later(m, reason, now, expired, er);
	if (f->op == 'u')
		return queue_untried(m, now, er);
	return queue_fail(m, reason, er);
}

/* One due message: hand it over, then do what the parent asks until it
 * says next ('n'). */
static int
serve_due_one(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct kctx *k = arg;
	struct frame f;
	struct err er;
	int expired = 0, rc;

	if (send_entry(k->s, e, queue_msg_fd(m)) == -1)
		return k->dead = 1;
	for (;;) {
		if (recv_frame(k->s, &f) == -1) {
			frame_free(&f);
			return k->dead = 1;
		}
		if (f.op == 'n') {
			rc = f.buf[0] == '1';
			frame_free(&f);
			return rc;
		}
		err_clear(&er);
		rc = settle_one(m, &f, &expired, &er);
		frame_free(&f);
		if (send_result(k->s, rc, &er, expired, NULL, 0, NULL) == -1)
			return k->dead = 1;
	}
}

/* A put request: "NOW HAS-REASON REASON-LEN\n", the reason, the
 * envelope text.  'H' (queue_hold) keeps the message in k->held. */
static int
serve_put(struct kctx *k, struct queue *q, struct frame *f,
    char id[QUEUE_ID_SIZE], struct err *er)
{
	struct queue_text t;
	struct queue_env env;
	char *p, *reason = NULL, *body;
	long long now;
	int has_reason, rc = -1;
	size_t rlen;

	id[0] = '\0';
	if (sscanf(f->buf, "%lld %d %zu", &now, &has_reason, &rlen) != 3 ||
	    (p = strchr(f->buf, '\n')) == NULL ||
	    rlen > f->len - (size_t)(p + 1 - f->buf))
		return err_set(er, ERR_LOCAL, EX_SOFTWARE,
		    "queue: a malformed request to the queue keeper");
	body = p + 1 + rlen;
	if (has_reason && (reason = strndup(p + 1, rlen)) == NULL)
		return err_set(er, ERR_LOCAL, EX_OSERR, "out of memory");
	memmove(f->buf, body, f->len - (size_t)(body - f->buf) + 1);
	if (queue_text_parse(&t, f->buf, strlen(f->buf)) == -1)
		err_set(er, ERR_USAGE, EX_SOFTWARE, "queue: %s", t.why);
	else {
		env.account = t.e.account;
		env.sender = t.e.sender;
		env.rcpt = t.e.rcpt;
		env.nrcpt = t.e.nrcpt;
		env.msgid = t.e.msgid;
		env.params = t.e.params;
		if (f->op == 'H') {
			queue_release(k->held);
			k->held = NULL;
			rc = queue_hold(q, &env, f->fd, now, id, &k->held, er);
		} else if (f->op == 'F')
			rc = queue_put_failed(
			    q, &env, f->fd, reason, now, id, er);
		else
			rc = queue_put(q, &env, f->fd, reason, now, id, er);
	}
	f->buf = NULL; /* queue_text_parse took it */
	queue_text_free(&t);
	free(reason);
	return rc;
}

static int
serve_one(struct kctx *k, struct queue *q, struct frame *f)
{
	struct queue_stats st;
	char id[QUEUE_ID_SIZE] = "";
	struct err er;
	long long now, lifetime;
	size_t count = 0;
	int rc, has_account, expired = 0;

	err_clear(&er);
	memset(&st, 0, sizeof(st));
	switch (f->op) {
	case 'P':
	case 'F':
	case 'H':
		rc = serve_put(k, q, f, id, &er);
		break;
	case 'd':
	case 'r':
	case 'u':
	case 'f':
		if (k->held == NULL)
			rc = err_set(&er, ERR_LOCAL, EX_SOFTWARE,
			    "queue: the queue keeper holds no message");
		else
			rc = settle_one(k->held, f, &expired, &er);
		break;
	case 'z':
		queue_release(k->held);
		k->held = NULL;
		rc = 0;
		break;
	case 'I':
		rc = queue_retry_queued(q, f->buf, &er);
		break;
	case 'A':
		rc = queue_retry_all(q, &count, &er);
		break;
	case 'B':
		/* Others' refused mail: root puts it back, as root removes
		 * it. */
		rc = err_set(&er, ERR_USAGE, EX_NOPERM,
		    "queue: only root may put the failed area back in the system queue (run mailhop -qIfailed as root)");
		break;
	case 'X':
	case 'Y':
		/* Others' mail: root removes it, and root needs no keeper. */
		rc = err_set(&er, ERR_USAGE, EX_NOPERM,
		    "queue: only root may remove a message from the system queue");
		break;
	case 'L':
		rc = queue_list(q, serve_list_one, k, &er);
		break;
	case 'Q':
		if (sscanf(f->buf, "%lld %d %lld", &now, &has_account,
			&lifetime) != 3 ||
		    strchr(f->buf, '\n') == NULL)
			return -1;
		queue_set_lifetime(q, lifetime);
		rc = queue_due(q, has_account ? strchr(f->buf, '\n') + 1 : NULL,
		    now, serve_due_one, k, &st, &er);
		break;
	default:
		return -1;
	}
	if (k->dead)
		return -1;
	return send_result(k->s, rc, &er, expired, &st, count, id);
}

/* The keeper's loop, until the parent closes its end. */
static void
serve(int s, const char *dir, const struct queue_params *p)
{
	struct kctx k = { s, 0, NULL };
	struct queue *q = NULL;
	struct frame f;
	struct err er;
	int rc;

	for (;;) {
		if (recv_frame(s, &f) == -1)
			break;
		err_clear(&er);
		if (q == NULL && queue_open(dir, p, &q, &er) == -1) {
			rc = send_result(s, -1, &er, 0, NULL, 0, NULL);
			frame_free(&f);
			if (rc == -1)
				break;
			continue;
		}
		rc = serve_one(&k, q, &f);
		frame_free(&f);
		if (rc == -1)
			break;
	}
	queue_release(k.held);
	queue_close(q);
}

/* The keeper reads and writes nothing of the caller's: its standard
 * descriptors go to /dev/null. */
static void
detach(void)
{
	int fd, nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	for (fd = 0; fd < 3 && nul != -1; fd++)
		if (fd != nul)
			dup2(nul, fd);
	if (nul > 2)
		close(nul);
}

int
queue_keeper_start(
    const char *dir, const struct queue_params *p, struct err *rec)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot start the queue keeper: %s", strerror(errno));
	pid = fork();
	if (pid == -1) {
		close(sv[0]);
		close(sv[1]);
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot start the queue keeper: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sv[0]);
		signal(SIGPIPE, SIG_IGN);
		detach();
		serve(sv[1], dir, p);
		_exit(0);
	}
	close(sv[1]);
	keeper = sv[0];
	return 0;
}
