/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: server replies as the client reads them.  The input is
 * the server's stream, one line per LF (a CR before it dropped, as io.c
 * does); each complete reply is flattened, turned into an error record
 * and read as an EHLO reply.
 */
#include <stdio.h>

#include "fuzz.h"
#include "reply.h"

static struct reply r;

static void
use(const struct reply *rp)
{
	struct reply_caps caps;
	struct err rec;
	char flat[128];

	reply_flatten(rp, flat, sizeof(flat));
	reply_flatten(rp, flat, 1);
	reply_fail(rp, "EHLO", " (note)", 77, &rec);
	reply_caps_parse(&caps, rp);
	if (caps.auth[sizeof(caps.auth) - 1] != '\0' &&
	    strlen(caps.auth) >= sizeof(caps.auth))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *l;
	struct err rec;
	size_t n;
	int rc;

	reply_init(&r);
	while ((l = fuzz_piece(&p, &size, '\n', &n)) != NULL) {
		if (n > 0 && l[n - 1] == '\r')
			n--;
		rc = reply_line(&r, l, n, &rec);
		if (rc == -1)
			return 0;
		if (rc == 1) {
			use(&r);
			reply_init(&r);
		}
	}
	if (r.nlines > 0)
		use(&r);
	return 0;
}
