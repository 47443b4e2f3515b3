/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: address lists as -t reads them from To, Cc and Bcc.  The
 * input is one field value; each mailbox found is checked as MAIL and
 * RCPT would be and converted to A-labels, and the list is rewritten
 * with every second mailbox replaced, as the alias rewrite does.
 */
#include "addr.h"
#include "fuzz.h"

static char *
every_second(void *arg, const char *mailbox)
{
	int *k = arg;

	(void)mailbox;
	if ((*k)++ % 2 == 0)
		return NULL;
	return strdup("postmaster@example.org");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_list l = { 0 };
	struct err rec;
	char *s = fuzz_str(data, size), *out = NULL, *a;
	size_t i;
	int k = 0;

	if (addr_parse_list(s, &l, &rec) == 0)
		for (i = 0; i < l.n; i++) {
			addr_check(l.v[i].mailbox, &rec);
			addr_needs_utf8(l.v[i].mailbox);
			addr_domain(l.v[i].mailbox);
			if ((a = addr_to_ascii(l.v[i].mailbox, &rec)) != NULL)
				free(a);
			if (i > 0)
				addr_equal(l.v[i - 1].mailbox, l.v[i].mailbox);
		}
	addr_list_free(&l);
	if (addr_rewrite_list(s, every_second, &k, &out, &rec) == 0 &&
	    out != NULL) {
		/* What was rewritten must still parse. */
		l = (struct addr_list){ 0 };
		if (addr_parse_list(out, &l, &rec) == -1 &&
		    strpbrk(s, "\r\n") == NULL)
			abort();
		addr_list_free(&l);
		free(out);
	}
	free(s);
	return 0;
}
