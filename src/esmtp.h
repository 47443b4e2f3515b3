/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_ESMTP_H
#define MAILHOP_ESMTP_H

#include <stddef.h>

#include "err.h"
#include "reply.h"
#include "smtp.h"

/* Longest ENVID, xtext-encoded (RFC 3461 4.4). */
#define ESMTP_ENVID_MAX 100

/* xtext-encode src (RFC 3461 4): '+', '=' and bytes outside '!'..'~'
 * become "+HH".  Writes into dst of sz bytes (sz > 0), always
 * terminated.  Returns the encoded length, or -1 when it does not fit
 * (dst then holds ""). */
int esmtp_xtext(char *dst, size_t sz, const char *src);

/* Refuse before connecting what no server could take: an ENVID that is
 * not printable ASCII or over ESMTP_ENVID_MAX encoded, a NOTIFY or RET
 * that is not upper-case letters and commas.  Returns 0, or -1 with rec
 * filled (ERR_USAGE, EX_USAGE).  Never blocks. */
int esmtp_check_envelope(const struct smtp_envelope *env, struct err *rec);

/* Whether the server with caps may be sent the message of size bytes
 * for env: refused (ERR_PERM, EX_DATAERR) when over the server's SIZE
 * (RFC 1870), or when env needs SMTPUTF8 and caps lacks it (RFC 6531).
 * Returns 0, or -1 with rec filled.  Never blocks. */
int esmtp_check(const struct reply_caps *caps, const struct smtp_envelope *env,
    long long size, struct err *rec);

/* Whether env asks for a DSN (NOTIFY, RET or ENVID) that caps does not
 * offer; the request is then dropped from the wire. */
int esmtp_dsn_dropped(
    const struct reply_caps *caps, const struct smtp_envelope *env);

/* The parameters that follow "MAIL FROM:<...>", each with a leading
 * space, "" when none: SIZE=size when SIZE is offered; BODY=8BITMIME
 * for an 8-bit body; SMTPUTF8 only when env needs it; RET= and ENVID=
 * when asked for and DSN is offered.  Writes into dst of sz bytes.
 * Returns 0, or -1 when they do not fit (dst then holds ""). */
int esmtp_mail_params(char *dst, size_t sz, const struct reply_caps *caps,
    const struct smtp_envelope *env, long long size);

/* The parameters that follow "RCPT TO:<rcpt>": with DSN offered and
 * env->notify set, NOTIFY= and, for an ASCII address, ORCPT=rfc822;
 * with the xtext address (RFC 3461 4.1, 4.2).  As esmtp_mail_params. */
int esmtp_rcpt_params(char *dst, size_t sz, const struct reply_caps *caps,
    const struct smtp_envelope *env, const char *rcpt);

#endif
