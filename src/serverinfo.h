/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SERVERINFO_H
#define MAILHOP_SERVERINFO_H

#include <stdio.h>

#include "err.h"
#include "smtp.h"

/* Connect to the server of p as a send would (TLS mode, trust, pin,
 * priorities; but no client certificate is presented), and write to
 * out: the greeting, the capabilities before and after TLS, the TLS
 * version and cipher suite, each certificate of the chain (subject,
 * issuer, validity and days left, names, key pin), whether the
 * certificate was accepted, and what to do about tls_pin (the line to
 * paste only for a certificate without a known issuer, with what to check
 * first).  A certificate that fails is still shown (with its pin): the
 * handshake runs in report mode, and nothing follows it but the close.
 * Sends EHLO, STARTTLS and QUIT only.  Returns 0, or -1 with rec filled
 * as smtp_send would (a refused certificate: ERR_PERM, EX_UNAVAILABLE).
 * Blocks up to p->timeout_ms per step. */
int serverinfo_run(const struct smtp_params *p, FILE *out, struct err *rec);

#endif
