/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_POLICY_H
#define MAILHOP_POLICY_H

#include <stddef.h>

#include "err.h"

/* The From policy of one account (allow_from in mailhop.conf(5)). */
struct policy {
	const char *account;	  /* for the error text */
	const char *file;	  /* the file that defines the account */
	const char *const *allow; /* patterns; NULL with nallow 0: default */
	size_t nallow;
	const char *local_domain; /* qualifies a bare local name */
	const char *from;	  /* the account's address, not NULL */
};

/* Whether the account may use mailbox as a sender.  A pattern is "*"
 * (anything), "*@domain", "user+*@domain" (user and user+tag) or an
 * address; local parts compare byte for byte, domains ignoring case after
 * IDNA (addr_to_ascii).  Without patterns (no allow_from, or
 * allow_from = {}) only the account's from is allowed, compared the same
 * way; "*" leaves it to the server.  A bare local name is taken with
 * local_domain; "" (the null sender) is always allowed.  The caller
 * rewrites a local sender to from first (alias_is_local). */
int policy_allowed(const struct policy *p, const char *mailbox);

/* Whether the account allows every sender (a "*" pattern): the server's
 * policy alone decides, and a field that cannot be parsed needs no
 * check. */
int policy_any(const struct policy *p);

/* Check mailbox, which the message uses as what ("envelope sender",
 * "From address", "Sender address").  Returns 0, or -1 with rec filled
 * (ERR_PERM, EX_NOPERM) naming the address, the account, the allowed
 * patterns (or its from) and the key to change. */
int policy_check(const struct policy *p, const char *what, const char *mailbox,
    struct err *rec);

#endif
