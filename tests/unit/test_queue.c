/* SPDX-License-Identifier: ISC */
/*
 * Unit tests: the on-disk queue.  The envelope parser runs over the table
 * tests/data/queue_env_cases.txt; the schedule over a table of attempt
 * and delay bounds; the rest against real queue directories under /tmp,
 * with a second handle or forked processes for the locks.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue.h"

#define CASES "../data/queue_env_cases.txt"
#define T0 1764784020LL /* a fixed "now" */
#define MESSAGE "From: a@example.com\r\nTo: b@example.net\r\n\r\nHi.\r\n"

static char top[64];   /* this test's directory under /tmp */
static char qdir[128]; /* the queue in it */

static int count_dir(const char *rel);
static void make_at(const char *rel, const char *text, long long age);

/* Fault injection.  The queue's calls of fsync, renameat, unlinkat and
 * flock come here: a definition in the test program wins over libc's.
 * Each does the real system call unless a test armed a fault. */
static struct {
	ino_t fsync_ino; /* fsync of this inode fails with EIO */
	int renameat;	 /* renameat fails with EIO */
	int unlinkat;	 /* unlinkat fails with EIO */
	/* Called before each fsync and each flock, disarmed while they
	 * run. */
	void (*before_fsync)(int fd);
	void (*before_flock)(int fd);
} fault;

int
fsync(int fd)
{
	void (*hook)(int) = fault.before_fsync;
	struct stat st;

	if (hook != NULL) {
		fault.before_fsync = NULL;
		hook(fd);
		fault.before_fsync = hook;
	}
	if (fault.fsync_ino != 0 && fstat(fd, &st) == 0 &&
	    st.st_ino == fault.fsync_ino) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_fsync, fd);
}

int
renameat(int olddir, const char *old, int newdir, const char *new)
{
	if (fault.renameat) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_renameat2, olddir, old, newdir, new, 0);
}

int
unlinkat(int dir, const char *name, int flags)
{
	if (fault.unlinkat) {
		errno = EIO;
		return -1;
	}
	return (int)syscall(SYS_unlinkat, dir, name, flags);
}

int
flock(int fd, int op)
{
	void (*hook)(int) = fault.before_flock;

	if (hook != NULL) {
		fault.before_flock = NULL;
		hook(fd);
		fault.before_flock = hook;
	}
	return (int)syscall(SYS_flock, fd, op);
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/mailhop-queue.XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(qdir, sizeof(qdir), "%s/state/mailhop/queue", top);
	return 0;
}

/* On tmpfs when there is one: 10 000 puts fsync 40 000 times, which
 * proves nothing about ids and takes half a minute on a disk. */
static int
setup_shm(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/dev/shm/mailhop-queue.XXXXXX");
	if (mkdtemp(top) == NULL)
		return setup(state);
	snprintf(qdir, sizeof(qdir), "%s/state/mailhop/queue", top);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static struct queue *
open_q(const struct queue_params *p)
{
	struct queue *q;
	struct err rec;

	err_clear(&rec);
	if (queue_open(qdir, p, &q, &rec) != 0)
		fail_msg("queue_open: %s", rec.text);
	return q;
}

/* A spool file holding text, as msg_read leaves one. */
static int
spool(const char *text)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	size_t len = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	return fd;
}

static const char *const rcpt2[] = { "b@example.net", "c@example.org" };
static const struct queue_env env2 = { "default", "a@example.com", rcpt2, 2,
	"id1@example.com", "8bitmime" };

static void
put(struct queue *q, const struct queue_env *env, const char *reason,
    long long now, char id[QUEUE_ID_SIZE])
{
	struct err rec;
	int fd = spool(MESSAGE);

	err_clear(&rec);
	if (queue_put(q, env, fd, reason, now, id, &rec) != 0)
		fail_msg("queue_put: %s", rec.text);
	close(fd);
}

/* Listing into a table of copies. */
struct seen {
	int n, bad, failed;
	char id[8][QUEUE_ID_SIZE];
	char why[8][ERR_TEXT_MAX];
	char last[8][ERR_TEXT_MAX];
	struct queue_entry e[8]; /* numbers only: strings are not kept */
};

static int
collect(const struct queue_entry *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->id[s->n], QUEUE_ID_SIZE, "%s", e->id);
		snprintf(s->why[s->n], ERR_TEXT_MAX, "%s",
		    e->bad != NULL ? e->bad : "");
		snprintf(s->last[s->n], ERR_TEXT_MAX, "%s", e->last_error);
		s->e[s->n] = *e;
		s->e[s->n].id = s->e[s->n].account = s->e[s->n].sender = NULL;
		s->e[s->n].last_error = s->e[s->n].bad = NULL;
		s->e[s->n].rcpt = NULL;
	}
	s->n++;
	s->bad += e->bad != NULL;
	s->failed += e->failed;
	return 0;
}

static struct seen
list(struct queue *q)
{
	struct seen s;
	struct err rec;

	memset(&s, 0, sizeof(s));
	err_clear(&rec);
	assert_int_equal(queue_list(q, collect, &s, &rec), 0);
	return s;
}

/* ---- the envelope table ---- */

struct tcase {
	char name[96];
	int line;
	char text[4096];
	size_t len;
	char want[1024];
};

static size_t
unescape(const char *in, char *out)
{
	size_t o = 0;
	unsigned v;

	while (*in != '\0') {
		if (in[0] == '\\' && in[1] == 'x' &&
		    sscanf(in + 2, "%2x", &v) == 1) {
			out[o++] = (char)v;
			in += 4;
		} else
			out[o++] = *in++;
	}
	return o;
}

static int
load_cases(struct tcase *cases, int max)
{
	char line[1024];
	struct tcase *tc = NULL;
	int n = 0, lineno = 0;
	FILE *f = fopen(CASES, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strncmp(line, "=== ", 4) == 0) {
			assert_true(n < max);
			tc = &cases[n++];
			line[strcspn(line, "\n")] = '\0';
			snprintf(tc->name, sizeof(tc->name), "%.80s", line + 4);
			tc->line = lineno;
		} else if (tc != NULL && strncmp(line, "--- ", 4) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(tc->want, sizeof(tc->want), "%s", line + 4);
			tc = NULL;
		} else if (tc != NULL && strcmp(line, "\\z\n") == 0) {
			assert_true(tc->len > 0);
			tc->len--;
		} else if (tc != NULL) {
			assert_true(tc->len + strlen(line) < sizeof(tc->text));
			tc->len += unescape(line, tc->text + tc->len);
		}
	}
	fclose(f);
	return n;
}

static void
run_case(const struct tcase *tc)
{
	struct queue_text t;
	char *buf = malloc(tc->len + 1), *again;
	size_t len;
	int rc;

	assert_non_null(buf);
	memcpy(buf, tc->text, tc->len);
	rc = queue_text_parse(&t, buf, tc->len);
	if (strcmp(tc->want, "ok") == 0) {
		if (rc != 0)
			fail_msg(
			    "%s:%d: %s: %s", CASES, tc->line, tc->name, t.why);
		assert_int_equal(queue_text_format(&t.e, &again, &len), 0);
		if (len != tc->len || memcmp(again, tc->text, len) != 0)
			fail_msg("%s:%d: %s: formats back differently:\n%.*s",
			    CASES, tc->line, tc->name, (int)len, again);
		free(again);
	} else if (rc == 0 || strstr(t.why, tc->want) == NULL)
		fail_msg("%s:%d: %s: want \"%s\", got %s \"%s\"", CASES,
		    tc->line, tc->name, tc->want, rc == 0 ? "success" : "",
		    t.why);
	queue_text_free(&t);
}

