/* SPDX-License-Identifier: ISC */
/*
 * Unit tests: the queue keeper (queue_keeper.c).  One keeper is started
 * for a system queue under /tmp, as priv.c starts it, and every remote
 * call is checked against what lands in the directories: the same
 * contracts as the local queue (test_queue.c), over the socket.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "queue.h"

#define T0 1764784020LL
#define MESSAGE "From: a@example.com\r\nTo: b@example.net\r\n\r\nHi.\r\n"

static char top[64];
static char qdir[128];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int
group_setup(void **state)
{
	struct queue_params qp = { .system = 1 };
	struct err e;

	(void)state;
	snprintf(top, sizeof(top), "/tmp/mailhop-keeper.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	snprintf(qdir, sizeof(qdir), "%s/spool", top);
	err_clear(&e);
	return queue_keeper_start(qdir, &qp, &e);
}

static int
group_teardown(void **state)
{
	(void)state;
	nftw(top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static struct queue *
open_remote(void)
{
	struct queue_params qp = { .system = 1 };
	struct queue *q = NULL;
	struct err e;

	err_clear(&e);
	assert_int_equal(queue_open(qdir, &qp, &q, &e), 0);
	return q;
}

static int
message_fd(const char *text)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/msg.XXXXXX", top);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, strlen(text)), (int)strlen(text));
	return fd;
}

static int
count_dir(const char *area)
{
	char path[192];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", qdir, area);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Put one message for account with nrcpt recipients; returns its id. */
static void
put(struct queue *q, const char *account, size_t nrcpt, int failed,
    char id[QUEUE_ID_SIZE])
{
	const char **rcpt = calloc(nrcpt, sizeof(*rcpt));
	char **bufs = calloc(nrcpt, sizeof(*bufs));
	struct queue_env env = { 0 };
	struct err e;
	size_t i;
	int fd = message_fd(MESSAGE);

	assert_non_null(rcpt);
	assert_non_null(bufs);
	for (i = 0; i < nrcpt; i++) {
		assert_true(asprintf(&bufs[i], "r%zu@example.net", i) > 0);
		rcpt[i] = bufs[i];
	}
	env.account = account;
	env.sender = "a@example.com";
	env.rcpt = rcpt;
	env.nrcpt = nrcpt;
	env.msgid = "m1@example.com";
	env.params = "8bit";
	err_clear(&e);
	if (failed)
		assert_int_equal(
		    queue_put_failed(q, &env, fd, "550 no", T0, id, &e), 0);
	else
		assert_int_equal(queue_put(q, &env, fd, NULL, T0, id, &e), 0);
	assert_true(id[0] != '\0');
	close(fd);
	for (i = 0; i < nrcpt; i++)
		free(bufs[i]);
	free(bufs);
	free(rcpt);
}

struct seen {
	int n;
	int failed;
	size_t nrcpt;
	char account[32];
	char sender[64];
};

static int
on_list(const struct queue_entry *e, void *arg)
{
	struct seen *s = arg;

	s->n++;
	s->failed += e->failed;
	if (e->bad == NULL) {
		s->nrcpt += e->nrcpt;
		snprintf(s->account, sizeof(s->account), "%s", e->account);
		snprintf(s->sender, sizeof(s->sender), "%s", e->sender);
	}
	return 0;
}

static void
test_put_and_list(void **state)
{
	char id[QUEUE_ID_SIZE], path[256];
	struct queue *q = open_remote();
	struct seen s = { 0 };
	struct stat st;
	struct err e;

	(void)state;
	put(q, "sys", 2, 0, id);
	snprintf(path, sizeof(path), "%s/msg/%s/data", qdir, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(MESSAGE));
	assert_int_equal(st.st_mode & 0777, 0660);
	err_clear(&e);
	assert_int_equal(queue_list(q, on_list, &s, &e), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.nrcpt, 2);
	assert_string_equal(s.account, "sys");
	assert_string_equal(s.sender, "a@example.com");
	queue_close(q);
}

struct due {
	char op; /* 'd' done, 'r' retry later, 'f' fail, 'u' untried,
		  * 'k' keep */
	int calls;
	int stop;
	int expired;
	char data[256];
};

