/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_NET_H
#define MAILHOP_NET_H

#include <stddef.h>

#include "err.h"

/* Resolve host and connect to port, trying every address within one
 * budget of timeout_ms in all.  Returns a connected, non-blocking TCP
 * socket with TCP_NODELAY set, or -1 with rec filled: a name that does not
 * exist is ERR_PERM/EX_NOHOST, a temporary resolver failure, refusal or
 * timeout is ERR_TEMP/EX_TEMPFAIL.  Blocks up to timeout_ms. */
int net_connect(
    const char *host, const char *port, int timeout_ms, struct err *rec);

/* Longest host name, with its NUL (RFC 1035: 253 characters). */
#define NET_HOST_MAX 256

/* host as an address for the resolver and for TLS: an IP literal in
 * brackets, as URLs write IPv6 ones (RFC 3986 3.2.2: "[::1]",
 * "[127.0.0.1]"), without them, in buf (size sz, NET_HOST_MAX); any
 * other host as it is.  Returns buf or host, or NULL when the brackets
 * hold no IP literal (rec filled: ERR_CONFIG/EX_CONFIG, with the fix). */
const char *net_host(const char *host, char *buf, size_t sz, struct err *rec);

/* Milliseconds on a monotonic clock, for deadlines. */
long long net_now_ms(void);

#endif
