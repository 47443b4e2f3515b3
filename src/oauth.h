/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_OAUTH_H
#define MAILHOP_OAUTH_H

#include <stddef.h>

#include "err.h"

/* Longest server reason kept from an error challenge. */
#define OAUTH_REASON_MAX 80

/* Is mech XOAUTH2 or OAUTHBEARER (any case)? */
int oauth_is_mech(const char *mech);

/* The client's first message of mech, before base64: for XOAUTH2
 * "user=USER\1auth=Bearer TOKEN\1\1"; for OAUTHBEARER (RFC 7628 3.1)
 * "n,a=USER,\1host=HOST\1port=PORT\1auth=Bearer TOKEN\1\1" with "," and
 * "=" in USER escaped (RFC 5801 5.1), host and port left out when NULL.
 * Returns 0 with *out malloc'ed (release with secret_wipe and free; *len
 * bytes, NUL-terminated), or -1 with rec filled: ERR_CONFIG/EX_CONFIG
 * when token is not a bearer token (RFC 6750 2.1 b64token) or user holds
 * a control character; the token never appears in rec. */
int oauth_frame(const char *mech, const char *user, const char *host,
    const char *port, const char *token, char **out, size_t *len,
    struct err *rec);

/* The "status" of the server's JSON error (decoded challenge, n bytes),
 * sanitised into buf (size sz); "" when there is none. */
void oauth_reason_of(const char *json, size_t n, char *buf, size_t sz);

struct oauth;

/* Start an exchange of mech for user with the bearer token (neither is
 * copied: they must outlive it).  Checks them as oauth_frame does.
 * Returns NULL with rec filled on failure. */
struct oauth *oauth_new(
    const char *mech, const char *user, const char *token, struct err *rec);

/* The server's name and port, for OAUTHBEARER's host and port keys;
 * call before the first step.  Not copied. */
void oauth_set_server(struct oauth *o, const char *host, const char *port);

/* One step, as sasl_step: in NULL gives the initial response (returns
 * 0: the client has nothing more to say).  in, after it, is the
 * server's error challenge (base64 JSON, RFC 7628 3.2.2): its status is
 * kept for oauth_reason and the answer is "AQ==" (OAUTHBEARER, the
 * single byte 0x01 of RFC 7628 3.2.3) or "" (XOAUTH2); returns 0, and
 * the server's failure reply is due.  A further challenge: -1 with rec
 * filled (EX_PROTOCOL).  *out is malloc'ed base64, freed with
 * secret_free. */
int oauth_step(struct oauth *o, const char *in, char **out, struct err *rec);

/* Whether the server may still send its error challenge: after the
 * initial response and before the answer to it. */
int oauth_error_expected(const struct oauth *o);

/* The status the server gave in its error challenge, or "". */
const char *oauth_reason(const struct oauth *o);

/* Wipe and free; NULL is fine. */
void oauth_free(struct oauth *o);

#endif
