/* SPDX-License-Identifier: ISC */
/*
 * Unit tests: the aliases file and the expansion of local names, one case
 * of tests/data/alias_cases.txt per cmocka test (an aliases file and rows
 * against it), plus a few files a text table cannot hold.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
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

#include "alias.h"

#define CASES "../data/alias_cases.txt"
#define MAX_CASES 64
#define DOMAIN "example.com"

struct tcase {
	char name[96];
	int line; /* of its "===" line in CASES */
	char *file;
	char *rows;
};

static struct tcase cases[MAX_CASES];
static char path[64];

static void
append(char **text, const char *line)
{
	size_t len = *text != NULL ? strlen(*text) : 0;

	*text = realloc(*text, len + strlen(line) + 1);
	assert_non_null(*text);
	strcpy(*text + len, line);
}

static int
load_cases(void)
{
	char line[1024];
	struct tcase *tc = NULL;
	int n = 0, lineno = 0, in_rows = 0;
	FILE *f = fopen(CASES, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if (strncmp(line, "=== ", 4) == 0) {
			if (n >= MAX_CASES) {
				fprintf(stderr,
				    "%s:%d: over %d cases (raise MAX_CASES)\n",
				    CASES, lineno, MAX_CASES);
				exit(1);
			}
			tc = &cases[n++];
			line[strcspn(line, "\n")] = '\0';
			snprintf(tc->name, sizeof(tc->name), "%.80s", line + 4);
			tc->line = lineno;
			append(&tc->file, "");
			append(&tc->rows, "");
			in_rows = 0;
		} else if (tc != NULL && strcmp(line, "---\n") == 0)
			in_rows = 1;
		else if (tc != NULL && in_rows && line[0] != '\n')
			append(&tc->rows, line);
		else if (tc != NULL && !in_rows)
			append(&tc->file, line);
	}
	fclose(f);
	return n;
}

static void
write_file(const char *text, size_t len)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/mailhop-alias.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* want with @FILE@ replaced by the file's path. */
static void
expand_file(const char *want, char *buf, size_t size)
{
	const char *at = strstr(want, "@FILE@");

	if (at == NULL)
		snprintf(buf, size, "%s", want);
	else
		snprintf(buf, size, "%.*s%s%s", (int)(at - want), want, path,
		    at + 6);
}

static void
check_error(const struct tcase *tc, const char *row, const struct err *rec,
    const char *want)
{
	char text[1024];
	int code;

	assert_int_equal(sscanf(want, "ERROR %d", &code), 1);
	expand_file(strchr(want + 6, ' ') + 1, text, sizeof(text));
	if (rec->code != code || strstr(rec->text, text) == NULL)
		fail_msg("%s:%d: %s: want %d \"%s\", got %d \"%s\"", CASES,
		    tc->line, row, code, text, rec->code, rec->text);
	if (code == EX_CONFIG)
		assert_int_equal(rec->class, ERR_CONFIG);
}

static void
got_str(
    const struct tcase *tc, const char *row, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("%s:%d: %s: want \"%s\", got \"%s\"", CASES, tc->line,
		    row, want, got);
}

static void
row_rcpt(const struct tcase *tc, const struct alias_map *m, const char *row,
    const char *name, const char *want)
{
	struct addr_list l = { 0 };
	char got[2048] = "";
	struct err rec;
	size_t i;
	int rc;

	err_clear(&rec);
	rc = alias_expand(m, DOMAIN, name, &l, &rec);
	if (strncmp(want, "ERROR ", 6) == 0) {
		if (rc != -1)
			fail_msg("%s:%d: %s: no error", CASES, tc->line, row);
		check_error(tc, row, &rec, want);
	} else {
		if (rc != 0)
			fail_msg(
			    "%s:%d: %s: %s", CASES, tc->line, row, rec.text);
		for (i = 0; i < l.n; i++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got),
			    "%s%s", i > 0 ? ", " : "", l.v[i].mailbox);
		got_str(tc, row, got, want);
	}
	addr_list_free(&l);
}

