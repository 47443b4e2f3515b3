/* SPDX-License-Identifier: ISC */
/*
 * The From policy: which addresses an account may send as, checked on the
 * envelope sender and the From and Sender fields before anything is sent
 * (issue 4; RFC 6409 section 8.1 lets the server refuse them anyway).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "addr.h"
#include "err.h"
#include "policy.h"

#define SHOW_MAX 200

/* The domain of mailbox in A-labels, in buf; NULL when IDNA refuses it. */
static const char *
ascii_domain(const char *domain, char *buf, size_t size)
{
	struct err e;
	char *tmp, *a;
	int ok;

	if (asprintf(&tmp, "x@%s", domain) == -1)
		return NULL;
	a = addr_to_ascii(tmp, &e);
	free(tmp);
	if (a == NULL)
		return NULL;
	ok = (size_t)snprintf(buf, size, "%s", addr_domain(a)) < size;
	free(a);
	return ok ? buf : NULL;
}

static int
same_domain(const char *a, const char *b)
{
	char ba[256], bb[256];
	const char *x = ascii_domain(a, ba, sizeof(ba));
	const char *y = ascii_domain(b, bb, sizeof(bb));

	if (x == NULL || y == NULL)
		return strcasecmp(a, b) == 0;
	return strcasecmp(x, y) == 0;
}

/* Does the local part local (llen bytes) match the pattern's (plen)? */
static int
same_local(const char *pat, size_t plen, const char *local, size_t llen)
{
	if (plen == 1 && pat[0] == '*')
		return 1;
	if (plen >= 2 && pat[plen - 2] == '+' && pat[plen - 1] == '*') {
		plen -= 2;
		if (llen == plen)
			return memcmp(pat, local, plen) == 0;
		return llen > plen && memcmp(pat, local, plen) == 0 &&
		    local[plen] == '+';
	}
	return plen == llen && memcmp(pat, local, plen) == 0;
}

/* The account's own address: local parts byte for byte, domains as in a
 * pattern.  Not a pattern: a "*" in from is a character like any other. */
static int
same_address(const char *from, const char *mailbox)
{
	const char *fat = strrchr(from, '@');
	const char *at = strrchr(mailbox, '@');

	if (fat == NULL || at == NULL || fat - from != at - mailbox)
		return 0;
	return memcmp(from, mailbox, (size_t)(at - mailbox)) == 0 &&
	    same_domain(fat + 1, at + 1);
}

static int
match(const char *pat, const char *mailbox)
{
	const char *pat_at = strrchr(pat, '@');
	const char *at = strrchr(mailbox, '@');

	if (strcmp(pat, "*") == 0)
		return 1;
	if (pat_at == NULL || at == NULL)
		return 0;
	return same_local(pat, (size_t)(pat_at - pat), mailbox,
		   (size_t)(at - mailbox)) &&
	    same_domain(pat_at + 1, at + 1);
}

static int
allowed_qualified(const struct policy *p, const char *mailbox)
{
	size_t i;

	/* No allow_from: only the account's own address (issue 4: "each
	 * may send only as its own addresses"). */
	if (p->nallow == 0)
		return p->from != NULL && same_address(p->from, mailbox);
	for (i = 0; i < p->nallow; i++)
		if (match(p->allow[i], mailbox))
			return 1;
	return 0;
}

int
policy_any(const struct policy *p)
{
	size_t i;

	for (i = 0; i < p->nallow; i++)
		if (strcmp(p->allow[i], "*") == 0)
			return 1;
	return 0;
}

int
policy_allowed(const struct policy *p, const char *mailbox)
{
	char *q;
	int ok;

	if (mailbox[0] == '\0')
		return 1;
	if (strchr(mailbox, '@') != NULL)
		return allowed_qualified(p, mailbox);
	if (asprintf(&q, "%s@%s", mailbox, p->local_domain) == -1)
		return 0;
	ok = allowed_qualified(p, q);
	free(q);
	return ok;
}

/* "a, b": what the account allows. */
static void
allowed_text(const struct policy *p, char *buf, size_t size)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < p->nallow && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
		    i > 0 ? ", " : "", p->allow[i]);
}

int
policy_check(const struct policy *p, const char *what, const char *mailbox,
    struct err *rec)
{
	char addr[SHOW_MAX], list[SHOW_MAX * 2], shown[SHOW_MAX * 2];

	if (policy_allowed(p, mailbox))
		return 0;
	err_sanitize(addr, sizeof(addr), mailbox, strlen(mailbox));
	if (p->nallow == 0) {
		err_sanitize(shown, sizeof(shown), p->from, strlen(p->from));
		return err_set(rec, ERR_PERM, EX_NOPERM,
		    "%s %s is not allowed for account %s (without allow_from only its from, %s; add it to allow_from in %s, or \"*\" to leave it to the server)",
		    what, addr, p->account, shown, p->file);
	}
	allowed_text(p, list, sizeof(list));
	err_sanitize(shown, sizeof(shown), list, strlen(list));
	return err_set(rec, ERR_PERM, EX_NOPERM,
	    "%s %s is not allowed for account %s (allowed: %s; add it to allow_from in %s, or \"*\" to leave it to the server)",
	    what, addr, p->account, shown, p->file);
}
