/* SPDX-License-Identifier: ISC */
/* Unit tests: the XOAUTH2 and OAUTHBEARER framing (oauth_frame), one row
 * per case; the reason read from a server's JSON error; and whole
 * exchanges through sasl_new and sasl_step (security.md S24). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include "oauth.h"
#include "sasl.h"
#include "secret.h"

#define T "ya29.a0Af-x_y~z+w/v=="

static const struct {
	const char *mech, *user, *host, *port, *token;
	const char *want; /* the bytes before base64, or NULL: an error */
	int code;	  /* the error's sysexits code */
} frames[] = {
	{ "XOAUTH2", "alice@example.org", "h", "1", T,
	    "user=alice@example.org\001auth=Bearer " T "\001\001", 0 },
	{ "xoauth2", "alice", NULL, NULL, "abc",
	    "user=alice\001auth=Bearer abc\001\001", 0 },
	/* RFC 7628 3.1, the example of 4.1 in our words. */
	{ "OAUTHBEARER", "user@example.com", "server.example.com", "143",
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
	    "n,a=user@example.com,\001host=server.example.com\001port=143"
	    "\001auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="
	    "\001\001",
	    0 },
	{ "OAUTHBEARER", "alice", NULL, NULL, "t",
	    "n,a=alice,\001auth=Bearer t\001\001", 0 },
	/* RFC 5801 5.1: "," and "=" in the saslname. */
	{ "OAUTHBEARER", "a,b=c", "h", "587", "t",
	    "n,a=a=2Cb=3Dc,\001host=h\001port=587\001auth=Bearer t\001\001",
	    0 },
	{ "OAUTHBEARER", "==,,", NULL, NULL, "t",
	    "n,a==3D=3D=2C=2C,\001auth=Bearer t\001\001", 0 },
	/* Not b64tokens (RFC 6750 2.1). */
	{ "XOAUTH2", "alice", NULL, NULL, "", NULL, EX_CONFIG },
	{ "XOAUTH2", "alice", NULL, NULL, "two words", NULL, EX_CONFIG },
	{ "XOAUTH2", "alice", NULL, NULL, "a\001b", NULL, EX_CONFIG },
	{ "XOAUTH2", "alice", NULL, NULL, "==", NULL, EX_CONFIG },
	{ "XOAUTH2", "alice", NULL, NULL, "a=b", NULL, EX_CONFIG },
	{ "OAUTHBEARER", "alice", NULL, NULL, "t\xc3\xa9", NULL, EX_CONFIG },
	{ "OAUTHBEARER", "alice", NULL, NULL, "a\"b", NULL, EX_CONFIG },
	/* A control byte in the user would break the framing. */
	{ "XOAUTH2", "al\001ice", NULL, NULL, "t", NULL, EX_CONFIG },
	{ "OAUTHBEARER", "al\tice", NULL, NULL, "t", NULL, EX_CONFIG },
	{ "OAUTHBEARER", NULL, NULL, NULL, "t", NULL, EX_CONFIG },
	{ "OAUTHBEARER", "alice", NULL, NULL, NULL, NULL, EX_CONFIG },
	{ "PLAIN", "alice", NULL, NULL, "t", NULL, EX_SOFTWARE },
};

static void
test_frames(void **state)
{
	struct err rec;
	char *out;
	size_t i, len;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		err_clear(&rec);
		rc = oauth_frame(frames[i].mech, frames[i].user, frames[i].host,
		    frames[i].port, frames[i].token, &out, &len, &rec);
		if (frames[i].want == NULL) {
			if (rc != -1 || rec.code != frames[i].code)
				fail_msg("row %zu: rc %d code %d, want code %d",
				    i, rc, rec.code, frames[i].code);
			assert_null(out);
			/* The token never appears in the error. */
			if (frames[i].token != NULL &&
			    strlen(frames[i].token) > 2)
				assert_null(strstr(rec.text, frames[i].token));
			continue;
		}
		if (rc != 0)
			fail_msg("row %zu: %s", i, rec.text);
		assert_int_equal(len, strlen(frames[i].want));
		if (memcmp(out, frames[i].want, len) != 0)
			fail_msg("row %zu: got \"%s\"", i, out);
		secret_wipe(out, len);
		free(out);
	}
}

static const struct {
	const char *json, *want;
} reasons[] = {
	{ "{\"status\":\"invalid_token\",\"scope\":\"x\"}", "invalid_token" },
	{ "{ \"scope\" : \"x\", \"status\" : \"insufficient_scope\" }",
	    "insufficient_scope" },
	{ "{\"status\":\"400\",\"schemes\":\"Bearer\"}", "400" },
	{ "{\"status\":401}", "401" },
	{ "{\"scope\":\"x\"}", "" },
	{ "", "" },
	{ "{\"status\":\"\"}", "" },
	{ "{\"status\":\"bad\x1b[2Jtoken\"}", "bad\\x1b[2Jtoken" },
	{ "{\"status\":\"cut", "cut" },
	{ "\"status\"", "" },
};