static void
row_rewrite(const struct tcase *tc, const struct alias_map *m, const char *row,
    const char *kind, const char *name, const char *want)
{
	struct alias_ctx ctx = { .map = m, .local_domain = DOMAIN };
	struct err rec;
	char *s;

	err_clear(&rec);
	if (strcmp(kind, "sender") == 0)
		s = alias_sender(
		    DOMAIN, strcmp(name, "<>") == 0 ? "" : name, &rec);
	else if (strcmp(kind, "header") == 0)
		s = alias_header_rewrite(&ctx, name);
	else
		s = alias_to_rewrite(&ctx, name);
	assert_int_equal(ctx.oom, 0);
	if (strcmp(kind, "sender") == 0)
		assert_non_null(s);
	got_str(tc, row, s == NULL ? "-" : s[0] == '\0' ? "<>" : s, want);
	free(s);
}

static void
row_check(const struct tcase *tc, const char *row, const char *want)
{
	struct alias_info info;
	char text[1024], got[1200];
	struct err rec;

	err_clear(&rec);
	if (strncmp(want, "ERROR ", 6) == 0) {
		if (alias_check_file(path, &info, &rec) != -1)
			fail_msg("%s:%d: %s: no error", CASES, tc->line, row);
		check_error(tc, row, &rec, want);
		return;
	}
	if (alias_check_file(path, &info, &rec) == -1)
		fail_msg("%s:%d: %s: %s", CASES, tc->line, row, rec.text);
	snprintf(got, sizeof(got), "%zu %zu%s%s", info.entries, info.skipped,
	    info.note[0] != '\0' ? " " : "", info.note);
	expand_file(want, text, sizeof(text));
	got_str(tc, row, got, text);
}

/* One row against the loaded map; "load" rows were handled before. */
static void
run_row(const struct tcase *tc, const struct alias_map *m, char *row)
{
	char kind[16], name[128], *want = strstr(row, " ==> ");

	if (want == NULL || sscanf(row, "%15s", kind) != 1)
		fail_msg("%s:%d: bad row: %s", CASES, tc->line, row);
	*want = '\0';
	want += 5;
	snprintf(name, sizeof(name), "%s", row + strlen(kind) + 1);
	if (strcmp(kind, "check") == 0)
		row_check(tc, row, want);
	else if (strcmp(kind, "rcpt") == 0)
		row_rcpt(tc, m, row, name, want);
	else if (strcmp(kind, "load") == 0)
		assert_string_equal(want, "ok");
	else
		row_rewrite(tc, m, row, kind, name, want);
}

static void
run_case(void **state)
{
	const struct tcase *tc = *state;
	char *rows = strdup(tc->rows), *row, *save, *load_err;
	struct alias_map *m;
	struct err rec;

	assert_non_null(rows);
	write_file(tc->file, strlen(tc->file));
	err_clear(&rec);
	m = alias_load(path, &rec);
	load_err = strstr(rows, "load ==> ERROR ");
	if (load_err != NULL) {
		if (m != NULL)
			fail_msg("%s:%d: loaded", CASES, tc->line);
		load_err[strcspn(load_err, "\n")] = '\0';
		check_error(tc, "load", &rec, load_err + 9);
	} else if (m == NULL)
		fail_msg("%s:%d: %s", CASES, tc->line, rec.text);
	for (row = strtok_r(rows, "\n", &save); m != NULL && row != NULL;
	     row = strtok_r(NULL, "\n", &save))
		run_row(tc, m, row);
	alias_free(m);
	unlink(path);
	free(rows);
}

/* alias_load of text (NULL: the file at path as it is) fails with want,
 * where %s stands for the path; the file is removed. */
static void
expect_load_error(const char *text, size_t len, const char *want)
{
	char full[256];
	struct err rec;

	if (text != NULL)
		write_file(text, len);
	err_clear(&rec);
	assert_null(alias_load(path, &rec));
	snprintf(full, sizeof(full), want, path);
	if (strstr(rec.text, full) == NULL)
		fail_msg("want \"%s\", got \"%s\"", full, rec.text);
	assert_int_equal(rec.code, EX_CONFIG);
	unlink(path);
}

