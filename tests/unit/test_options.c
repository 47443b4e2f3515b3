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

/* Undo the escapes of a word in place: \\s is a space, \\r a CR, \\n an
 * LF, so a row can hold any argument on one line. */
static void
unescape(char *w)
{
	char *out = w;

	for (; *w != '\0'; w++) {
		if (*w == '\\' && w[1] != '\0' && strchr("srn", w[1])) {
			w++;
			*out++ = *w == 's' ? ' ' : *w == 'r' ? '\r' : '\n';
		} else {
			*out++ = *w;
		}
	}
	*out = '\0';
}

/* Split s on spaces into argv; "_" is an empty word. */
static int
split(char *s, char *argv[])
{
	int n = 0;
	char *w;

	for (w = strtok(s, " "); w != NULL && n < MAX_WORDS - 1;
	     w = strtok(NULL, " ")) {
		unescape(w);
		argv[n++] = strcmp(w, "_") == 0 ? w + 1 : w;
	}
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

static const char *const modes[] = { "send", "list", "newaliases", "flush",
	"smtp", "store-password", "serverinfo", "help", "version" };

/* Append " key=value" to buf when value is not NULL. */
static size_t
put(char *buf, size_t sz, size_t off, const char *key, const char *value)
{
	if (value == NULL || off >= sz)
		return off;
	return off + snprintf(buf + off, sz - off, " %s=%s", key, show(value));
}

static void
notify_words(unsigned bits, char *buf, size_t sz)
{
	static const char *const words[] = { "never", "success", "failure",
		"delay" };
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < 4; i++)
		if (bits & (1u << i))
			off += snprintf(buf + off, sz - off, "%s%s",
			    off ? "," : "", words[i]);
}

/* Describe a parse result in the syntax of the expected column: the mode,
 * then only what differs from the defaults, then the recipients. */
static void
describe(const struct options *o, char *buf, size_t sz)
{
	static const char *const rets[] = { NULL, "full", "hdrs" };
	static const char *const bodies[] = { NULL, "7BIT", "8BITMIME" };
	char notify[64];
	size_t i, off;

	off = snprintf(buf, sz, "rc=0 m=%s", modes[o->mode]);
	off = put(buf, sz, off, "t", o->extract ? "1" : NULL);
	off = put(buf, sz, off, "i", o->dot_ok ? "1" : NULL);
	off = put(buf, sz, off, "v", o->verbose ? "1" : NULL);
	off = put(buf, sz, off, "f", o->sender);
	off = put(buf, sz, off, "F", o->fullname);
	notify_words(o->notify, notify, sizeof(notify));
	off = put(buf, sz, off, "N", o->notify ? notify : NULL);
	off = put(buf, sz, off, "R", rets[o->ret]);
	off = put(buf, sz, off, "V", o->envid);
	off = put(buf, sz, off, "B", bodies[o->body]);
	off = put(buf, sz, off, "a", o->account);
	off = put(buf, sz, off, "C", o->config);
	off = put(buf, sz, off, "pretend", o->pretend ? "1" : NULL);
	off += snprintf(buf + off, sz - off, " rcpt=");
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
	assert_true(cases >= 150);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