static void
test_env_table(void **state)
{
	static struct tcase cases[64];
	int i, n = load_cases(cases, 64);

	(void)state;
	assert_true(n >= 20);
	for (i = 0; i < n; i++)
		run_case(&cases[i]);
}

/* ---- the schedule ---- */

static const struct {
	unsigned attempts;
	long long min, max; /* seconds, +-20 % of the base */
} schedule[] = {
	{ 0, 0, 0 },
	{ 1, 240, 360 },     /* 5 min */
	{ 2, 480, 720 },     /* 10 min */
	{ 3, 960, 1440 },    /* 20 min */
	{ 4, 1920, 2880 },   /* 40 min */
	{ 5, 3840, 5760 },   /* 80 min */
	{ 6, 7680, 11520 },  /* 160 min */
	{ 7, 11520, 17280 }, /* 4 h, the ceiling */
	{ 8, 11520, 17280 },
	{ 40, 11520, 17280 },
	{ UINT_MAX, 11520, 17280 },
};

static void
test_backoff_table(void **state)
{
	size_t i;
	int k;

	(void)state;
	for (i = 0; i < sizeof(schedule) / sizeof(schedule[0]); i++) {
		long long lo = queue_backoff(schedule[i].attempts, 0);
		long long hi = queue_backoff(schedule[i].attempts, UINT32_MAX);

		if (lo != schedule[i].min || hi < schedule[i].max - 1 ||
		    hi > schedule[i].max)
			fail_msg(
			    "attempts %u: delay %lld..%lld, want %lld..%lld",
			    schedule[i].attempts, lo, hi, schedule[i].min,
			    schedule[i].max);
		for (k = 0; k < 1000; k++) {
			long long d = queue_backoff(
			    schedule[i].attempts, (uint32_t)random());

			assert_true(
			    d >= schedule[i].min && d <= schedule[i].max);
		}
	}
}

/* The age mailq shows: one row per case, seconds ==> text. */
static const struct {
	long long secs;
	const char *want;
} ages[] = {
	{ -5, "0s" }, /* created ahead of the clock */
	{ 0, "0s" },
	{ 59, "59s" },
	{ 60, "1m" },
	{ 3599, "59m" },
	{ 3600, "1h00m" },
	{ 2 * 3600 + 13 * 60 + 59, "2h13m" },
	{ 86399, "23h59m" },
	{ 86400, "1d00h" },
	{ 3 * 86400 + 4 * 3600 + 3599, "3d04h" },
	{ 5 * 86400, "5d00h" },
	{ 1000 * 86400LL, "1000d00h" },
};

static void
test_age_table(void **state)
{
	char buf[32];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ages) / sizeof(ages[0]); i++) {
		queue_text_age(buf, sizeof(buf), ages[i].secs);
		if (strcmp(buf, ages[i].want) != 0)
			fail_msg("age %lld: \"%s\", want \"%s\"", ages[i].secs,
			    buf, ages[i].want);
	}
}

/* Through the queue: every retry_later lands within the table. */
struct retry_arg {
	long long now;
	unsigned attempts;
	long long delay;
	int expired;
	char last[ERR_TEXT_MAX]; /* the last error, once expired */
};

static int
retry_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct retry_arg *r = arg;
	struct err rec;

	err_clear(&rec);
	assert_int_equal(queue_retry_later(m, "451 4.3.0 try\r\nlater", r->now,
			     &r->expired, &rec),
	    0);
	r->attempts = e->attempts;
	r->delay = e->next_try - r->now;
	if (r->expired)
		snprintf(r->last, sizeof(r->last), "%s", e->last_error);
	else
		assert_string_equal(
		    e->last_error, "451 4.3.0 try\\x0d\\x0alater");
	return 0;
}

static void
test_retry_grows(void **state)
{
	struct queue *q = open_q(NULL);
	struct retry_arg r = { T0, 0, 0, 0, "" };
	struct queue_stats st;
	struct err rec;
	char id[QUEUE_ID_SIZE];
	struct seen s;
	unsigned a;

	(void)state;
	put(q, &env2, "connection refused", T0, id);
	s = list(q);
	assert_int_equal(s.e[0].attempts, 1);
	assert_true(s.e[0].next_try >= T0 + 240 && s.e[0].next_try <= T0 + 360);
	for (a = 2; a <= 9; a++) {
		r.now += 5 * 3600; /* past any delay, short of the lifetime */
		assert_int_equal(
		    queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
		assert_int_equal(st.taken, 1);
		assert_int_equal(r.attempts, a);
		assert_int_equal(r.expired, 0);
		assert_true(r.delay >= schedule[a < 8 ? a : 8].min &&
		    r.delay <= schedule[a < 8 ? a : 8].max);
		s = list(q); /* on disk as well */
		assert_int_equal(s.e[0].attempts, a);
		assert_int_equal(s.e[0].next_try, r.now + r.delay);
	}
	queue_close(q);
}

/* A try forced by mailq (-qI: next-try 0) that fails does not count: the
 * message waits the delay its schedule had reached again, not double. */
static void
test_forced_retry_keeps_delay(void **state)
{
	struct queue *q = open_q(NULL);
	struct retry_arg r = { T0, 0, 0, 0, "" };
	struct queue_stats st;
	struct err rec;
	char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	size_t n;
	int i, fd;

	(void)state;
	err_clear(&rec);
	put(q, &env2, "connection refused", T0, id);
	for (i = 0; i < 3; i++) {
		r.now += 60;
		if (i == 2) /* -qI alone: every message */
			assert_int_equal(queue_retry_all(q, &n, &rec), 0);
		else
			assert_int_equal(queue_retry_now(q, id, &rec), 0);
		assert_int_equal(list(q).e[0].next_try, 0);
		assert_int_equal(
		    queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
		assert_int_equal(st.taken, 1);
		assert_int_equal(r.attempts, 1); /* still the first */
		assert_true(
		    r.delay >= schedule[1].min && r.delay <= schedule[1].max);
	}
	assert_int_equal(n, 1);
	/* The schedule's own try counts and doubles. */
	r.now += 3600;
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(r.attempts, 2);
	assert_true(r.delay >= schedule[2].min && r.delay <= schedule[2].max);
	/* queue_retry_all leaves failed/ alone; queue_delete_failed empties
	 * it and leaves msg/ alone. */
	put(q, &env2, "x", T0, id2);
	fd = spool(MESSAGE);
	assert_int_equal(
	    queue_put_failed(q, &env2, fd, "550 no", T0, id2, &rec), 0);
	close(fd);
	assert_int_equal(queue_retry_all(q, &n, &rec), 0);
	assert_int_equal(n, 2);
	assert_int_equal(queue_retry_all(q, &n, &rec), 0);
	assert_int_equal(n, 0); /* already due */
	assert_int_equal(queue_delete_failed(q, &n, &rec), 0);
	assert_int_equal(n, 1);
	assert_int_equal(list(q).n, 2);
	assert_int_equal(list(q).failed, 0);
	queue_close(q);
}

static void
test_expiry(void **state)
{
	struct queue_params p = { 0, 3600 };
	struct queue *q = open_q(&p);
	struct retry_arg r = { T0 + 3599, 0, 0, 0, "" };
	struct queue_stats st;
	struct err rec;
	char id[QUEUE_ID_SIZE], *out = NULL, want[128];
	struct seen s;
	size_t len;
	FILE *f;

	(void)state;
	put(q, &env2, "refused", T0, id);
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(r.expired, 0); /* one second short */
	r.now = T0 + 3600 + 3600;
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 1);
	assert_int_equal(r.expired, 1);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.failed, 1);
	assert_string_equal(s.id[0], id);
	assert_int_equal(s.e[0].attempts, 3);
	/* kept as expired, and mailq says so, not "failed" */
	assert_string_equal(s.last[0],
	    "expired after 1 hour; last error: 451 4.3.0 try\\x0d\\x0alater");
	assert_string_equal(r.last, s.last[0]);
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(queue_print(q, f, r.now, &rec), 0);
	fclose(f);
	snprintf(want, sizeof(want),
	    "  (account default, uid %u: expired after 1 hour; last error: 451",
	    (unsigned)getuid());
	assert_non_null(strstr(out, want));
	assert_null(strstr(out, "(failed"));
	free(out);
	assert_int_equal(
	    queue_due(q, NULL, LLONG_MAX - 1, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 0); /* failed/ is never retried */
	queue_close(q);
}

/* ---- put, list, due, done ---- */

struct send_arg {
	int calls;
	char id[QUEUE_ID_SIZE];
	int action; /* 0 done, 1 nothing, 2 fail */
};

static int
send_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct send_arg *a = arg;
	char buf[256];
	struct err rec;
	ssize_t n;

	a->calls++;
	snprintf(a->id, sizeof(a->id), "%s", e->id);
	n = pread(queue_msg_fd(m), buf, sizeof(buf), 0);
	assert_int_equal(n, (ssize_t)strlen(MESSAGE));
	assert_memory_equal(buf, MESSAGE, (size_t)n);
	assert_string_equal(e->account, "default");
	assert_int_equal(e->nrcpt, 2);
	assert_string_equal(e->rcpt[1], "c@example.org");
	err_clear(&rec);
	if (a->action == 0)
		assert_int_equal(queue_done(m, &rec), 0);
	if (a->action == 2)
		assert_int_equal(
		    queue_fail(m, "550 5.1.1 no such user", &rec), 0);
	return 0;
}

