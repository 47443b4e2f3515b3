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
	{ { NULL }, "anyone@anywhere.example", 1 },
	{ { NULL }, "root", 1 },
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

static void
test_allowed(void **state)
{
	struct policy p = { "work", "/home/me/.config/mailhop/config", NULL, 0,
		"example.org" };
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

/* The refusal names the address, the account, the list and the file. */
static void
test_message(void **state)
{
	static const char *const pats[] = { "me@example.com", "*@example.org" };
	struct policy p = { "work", "/home/me/.config/mailhop/config", pats, 2,
		"example.org" };
	struct err rec;

	(void)state;
	err_clear(&rec);
	assert_int_equal(
	    policy_check(&p, "From address", "ceo@example.net", &rec), -1);
	assert_int_equal(rec.code, EX_NOPERM);
	assert_string_equal(rec.text,
	    "From address ceo@example.net is not allowed for account work "
	    "(allowed: me@example.com, *@example.org; add it to allow_from "
	    "in /home/me/.config/mailhop/config)");
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
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
