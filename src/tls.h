/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_TLS_H
#define MAILHOP_TLS_H

#include <gnutls/gnutls.h>

#include "err.h"

/* How to verify the server.  host is the reference identity: the host
 * name or IP literal from the configuration, never a DNS result. */
struct tls_params {
	const char *host;
	const char *ca_file; /* NULL: the system trust store */
};

/* Create a client session on the connected socket fd: TLS 1.2 at least,
 * trust from params, SNI for DNS names (none for IP literals), and
 * certificate and host name verification that fails the handshake itself.
 * Does not handshake.  Returns 0 and sets *out, or -1 with rec filled
 * (ERR_CONFIG for an unreadable CA file or an empty trust store).  The
 * session keeps pointers into params, which must outlive it. */
int tls_session_new(int fd, const struct tls_params *params,
    gnutls_session_t *out, struct err *rec);

/* Run the handshake on the non-blocking socket until it completes or the
 * monotonic deadline (net_now_ms() scale) passes.  On failure rec says why:
 * a refused certificate (with GnuTLS's verification text) or protocol
 * version is ERR_PERM/EX_UNAVAILABLE, a timeout or lost connection
 * ERR_TEMP/EX_TEMPFAIL. */
int tls_handshake(gnutls_session_t s, long long deadline_ms, struct err *rec);

/* "TLS1.3" etc. for the log line; a static string. */
const char *tls_version_name(gnutls_session_t s);

/* Release the session and its credentials; NULL is fine. */
void tls_session_free(gnutls_session_t s);

#endif