/* CRLF line ends, a last line with no line end, a NUL byte, a missing
 * file, a directory, a file anyone may write to. */
static void
test_files(void **state)
{
	static const char crlf[] = "root: a@example.org,\r\n\tb@example.org"
				   "\r\nbob: bob";
	struct addr_list l = { 0 };
	struct alias_map *m;
	struct err rec;

	(void)state;
	write_file(crlf, sizeof(crlf) - 1);
	m = alias_load(path, &rec);
	assert_non_null(m);
	assert_int_equal(alias_expand(m, DOMAIN, "root", &l, &rec), 0);
	assert_int_equal(alias_expand(m, DOMAIN, "bob", &l, &rec), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[1].mailbox, "b@example.org");
	assert_string_equal(l.v[2].mailbox, "bob@example.com");
	addr_list_free(&l);
	alias_free(m);
	unlink(path);
	expect_load_error(
	    "root: a@example.org\n\0x: y\n", 24, "%s: contains a NUL byte");
	assert_null(alias_load("/nonexistent/aliases", &rec));
	assert_string_equal(rec.text,
	    "cannot read /nonexistent/aliases: No such file or directory (fix the aliases key)");
	assert_null(alias_load("/tmp", &rec));
	assert_string_equal(
	    rec.text, "/tmp: not a regular file (fix the aliases key)");
	assert_int_equal(alias_check_file("/tmp", NULL, &rec), -1);
	write_file("root: a@example.org\n", 20);
	assert_int_equal(chmod(path, 0646), 0);
	expect_load_error(NULL, 0,
	    "%s: anyone may change it, and so where mail goes (run: chmod o-w ");
	write_file("root: a@example.org\n", 20);
	assert_int_equal(chmod(path, 0664), 0);
	m = alias_load(path, &rec);
	assert_non_null(m);
	alias_free(m);
	unlink(path);
}

/* No aliases file at all: names are only qualified; an empty mailbox is
 * not a recipient. */
static void
test_no_map(void **state)
{
	struct alias_ctx ctx = { .local_domain = DOMAIN };
	struct addr_list l = { 0 };
	struct err rec;
	char *s, buf[32];
	int i;

	(void)state;
	assert_int_equal(alias_expand(NULL, DOMAIN, "root", &l, &rec), 0);
	assert_int_equal(
	    alias_expand(NULL, DOMAIN, "a@b.example", &l, &rec), 0);
	assert_int_equal(alias_expand(NULL, DOMAIN, "", &l, &rec), -1);
	assert_int_equal(rec.code, EX_DATAERR);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].mailbox, "root@example.com");
	addr_list_free(&l);
	/* The cap counts what one name adds, not the list it is added to. */
	for (i = 0; i < ALIAS_EXPAND_MAX + 5; i++) {
		snprintf(buf, sizeof(buf), "u%d", i);
		assert_int_equal(alias_expand(NULL, DOMAIN, buf, &l, &rec), 0);
	}
	assert_int_equal(l.n, ALIAS_EXPAND_MAX + 5);
	addr_list_free(&l);
	s = alias_header_rewrite(&ctx, "root");
	assert_string_equal(s, "root@example.com");
	free(s);
	s = alias_to_rewrite(&ctx, "root");
	assert_string_equal(s, "root@example.com");
	free(s);
	assert_null(alias_header_rewrite(&ctx, ""));
	assert_null(alias_to_rewrite(&ctx, ""));
	alias_free(NULL);
}

/* One name expanding to too many addresses, and a diamond of lists that
 * would take too long: both stop with an error. */