/* The first line of env2's entry id, created at created, as the
 * listing writes it 2h13m later: id, size, age, arrival, sender. */
static void
print_row(char *buf, size_t sz, const char *id, long long created)
{
	time_t t = (time_t)created;
	char date[64];
	struct tm tm;

	assert_non_null(localtime_r(&t, &tm));
	assert_true(strftime(date, sizeof(date), "%a %b %e %H:%M:%S", &tm));
	snprintf(buf, sz, "%-23s  %8zu  2h13m %-20s a@example.com\n", id,
	    strlen(MESSAGE), date);
}

static void
test_put_list_due_done(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 1 };
	struct queue_stats st;
	char id[QUEUE_ID_SIZE], *out = NULL, row[256];
	struct err rec;
	struct seen s;
	size_t len;
	FILE *f;

	(void)state;
	put(q, &env2, NULL, T0, id);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.id[0], id);
	assert_int_equal(s.e[0].size, (long long)strlen(MESSAGE));
	assert_int_equal(s.e[0].created, T0);
	assert_int_equal(s.e[0].next_try, T0); /* never tried: due now */
	assert_int_equal(s.e[0].attempts, 0);
	assert_int_equal(s.e[0].uid, (long long)getuid()); /* the submitter */
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(queue_print(q, f, T0 + 2 * 3600 + 13 * 60, &rec), 0);
	fclose(f);
	print_row(row, sizeof(row), id, T0);
	assert_non_null(strstr(out, row));
	assert_non_null(strstr(out,
	    "-Queue ID-               --Size-- -Age-- "
	    "----Arrival Time---- -Sender/"));
	snprintf(row, sizeof(row),
	    "\n  (account default, uid %u, 0 attempts, next try now)\n",
	    (unsigned)getuid());
	assert_non_null(strstr(out, row));
	snprintf(row, sizeof(row), "\n%62s%s\n%62s%s\n\n", "", rcpt2[0], "",
	    rcpt2[1]);
	assert_non_null(strstr(out, row));
	assert_non_null(strstr(out, "-- 1 Kbytes in 1 Request."));
	free(out);

	assert_int_equal(queue_due(q, "other", T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 0); /* another account's */
	assert_int_equal(
	    queue_due(q, "default", T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 1); /* taken, left as it was */
	assert_int_equal(list(q).n, 1);
	a.action = 0;
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 2);
	assert_string_equal(a.id, id);
	assert_int_equal(list(q).n, 0);
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(queue_print(q, f, T0, &rec), 0);
	fclose(f);
	assert_string_equal(out, "mail queue is empty\n");
	free(out);
	queue_close(q);
}

static void
test_fail_and_put_failed(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 2 };
	char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	struct err rec;
	struct seen s;
	int fd = spool(MESSAGE);

	(void)state;
	put(q, &env2, NULL, T0, id);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(
	    queue_put_failed(q, &env2, fd, "550 refused", T0 + 1, id2, &rec),
	    0);
	close(fd);
	s = list(q);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.failed, 2);
	assert_string_equal(s.last[0], "550 5.1.1 no such user");
	assert_string_equal(s.last[1], "550 refused");
	assert_int_equal(
	    queue_due(q, NULL, LLONG_MAX - 1, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(queue_delete(q, id, &rec), 0);
	assert_int_equal(list(q).n, 1);
	/* -qIID of a failed one puts it back, as if queued anew: due at
	 * once, attempts 0, its lifetime from now; the last error stays */
	assert_int_equal(queue_retry_now(q, id2, &rec), 0);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.failed, 0);
	assert_string_equal(s.id[0], id2);
	assert_int_equal(s.e[0].attempts, 0);
	assert_int_equal(s.e[0].next_try, 0);
	assert_true(s.e[0].created >= (long long)time(NULL) - 5);
	assert_string_equal(s.last[0], "550 refused");
	a.calls = 0;
	a.action = 0;
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(list(q).n, 0);
	assert_int_equal(queue_retry_now(q, id2, &rec), -1);
	assert_int_equal(rec.code, EX_USAGE);
	queue_close(q);
}

/* -qIfailed: every failed message back; a corrupt one stays. */
static void
test_retry_failed(void **state)
{
	struct queue *q = open_q(NULL);
	char id[QUEUE_ID_SIZE];
	struct err rec;
	size_t n = 99;
	int i, fd;

	(void)state;
	err_clear(&rec);
	for (i = 0; i < 3; i++) {
		fd = spool(MESSAGE);
		assert_int_equal(
		    queue_put_failed(q, &env2, fd, "535 no", T0, id, &rec), 0);
		close(fd);
	}
	make_at("failed/0badc0de.1.1", NULL, 0);
	put(q, &env2, "refused", T0, id);
	assert_int_equal(queue_retry_failed(q, &n, &rec), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count_dir("msg"), 4);
	assert_int_equal(count_dir("failed"), 1);
	assert_int_equal(list(q).failed, 1);
	assert_int_equal(list(q).bad, 1);
	queue_close(q);
}

/* ---- locks ---- */

struct nested {
	struct queue *other;
	struct queue_stats st;
	int calls;
};

/* While the first handle holds the message, a second flusher (its own
 * open file description) must skip it. */
static int
nested_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct nested *n = arg;
	struct send_arg a = { 0, "", 0 };
	struct err rec;

	(void)m, (void)e;
	n->calls++;
	assert_int_equal(
	    queue_due(n->other, NULL, T0, send_cb, &a, &n->st, &rec), 0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(queue_retry_now(n->other, e->id, &rec), -1);
	assert_int_equal(rec.class, ERR_TEMP);
	assert_int_equal(queue_delete(n->other, e->id, &rec), -1);
	assert_int_equal(rec.class, ERR_TEMP);
	return 0;
}

