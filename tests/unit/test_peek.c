/* SPDX-License-Identifier: ISC */
/*
 * Unit tests: the header read ahead to choose the account by From
 * (peek.c), one row per message: the From mailboxes found, and the bytes
 * taken are the input's first, the rest left in the descriptor.
 */
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

#include "addr.h"
#include "err.h"
#include "peek.h"

static const struct {
	const char *input;
	const char *from; /* mailboxes found, comma-joined */
} cases[] = {
	{ "From: Me <me@example.org>\nSubject: x\n\nbody\n", "me@example.org" },
	{ "Subject: x\r\nFrom: a@x.example, B <b@y.example>\r\n\r\nbody",
	    "a@x.example,b@y.example" },
	/* Folded, CR line ends, any case of the field name. */
	{ "from: Long Name\r <me@example.org>\r\rbody", "me@example.org" },
	{ "FROM:\n\tme@example.org\n\n", "me@example.org" },
	/* An mbox From_ line is not a field. */
	{ "From me@mbox.example Thu Dec  3 17:00:00 2026\nFrom: a@b.example\n\n",
	    "a@b.example" },
	/* Resent-From and Sender do not choose. */
	{ "Resent-From: r@x.example\nSender: s@x.example\n\nx\n", "" },
	/* The From of the body is not the header's. */
	{ "Subject: x\n\nFrom: body@x.example\n", "" },
	/* Header only, no empty line: read to EOF. */
	{ "To: a@b.example\nFrom: c@d.example", "c@d.example" },
	/* A field that does not parse chooses nothing. */
	{ "From: <broken\n\nx\n", "" },
	{ "From: root\n\nx\n", "root" },
	{ "", "" },
	/* A line that is not a field ends the header. */
	{ "Subject: x\nnot a field\nFrom: late@x.example\n\n", "" },
};

/* A pipe-like source: a temporary file holding s, at offset 0. */
static int
source(const char *s, size_t len)
{
	char path[] = "/tmp/mailhop-peek.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, s, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Peek s; check the bytes taken and the rest; return the From list. */
static void
peek_one(const char *s, size_t len, char *got, size_t size)
{
	struct addr_list from = { 0 };
	struct peek p;
	struct err rec;
	char *rest = malloc(len + 1);
	size_t i, off = 0;
	ssize_t r;
	int fd = source(s, len);

	assert_non_null(rest);
	err_clear(&rec);
	assert_int_equal(peek_header(fd, &p, &from, &rec), 0);
	assert_true(p.len <= len);
	assert_memory_equal(p.buf, s, p.len);
	while ((r = read(fd, rest + off, len + 1 - off)) > 0)
		off += (size_t)r;
	assert_int_equal(p.len + off, len);
	assert_memory_equal(rest, s + p.len, off);
	got[0] = '\0';
	for (i = 0; i < from.n; i++)
		snprintf(got + strlen(got), size - strlen(got), "%s%s",
		    i > 0 ? "," : "", from.v[i].mailbox);
	addr_list_free(&from);
	peek_free(&p);
	free(rest);
	close(fd);
}

static void
test_table(void **state)
{
	char got[512];
	size_t i;
	int failed = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		peek_one(
		    cases[i].input, strlen(cases[i].input), got, sizeof(got));
		if (strcmp(got, cases[i].from) != 0) {
			print_error("row %zu: want \"%s\", got \"%s\"\n", i,
			    cases[i].from, got);
			failed = 1;
		}
	}
	assert_false(failed);
}

/* A long body is not read ahead: only what holds the header. */
static void
test_stops_after_header(void **state)
{
	const char *head = "From: me@example.org\nSubject: big\n\n";
	size_t len = strlen(head) + 1024 * 1024;
	char *s = malloc(len), got[128];

	(void)state;
	assert_non_null(s);
	memcpy(s, head, strlen(head));
	memset(s + strlen(head), 'x', len - strlen(head));
	peek_one(s, len, got, sizeof(got));
	assert_string_equal(got, "me@example.org");
	free(s);
}

/* A header larger than PEEK_MAX: reading stops there. */
static void
test_header_too_long(void **state)
{
	size_t len = PEEK_MAX * 2, n = 0;
	char *s = malloc(len + 64), got[128];

	(void)state;
	assert_non_null(s);
	while (n + 40 < len)
		n += (size_t)sprintf(s + n, "X-Pad: %030zu\n", n);
	n += (size_t)sprintf(s + n, "From: late@example.org\n\n");
	peek_one(s, n, got, sizeof(got));
	assert_string_equal(got, "");
	free(s);
}

/* A From line cut by PEEK_MAX is not taken for a shorter address. */
static void
test_cut_field(void **state)
{
	size_t n = 0;
	char *s = malloc(PEEK_MAX + 128), got[128];

	(void)state;
	assert_non_null(s);
	while (n + 40 < PEEK_MAX - 10)
		n += (size_t)sprintf(s + n, "X-Pad: %030zu\n", n);
	n += (size_t)sprintf(s + n, "X-P: %.*s\n", (int)(PEEK_MAX - 10 - n - 6),
	    "................................................");
	assert_int_equal(n, PEEK_MAX - 10);
	n += (size_t)sprintf(s + n, "From: abcdefghij@example.org\n\nbody\n");
	peek_one(s, n, got, sizeof(got));
	assert_string_equal(got, "");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_stops_after_header),
		cmocka_unit_test(test_header_too_long),
		cmocka_unit_test(test_cut_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
