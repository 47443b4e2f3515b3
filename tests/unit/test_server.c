/* SPDX-License-Identifier: ISC */
/* Unit tests: the -bs SMTP server, one dialogue per row of
 * tests/data/server_sessions.txt, with a fake relay. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "server.h"

#define BIG 32768

/* What the fake relay answers and what it saw. */
struct fake {
	const char *answer; /* "ok", "ok:TEXT", "temp:TEXT" or "perm:TEXT" */
	char seen[BIG];
	size_t off;
};

/* Undo \r, \n, \t and \\ in place; \xNN... is not needed. */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\' || s[1] == '\0') {
			*o++ = *s;
			continue;
		}
		s++;
		*o++ = *s == 'r' ? '\r' : *s == 'n' ? '\n' : *s;
	}
	*o = '\0';
}

static int
relay(void *arg, const struct server_msg *m, struct err *rec)
{
	struct fake *f = arg;
	char data[BIG];
	ssize_t n;
	size_t i;

	n = read(m->fd, data, sizeof(data) - 1);
	assert_true(n >= 0);
	data[n] = '\0';
	f->off += snprintf(f->seen + f->off, sizeof(f->seen) - f->off,
	    "%sfrom=<%s> rcpt=", f->off ? ";" : "", m->from);
	for (i = 0; i < m->nrcpt; i++)
		f->off += snprintf(f->seen + f->off, sizeof(f->seen) - f->off,
		    "%s<%s>", i ? "," : "", m->rcpt[i]);
	f->off += snprintf(
	    f->seen + f->off, sizeof(f->seen) - f->off, " data=%s", data);
	if (strcmp(f->answer, "ok") == 0)
		return 0;
	if (strncmp(f->answer, "ok:", 3) == 0) {
		snprintf(rec->text, sizeof(rec->text), "%s", f->answer + 3);
		return 0;
	}
	if (strncmp(f->answer, "temp:", 5) == 0)
		return err_set(rec, ERR_TEMP, 75, "%s", f->answer + 5);
	return err_set(rec, ERR_PERM, 67, "%s", f->answer + 5);
}

/* A file holding s, at offset 0. */
static int
file_with(const char *s)
{
	FILE *f = tmpfile();
	int fd;

	assert_non_null(f);
	fd = dup(fileno(f));
	fclose(f);
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void
run_case(char *fields[4], int lineno)
{
	struct server_params p = { .hostname = "test.example",
		.timeout_ms = 1000 };
	struct fake f = { 0 };
	char out[BIG];
	struct err rec;
	int in, outfd, rc;
	ssize_t n;

	for (rc = 0; rc < 4; rc++)
		unescape(fields[rc]);
	f.answer = fields[1];
	if (strcmp(fields[0], "_") == 0)
		fields[0][0] = '\0';
	if (strcmp(fields[3], "-") == 0)
		fields[3][0] = '\0';
	in = file_with(fields[0]);
	outfd = file_with("");
	err_clear(&rec);
	rc = server_run(in, outfd, &p, relay, &f, &rec);
	lseek(outfd, 0, SEEK_SET);
	n = read(outfd, out, sizeof(out) - 1);
	out[n < 0 ? 0 : n] = '\0';
	close(in);
	close(outfd);
	if (rc != 0)
		fail_msg("line %d: server_run failed: %s", lineno, rec.text);
	if (strcmp(out, fields[2]) != 0)
		fail_msg("line %d: replies\nwant %s\ngot  %s", lineno,
		    fields[2], out);
	if (strcmp(f.seen, fields[3]) != 0)
		fail_msg("line %d: relayed\nwant %s\ngot  %s", lineno,
		    fields[3], f.seen);
}

static void
test_table(void **state)
{
	char line[BIG], *fields[4], *p;
	int lineno = 0, cases = 0, i;
	FILE *f;

	(void)state;
	f = fopen("../data/server_sessions.txt", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		p = line;
		for (i = 0; i < 4; i++) {
			fields[i] = p;
			p = strstr(p, " | ");
			if (p == NULL && i < 3)
				fail_msg("line %d: want 4 fields", lineno);
			if (p != NULL)
				*p = '\0', p += 3;
		}
		run_case(fields, lineno);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 15);
}

/* Run input (len bytes) through server_run; the replies go to out. */
static int
session(const char *input, size_t len, struct fake *f, char *out, size_t outsz,
    struct err *rec)
{
	struct server_params p = { .hostname = "h", .timeout_ms = 1000 };
	FILE *tmp = tmpfile();
	int in, outfd, rc;
	ssize_t n;

	assert_non_null(tmp);
	in = dup(fileno(tmp));
	fclose(tmp);
	assert_int_equal(write(in, input, len), (ssize_t)len);
	lseek(in, 0, SEEK_SET);
	outfd = file_with("");
	err_clear(rec);
	rc = server_run(in, outfd, &p, relay, f, rec);
	lseek(outfd, 0, SEEK_SET);
	n = read(outfd, out, outsz - 1);
	out[n < 0 ? 0 : n] = '\0';
	close(in);
	close(outfd);
	return rc;
}

/* The input ends inside DATA: nothing is relayed, and the caller hears
 * of it. */
static void
test_eof_in_data(void **state)
{
	static const char in[] = "MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\n"
				 "DATA\r\nhalf a mess";
	struct fake f = { .answer = "ok" };
	char out[BIG];
	struct err rec;

	(void)state;
	assert_int_equal(
	    session(in, strlen(in), &f, out, sizeof(out), &rec), -1);
	assert_int_equal(rec.code, 75);
	assert_non_null(strstr(rec.text, "middle of a message"));
	assert_string_equal(f.seen, "");
}

/* A command line over SERVER_LINE_MAX gets 500, and the session goes on;
 * a data line far longer than the input buffer arrives whole, with a CR
 * at a buffer boundary kept with its LF. */
static void
test_long_lines(void **state)
{
	static char in[3 * BIG], want[2 * BIG];
	struct fake f = { .answer = "ok" };
	char out[BIG];
	struct err rec;
	size_t off = 0, i, nx, w;

	(void)state;
	off += sprintf(in + off, "NOOP ");
	for (i = 0; i < SERVER_LINE_MAX; i++)
		in[off++] = 'n';
	off += sprintf(
	    in + off, "\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n");
	/* A data line twice as long as the input buffer. */
	nx = 2 * 8192 - 1 - off;
	memset(in + off, 'x', nx);
	off += nx;
	off += sprintf(in + off, "\r\n.\r\nQUIT\r\n");
	assert_int_equal(session(in, off, &f, out, sizeof(out), &rec), 0);
	assert_non_null(strstr(out,
	    "220 h ESMTP mailhop\r\n500 5.5.2 line too long\r\n250 2.1.0"));
	assert_non_null(strstr(out, "\r\n250 2.0.0 Ok\r\n"));
	w = snprintf(want, sizeof(want), "from=<a@x> rcpt=<b@y> data=");
	memset(want + w, 'x', nx);
	strcpy(want + w + nx, "\r\n");
	assert_string_equal(f.seen, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_eof_in_data),
		cmocka_unit_test(test_long_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