static void
test_locked_skipped(void **state)
{
	struct queue *q1 = open_q(NULL), *q2 = open_q(NULL);
	struct nested n = { q2, { 0 }, 0 };
	struct send_arg a = { 0, "", 0 };
	char id[QUEUE_ID_SIZE];
	struct err rec;

	(void)state;
	put(q1, &env2, NULL, T0, id);
	assert_int_equal(queue_due(q1, NULL, T0, nested_cb, &n, NULL, &rec), 0);
	assert_int_equal(n.calls, 1);
	assert_int_equal(n.st.locked, 1);
	assert_int_equal(n.st.taken, 0);
	/* released when the callback returned: the other one takes it */
	assert_int_equal(queue_due(q2, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
	queue_close(q1);
	queue_close(q2);
}

static int
die_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	(void)m, (void)e, (void)arg;
	raise(SIGKILL); /* a flusher killed in the middle of sending */
	return 0;
}

static void
test_dead_lock_released(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 0 };
	char id[QUEUE_ID_SIZE];
	struct err rec;
	int status;
	pid_t pid;

	(void)state;
	put(q, &env2, NULL, T0, id);
	if ((pid = fork()) == 0) {
		queue_due(q, NULL, T0, die_cb, NULL, NULL, &rec);
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(list(q).n, 0);
	queue_close(q);
}

/* A message that another flusher settles (sends, or fails) between our
 * listing and our lock, while we hold its directory open, is no longer
 * ours: take() sees that msg/ID is not that directory any more. */
static struct queue *other_q;
static int other_action, other_runs;

static void
settle_elsewhere(int fd)
{
	struct send_arg a = { 0, "", 0 };
	struct err rec;

	(void)fd;
	if (other_runs++ > 0)
		return;
	a.action = other_action;
	err_clear(&rec);
	assert_int_equal(
	    queue_due(other_q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
}

static void
test_settled_before_lock(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 0 };
	struct queue_stats st;
	char id[QUEUE_ID_SIZE];
	struct err rec;
	int action;

	(void)state;
	other_q = open_q(NULL);
	for (action = 0; action <= 2; action += 2) {
		put(q, &env2, NULL, T0, id);
		other_action = action;
		other_runs = 0;
		fault.before_flock = settle_elsewhere;
		assert_int_equal(
		    queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
		memset(&fault, 0, sizeof(fault));
		assert_int_equal(other_runs, 1);
		assert_int_equal(a.calls, 0); /* never handed over */
		assert_int_equal(st.taken, 0);
		assert_int_equal(st.bad, 0);
	}
	/* sent, and failed: in failed/, where it stays */
	assert_int_equal(count_dir("msg"), 0);
	assert_int_equal(count_dir("failed"), 1);
	/* by id too: mailq's -qD of a message sent meanwhile */
	put(q, &env2, NULL, T0, id);
	other_action = 0;
	other_runs = 0;
	fault.before_flock = settle_elsewhere;
	assert_int_equal(queue_delete(q, id, &rec), -1);
	memset(&fault, 0, sizeof(fault));
	assert_int_equal(rec.code, EX_USAGE);
	queue_close(other_q);
	queue_close(q);
}

/* The lifetime without queue_params: QUEUE_LIFETIME, five days. */
static void
test_default_lifetime(void **state)
{
	struct queue_params p = { 0, 0 };
	struct queue *q = open_q(&p);
	struct retry_arg r = { 0, 0, 0, 0, "" };
	struct queue_stats st;
	char id[QUEUE_ID_SIZE];
	struct err rec;

	(void)state;
	assert_int_equal(QUEUE_LIFETIME, 5 * 24 * 3600);
	put(q, &env2, "refused", T0, id);
	r.now = T0 + 5 * 24 * 3600 - 1;
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 1);
	assert_int_equal(r.expired, 0); /* a second short */
	assert_int_equal(list(q).failed, 0);
	queue_close(q);
	q = open_q(NULL); /* no params at all */
	r.now += 5 * 3600;
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 1);
	assert_int_equal(r.expired, 1);
	assert_int_equal(list(q).failed, 1);
	queue_close(q);
}

/* Set key's line of message id's envelope (in msg/) to "key value", as
 * another clock would have written it. */
static void
set_env(const char *id, const char *key, long long value)
{
	char p[256], buf[4096], out[4096], *line, *save = NULL;
	size_t klen = strlen(key), off = 0;
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/msg/%s/env", qdir, id);
	assert_true((fd = open(p, O_RDWR)) >= 0);
	assert_true((n = read(fd, buf, sizeof(buf) - 1)) > 0);
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			off += (size_t)snprintf(out + off, sizeof(out) - off,
			    "%s %lld\n", key, value);
		else
			off += (size_t)snprintf(
			    out + off, sizeof(out) - off, "%s\n", line);
	}
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, out, off, 0), (ssize_t)off);
	close(fd);
}

/* A clock that was years ahead wrote next-try and created: the next
 * flush brings them back (the next try within QUEUE_DELAY_MAX, created
 * to now), so the message is retried and still expires. */
static void
test_skewed_times(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 0 };
	long long ahead = T0 + 10LL * 365 * 24 * 3600;
	struct queue_stats st;
	char id[QUEUE_ID_SIZE];
	struct err rec;
	struct seen s;

	(void)state;
	put(q, &env2, "refused", T0, id);
	set_env(id, "next-try", ahead);
	set_env(id, "created", ahead);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 0); /* not due yet, but corrected */
	s = list(q);
	assert_int_equal(s.e[0].next_try, T0 + QUEUE_DELAY_MAX);
	assert_int_equal(s.e[0].created, T0);
	assert_int_equal(queue_due(q, "other", T0, send_cb, &a, &st, &rec), 0);
	/* within bounds: left alone */
	set_env(id, "next-try", T0 + QUEUE_LATEST_TRY);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(list(q).e[0].next_try, T0 + QUEUE_LATEST_TRY);
	assert_int_equal(a.calls, 0);
	assert_int_equal(st.waiting, 1);
	/* queue_entry_due says a flush should look at it when skewed */
	set_env(id, "next-try", ahead);
	assert_int_equal(queue_due(q, "other", T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(list(q).e[0].next_try, ahead); /* not its account */
	assert_int_equal(queue_due(q, "default", T0 + QUEUE_DELAY_MAX, send_cb,
			     &a, &st, &rec),
	    0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(queue_due(q, "default", T0 + 2 * QUEUE_DELAY_MAX,
			     send_cb, &a, &st, &rec),
	    0);
	assert_int_equal(a.calls, 1); /* sent */
	assert_int_equal(list(q).n, 0);
	queue_close(q);
}

/* Past its lifetime a message is due whatever its next-try says: one
 * last try, whose failure moves it to failed/. */
static void
test_lifetime_makes_due(void **state)
{
	struct queue_params p = { 0, 3600 };
	struct queue *q = open_q(&p);
	struct retry_arg r = { T0 + 3599, 0, 0, 0, "" };
	struct queue_stats st;
	char id[QUEUE_ID_SIZE];
	struct err rec;

	(void)state;
	put(q, &env2, "refused", T0, id);
	set_env(id, "next-try", T0 + QUEUE_DELAY_MAX);
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 0);
	/* an account's longer lifetime, set for a pass, keeps it waiting */
	r.now = T0 + 3600;
	queue_set_lifetime(q, 7200);
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 0);
	queue_set_lifetime(q, 0); /* back to the queue's default, 5 days */
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 0);
	queue_set_lifetime(q, 3600);
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 1);
	assert_int_equal(r.expired, 1);
	assert_int_equal(list(q).failed, 1);
	assert_string_equal(r.last,
	    "expired after 1 hour; last error: 451 "
	    "4.3.0 try\\x0d\\x0alater");
	queue_close(q);
}

/* -qI forced a try (next-try 0) that never came, its connection lost
 * before its turn: queue_untried makes it an ordinary due try, whose
 * failure counts.  A message never tried that a forced try fails gets
 * onto the schedule (attempt 1), instead of being due again at once. */