static void
test_reasons(void **state)
{
	char buf[OAUTH_REASON_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		oauth_reason_of(
		    reasons[i].json, strlen(reasons[i].json), buf, sizeof(buf));
		if (strcmp(buf, reasons[i].want) != 0)
			fail_msg("row %zu: \"%s\", want \"%s\"", i, buf,
			    reasons[i].want);
	}
}

/* One long status is cut to the buffer. */
static void
test_reason_cut(void **state)
{
	char json[600], buf[OAUTH_REASON_MAX];

	(void)state;
	snprintf(json, sizeof(json), "{\"status\":\"%0500d\"}", 7);
	oauth_reason_of(json, strlen(json), buf, sizeof(buf));
	assert_true(strlen(buf) < sizeof(buf));
	assert_true(strlen(buf) > 10);
}

/* Through sasl: the initial response, then the error challenge of RFC
 * 7628 3.2.2 answered with AQ== (OAUTHBEARER) or "" (XOAUTH2), then no
 * more. */
static void
exchange(const char *mech, const char *first, const char *answer)
{
	/* {"status":"invalid_token"} */
	static const char ch[] = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=";
	char hint[160], *out;
	struct sasl *s;
	struct err rec;

	err_clear(&rec);
	s = sasl_new(mech, "alice", "tok", NULL, &rec);
	assert_non_null(s);
	sasl_set_server(s, "smtp.example.org", "587");
	assert_false(sasl_error_challenge(s));
	assert_int_equal(sasl_step(s, NULL, &out, &rec), 0);
	assert_string_equal(out, first);
	sasl_free_out(out);
	assert_true(sasl_error_challenge(s));
	assert_int_equal(sasl_step(s, ch, &out, &rec), 0);
	assert_string_equal(out, answer);
	sasl_free_out(out);
	assert_false(sasl_error_challenge(s));
	sasl_failure_hint(s, hint, sizeof(hint));
	assert_non_null(strstr(hint, "invalid_token"));
	assert_int_equal(sasl_step(s, ch, &out, &rec), -1);
	assert_null(out);
	assert_int_equal(rec.code, EX_PROTOCOL);
	sasl_free(s);
}

static void
test_exchanges(void **state)
{
	(void)state;
	/* base64 of "n,a=alice,\1host=smtp.example.org\1port=587\1auth=Bearer
	 * tok\1\1" and of "user=alice\1auth=Bearer tok\1\1". */
	exchange("OAUTHBEARER",
	    "bixhPWFsaWNlLAFob3N0PXNtdHAuZXhhbXBsZS5vcmcBcG9ydD01ODcBYXV0aD1"
	    "CZWFyZXIgdG9rAQE=",
	    "AQ==");
	exchange("XOAUTH2", "dXNlcj1hbGljZQFhdXRoPUJlYXJlciB0b2sBAQ==", "");
}

/* A challenge that is not base64 is refused (76); a token that is not
 * one fails sasl_new (78). */
static void
test_errors(void **state)
{
	struct sasl *s;
	struct err rec;
	char *out;

	(void)state;
	err_clear(&rec);
	s = sasl_new("XOAUTH2", "alice", "tok", NULL, &rec);
	assert_non_null(s);
	assert_int_equal(sasl_step(s, NULL, &out, &rec), 0);
	sasl_free_out(out);
	assert_int_equal(sasl_step(s, "!!!!", &out, &rec), -1);
	assert_int_equal(rec.code, EX_PROTOCOL);
	sasl_free(s);
	s = sasl_new("OAUTHBEARER", "alice", "my password", NULL, &rec);
	assert_null(s);
	assert_int_equal(rec.code, EX_CONFIG);
	assert_null(strstr(rec.text, "my password"));
}

/* Password mechanisms keep their hint; release functions take NULL. */
static void
test_hint_and_null(void **state)
{
	char hint[160];
	struct sasl *s;
	struct err rec;

	(void)state;
	err_clear(&rec);
	s = sasl_new("PLAIN", "alice", "pw", NULL, &rec);
	assert_non_null(s);
	assert_false(sasl_error_challenge(s));
	sasl_failure_hint(s, hint, sizeof(hint));
	assert_string_equal(hint, "check user and password");
	sasl_free(s);
	s = sasl_new("XOAUTH2", "alice", "tok", NULL, &rec);
	sasl_failure_hint(s, hint, sizeof(hint));
	assert_non_null(strstr(hint, "OAuth token"));
	sasl_free(s);
	oauth_free(NULL);
	assert_true(oauth_is_mech("xoauth2") && oauth_is_mech("OAuthBearer"));
	assert_false(oauth_is_mech("PLAIN") || oauth_is_mech("XOAUTH"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_reason_cut),
		cmocka_unit_test(test_exchanges),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_hint_and_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
