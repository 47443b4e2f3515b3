/* SPDX-License-Identifier: ISC */
/* Unit tests: the SMTP reply parser, one row of
 * tests/data/smtp_replies.txt per reply, and the AUTH mechanism choice,
 * one row of tests/data/smtp_sasl_choose.txt per case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include "sasl.h"
#include "smtp.h"

#define ROW_MAX 4096
#define LINE_MAX_TEST (SMTP_REPLY_TEXT_MAX + 16)
#define LINES_MAX_TEST 1100

/* Rows that failed: every bad row is reported, then the test fails. */
static int failures;

static void bad(int lineno, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bad(int lineno, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_error("line %d: %s\n", lineno, msg);
	failures++;
}

struct lines {
	size_t n;
	char *v[LINES_MAX_TEST];
	size_t len[LINES_MAX_TEST];
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* \{N:c}: N copies of c.  Returns the characters consumed after '\'. */
static size_t
unescape_fill(const char *p, char *out, size_t *o)
{
	char *end;
	long n = strtol(p + 1, &end, 10);

	assert_true(*end == ':' && end[2] == '}' && n > 0);
	assert_true(*o + (size_t)n < LINE_MAX_TEST);
	memset(out + *o, end[1], (size_t)n);
	*o += (size_t)n;
	return (size_t)(end + 3 - p);
}

/* One escape after '\' at p into out; returns the characters consumed. */
static size_t
unescape_one(const char *p, char *out, size_t *o)
{
	switch (*p) {
	case '0':
		out[(*o)++] = '\0';
		return 1;
	case 't':
		out[(*o)++] = '\t';
		return 1;
	case 'n':
		out[(*o)++] = '\n';
		return 1;
	case 'x':
		assert_true(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
		out[(*o)++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
		return 3;
	case '{':
		return unescape_fill(p, out, o);
	default:
		out[(*o)++] = *p;
		return 1;
	}
}

/* Read the quoted string at *pp (after its opening quote) into a new
 * buffer; *pp ends past the closing quote. */
static char *
quoted(const char **pp, size_t *len)
{
	const char *p = *pp;
	char *out = malloc(LINE_MAX_TEST);
	size_t o = 0;

	assert_non_null(out);
	while (*p != '"') {
		assert_true(*p != '\0' && o + 1 < LINE_MAX_TEST);
		if (*p == '\\')
			p += 1 + unescape_one(p + 1, out, &o);
		else
			out[o++] = *p++;
	}
	*pp = p + 1;
	*len = o;
	return out;
}

/* Parse `N*"line" "line" ...` into l. */
static void
parse_lines(const char *p, struct lines *l)
{
	long rep, i;
	size_t len;
	char *s, *end;

	l->n = 0;
	while (*(p += strspn(p, " ")) != '\0') {
		rep = 1;
		if (*p != '"') {
			rep = strtol(p, &end, 10);
			assert_true(*end == '*' && end[1] == '"');
			p = end + 1;
		}
		p++;
		s = quoted(&p, &len);
		for (i = 0; i < rep; i++) {
			assert_true(l->n < LINES_MAX_TEST);
			l->v[l->n] =
			    i == 0 ? s : memcpy(malloc(len + 1), s, len);
			l->len[l->n++] = len;
		}
	}
}

static void
free_lines(struct lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
}

/* Compare the reply with `CODE "TEXT"` or `CODE #N`. */
static void
check_text(const struct smtp_reply *r, const char *want, int lineno)
{
	char *end, *text;
	long code = strtol(want, &end, 10);
	size_t len;

	if (code != r->code)
		bad(lineno, "code %d, want %ld", r->code, code);
	end += strspn(end, " ");
	if (*end == '#') {
		if (strtoul(end + 1, NULL, 10) != r->len)
			bad(lineno, "text of %zu bytes, want %s", r->len,
			    end + 1);
		return;
	}
	assert_true(*end == '"');
	end++;
	text = quoted((const char **)&end, &len);
	if (len != r->len || memcmp(text, r->text, len) != 0 ||
	    r->text[r->len] != '\0')
		bad(lineno, "text \"%s\", want \"%.*s\"", r->text, (int)len,
		    text);
	free(text);
}

static void
reply_case(const char *input, const char *want, int lineno)
{
	struct smtp_reply *r = malloc(sizeof(*r));
	struct lines *l = malloc(sizeof(*l));
	struct err rec;
	size_t i;
	int rc = 0;

	assert_non_null(r);
	assert_non_null(l);
	parse_lines(input, l);
	assert_true(l->n > 0);
	smtp_reply_init(r);
	err_clear(&rec);
	for (i = 0; i < l->n && rc == 0; i++)
		rc = smtp_reply_line(r, l->v[i], l->len[i], &rec);
	if (i != l->n)
		bad(lineno, "line %zu of %zu ended the reply (rc %d)", i, l->n,
		    rc);
	if (strcmp(want, "error") == 0) {
		if (rc != -1 || rec.class != ERR_PERM ||
		    rec.code != EX_PROTOCOL)
			bad(lineno, "rc %d, want error", rc);
	} else if (strncmp(want, "complete ", 9) == 0 && rc == 1)
		check_text(r, want + 9, lineno);
	else if (strncmp(want, "more ", 5) == 0 && rc == 0)
		check_text(r, want + 5, lineno);
	else
		bad(lineno, "rc %d (%s), want %s", rc, rec.text, want);
	free_lines(l);
	free(l);
	free(r);
}

static void
choose_case(char *input, const char *want, int lineno)
{
	char *bar = strstr(input, " | "), mech[32] = "", got[ERR_TEXT_MAX + 16];
	const char *forced;
	struct err rec;

	assert_non_null(bar);
	*bar = '\0';
	forced = strcmp(bar + 3, "-") == 0 ? NULL : bar + 3;
	err_clear(&rec);
	if (sasl_choose(input, forced, mech, sizeof(mech), &rec) == 0) {
		if (strcmp(mech, want) != 0)
			bad(lineno, "chose %s, want %s", mech, want);
		return;
	}
	snprintf(got, sizeof(got), "error %d %s", rec.code, rec.text);
	if (strncmp(want, "error ", 6) != 0 || rec.class != ERR_PERM ||
	    strncmp(got, want, 9) != 0 || strstr(got, want + 9) == NULL)
		bad(lineno, "got %s, want %s", got, want);
}

/* Run fn on each row "input ==> expected" of file; returns the rows. */
static int
each_row(const char *file, void (*fn)(char *, const char *, int))
{
	char row[ROW_MAX], *sep, *end;
	int lineno = 0, cases = 0;
	FILE *f = fopen(file, "r");

	assert_non_null(f);
	while (fgets(row, sizeof(row), f) != NULL) {
		lineno++;
		if ((end = strchr(row, '\n')) != NULL)
			*end = '\0';
		sep = strstr(row, " ==> ");
		if (row[0] == '#' || sep == NULL)
			continue;
		*sep = '\0';
		fn(row, sep + 5, lineno);
		cases++;
	}
	fclose(f);
	return cases;
}

static void
reply_row(char *input, const char *want, int lineno)
{
	reply_case(input, want, lineno);
}

static void
test_replies(void **state)
{
	(void)state;
	failures = 0;
	assert_true(each_row("../data/smtp_replies.txt", reply_row) >= 30);
	assert_int_equal(failures, 0);
}

static void
test_sasl_choose(void **state)
{
	(void)state;
	failures = 0;
	assert_true(
	    each_row("../data/smtp_sasl_choose.txt", choose_case) >= 10);
	assert_int_equal(failures, 0);
}

/* A mechanism name that does not fit is an error, never a cut name. */
static void
test_sasl_choose_small(void **state)
{
	char out[4];
	struct err rec;

	(void)state;
	err_clear(&rec);
	assert_int_equal(
	    sasl_choose("PLAIN", "PLAIN", out, sizeof(out), &rec), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_sasl_choose),
		cmocka_unit_test(test_sasl_choose_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