static int
untried_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct err rec;

	(void)e;
	err_clear(&rec);
	assert_int_equal(queue_untried(m, *(long long *)arg, &rec), 0);
	return 0;
}

static void
test_untried_forced(void **state)
{
	struct queue *q = open_q(NULL);
	struct retry_arg r = { T0 + 60, 0, 0, 0, "" };
	long long now = T0 + 30;
	char id[QUEUE_ID_SIZE];
	struct queue_stats st;
	struct err rec;

	(void)state;
	err_clear(&rec);
	put(q, &env2, "connection refused", T0, id);
	assert_int_equal(queue_retry_now(q, id, &rec), 0);
	assert_int_equal(
	    queue_due(q, NULL, now, untried_cb, &now, &st, &rec), 0);
	assert_int_equal(st.taken, 1);
	assert_int_equal(list(q).e[0].next_try, now);
	assert_int_equal(list(q).e[0].attempts, 1);
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(r.attempts, 2); /* counted: it was not forced */
	/* an ordinary message left untried stays as it was */
	r.now += 3600;
	assert_int_equal(
	    queue_due(q, NULL, r.now, untried_cb, &r.now, &st, &rec), 0);
	assert_int_equal(list(q).e[0].next_try, T0 + 60 + r.delay);
	assert_int_equal(queue_delete(q, id, &rec), 0);
	/* never tried, forced, failed: attempt 1, the first delay */
	put(q, &env2, NULL, T0, id);
	assert_int_equal(queue_retry_now(q, id, &rec), 0);
	r.now = T0;
	assert_int_equal(queue_due(q, NULL, r.now, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(r.attempts, 1);
	assert_true(r.delay >= schedule[1].min && r.delay <= schedule[1].max);
	queue_close(q);
}

/* ---- what a crash leaves ---- */

/* Make qdir/rel look age seconds old. */
static void
age_at(const char *rel, long long age)
{
	struct timespec ts[2];
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Make a directory (text NULL) or a file holding text, age seconds old. */
static void
make_at(const char *rel, const char *text, long long age)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	if (text == NULL)
		assert_int_equal(mkdir(p, 0700), 0);
	else {
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(
		    write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
	}
	age_at(rel, age);
}

static int
exists(const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	return lstat(p, &st) == 0;
}

static int
count_dir(const char *rel)
{
	char p[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	assert_non_null(d = opendir(p));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The inodes fsynced while synced_ino is hooked in. */
static ino_t synced[32];
static int nsynced;

static void
record_fsync(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && nsynced < 32)
		synced[nsynced++] = st.st_ino;
}

/* Whether rel (under the queue) was fsynced since nsynced was 0. */
static int
was_synced(const char *rel)
{
	char p[256];
	struct stat st;
	int i;

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	assert_int_equal(stat(p, &st), 0);
	for (i = 0; i < nsynced; i++)
		if (synced[i] == st.st_ino)
			return 1;
	return 0;
}

static struct queue_msg *
hold(struct queue *q, char id[QUEUE_ID_SIZE])
{
	struct queue_msg *m;
	struct err rec;
	int fd = spool(MESSAGE);

	err_clear(&rec);
	if (queue_hold(q, &env2, fd, T0, id, &m, &rec) != 0)
		fail_msg("queue_hold: %s", rec.text);
	close(fd);
	return m;
}

/* queue_hold, a send's own message (issue 6): in msg/ at once, due,
 * never tried, and locked, so a due pass skips it; nothing is fsynced
 * until it is kept.  queue_done takes it out without an fsync;
 * queue_retry_later fsyncs its data, its directory and msg/ and counts
 * the attempt; queue_fail moves it to failed/, synced too; released
 * unsettled (a killed sender), the next pass takes it. */
static void
test_hold(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 0 };
	struct queue_stats st;
	struct queue_msg *m;
	char id[QUEUE_ID_SIZE], path[128];
	struct err rec;
	struct seen s;
	int expired = 0;

	(void)state;
	err_clear(&rec);
	nsynced = 0;
	fault.before_fsync = record_fsync;
	m = hold(q, id);
	assert_int_equal(nsynced, 0);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.id[0], id);
	assert_int_equal(s.e[0].attempts, 0);
	assert_int_equal(s.e[0].next_try, T0);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(st.locked, 1);
	assert_int_equal(queue_done(m, &rec), 0);
	assert_int_equal(nsynced, 0);
	queue_release(m);
	assert_int_equal(list(q).n, 0);
	assert_int_equal(count_dir("tmp"), 0);

	/* a temporary failure: kept, durable, attempt 1 */
	m = hold(q, id);
	assert_int_equal(
	    queue_retry_later(m, "451 4.3.0 later", T0, &expired, &rec), 0);
	assert_int_equal(expired, 0);
	snprintf(path, sizeof(path), "msg/%s/data", id);
	assert_true(was_synced(path));
	snprintf(path, sizeof(path), "msg/%s/env", id);
	assert_true(was_synced(path));
	snprintf(path, sizeof(path), "msg/%s", id);
	assert_true(was_synced(path));
	assert_true(was_synced("msg"));
	queue_release(m);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.e[0].attempts, 1);
	assert_true(s.e[0].next_try >= T0 + 240 && s.e[0].next_try <= T0 + 360);
	assert_string_equal(s.last[0], "451 4.3.0 later");
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(
	    queue_due(q, NULL, T0 + 400, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(list(q).n, 0);

	/* a permanent failure: in failed/, synced */
	nsynced = 0;
	m = hold(q, id);
	assert_int_equal(queue_fail(m, "550 5.1.1 no", &rec), 0);
	snprintf(path, sizeof(path), "failed/%s/data", id);
	assert_true(was_synced(path));
	assert_true(was_synced("failed"));
	queue_release(m);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.failed, 1);
	assert_string_equal(s.last[0], "550 5.1.1 no");
	fault.before_fsync = NULL;

	/* released unsettled, as by a kill: the next pass sends it */
	m = hold(q, id);
	queue_release(m);
	a.calls = 0;
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.id, id);
	assert_int_equal(count_dir("msg"), 0);
	queue_close(q);
}

static void
test_tmp_leftovers(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 0 };
	struct err rec;

	(void)state;
	queue_close(q);
	/* a put killed while writing data, an hour ago and just now */
	make_at("tmp/674f3a2c.10.00010002", NULL, 0);
	make_at("tmp/674f3a2c.10.00010002/data", "From: a@exa", 3600);
	age_at("tmp/674f3a2c.10.00010002", 3600);
	make_at("tmp/674f3a2c.11.00010003", NULL, 10);
	make_at("tmp/674f3a2c.11.00010003/data", MESSAGE, 10);
	make_at("tmp/674f3a2c.11.00010003/env", "mailhop-queue 1\nacc", 10);
	make_at("tmp/674f3a2c.12.00010004.gone", NULL, 7200);
	make_at("tmp/stray", "x", 4000);
	q = open_q(NULL);
	assert_false(exists("tmp/674f3a2c.10.00010002"));
	assert_false(exists("tmp/674f3a2c.12.00010004.gone"));
	assert_false(exists("tmp/stray"));
	assert_true(exists("tmp/674f3a2c.11.00010003/env")); /* may be live */
	assert_int_equal(list(q).n, 0);
	assert_int_equal(
	    queue_due(q, NULL, LLONG_MAX - 1, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 0);
	queue_close(q);
}

static const struct {
	const char *name; /* under msg/ */
	const char *env;  /* NULL: none */
	const char *data; /* NULL: none; "DIR": name is a plain file */
	const char *why;
} corrupt[] = {
	{ "674f3a2c.20.00000001", "mailhop-queue 1\naccount default\n", MESSAGE,
	    "ends before its sender line" },
	{ "674f3a2c.20.00000002", NULL, MESSAGE, "cannot open its envelope" },
	{ "674f3a2c.20.00000003",
	    "mailhop-queue 1\naccount default\nsender\ncreated 1\nattempts 0\n"
	    "next-try 0\nsize 999\nlast-error\nmsgid\nparams\nrcpt b@x\nend\n",
	    MESSAGE, "message file has 47 bytes, not 999" },
	{ "674f3a2c.20.00000004",
	    "mailhop-queue 1\naccount default\nsender\ncreated 1\nattempts 0\n"
	    "next-try 0\nsize 47\nlast-error\nmsgid\nparams\nrcpt b@x\nend\n",
	    NULL, "cannot open its message file" },
	{ "674f3a2c.20.00000005", NULL, "DIR", "cannot open it" },
	{ "674f3a2c.20.00000006", "\x01\x02garbage", MESSAGE, "control byte" },
};

static void
test_corrupt_skipped(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 0 };
	size_t ncorrupt = sizeof(corrupt) / sizeof(corrupt[0]), i;
	char id[QUEUE_ID_SIZE], rel[128];
	struct queue_stats st;
	struct err rec;
	struct seen s;

	(void)state;
	for (i = 0; i < ncorrupt; i++) {
		snprintf(rel, sizeof(rel), "msg/%s", corrupt[i].name);
		if (corrupt[i].data != NULL &&
		    strcmp(corrupt[i].data, "DIR") == 0) {
			make_at(rel, "not a directory", 0);
			continue;
		}
		make_at(rel, NULL, 0);
		snprintf(rel, sizeof(rel), "msg/%s/env", corrupt[i].name);
		if (corrupt[i].env != NULL)
			make_at(rel, corrupt[i].env, 0);
		snprintf(rel, sizeof(rel), "msg/%s/data", corrupt[i].name);
		if (corrupt[i].data != NULL)
			make_at(rel, corrupt[i].data, 0);
	}
	put(q, &env2, NULL, T0, id);
	s = list(q);
	assert_int_equal(s.n, (int)ncorrupt + 1);
	assert_int_equal(s.bad, (int)ncorrupt);
	for (i = 0; i < ncorrupt; i++) {
		assert_string_equal(s.id[i], corrupt[i].name);
		if (strstr(s.why[i], corrupt[i].why) == NULL)
			fail_msg("%s: want \"%s\", got \"%s\"", corrupt[i].name,
			    corrupt[i].why, s.why[i]);
	}
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(st.bad, ncorrupt);
	assert_string_equal(st.bad_id, corrupt[ncorrupt - 1].name);
	assert_int_equal(queue_delete(q, corrupt[0].name, &rec), 0);
	assert_int_equal(list(q).bad, (int)ncorrupt - 1);
	queue_close(q);
}

