/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: AUTH as the client runs it.  The first byte picks the
 * mechanism; the rest is the server's side, one 334 challenge (base64
 * text) per LF, each answered by sasl_step as smtp.c does.  The first
 * line is also the EHLO AUTH list that sasl_choose picks from.
 */
#include <stdio.h>

#include "base64.h"
#include "fuzz.h"
#include "oauth.h"
#include "sasl.h"

static const char *const mechs[] = { "PLAIN", "LOGIN", "EXTERNAL", "XOAUTH2",
	"OAUTHBEARER", "SCRAM-SHA-1", "SCRAM-SHA-256" };
#define NMECHS (sizeof(mechs) / sizeof(mechs[0]))

static void
raw(const char *s, size_t n)
{
	char reason[OAUTH_REASON_MAX + 1], *out;
	size_t len;

	oauth_reason_of(s, n, reason, sizeof(reason));
	if (b64_decode(s, &out, &len) == 0) {
		oauth_reason_of(out, len, reason, sizeof(reason));
		free(out);
	}
}

static void
exchange(const char *mech, const char *p, size_t size)
{
	struct err rec;
	struct sasl *s;
	const char *l;
	char *in, *out = NULL, hint[256];
	size_t n;
	int rc;

	s = sasl_new(mech, "alice@example.org", "pass.word", NULL, &rec);
	if (s == NULL)
		return;
	sasl_set_server(s, "mail.example.org", "587");
	rc = sasl_step(s, NULL, &out, &rec);
	sasl_free_out(out);
	while (rc != -1 && (l = fuzz_piece(&p, &size, '\n', &n)) != NULL) {
		if (rc == 0 && !sasl_error_challenge(s))
			break;
		in = fuzz_str(l, n);
		out = NULL;
		rc = sasl_step(s, in, &out, &rec);
		sasl_free_out(out);
		raw(in, strlen(in));
		free(in);
	}
	sasl_failure_hint(s, hint, sizeof(hint));
	sasl_free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1, *l;
	char chosen[64], *offered;
	struct err rec;
	size_t n, left;

	if (size < 1)
		return 0;
	left = size - 1;
	exchange(mechs[data[0] % NMECHS], p, left);
	if ((l = fuzz_piece(&p, &left, '\n', &n)) != NULL) {
		offered = fuzz_str(l, n);
		sasl_choose(offered, NULL, chosen, sizeof(chosen), &rec);
		sasl_choose(offered, mechs[data[0] % NMECHS], chosen,
		    sizeof(chosen), &rec);
		free(offered);
	}
	return 0;
}