static void
test_caps(void **state)
{
	struct addr_list l = { 0 };
	struct alias_map *m;
	char *text = NULL, item[32];
	struct err rec;
	int i;

	(void)state;
	append(&text, "big:");
	for (i = 0; i <= ALIAS_EXPAND_MAX; i++) {
		snprintf(
		    item, sizeof(item), "%s a%d@example.org", i ? "," : "", i);
		append(&text, item);
	}
	append(&text, "\n");
	for (i = 0; i < ALIAS_DEPTH_MAX - 1; i++) {
		snprintf(
		    item, sizeof(item), "d%d: d%d, d%d\n", i, i + 1, i + 1);
		append(&text, item);
	}
	write_file(text, strlen(text));
	m = alias_load(path, &rec);
	assert_non_null(m);
	assert_int_equal(alias_expand(m, DOMAIN, "big", &l, &rec), -1);
	assert_non_null(strstr(rec.text, "expands to more than 1000"));
	addr_list_free(&l);
	assert_int_equal(alias_expand(m, DOMAIN, "d0", &l, &rec), -1);
	assert_non_null(strstr(rec.text, "expands through more than"));
	addr_list_free(&l);
	alias_free(m);
	unlink(path);
	free(text);
}

/* The local From rewrite (issue 4): which senders are local, and what
 * alias_from_rewrite makes of them.  hostname "host1" stands for this
 * host; its canonical name is not looked up for a name with a dot. */
static void
test_local_from(void **state)
{
	static const struct {
		const char *hostname; /* NULL: unknown */
		const char *mailbox;
		const char *want; /* NULL: kept */
	} rows[] = {
		{ "host1.example.net", "root", "me@example.org" },
		{ "host1.example.net", "root@host1.example.net",
		    "me@example.org" },
		{ "host1.example.net", "root@HOST1.Example.NET",
		    "me@example.org" },
		{ "host1.example.net", "root@other.example.net", NULL },
		{ "host1.example.net", "root@example.net", NULL },
		{ "host1.example.net", "me@example.org", NULL },
		{ "host1.example.net", "", NULL },
		{ NULL, "cron", "me@example.org" },
		{ NULL, "cron@host1.example.net", NULL },
		{ "vm", "root@localhost", "me@example.org" },
		{ "vm", "root@LocalHost.localdomain", "me@example.org" },
		{ NULL, "root@localhost", "me@example.org" },
		{ "vm", "root@localhost.example.net", NULL },
		{ "vm", "root@notlocalhost", NULL },
	};
	struct alias_ctx ctx;
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.local_domain = DOMAIN;
		ctx.from = "me@example.org";
		ctx.hostname = rows[i].hostname;
		s = alias_from_rewrite(&ctx, rows[i].mailbox);
		if (rows[i].want == NULL && s != NULL)
			fail_msg(
			    "row %zu: %s became %s", i, rows[i].mailbox, s);
		if (rows[i].want != NULL &&
		    (s == NULL || strcmp(s, rows[i].want) != 0))
			fail_msg("row %zu: %s became %s, want %s", i,
			    rows[i].mailbox, s != NULL ? s : "(kept)",
			    rows[i].want);
		assert_int_equal(alias_is_local(&ctx, rows[i].mailbox),
		    rows[i].want != NULL);
		free(s);
		assert_false(ctx.oom);
	}
}

static int
free_cases(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < MAX_CASES; i++) {
		free(cases[i].file);
		free(cases[i].rows);
	}
	return 0;
}

int
main(void)
{
	struct CMUnitTest *tests;
	int i, n, rc;

	n = load_cases();
	tests = calloc((size_t)n + 4, sizeof(*tests));
	assert_non_null(tests);
	for (i = 0; i < n; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].initial_state = &cases[i];
	}
	tests[n].name = "files: CRLF, no last line end, NUL, missing";
	tests[n].test_func = test_files;
	tests[n + 1].name = "no aliases file";
	tests[n + 1].test_func = test_no_map;
	tests[n + 2].name = "caps on one expansion";
	tests[n + 2].test_func = test_caps;
	tests[n + 3].name = "local senders become the account's address";
	tests[n + 3].test_func = test_local_from;
	rc = _cmocka_run_group_tests(
	    "alias", tests, (size_t)n + 4, NULL, free_cases);
	free(tests);
	return rc;
}