/* An envelope of format 1 (mailhop before the uid line) is listed with
 * its submitter unknown, stays format 1 when a failed try rewrites it,
 * and is sent. */
static void
test_format1_envelope(void **state)
{
	static const char name[] = "674f3a2c.21.00000001";
	struct queue *q = open_q(NULL);
	struct retry_arg r = { T0, 0, 0, 0, "" };
	struct send_arg a = { 0, "", 0 };
	char rel[256], buf[1024], *out = NULL;
	struct queue_stats st;
	struct err rec;
	struct seen s;
	size_t len;
	ssize_t n;
	FILE *f;
	int fd;

	(void)state;
	snprintf(rel, sizeof(rel), "msg/%s", name);
	make_at(rel, NULL, 0);
	snprintf(rel, sizeof(rel), "msg/%s/env", name);
	make_at(rel,
	    "mailhop-queue 1\naccount default\nsender a@example.com\n"
	    "created 1764784020\nattempts 0\nnext-try 0\nsize 47\n"
	    "last-error\nmsgid\nparams\nrcpt b@example.net\n"
	    "rcpt c@example.org\nend\n",
	    0);
	snprintf(rel, sizeof(rel), "msg/%s/data", name);
	make_at(rel, MESSAGE, 0);
	s = list(q);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.e[0].uid, -1);
	assert_non_null(f = open_memstream(&out, &len));
	assert_int_equal(queue_print(q, f, T0, &rec), 0);
	fclose(f);
	assert_non_null(strstr(out,
	    "\n  (account default, uid unknown, 0 attempts, next try now)\n"));
	free(out);

	assert_int_equal(queue_due(q, NULL, T0, retry_cb, &r, &st, &rec), 0);
	assert_int_equal(st.taken, 1);
	snprintf(rel, sizeof(rel), "%s/msg/%s/env", qdir, name);
	assert_true((fd = open(rel, O_RDONLY)) >= 0);
	assert_true((n = read(fd, buf, sizeof(buf) - 1)) > 0);
	close(fd);
	buf[n] = '\0';
	assert_memory_equal(buf,
	    "mailhop-queue 1\naccount default\nsender a@example.com\n"
	    "created 1764784020\nattempts 1\n",
	    83);
	assert_null(strstr(buf, "\nuid"));

	assert_int_equal(
	    queue_due(q, NULL, T0 + 3600, send_cb, &a, &st, &rec), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(list(q).n, 0);
	queue_close(q);
}

/* ---- ids, modes, directories ---- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static void
test_ids_unique(void **state)
{
	static char ids[10000][QUEUE_ID_SIZE];
	const char *const one[] = { "b@example.net" };
	struct queue_env env = { "default", "", one, 1, NULL, NULL };
	struct queue *q = open_q(NULL);
	struct err rec;
	int i, fd = spool(MESSAGE);

	(void)state;
	for (i = 0; i < 10000; i++)
		if (queue_put(q, &env, fd, NULL, T0, ids[i], &rec) != 0)
			fail_msg("put %d: %s", i, rec.text);
	close(fd);
	qsort(ids, 10000, QUEUE_ID_SIZE, cmp_str);
	for (i = 1; i < 10000; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			fail_msg("id %s twice", ids[i]);
	queue_close(q);
}

static mode_t
mode_of(const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

static void
check_modes(int system, mode_t dmode, mode_t fmode)
{
	struct queue_params p = { system, 0 };
	char id[QUEUE_ID_SIZE], rel[128];
	struct queue *q;

	q = open_q(&p);
	put(q, &env2, NULL, T0, id);
	assert_int_equal(mode_of(""), dmode);
	assert_int_equal(mode_of("tmp"), dmode);
	assert_int_equal(mode_of("msg"), dmode);
	assert_int_equal(mode_of("failed"), dmode);
	snprintf(rel, sizeof(rel), "msg/%s", id);
	assert_int_equal(mode_of(rel), dmode);
	snprintf(rel, sizeof(rel), "msg/%s/data", id);
	assert_int_equal(mode_of(rel), fmode);
	snprintf(rel, sizeof(rel), "msg/%s/env", id);
	assert_int_equal(mode_of(rel), fmode);
	queue_close(q);
}

static void
test_modes(void **state)
{
	struct queue *q;
	struct err rec;
	mode_t old = umask(0);

	(void)state;
	check_modes(0, 0700, 0600);		  /* whatever the umask */
	assert_int_equal(mode_of("../.."), 0700); /* parents made private */
	umask(077);
	snprintf(qdir, sizeof(qdir), "%s/system", top);
	check_modes(1, 02770, 0660);
	umask(old);
	/* a user queue others can enter is refused */
	snprintf(qdir, sizeof(qdir), "%s/open", top);
	assert_int_equal(mkdir(qdir, 0700), 0);
	assert_int_equal(chmod(qdir, 0755), 0);
	assert_int_equal(queue_open(qdir, NULL, &q, &rec), -1);
	assert_int_equal(rec.code, EX_CANTCREAT);
	assert_non_null(strstr(rec.text, "chmod 700"));
	assert_null(q);
}

