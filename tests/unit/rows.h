/* SPDX-License-Identifier: ISC */
/*
 * Table rows for the unit tests that include this file (test_reply.c,
 * test_smtp.c): failure reporting that names the row, the escapes of the
 * tables in tests/data, and "input ==> expected" rows.  Static helpers,
 * compiled into each test program; include after cmocka.h.
 */
#ifndef MAILHOP_TEST_ROWS_H
#define MAILHOP_TEST_ROWS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

#define ROW_MAX 4096
/* Longest unescaped text: room for a reply over REPLY_TEXT_MAX. */
#define TEXT_MAX_TEST (REPLY_TEXT_MAX + 16)

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
	assert_true(*o + (size_t)n < TEXT_MAX_TEST);
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
	case 'r':
		out[(*o)++] = '\r';
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

/* Unescape the text at *pp up to stop ('"', or '\0' for the rest of the
 * row) into a new buffer, NUL-terminated; *pp ends past stop. */
static char *
unescape(const char **pp, char stop, size_t *len)
{
	const char *p = *pp;
	char *out = malloc(TEXT_MAX_TEST);
	size_t o = 0;

	assert_non_null(out);
	while (*p != stop) {
		assert_true(*p != '\0' && o + 1 < TEXT_MAX_TEST);
		if (*p == '\\')
			p += 1 + unescape_one(p + 1, out, &o);
		else
			out[o++] = *p++;
	}
	*pp = p + 1;
	*len = o;
	out[o] = '\0';
	return out;
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

#endif