static int
on_due(struct queue_msg *m, const struct queue_entry *e, void *arg)
{
	struct due *d = arg;
	struct err er;
	ssize_t n;

	d->calls++;
	assert_string_equal(e->account, "sys");
	n = pread(queue_msg_fd(m), d->data, sizeof(d->data) - 1, 0);
	assert_true(n >= 0);
	d->data[n] = '\0';
	err_clear(&er);
	if (d->op == 'd')
		assert_int_equal(queue_done(m, &er), 0);
	else if (d->op == 'r')
		assert_int_equal(queue_retry_later(
				     m, "451 later", T0 + 10, &d->expired, &er),
		    0);
	else if (d->op == 'f')
		assert_int_equal(queue_fail(m, "550 never", &er), 0);
	else if (d->op == 'u')
		assert_int_equal(queue_untried(m, T0 + 20, &er), 0);
	return d->stop;
}

static void
test_due_settles(void **state)
{
	struct queue *q = open_remote();
	char id[QUEUE_ID_SIZE], id2[QUEUE_ID_SIZE];
	struct queue_stats st;
	struct due d = { .op = 'r' };
	struct err e;
	int before = count_dir("msg");

	(void)state;
	put(q, "sys", 1, 0, id);
	put(q, "sys", 1, 0, id2);
	err_clear(&e);
	/* The message arrives whole; a retry reschedules it. */
	d.stop = 1;
	assert_int_equal(queue_due(q, "sys", T0, on_due, &d, &st, &e), 0);
	assert_int_equal(d.calls, 1);
	assert_string_equal(d.data, MESSAGE);
	assert_int_equal(d.expired, 0);
	assert_int_equal(count_dir("msg"), before + 2);
	/* Another account: nothing taken, both waiting. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(queue_due(q, "other", T0, on_due, &d, &st, &e), 0);
	assert_int_equal(d.calls, 0);
	assert_true(st.waiting >= 2);
	/* Far ahead: every message is due; done removes them all. */
	memset(&d, 0, sizeof(d));
	d.op = 'd';
	assert_int_equal(
	    queue_due(q, NULL, T0 + 100000, on_due, &d, &st, &e), 0);
	assert_int_equal(d.calls, before + 2);
	assert_int_equal(st.taken, (size_t)(before + 2));
	assert_int_equal(count_dir("msg"), 0);
	/* fail moves to failed/. */
	put(q, "sys", 1, 0, id);
	memset(&d, 0, sizeof(d));
	d.op = 'f';
	before = count_dir("failed");
	assert_int_equal(queue_due(q, NULL, T0, on_due, &d, NULL, &e), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(count_dir("msg"), 0);
	assert_int_equal(count_dir("failed"), before + 1);
	queue_close(q);
}

static void
test_by_id_and_all(void **state)
{
	struct queue *q = open_remote();
	char id[QUEUE_ID_SIZE];
	struct due d = { .op = 'r' };
	struct err e;
	size_t n = 99;

	(void)state;
	put(q, "sys", 1, 0, id);
	err_clear(&e);
	assert_int_equal(queue_due(q, NULL, T0, on_due, &d, NULL, &e), 0);
	/* Not due at T0 + 1 after the retry; -qIID makes it due. */
	memset(&d, 0, sizeof(d));
	assert_int_equal(queue_due(q, NULL, T0 + 11, on_due, &d, NULL, &e), 0);
	assert_int_equal(d.calls, 0);
	assert_int_equal(queue_retry_all(q, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(queue_retry_now(q, id, &e), 0);
	assert_int_equal(queue_retry_now(q, "deadbeef", &e), -1);
	assert_int_equal(e.code, EX_USAGE);
	/* Forced but left untried: an ordinary due message again. */
	memset(&d, 0, sizeof(d));
	d.op = 'u';
	assert_int_equal(queue_due(q, NULL, T0 + 11, on_due, &d, NULL, &e), 0);
	assert_true(d.calls >= 1);
	memset(&d, 0, sizeof(d));
	assert_int_equal(queue_due(q, NULL, T0 + 19, on_due, &d, NULL, &e), 0);
	assert_int_equal(d.calls, 0); /* due at T0 + 20, no longer at 0 */
	memset(&d, 0, sizeof(d));
	d.op = 'd';
	assert_int_equal(queue_due(q, NULL, T0 + 20, on_due, &d, NULL, &e), 0);
	assert_true(d.calls >= 1);
	/* Removing is root's, and root has no keeper. */
	put(q, "sys", 1, 1, id);
	err_clear(&e);
	assert_int_equal(queue_delete(q, id, &e), -1);
	assert_int_equal(e.code, EX_NOPERM);
	assert_int_equal(queue_delete_failed(q, &n, &e), -1);
	assert_int_equal(e.code, EX_NOPERM);
	assert_true(count_dir("failed") >= 1);
	/* Putting failed messages back is root's too: others' refused mail
	 * stays where it is, by id or all at once. */
	n = count_dir("failed");
	err_clear(&e);
	assert_int_equal(queue_retry_failed(q, &n, &e), -1);
	assert_int_equal(e.code, EX_NOPERM);
	err_clear(&e);
	assert_int_equal(queue_retry_now(q, id, &e), -1);
	assert_int_equal(e.code, EX_NOPERM);
	assert_true(count_dir("failed") >= 1);
	queue_close(q);
}

/* queue_hold through the keeper: the keeper holds the lock, so a due
 * pass skips the message; it is settled like a due pass's (retry later,
 * done) and released; released unsettled, the next pass takes it. */
static void
test_hold(void **state)
{
	static const char *const rcpt[] = { "r0@example.net" };
	struct queue_env env = { "sys", "a@example.com", rcpt, 1, "h@x", "" };
	struct queue *q = open_remote();
	char id[QUEUE_ID_SIZE];
	struct queue_stats st;
	struct queue_msg *m;
	struct due d = { .op = 'd' };
	struct err e;
	int fd = message_fd(MESSAGE), expired = 1;

	(void)state;
	err_clear(&e);
	assert_int_equal(
	    queue_due(q, NULL, T0 + 100000, on_due, &d, NULL, &e), 0);
	assert_int_equal(queue_hold(q, &env, fd, T0, id, &m, &e), 0);
	assert_true(id[0] != '\0');
	assert_int_equal(count_dir("msg"), 1);
	memset(&d, 0, sizeof(d));
	assert_int_equal(queue_due(q, NULL, T0, on_due, &d, &st, &e), 0);
	assert_int_equal(d.calls, 0);
	assert_int_equal(st.locked, 1);
	assert_int_equal(
	    queue_retry_later(m, "451 later", T0, &expired, &e), 0);
	assert_int_equal(expired, 0);
	queue_release(m);
	assert_int_equal(queue_due(q, NULL, T0, on_due, &d, &st, &e), 0);
	assert_int_equal(d.calls, 0);
	assert_int_equal(st.waiting, 1);
	d.op = 'd';
	assert_int_equal(
	    queue_due(q, NULL, T0 + 100000, on_due, &d, NULL, &e), 0);
	assert_int_equal(d.calls, 1);
	/* done on the held one: gone */
	assert_int_equal(queue_hold(q, &env, fd, T0, id, &m, &e), 0);
	assert_int_equal(queue_done(m, &e), 0);
	queue_release(m);
	assert_int_equal(count_dir("msg"), 0);
	/* released unsettled, as by a kill: taken by the next pass */
	assert_int_equal(queue_hold(q, &env, fd, T0, id, &m, &e), 0);
	queue_release(m);
	memset(&d, 0, sizeof(d));
	d.op = 'd';
	assert_int_equal(queue_due(q, NULL, T0, on_due, &d, NULL, &e), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(count_dir("msg"), 0);
	close(fd);
	queue_close(q);
}

/* An envelope larger than a socket buffer goes through whole. */
static void
test_large_envelope(void **state)
{
	struct queue *q = open_remote();
	char id[QUEUE_ID_SIZE];
	struct seen s = { 0 };
	struct due d = { .op = 'd' };
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(
	    queue_due(q, NULL, T0 + 100000, on_due, &d, NULL, &e), 0);
	put(q, "sys", 9000, 0, id);
	assert_int_equal(queue_list(q, on_list, &s, &e), 0);
	assert_true(s.nrcpt >= 9000);
	memset(&d, 0, sizeof(d));
	d.op = 'd';
	assert_int_equal(
	    queue_due(q, NULL, T0 + 100000, on_due, &d, NULL, &e), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(count_dir("msg"), 0);
	queue_close(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_and_list),
		cmocka_unit_test(test_due_settles),
		cmocka_unit_test(test_by_id_and_all),
		cmocka_unit_test(test_large_envelope),
		cmocka_unit_test(test_hold),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
