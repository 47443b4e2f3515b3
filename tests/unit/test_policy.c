/* SPDX-License-Identifier: ISC */
/* Unit tests: the From policy (allow_from), one row per address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include "err.h"
#include "policy.h"

#define MAX_PATS 4

static const struct {
	const char *pats[MAX_PATS]; /* NULL-terminated; none: no allow_from */
	const char *mailbox;
	int allowed;
} cases[] = {
	/* no allow_from: only the account's from, me@example.com */
	{ { NULL }, "anyone@anywhere.example", 0 },
	{ { NULL }, "root", 0 },
	{ { NULL }, "me@example.com", 1 },
	{ { NULL }, "me@EXAMPLE.COM", 1 },
	{ { NULL }, "", 1 },
	{ { "me@example.com", NULL }, "me@example.com", 1 },
	{ { "me@example.com", NULL }, "me@EXAMPLE.com", 1 },
	{ { "me@example.com", NULL }, "Me@example.com", 0 },
	{ { "me@example.com", NULL }, "you@example.com", 0 },
	{ { "me@example.com", NULL }, "me@example.net", 0 },
	{ { "me@example.com", NULL }, "me@sub.example.com", 0 },
	{ { "me@example.com", NULL }, "", 1 },
	{ { "*@example.com", NULL }, "anyone@example.com", 1 },
	{ { "*@example.com", NULL }, "anyone@Example.COM", 1 },
	{ { "*@example.com", NULL }, "anyone@example.net", 0 },
	{ { "*@example.com", NULL }, "anyone@evil-example.com", 0 },
	{ { "me+*@example.com", NULL }, "me@example.com", 1 },
	{ { "me+*@example.com", NULL }, "me+list@example.com", 1 },
	{ { "me+*@example.com", NULL }, "me+@example.com", 1 },
	{ { "me+*@example.com", NULL }, "mex@example.com", 0 },
	{ { "me+*@example.com", NULL }, "mex+list@example.com", 0 },
	{ { "me+*@example.com", NULL }, "m@example.com", 0 },
	{ { "*", NULL }, "anyone@anywhere.example", 1 },
	{ { "a@x.example", "b@y.example", NULL }, "b@y.example", 1 },
	{ { "a@x.example", "b@y.example", NULL }, "c@y.example", 0 },
	/* a bare name is taken with the local domain, example.org */
	{ { "root@example.org", NULL }, "root", 1 },
	{ { "root@example.com", NULL }, "root", 0 },
	/* IDNA: U-labels and A-labels are the same domain */
	{ { "me@b\xc3\xbc"
	    "cher.example",
	      NULL },
	    "me@xn--bcher-kva.example", 1 },
	{ { "*@xn--bcher-kva.example", NULL },
	    "me@B\xc3\x9c"
	    "CHER.example",
	    1 },
	{ { "*@xn--bcher-kva.example", NULL }, "me@bucher.example", 0 },
	/* quoted local parts compare as written */
	{ { "*@example.com", NULL }, "\"x\\\" -oQ/tmp\"@example.com", 1 },
	{ { "me@example.com", NULL }, "\"x\\\" -oQ/tmp\"@example.com", 0 },
};

/* The default (no allow_from, or allow_from = {}): from alone. */
static const struct {
	const char *from;
	const char *mailbox;
	int allowed;
} defaults[] = {
	{ "me@example.com", "me@example.com", 1 },
	{ "me@example.com", "me@Example.Com", 1 },
	{ "me@example.com", "ME@example.com", 0 },
	{ "me@example.com", "me@example.org", 0 },
	{ "me@example.com", "me@sub.example.com", 0 },
	{ "me@example.com", "me+tag@example.com", 0 },
	{ "me@example.com", "other@example.org", 0 },
	{ "me@example.com", "\"me\"@example.com", 0 },
	{ "me@example.com", "", 1 },
	/* a bare name is taken with the local domain, example.org */
	{ "root@example.org", "root", 1 },
	{ "me@example.com", "me", 0 },
	/* from is an address, not a pattern */
	{ "*@example.com", "anyone@example.com", 0 },
	{ "*@example.com", "*@example.com", 1 },
	{ "me+*@example.com", "me+x@example.com", 0 },
	/* IDNA both ways */
	{ "me@b\xc3\xbc"
	  "cher.example",
	    "me@xn--bcher-kva.example", 1 },
	{ "me@xn--bcher-kva.example",
	    "me@B\xc3\x9c"
	    "CHER.example",
	    1 },
	{ "me@xn--bcher-kva.example", "me@bucher.example", 0 },
};

