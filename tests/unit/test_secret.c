/* SPDX-License-Identifier: ISC */
/* Unit tests: the password command (S33, B37), one row per command; the
 * password read from standard input (secret_ask, --store-password); the
 * line end taken off a keyring's password (secret_chomp). */
#include <setjmp.h>
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

#include "err.h"
#include "secret.h"

static const struct {
	const char *cmd;
	int timeout_ms;
	const char *want; /* the password, or NULL: an error */
	const char *text; /* part of the error text */
} cases[] = {
	{ "printf 'secret\\n'", 5000, "secret", NULL },
	{ "printf secret", 5000, "secret", NULL },
	{ "printf 'secret\\r\\n'", 5000, "secret", NULL },
	{ "printf 'secret\\nsecond line\\n'", 5000, "secret", NULL },
	{ "printf 'sec ret\\n\\n'", 5000, "sec ret", NULL },
	{ "printf 'secret\\n\\n'", 5000, "secret", NULL },
	{ "echo pw; echo oops >&2", 5000, "pw", NULL },
	{ "cat >/dev/null; echo pw", 5000, "pw", NULL },
	{ "head -c 16384 /dev/zero | tr '\\0' a", 5000, "\001",
	    NULL }, /* exactly the cap: 16384 a's */
	{ "yes | head -c 65536", 5000, NULL, "more than 16 KiB" },
	/* Stopped at the cap, not at the timeout (B5). */
	{ "yes", 5000, NULL, "more than 16 KiB" },
	{ "head -c 20000 /dev/zero | tr '\\0' a; sleep 5", 5000, NULL,
	    "more than 16 KiB" },
	/* The shell exited 0 with a whole first line: a child it left
	 * holding the pipe is not waited for (B5). */
	{ "(sleep 3 &); echo pw", 5000, "pw", NULL },
	{ "(sleep 3 &); printf 'pw\\nmore'", 5000, "pw", NULL },
	{ "(sleep 3 &); exit 2", 5000, NULL, "exit 2" },
	{ "(sleep 3 &); printf pw", 300, NULL, "timed out" },
	{ "exit 1", 5000, NULL, "password command failed: exit 1" },
	{ "echo secret; exit 3", 5000, NULL,
	    "password command failed: exit 3" },
	{ "kill -9 $$", 5000, NULL, "killed by signal 9" },
	{ "printf ''", 5000, NULL, "password command printed nothing" },
	{ "printf '\\nsecret\\n'", 5000, NULL,
	    "password command printed nothing" },
	{ "printf 'sec\\tret\\n'", 5000, NULL, "control character" },
	{ "printf 'secret\\r'", 5000, NULL, "control character" },
	{ "sleep 5", 200, NULL, "timed out after 200 ms" },
	{ "exec >&-; sleep 5", 200, NULL, "timed out" },
	{ "/nonexistent/command", 5000, NULL, "exit 127" },
};

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
check_ok(size_t i, const char *out)
{
	size_t k;

	if (cases[i].want[0] != '\001') {
		assert_string_equal(out, cases[i].want);
		return;
	}
	assert_int_equal(strlen(out), SECRET_COMMAND_MAX);
	for (k = 0; k < SECRET_COMMAND_MAX; k++)
		assert_int_equal(out[k], 'a');
}

static void
test_command(void **state)
{
	struct timespec t0;
	struct err rec;
	char *out;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("%s\n", cases[i].cmd);
		err_clear(&rec);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = secret_command(
		    cases[i].cmd, cases[i].timeout_ms, &out, &rec);
		/* stdin is /dev/null and a timeout holds: no row waits. */
		assert_true(elapsed(&t0) < 2.0);
		if (cases[i].want != NULL) {
			assert_int_equal(rc, 0);
			check_ok(i, out);
			secret_free(out);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_null(out);
		assert_int_equal(rec.class, ERR_CONFIG);
		assert_int_equal(rec.code, EX_CONFIG);
		assert_non_null(strstr(rec.text, cases[i].text));
		assert_null(strstr(rec.text, "secret"));
	}
}

/* Whether process pid is gone (or a zombie nobody reaped yet), within
 * a second. */
