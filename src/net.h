/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_NET_H
#define MAILHOP_NET_H

#include "err.h"

/* Resolve host and connect to port, trying every address within one
 * budget of timeout_ms in all.  Returns a connected, non-blocking TCP
 * socket with TCP_NODELAY set, or -1 with rec filled: a name that does not
 * exist is ERR_PERM/EX_NOHOST, a temporary resolver failure, refusal or
 * timeout is ERR_TEMP/EX_TEMPFAIL.  Blocks up to timeout_ms. */
int net_connect(
    const char *host, const char *port, int timeout_ms, struct err *rec);

/* Milliseconds on a monotonic clock, for deadlines. */
long long net_now_ms(void);

#endif
