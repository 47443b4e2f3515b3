/* SPDX-License-Identifier: ISC */
/* Unit tests: sasl_new and sasl_step, one row per exchange (server
 * challenges in, our responses and results out): PLAIN, LOGIN and
 * EXTERNAL framed by mech.c, SCRAM through libgsasl (loaded by sasl.c).  The
 * mechanism choice has its own table in test_smtp.c. */
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

#define STEPS 3

struct step {
	const char *in;	 /* challenge; NULL before the first step */
	int rc;		 /* 1 more, 0 done, -1 error; 9 ends the row */
	const char *out; /* response, or its start when it ends in '*';
			  * for an error, the sysexits code as text */
};

static const struct {
	const char *mech, *user, *pass;
	int new_code; /* sasl_new: 0, or the code it fails with */
	struct step steps[STEPS];
} rows[] = {
	/* PLAIN: client-first, done in one step ("\0alice\0secret"). */
	{ "PLAIN", "alice", "secret", 0,
	    { { NULL, 0, "AGFsaWNlAHNlY3JldA==" }, { NULL, 9, NULL } } },
	{ "PLAIN", "alice", "", 0,
	    { { NULL, 0, "AGFsaWNlAA==" }, { NULL, 9, NULL } } },
	/* UTF-8 as it is (no SASLprep, as libgsasl's PLAIN):
	 * "\0jos\xc3\xa9\0p\xc3\xa4ss". */
	{ "plain", "jos\xc3\xa9", "p\xc3\xa4ss", 0,
	    { { NULL, 0, "AGpvc8OpAHDDpHNz" }, { NULL, 9, NULL } } },
	/* A challenge after PLAIN's one message. */
	{ "PLAIN", "alice", "secret", 0,
	    { { NULL, 0, "AGFsaWNlAHNlY3JldA==" }, { "", -1, "76" },
		{ NULL, 9, NULL } } },
	/* LOGIN: server-first; "Username:", "Password:". */
	{ "LOGIN", "alice", "secret", 0,
	    { { "VXNlcm5hbWU6", 1, "YWxpY2U=" },
		{ "UGFzc3dvcmQ6", 0, "c2VjcmV0" }, { "", -1, "76" } } },
	/* Whatever the prompts say: user first, then the password. */
	{ "LOGIN", "alice", "secret", 0,
	    { { "", 1, "YWxpY2U=" }, { "UGFzc3dvcmQ6", 0, "c2VjcmV0" },
		{ NULL, 9, NULL } } },
	/* EXTERNAL: an empty authorization identity, no credentials. */
	{ "EXTERNAL", NULL, NULL, 0,
	    { { NULL, 0, "" }, { "", -1, "76" }, { NULL, 9, NULL } } },
	{ "LOGIN", "alice", NULL, EX_CONFIG, { { NULL, 9, NULL } } },
	/* SCRAM: client-first "n,,n=alice,r..." without channel binding. */
	{ "SCRAM-SHA-256", "alice", "secret", 0,
	    { { NULL, 1, "biwsbj1hbGljZSxy*" }, { "!!!", -1, "76" },
		{ NULL, 9, NULL } } },
	{ "SCRAM-SHA-1", "alice", "secret", 0,
	    { { NULL, 1, "biwsbj1hbGljZSxy*" }, { "eA==", -1, "76" },
		{ NULL, 9, NULL } } },
	{ "SCRAM-SHA-256", "alice", "secret", 0,
	    { { NULL, 1, "biws*" },
		{ "cj1ub3RvdXJub25jZSxzPVFTWENSK1E2c2VrOGJmOTIsaT00MDk2", -1,
		    "76" },
		{ NULL, 9, NULL } } },
	{ "NO-SUCH-MECH", "alice", "secret", EX_UNAVAILABLE,
	    { { NULL, 9, NULL } } },
	{ "PLAIN", NULL, "secret", EX_CONFIG, { { NULL, 9, NULL } } },
	{ "PLAIN", "alice", NULL, EX_CONFIG, { { NULL, 9, NULL } } },
};

static void
check_out(const char *got, const char *want, size_t row, size_t i)
{
	size_t n = strlen(want);

	if (n > 0 && want[n - 1] == '*' ? strncmp(got, want, n - 1) != 0
					: strcmp(got, want) != 0)
		fail_msg(
		    "row %zu step %zu: \"%s\", want \"%s\"", row, i, got, want);
}

static void
run_row(size_t r)
{
	const struct step *st = rows[r].steps;
	struct sasl *s;
	struct err rec;
	char *out, code[16];
	size_t i;
	int rc;

	err_clear(&rec);
	s = sasl_new(rows[r].mech, rows[r].user, rows[r].pass, NULL, &rec);
	if (rows[r].new_code != 0) {
		assert_null(s);
		assert_int_equal(rec.code, rows[r].new_code);
		return;
	}
	assert_non_null(s);
	for (i = 0; i < STEPS && st[i].rc != 9; i++) {
		rc = sasl_step(s, st[i].in, &out, &rec);
		if (rc != st[i].rc)
			fail_msg("row %zu step %zu: rc %d, want %d (%s)", r, i,
			    rc, st[i].rc, rec.text);
		if (rc == -1) {
			assert_null(out);
			snprintf(code, sizeof(code), "%d", rec.code);
			check_out(code, st[i].out, r, i);
			break;
		}
		check_out(out, st[i].out, r, i);
		sasl_free_out(out);
	}
	sasl_free(s);
}

static void
test_steps(void **state)
{
	size_t r;

	(void)state;
	for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
		run_row(r);
}

/* Release functions accept NULL. */
static void
test_free_null(void **state)
{
	(void)state;
	sasl_free(NULL);
	sasl_free_out(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps),
		cmocka_unit_test(test_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