static void
test_by_id(void **state)
{
	struct queue *q = open_q(NULL);
	struct send_arg a = { 0, "", 1 };
	static const char *const bad_ids[] = { "", "..", "../msg", "a/b",
		"674f3a2c.1.1/../x", "674F3A2C.1.1", "ffffffff.1.1" };
	char id[QUEUE_ID_SIZE];
	struct err rec;
	size_t i;

	(void)state;
	put(q, &env2, "refused", T0, id);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 0); /* not due for 5 minutes */
	assert_int_equal(queue_retry_now(q, id, &rec), 0);
	assert_int_equal(queue_due(q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		assert_int_equal(queue_delete(q, bad_ids[i], &rec), -1);
		assert_int_equal(rec.code, EX_USAGE);
		assert_int_equal(queue_retry_now(q, bad_ids[i], &rec), -1);
	}
	assert_int_equal(queue_delete(q, id, &rec), 0);
	assert_int_equal(queue_delete(q, id, &rec), -1);
	assert_int_equal(list(q).n, 0);
	queue_close(q);
}

static void
test_refused_envelopes(void **state)
{
	const char *const ctl[] = { "b@example.net\r\nRCPT TO:<x@y>" };
	const char *const empty[] = { "" };
	const struct queue_env bad[] = {
		{ "", "a@x", rcpt2, 2, NULL, NULL },
		{ NULL, "a@x", rcpt2, 2, NULL, NULL },
		{ "default", "a@x\n", rcpt2, 2, NULL, NULL },
		{ "default", "a@x", rcpt2, 0, NULL, NULL },
		{ "default", "a@x", ctl, 1, NULL, NULL },
		{ "default", "a@x", empty, 1, NULL, NULL },
		{ "default", "a@x", rcpt2, 2, "id\n", NULL },
		{ "default", "a@x", rcpt2, 2, NULL, "p\tq" },
	};
	struct queue *q = open_q(NULL);
	char id[QUEUE_ID_SIZE];
	struct err rec;
	size_t i;
	int fd = spool(MESSAGE);

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&rec);
		if (queue_put(q, &bad[i], fd, NULL, T0, id, &rec) != -1)
			fail_msg("envelope %zu was queued", i);
		assert_int_equal(rec.code, EX_SOFTWARE);
	}
	close(fd);
	assert_int_equal(list(q).n, 0);
	assert_int_equal(count_dir("tmp"), 0); /* nothing half-made */
	queue_close(q);
}

/* ---- the fsync of msg/ after the rename fails ---- */

static ino_t
inode_of(const char *rel)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", qdir, rel);
	assert_int_equal(stat(p, &st), 0);
	return st.st_ino;
}

/* queue_put with the fsync of msg/ failing: -1, and what is left. */
static int
put_unsynced(struct queue *q, struct err *rec)
{
	char id[QUEUE_ID_SIZE];
	int fd = spool(MESSAGE), rc;

	err_clear(rec);
	fault.fsync_ino = inode_of("msg");
	rc = queue_put(q, &env2, fd, "refused", T0, id, rec);
	memset(&fault, 0, sizeof(fault));
	close(fd);
	return rc;
}

static void
test_publish_sync_fails(void **state)
{
	struct queue *q = open_q(NULL);
	struct err rec;

	(void)state;
	/* renamed back to tmp/ and removed: not queued, as the caller hears */
	assert_int_equal(put_unsynced(q, &rec), -1);
	assert_int_equal(rec.code, EX_IOERR);
	assert_non_null(strstr(rec.text, "cannot sync"));
	assert_null(strstr(rec.text, "sent twice"));
	assert_int_equal(count_dir("msg"), 0);
	assert_int_equal(count_dir("tmp"), 0);
	/* the rename back fails too: removed in place */
	fault.renameat = 1;
	assert_int_equal(put_unsynced(q, &rec), -1);
	assert_null(strstr(rec.text, "sent twice"));
	assert_int_equal(count_dir("msg"), 0);
	/* nothing can be removed either: still queued, and the error says
	 * it may go twice (a duplicate, never a loss) */
	fault.renameat = fault.unlinkat = 1;
	assert_int_equal(put_unsynced(q, &rec), -1);
	assert_non_null(strstr(rec.text, "may be sent twice"));
	assert_int_equal(count_dir("msg"), 1);
	assert_int_equal(list(q).n, 1);
	queue_close(q);
}

/* The message is locked from before its rename into msg/ until
 * queue_put returns: a flusher that looks in between (here, at the fsync
 * of msg/) skips it. */
static struct queue *probe_q;
static struct queue_stats probe_st;
static int probe_calls;

static int
probe_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	(void)m, (void)e, (void)arg;
	probe_calls++;
	return 0;
}

static void
probe_due(int fd)
{
	struct err rec;
	struct stat st;

	if (fstat(fd, &st) == -1 || st.st_ino != inode_of("msg") ||
	    count_dir("msg") == 0)
		return;
	err_clear(&rec);
	assert_int_equal(
	    queue_due(probe_q, NULL, T0, probe_cb, NULL, &probe_st, &rec), 0);
}

static void
test_put_locked_until_durable(void **state)
{
	struct send_arg a = { 0, "", 0 };
	struct queue *q = open_q(NULL);
	char id[QUEUE_ID_SIZE];
	struct err rec;

	(void)state;
	probe_q = open_q(NULL);
	probe_calls = 0;
	memset(&probe_st, 0, sizeof(probe_st));
	fault.before_fsync = probe_due;
	put(q, &env2, NULL, T0, id);
	memset(&fault, 0, sizeof(fault));
	assert_int_equal(probe_calls, 0);
	assert_int_equal(probe_st.locked, 1);
	assert_int_equal(probe_st.taken, 0);
	/* once queue_put has returned, it is there to take */
	err_clear(&rec);
	assert_int_equal(
	    queue_due(probe_q, NULL, T0, send_cb, &a, NULL, &rec), 0);
	assert_int_equal(a.calls, 1);
	queue_close(probe_q);
	queue_close(q);
}

static void
test_default_dir(void **state)
{
	static const struct {
		const char *state, *home;
		int system, rc;
		const char *want;
	} rows[] = {
		{ "/s", "/h", 1, 0, "/var/spool/mailhop" },
		{ "/s", "/h", 0, 0, "/s/mailhop/queue" },
		{ NULL, "/h", 0, 0, "/h/.local/state/mailhop/queue" },
		{ "rel", "/h", 0, 0, "/h/.local/state/mailhop/queue" },
		{ "", "/h", 0, 0, "/h/.local/state/mailhop/queue" },
		{ NULL, NULL, 0, -1, "" },
		{ NULL, NULL, 1, 0, "/var/spool/mailhop" },
	};
	char buf[128], small[8];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		rows[i].state ? setenv("XDG_STATE_HOME", rows[i].state, 1)
			      : unsetenv("XDG_STATE_HOME");
		rows[i].home ? setenv("HOME", rows[i].home, 1)
			     : unsetenv("HOME");
		buf[0] = '\0';
		assert_int_equal(
		    queue_default_dir(buf, sizeof(buf), rows[i].system),
		    rows[i].rc);
		if (rows[i].rc == 0)
			assert_string_equal(buf, rows[i].want);
	}
	assert_int_equal(queue_default_dir(small, sizeof(small), 1), -1);
}

/* ---- kill -9 anywhere ---- */

#define ROUNDS 30
#define KEPT_MAX 2048

struct record {
	char kind; /* 'Q' queued (put returned), 'D' about to call done */
	char id[QUEUE_ID_SIZE];
};

