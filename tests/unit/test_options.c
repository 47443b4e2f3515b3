/* SPDX-License-Identifier: ISC */
/* Unit tests: the command line, one row of tests/data/options_cases.txt
 * per case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "options.h"

#define MAX_WORDS 32

/* Split s on spaces into argv; "_" is an empty word. */
static int
split(char *s, char *argv[])
{
	int n = 0;
	char *w;

	for (w = strtok(s, " "); w != NULL && n < MAX_WORDS - 1;
	     w = strtok(NULL, " "))
		argv[n++] = strcmp(w, "_") == 0 ? w + 1 : w;
	argv[n] = NULL;
	return n;
}

static const char *
show(const char *s)
{
	if (s == NULL)
		return "-";
	return s[0] == '\0' ? "_" : s;
}

/* Describe a parse result in the syntax of the expected column. */
static void
describe(const struct options *o, char *buf, size_t sz)
{
	size_t i, off;

	off = snprintf(buf, sz,
	    "rc=0 t=%d i=%d v=%d f=%s a=%s C=%s rcpt=", o->extract, o->dot_ok,
	    o->verbose, show(o->sender), show(o->account), show(o->config));
	for (i = 0; i < o->nrcpt && off < sz; i++)
		off += snprintf(
		    buf + off, sz - off, "%s%s", i ? "," : "", o->rcpt[i]);
}

static void
run_case(char *argline, const char *want, int lineno)
{
	char *argv[MAX_WORDS], got[ERR_TEXT_MAX + 64];
	struct options o;
	struct err rec;
	int argc;

	argc = split(argline, argv);
	err_clear(&rec);
	if (opt_parse(argc, argv, &o, &rec) == -1) {
		snprintf(got, sizeof(got), "rc=%d err=%s", rec.code, rec.text);
		if (strncmp(want, "rc=64 err=", 10) != 0 ||
		    strstr(got, want + 10) == NULL)
			fail_msg("line %d: want %s, got %s", lineno, want, got);
		return;
	}
	describe(&o, got, sizeof(got));
	opt_free(&o);
	if (strcmp(got, want) != 0)
		fail_msg("line %d: want %s, got %s", lineno, want, got);
}

static void
test_table(void **state)
{
	char line[1024], *sep, *end;
	int lineno = 0, cases = 0;
	FILE *f;

	(void)state;
	f = fopen("../data/options_cases.txt", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		end = strchr(line, '\n');
		if (end != NULL)
			*end = '\0';
		sep = strstr(line, " | ");
		if (line[0] == '#' || sep == NULL)
			continue;
		*sep = '\0';
		run_case(line, sep + 3, lineno);
		cases++;
	}
	fclose(f);
	assert_true(cases >= 20);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
