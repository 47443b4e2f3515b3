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
};

/* Whether the account may use mailbox as a sender.  A pattern is "*"
 * (anything), "*@domain", "user+*@domain" (user and user+tag) or an
 * address; local parts compare byte for byte, domains ignoring case after
 * IDNA (addr_to_ascii).  Without patterns (no allow_from) everything is
 * allowed, and the server's own policy decides.  A bare local name is
 * taken with local_domain; "" (the null sender) is always allowed. */
int policy_allowed(const struct policy *p, const char *mailbox);

/* Check mailbox, which the message uses as what ("envelope sender",
 * "From address", "Sender address").  Returns 0, or -1 with rec filled
 * (ERR_PERM, EX_NOPERM) naming the address, the account, the allowed
 * patterns and the key to change. */
int policy_check(const struct policy *p, const char *what, const char *mailbox,
    struct err *rec);

#endif