static void
test_default(void **state)
{
	struct policy p = { "work", "/home/me/.config/mailhop/config", NULL, 0,
		"example.org", NULL };
	struct err rec;
	size_t i;
	int got;

	(void)state;
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		p.from = defaults[i].from;
		got = policy_allowed(&p, defaults[i].mailbox);
		if (got != defaults[i].allowed)
			fail_msg("row %zu: %s for %s: want %d, got %d", i,
			    defaults[i].mailbox, defaults[i].from,
			    defaults[i].allowed, got);
		err_clear(&rec);
		assert_int_equal(
		    policy_check(&p, "From address", defaults[i].mailbox, &rec),
		    got ? 0 : -1);
		assert_int_equal(rec.class, got ? ERR_NONE : ERR_PERM);
	}
}

static void
test_allowed(void **state)
{
	struct policy p = { "work", "/home/me/.config/mailhop/config", NULL, 0,
		"example.org", "me@example.com" };
	struct err rec;
	size_t i, n;
	int got;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (n = 0; n < MAX_PATS && cases[i].pats[n] != NULL; n++)
			;
		p.allow = cases[i].pats;
		p.nallow = n;
		got = policy_allowed(&p, cases[i].mailbox);
		if (got != cases[i].allowed)
			fail_msg("row %zu: %s: want %d, got %d", i,
			    cases[i].mailbox, cases[i].allowed, got);
		err_clear(&rec);
		assert_int_equal(
		    policy_check(&p, "From address", cases[i].mailbox, &rec),
		    got ? 0 : -1);
		assert_int_equal(rec.class, got ? ERR_NONE : ERR_PERM);
	}
}

/* Which lists let every sender through (and an unparsed field). */
static void
test_any(void **state)
{
	static const struct {
		const char *pats[MAX_PATS];
		int any;
	} rows[] = {
		{ { NULL }, 0 },
		{ { "*", NULL }, 1 },
		{ { "me@example.com", "*", NULL }, 1 },
		{ { "*@example.com", NULL }, 0 },
		{ { "me+*@example.com", NULL }, 0 },
	};
	struct policy p = { "work", "/home/me/.config/mailhop/config", NULL, 0,
		"example.org", "me@example.com" };
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		for (n = 0; n < MAX_PATS && rows[i].pats[n] != NULL; n++)
			;
		p.allow = rows[i].pats;
		p.nallow = n;
		if (policy_any(&p) != rows[i].any)
			fail_msg("row %zu: want %d", i, rows[i].any);
	}
}

/* The refusal names the address, the account, the list and the file. */
static void
test_message(void **state)
{
	static const char *const pats[] = { "me@example.com", "*@example.org" };
	struct policy p = { "work", "/home/me/.config/mailhop/config", pats, 2,
		"example.org", "me@example.com" };
	struct err rec;

	(void)state;
	err_clear(&rec);
	assert_int_equal(
	    policy_check(&p, "From address", "ceo@example.net", &rec), -1);
	assert_int_equal(rec.code, EX_NOPERM);
	assert_string_equal(rec.text,
	    "From address ceo@example.net is not allowed for account work "
	    "(allowed: me@example.com, *@example.org; add it to allow_from "
	    "in /home/me/.config/mailhop/config, or \"*\" to leave it to "
	    "the server)");
	p.allow = NULL;
	p.nallow = 0;
	err_clear(&rec);
	assert_int_equal(
	    policy_check(&p, "envelope sender", "ceo@example.net", &rec), -1);
	assert_int_equal(rec.code, EX_NOPERM);
	assert_string_equal(rec.text,
	    "envelope sender ceo@example.net is not allowed for account work "
	    "(without allow_from only its from, me@example.com; add it to "
	    "allow_from in /home/me/.config/mailhop/config, or \"*\" to "
	    "leave it to the server)");
	err_clear(&rec);
	assert_int_equal(
	    policy_check(&p, "Sender address", "x\ny@example.net", &rec), -1);
	assert_null(strchr(rec.text, '\n'));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_any),
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
