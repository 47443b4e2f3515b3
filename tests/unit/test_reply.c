/* SPDX-License-Identifier: ISC */
/* Unit tests: the SMTP reply parser, one row of tests/data/reply_cases.txt
 * per reply; the one-line form of a reply, one row of
 * tests/data/reply_flatten.txt per reply; and the EHLO capabilities, one
 * row of tests/data/reply_caps.txt per EHLO reply.  Run from tests/unit. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include "reply.h"
#include "rows.h"

#define LINES_MAX_TEST 1100
/* The size smtp.c flattens replies into. */
#define FLAT_TEST 1024

struct lines {
	size_t n;
	char *v[LINES_MAX_TEST];
	size_t len[LINES_MAX_TEST];
};

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
		s = unescape(&p, '"', &len);
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

/* Feed every line of input to a new reply r; returns reply_line's last
 * result, and how many lines it took in *fed. */
static int
feed(const char *input, struct reply *r, struct err *rec, size_t *fed,
    size_t *total)
{
	struct lines *l = malloc(sizeof(*l));
	size_t i;
	int rc = 0;

	assert_non_null(l);
	parse_lines(input, l);
	assert_true(l->n > 0);
	reply_init(r);
	err_clear(rec);
	for (i = 0; i < l->n && rc == 0; i++)
		rc = reply_line(r, l->v[i], l->len[i], rec);
	*fed = i;
	*total = l->n;
	free_lines(l);
	free(l);
	return rc;
}

/* Compare text (len bytes) with `"TEXT"` or `#N`. */
static void
check_bytes(const char *what, const char *text, size_t len, const char *want,
    int lineno)
{
	const char *p = want + strspn(want, " ");
	size_t wlen;
	char *w;

	if (*p == '#') {
		if (strtoul(p + 1, NULL, 10) != len)
			bad(lineno, "%s of %zu bytes, want %s", what, len,
			    p + 1);
		return;
	}
	assert_true(*p == '"');
	p++;
	w = unescape(&p, '"', &wlen);
	if (wlen != len || memcmp(w, text, len) != 0 || text[len] != '\0')
		bad(lineno, "%s \"%s\", want \"%.*s\"", what, text, (int)wlen,
		    w);
	free(w);
}

/* Compare the reply with `CODE "TEXT"` or `CODE #N`. */
static void
check_text(const struct reply *r, const char *want, int lineno)
{
	char *end;
	long code = strtol(want, &end, 10);

	if (code != r->code)
		bad(lineno, "code %d, want %ld", r->code, code);
	check_bytes("text", r->text, r->len, end, lineno);
}

static void
reply_row(char *input, const char *want, int lineno)
{
	struct reply *r = malloc(sizeof(*r));
	struct err rec;
	size_t fed, total;
	int rc;

	assert_non_null(r);
	rc = feed(input, r, &rec, &fed, &total);
	if (fed != total)
		bad(lineno, "line %zu of %zu ended the reply (rc %d)", fed,
		    total, rc);
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
	free(r);
}

static void
flatten_row(char *input, const char *want, int lineno)
{
	struct reply *r = malloc(sizeof(*r));
	char flat[FLAT_TEST];
	struct err rec;
	size_t fed, total, n;

	assert_non_null(r);
	if (feed(input, r, &rec, &fed, &total) != 1 || fed != total)
		bad(lineno, "not a complete reply: %s", rec.text);
	n = reply_flatten(r, flat, sizeof(flat));
	if (n != strlen(flat))
		bad(lineno, "returned %zu for %zu bytes", n, strlen(flat));
	check_bytes("flattened", flat, strlen(flat), want, lineno);
	free(r);
}

/* c as "flags=NAME,NAME size=N auth=MECH MECH"; bits without a name
 * show as +0xN. */
static void
show_caps(const struct reply_caps *c, char *buf, size_t sz)
{
	static const struct {
		unsigned flag;
		const char *name;
	} names[] = {
		{ REPLY_CAP_PIPELINING, "PIPELINING" },
		{ REPLY_CAP_STARTTLS, "STARTTLS" },
		{ REPLY_CAP_8BITMIME, "8BITMIME" },
		{ REPLY_CAP_SMTPUTF8, "SMTPUTF8" },
		{ REPLY_CAP_DSN, "DSN" },
		{ REPLY_CAP_CHUNKING, "CHUNKING" },
		{ REPLY_CAP_ENHANCED, "ENHANCED" },
		{ REPLY_CAP_AUTH, "AUTH" },
		{ REPLY_CAP_SIZE, "SIZE" },
	};
	unsigned rest = c->flags;
	size_t i, used;

	used = (size_t)snprintf(buf, sz, "flags=");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(c->flags & names[i].flag))
			continue;
		rest &= ~names[i].flag;
		used += (size_t)snprintf(buf + used, sz - used, "%s%s",
		    used > 6 ? "," : "", names[i].name);
	}
	if (rest != 0)
		used += (size_t)snprintf(buf + used, sz - used, "+0x%x", rest);
	snprintf(buf + used, sz - used, " size=%lld auth=%s", c->size, c->auth);
}

static void
caps_row(char *input, const char *want, int lineno)
{
	struct reply *r = malloc(sizeof(*r));
	struct reply_caps c;
	const char *p = want;
	char got[2048], *w;
	struct err rec;
	size_t fed, total, len;

	assert_non_null(r);
	if (feed(input, r, &rec, &fed, &total) != 1 || fed != total)
		bad(lineno, "not a complete reply: %s", rec.text);
	memset(&c, 0x55, sizeof(c));
	reply_caps_parse(&c, r);
	show_caps(&c, got, sizeof(got));
	w = unescape(&p, '\0', &len);
	if (strcmp(got, w) != 0)
		bad(lineno, "got %s, want %s", got, want);
	free(w);
	free(r);
}

static void
test_replies(void **state)
{
	(void)state;
	failures = 0;
	assert_true(each_row("../data/reply_cases.txt", reply_row) >= 30);
	assert_int_equal(failures, 0);
}

static void
test_flatten(void **state)
{
	(void)state;
	failures = 0;
	assert_true(each_row("../data/reply_flatten.txt", flatten_row) >= 5);
	assert_int_equal(failures, 0);
}

static void
test_caps(void **state)
{
	(void)state;
	failures = 0;
	assert_true(each_row("../data/reply_caps.txt", caps_row) >= 20);
	assert_int_equal(failures, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_flatten),
		cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