static int
churn_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct record r = { 'D', "" };
	int *fd = arg, expired;
	struct err rec;

	if (e->attempts % 2 == 0) /* every other one is retried first */
		return queue_retry_later(m, "451 busy", T0, &expired, &rec);
	snprintf(r.id, sizeof(r.id), "%s", e->id);
	if (write(*fd, &r, sizeof(r)) != sizeof(r))
		_exit(5);
	return queue_done(m, &rec);
}

/* Put, retry and remove messages until killed. */
static void
churn(int fd)
{
	struct record r = { 'Q', "" };
	struct queue *q;
	struct err rec;
	int msg = spool(MESSAGE);

	if (queue_open(qdir, NULL, &q, &rec) != 0)
		_exit(2);
	for (;;) {
		if (queue_put(q, &env2, msg, NULL, T0, r.id, &rec) != 0)
			_exit(3);
		if (write(fd, &r, sizeof(r)) != sizeof(r))
			_exit(4);
		if (queue_due(
			q, NULL, LLONG_MAX - 1, churn_cb, &fd, NULL, &rec) != 0)
			_exit(6);
	}
}

/* Every message a killed process was told is queued, and not yet sent,
 * is there and whole; nothing in the queue is corrupt. */
static void
test_kill_anywhere(void **state)
{
	static char kept[KEPT_MAX][QUEUE_ID_SIZE];
	struct queue *q = open_q(NULL);
	struct record r;
	char rel[64];
	int i, k, nkept = 0, p[2], nput = 0, ndone = 0;
	pid_t pid;

	(void)state;
	/* At least ROUNDS rounds, and on until a removal was seen: on a
	 * loaded machine (fsync waits behind other work) 20 ms may not reach
	 * one, so the rounds after ROUNDS wait up to 0.5 s. */
	for (i = 0; i < ROUNDS || (ndone == 0 && i < 10 * ROUNDS); i++) {
		assert_int_equal(pipe(p), 0);
		if ((pid = fork()) == 0) {
			close(p[0]);
			churn(p[1]);
		}
		close(p[1]);
		usleep((useconds_t)(random() %
		    (i < ROUNDS || ndone > 0 ? 20000 : 500000)));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		while (read(p[0], &r, sizeof(r)) == sizeof(r)) {
			for (k = 0; k < nkept && r.kind == 'D'; k++)
				if (strcmp(kept[k], r.id) == 0)
					memcpy(kept[k], kept[--nkept],
					    QUEUE_ID_SIZE);
			assert_true(nkept < KEPT_MAX);
			if (r.kind == 'Q')
				memcpy(kept[nkept++], r.id, QUEUE_ID_SIZE);
			nput += r.kind == 'Q';
			ndone += r.kind == 'D';
		}
		close(p[0]);
		assert_int_equal(list(q).bad, 0);
		for (k = 0; k < nkept; k++) {
			snprintf(rel, sizeof(rel), "msg/%s/data", kept[k]);
			if (!exists(rel))
				fail_msg("round %d: %s is lost", i, kept[k]);
		}
	}
	print_message("%d puts, %d done, %d kept\n", nput, ndone, nkept);
	assert_true(nput > 0 && ndone > 0); /* it did run */
	queue_close(q);
}

/* ---- 20 senders and 2 flushers at once ---- */

#define PUTTERS 20
#define PUTS 10

struct flusher {
	FILE *log; /* one taken id a line */
};

static int
flush_cb(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct flusher *fl = arg;
	struct err rec;

	fprintf(fl->log, "%s\n", e->id);
	fflush(fl->log);
	if (queue_done(m, &rec) != 0)
		_exit(3);
	return 0;
}

/* Flush until the parent says every sender is done, then once more. */
static void
flusher(int n)
{
	struct flusher fl;
	struct queue *q;
	struct err rec;
	char p[256];
	int last = 0;

	snprintf(p, sizeof(p), "%s/flushed.%d", top, n);
	if ((fl.log = fopen(p, "w")) == NULL ||
	    queue_open(qdir, NULL, &q, &rec) != 0)
		_exit(2);
	snprintf(p, sizeof(p), "%s/senders-done", top);
	while (!last) {
		last = access(p, F_OK) == 0;
		if (queue_due(
			q, NULL, LLONG_MAX - 1, flush_cb, &fl, NULL, &rec) != 0)
			_exit(4);
	}
	queue_close(q);
	fclose(fl.log);
	_exit(0);
}

static void
sender(int n)
{
	struct queue *q;
	struct err rec;
	char id[QUEUE_ID_SIZE], p[256];
	FILE *log;
	int i, fd = spool(MESSAGE);

	snprintf(p, sizeof(p), "%s/queued.%d", top, n);
	if ((log = fopen(p, "w")) == NULL ||
	    queue_open(qdir, NULL, &q, &rec) != 0)
		_exit(2);
	for (i = 0; i < PUTS; i++) {
		if (queue_put(q, &env2, fd, NULL, time(NULL), id, &rec) != 0)
			_exit(3);
		fprintf(log, "%s\n", id);
	}
	queue_close(q);
	fclose(log);
	_exit(0);
}

/* All ids in the files top/PREFIX.0 .. PREFIX.(n-1), sorted, in v. */
static int
read_logs(const char *prefix, int n, char (*v)[QUEUE_ID_SIZE], int max)
{
	char p[256], line[64];
	int i, count = 0;
	FILE *f;

	for (i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "%s/%s.%d", top, prefix, i);
		assert_non_null(f = fopen(p, "r"));
		while (fgets(line, sizeof(line), f) != NULL) {
			assert_true(count < max);
			line[strcspn(line, "\n")] = '\0';
			snprintf(v[count++], QUEUE_ID_SIZE, "%.31s", line);
		}
		fclose(f);
	}
	qsort(v, (size_t)count, QUEUE_ID_SIZE, cmp_str);
	return count;
}

static void
wait_ok(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child %ld: status %#x", (long)pid, status);
}

static void
test_concurrent(void **state)
{
	static char queued[PUTTERS * PUTS][QUEUE_ID_SIZE];
	static char flushed[PUTTERS * PUTS * 2][QUEUE_ID_SIZE];
	pid_t fl[2], pu[PUTTERS];
	struct queue *q = open_q(NULL);
	char p[256];
	int i, nq, nf;

	(void)state;
	for (i = 0; i < 2; i++)
		if ((fl[i] = fork()) == 0)
			flusher(i);
	for (i = 0; i < PUTTERS; i++)
		if ((pu[i] = fork()) == 0)
			sender(i);
	for (i = 0; i < PUTTERS; i++)
		wait_ok(pu[i]);
	snprintf(p, sizeof(p), "%s/senders-done", top);
	fclose(fopen(p, "w"));
	for (i = 0; i < 2; i++)
		wait_ok(fl[i]);
	nq = read_logs("queued", PUTTERS, queued, PUTTERS * PUTS);
	nf = read_logs("flushed", 2, flushed, PUTTERS * PUTS * 2);
	assert_int_equal(nq, PUTTERS * PUTS);
	assert_int_equal(nf, nq); /* none twice, none missed */
	for (i = 0; i < nq; i++)
		assert_string_equal(queued[i], flushed[i]);
	assert_int_equal(list(q).n, 0);
	queue_close(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_table),
		cmocka_unit_test(test_backoff_table),
		cmocka_unit_test(test_age_table),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test_setup_teardown(
		    test_put_list_due_done, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_retry_grows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_default_lifetime, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_skewed_times, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_untried_forced, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_lifetime_makes_due, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_settled_before_lock, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_forced_retry_keeps_delay, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_fail_and_put_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_retry_failed, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_locked_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_dead_lock_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_tmp_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_corrupt_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_by_id, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_publish_sync_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_put_locked_until_durable, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_refused_envelopes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_format1_envelope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_kill_anywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_ids_unique, setup_shm, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