static int
gone(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (i = 0; i < 100; i++) {
		if ((f = fopen(path, "r")) == NULL)
			return 1;
		buf[0] = '\0';
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		if (strstr(buf, ") Z ") != NULL)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* A command that fails or times out leaves nothing running: the shell's
 * children are killed with it, as its process group (B5). */
static void
test_no_orphans(void **state)
{
	static const struct {
		const char *cmd;
		int timeout_ms;
	} rows[] = {
		{ "sleep 97 & echo $! > %s; wait", 200 },
		{ "sleep 97 & echo $! > %s; exit 1", 5000 },
		{ "(sleep 97 & echo $! > %s); yes", 5000 },
	};
	char file[] = "/tmp/mailhop-secret.XXXXXX", cmd[256];
	struct err rec;
	char *out;
	size_t i;
	long pid;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(file);
	assert_true(fd >= 0);
	close(fd);
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		snprintf(cmd, sizeof(cmd), rows[i].cmd, file);
		err_clear(&rec);
		assert_int_equal(
		    secret_command(cmd, rows[i].timeout_ms, &out, &rec), -1);
		f = fopen(file, "r");
		assert_non_null(f);
		assert_int_equal(fscanf(f, "%ld", &pid), 1);
		fclose(f);
		if (!gone((pid_t)pid))
			fail_msg("row %zu: sleep %ld still runs", i, pid);
	}
	unlink(file);
}

static const struct {
	const char *input;
	const char *want; /* the password, or NULL: an error */
	int code;	  /* its sysexits code */
} asks[] = {
	{ "secret\n", "secret", 0 },
	{ "secret", "secret", 0 },
	{ "secret\r\n", "secret", 0 },
	{ "sec ret\nsecond line\n", "sec ret", 0 },
	{ "", NULL, EX_NOINPUT },
	{ "\n", NULL, EX_DATAERR },
	{ "\r\n", NULL, EX_DATAERR },
	{ "a\tb\n", NULL, EX_DATAERR },
	{ "a\033b\n", NULL, EX_DATAERR },
};

/* secret_ask with stdin a pipe holding the row's input. */
static void
test_ask(void **state)
{
	int saved = dup(0), p[2];
	char *out;
	struct err rec;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(asks) / sizeof(asks[0]); i++) {
		assert_int_equal(pipe(p), 0);
		assert_int_equal(
		    write(p[1], asks[i].input, strlen(asks[i].input)),
		    (ssize_t)strlen(asks[i].input));
		close(p[1]);
		dup2(p[0], 0);
		close(p[0]);
		err_clear(&rec);
		rc = secret_ask("unused: ", &out, &rec);
		if (asks[i].want != NULL) {
			if (rc != 0)
				fail_msg("row %zu: %s", i, rec.text);
			assert_string_equal(out, asks[i].want);
			secret_free(out);
		} else {
			if (rc != -1 || rec.code != asks[i].code)
				fail_msg(
				    "row %zu: rc %d code %d", i, rc, rec.code);
			assert_null(out);
		}
	}
	dup2(saved, 0);
	close(saved);
}

/* secret_chomp: the stored secret, what is left of it. */
static const struct {
	const char *in, *want;
} chomps[] = {
	{ "pw\n", "pw" },
	{ "pw\r\n", "pw" },
	{ "pw", "pw" },
	{ "pw\n\n", "pw\n" }, /* one only: the rest is refused */
	{ "pw\r\n\n", "pw\r\n" },
	{ "pw\r", "pw\r" }, /* a CR alone is no line end */
	{ "pw\n\r", "pw\n\r" },
	{ "p\nw", "p\nw" },
	{ "\n", "" },
	{ "\r\n", "" },
	{ "", "" },
};

static void
test_chomp(void **state)
{
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(chomps) / sizeof(chomps[0]); i++) {
		n = secret_chomp(chomps[i].in, strlen(chomps[i].in));
		if (n != strlen(chomps[i].want) ||
		    strncmp(chomps[i].in, chomps[i].want, n) != 0)
			fail_msg("row %zu: kept %zu bytes", i, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_no_orphans),
		cmocka_unit_test(test_ask),
		cmocka_unit_test(test_chomp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
