/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_ADDR_H
#define MAILHOP_ADDR_H

#include <stddef.h>

#include "err.h"

/* One mailbox.  mailbox is the addr-spec as it goes into MAIL or RCPT:
 * "local@domain", or a bare local part ("root"); comments, folding
 * whitespace and the quoting of plain local parts removed. */
struct addr {
	char *name; /* display name as written, or NULL */
	char *mailbox;
};

struct addr_list {
	struct addr *v;
	size_t n;
	size_t cap;
};

/* Parse an unfolded RFC 5322 address-list (section 3.4): name-addr and
 * addr-spec, groups (their members are taken, their names are not),
 * comments, quoted strings, obsolete empty elements and routes.  Appends
 * each mailbox to out.  Returns 0; or -1 with rec filled (ERR_USAGE,
 * EX_DATAERR, naming the problem) on a syntax error, leaving out with what
 * was parsed before it.  The empty string is an empty list. */
int addr_parse_list(const char *s, struct addr_list *out, struct err *rec);

/* A rewrite callback: given a mailbox (as in struct addr), return NULL to
 * keep it, or a malloc'ed replacement mailbox, which the caller frees. */
typedef char *addr_rewrite_fn(void *arg, const char *mailbox);

/* Parse the address list s as addr_parse_list does (s may still be folded:
 * CRLF counts as white space) and call fn for each mailbox in order,
 * duplicates included.  Where fn returns a different mailbox, the text of
 * the addr-spec in s (from its local part to the end of its domain) is
 * replaced by it; display names, comments, groups, angle brackets, white
 * space and folding around it stay as they are.  Returns 0 with *out a
 * malloc'ed new list, or NULL when nothing changed; or -1 with rec filled:
 * a syntax error (ERR_USAGE, as addr_parse_list), a replacement holding CR
 * or LF (ERR_LOCAL, EX_SOFTWARE: a bug in fn), out of memory (ERR_LOCAL,
 * EX_OSERR). */
int addr_rewrite_list(
    const char *s, addr_rewrite_fn *fn, void *arg, char **out, struct err *rec);

/* Append mailbox (copied) unless an equal one is there (addr_equal).
 * Returns 0, or -1 when out of memory. */
int addr_list_add(struct addr_list *l, const char *name, const char *mailbox);

void addr_list_free(struct addr_list *l);

/* Mailboxes are equal when the local parts are equal byte for byte and the
 * domains are equal ignoring ASCII case (RFC 5321 section 2.4). */
int addr_equal(const char *a, const char *b);

/* Check a mailbox bound for MAIL or RCPT: no control bytes, space or DEL
 * outside quotes, no <>, local part at most 64 octets, domain at most 255,
 * whole path at most 256 (RFC 5321 section 4.5.3.1).  Returns 0, or -1
 * with rec filled (ERR_USAGE, EX_DATAERR). */
int addr_check(const char *mailbox, struct err *rec);

/* 1 when mailbox needs SMTPUTF8 (RFC 6531 section 3.2) on the wire: its
 * local part has a byte over 0x7f.  A non-ASCII domain does not count, as
 * addr_to_ascii turns it into A-labels. */
int addr_needs_utf8(const char *mailbox);

/* The domain part of mailbox (after the last '@'), or NULL. */
const char *addr_domain(const char *mailbox);

/* A malloc'ed copy of mailbox whose domain is converted to A-labels
 * (IDNA 2008 with UTS #46 mapping through libidn2); an ASCII mailbox comes
 * back unchanged.  Returns NULL with rec filled (ERR_USAGE, EX_DATAERR) for
 * a domain IDNA refuses. */
char *addr_to_ascii(const char *mailbox, struct err *rec);

#endif
