/* SPDX-License-Identifier: ISC */
/* Unit tests for addr.c: each table in tests/data/addr_*.txt has one case
 * per line, "input ==> expected"; every failing row is reported, then the
 * test fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

#define SEP " ==> "

typedef int row_fn(char *in, const char *want, int lineno);

/* Decode \t \r \n \\ and \xHH in place; any other backslash stays. */
static void
unescape(char *s)
{
	char *o = s, hex[3] = { 0 };

	for (; *s != '\0'; s++) {
		if (*s != '\\' || s[1] == '\0') {
			*o++ = *s;
			continue;
		}
		s++;
		if (*s == 't')
			*o++ = '\t';
		else if (*s == 'r')
			*o++ = '\r';
		else if (*s == 'n')
			*o++ = '\n';
		else if (*s == 'x' && s[1] != '\0' && s[2] != '\0') {
			memcpy(hex, s + 1, 2);
			*o++ = (char)strtol(hex, NULL, 16);
			s += 2;
		} else if (*s == '\\')
			*o++ = '\\';
		else {
			*o++ = '\\';
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Run fn on every row of file; returns the number of rows. */
static int
run_table(const char *file, row_fn *fn)
{
	char line[4096], *sep, *end;
	int lineno = 0, rows = 0, bad = 0;
	FILE *f;

	f = fopen(file, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		if ((end = strchr(line, '\n')) != NULL)
			*end = '\0';
		if (line[0] == '#' || (sep = strstr(line, SEP)) == NULL)
			continue;
		*sep = '\0';
		unescape(line);
		bad += fn(line, sep + strlen(SEP), lineno) != 0;
		rows++;
	}
	fclose(f);
	if (bad != 0)
		fail_msg("%s: %d of %d rows failed", file, bad, rows);
	return rows;
}

static int
report(int lineno, const char *in, const char *want, const char *got)
{
	if (strcmp(want, got) == 0)
		return 0;
	print_error(
	    "line %d: %s\n  want: %s\n  got:  %s\n", lineno, in, want, got);
	return 1;
}

/* Render a parse result in the table's syntax: "-" for an empty list,
 * "ERROR code text", or "mailbox {name} | mailbox". */
static void
render(const struct addr_list *l, char *buf, size_t sz)
{
	size_t i, off = 0;

	if (l->n == 0)
		snprintf(buf, sz, "-");
	for (i = 0; i < l->n && off < sz; i++) {
		off += snprintf(buf + off, sz - off, "%s%s", i ? " | " : "",
		    l->v[i].mailbox);
		if (l->v[i].name != NULL && off < sz)
			off += snprintf(
			    buf + off, sz - off, " {%s}", l->v[i].name);
	}
}

static int
list_row(char *in, const char *want, int lineno)
{
	struct addr_list l = { 0 };
	struct err rec;
	char got[2048];

	err_clear(&rec);
	if (addr_parse_list(in, &l, &rec) == -1)
		snprintf(got, sizeof(got), "ERROR %d %s", rec.code, rec.text);
	else
		render(&l, got, sizeof(got));
	addr_list_free(&l);
	return report(lineno, in, want, got);
}

static int
check_row(char *in, const char *want, int lineno)
{
	struct err rec;
	char got[ERR_TEXT_MAX + 16];

	err_clear(&rec);
	if (addr_check(in, &rec) == -1)
		snprintf(got, sizeof(got), "ERROR %d %s", rec.code, rec.text);
	else
		snprintf(got, sizeof(got), "ok");
	return report(lineno, in, want, got);
}

static int
equal_row(char *in, const char *want, int lineno)
{
	char *b = strchr(in, ' '), got[8];

	assert_non_null(b);
	*b++ = '\0';
	snprintf(got, sizeof(got), "%d", addr_equal(in, b));
	return report(lineno, in, want, got);
}

static int
idn_row(char *in, const char *want, int lineno)
{
	struct err rec;
	char got[ERR_TEXT_MAX + 16], *out;

	err_clear(&rec);
	out = addr_to_ascii(in, &rec);
	if (out == NULL)
		snprintf(got, sizeof(got), "ERROR %d %s", rec.code, rec.text);
	else
		snprintf(got, sizeof(got), "%s", out);
	free(out);
	return report(lineno, in, want, got);
}

static int
domain_row(char *in, const char *want, int lineno)
{
	const char *d = addr_domain(in);

	return report(lineno, in, want, d == NULL ? "NULL" : d);
}

/* The fake rewrite callback of tests/data/addr_rewrite.txt. */
static char *
fake_rewrite(void *arg, const char *mailbox)
{
	char *out = NULL;

	assert_ptr_equal(arg, &fake_rewrite);
	if (strcmp(mailbox, "old@x") == 0)
		return strdup("new@example.org");
	if (strcmp(mailbox, "crlf@x") == 0)
		return strdup("a@x\r\nBcc: victim@x");
	if (strchr(mailbox, '@') != NULL)
		return NULL;
	assert_true(asprintf(&out, "%s@example.com", mailbox) != -1);
	return out;
}

static int
rewrite_row(char *in, const char *want, int lineno)
{
	struct err rec;
	char got[2048], *out = (char *)"x", *w = strdup(want);
	int rc;

	err_clear(&rec);
	if (addr_rewrite_list(in, fake_rewrite, &fake_rewrite, &out, &rec) ==
	    -1) {
		assert_null(out);
		snprintf(got, sizeof(got), "ERROR %d %s", rec.code, rec.text);
	} else
		snprintf(got, sizeof(got), "%s", out != NULL ? out : "-");
	free(out);
	assert_non_null(w);
	unescape(w);
	rc = report(lineno, in, w, got);
	free(w);
	return rc;
}

static int
utf8_row(char *in, const char *want, int lineno)
{
	char got[8];

	snprintf(got, sizeof(got), "%d", addr_needs_utf8(in));
	return report(lineno, in, want, got);
}

static void
test_lists(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_lists.txt", list_row) >= 40);
}

static void
test_check(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_check.txt", check_row) >= 10);
}

static void
test_equal(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_equal.txt", equal_row) >= 5);
}

static void
test_idn(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_idn.txt", idn_row) >= 5);
}

static void
test_domain(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_domain.txt", domain_row) >= 3);
}

static void
test_rewrite(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_rewrite.txt", rewrite_row) >= 15);
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_true(run_table("../data/addr_utf8.txt", utf8_row) >= 5);
}

/* addr_list_add keeps the first of equal mailboxes, with its name. */
static void
test_list_add(void **state)
{
	struct addr_list l = { 0 };

	(void)state;
	assert_int_equal(addr_list_add(&l, NULL, "alice@example.org"), 0);
	assert_int_equal(addr_list_add(&l, "A", "alice@EXAMPLE.org"), 0);
	assert_int_equal(addr_list_add(&l, "B", "Alice@example.org"), 0);
	assert_int_equal(l.n, 2);
	assert_null(l.v[0].name);
	assert_string_equal(l.v[1].name, "B");
	addr_list_free(&l);
	assert_int_equal(l.n, 0);
	addr_list_free(&l);
	addr_list_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_idn),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_list_add),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
