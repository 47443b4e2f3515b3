/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SASL_H
#define MAILHOP_SASL_H

#include <stddef.h>
#include <gnutls/gnutls.h>

#include "err.h"

/* Pick the mechanism to use from the server's AUTH list (space-separated
 * tokens, compared whole and case-insensitively).  forced, when not NULL,
 * must be offered, else ERR_PERM/EX_UNAVAILABLE naming what the server
 * offers.  Otherwise the first of SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS,
 * SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN
 * that is offered; none: ERR_PERM/EX_UNAVAILABLE "no usable mechanism".
 * Writes the name to out (size sz). */
int sasl_choose(const char *offered, const char *forced, char *out, size_t sz,
    struct err *rec);

struct sasl;

/* Start a client exchange for mech with user and password (not copied:
 * they must outlive the exchange).  tls may be NULL.  Returns NULL with
 * rec filled on failure. */
struct sasl *sasl_new(const char *mech, const char *user, const char *password,
    gnutls_session_t tls, struct err *rec);

/* One step: in is the server's base64 challenge ("" for none, NULL before
 * the first step), *out a malloc'ed base64 response the caller frees with
 * sasl_free_out.  Returns 1 when the mechanism needs another step, 0 when
 * it is done on our side, -1 with rec filled (bad challenge: EX_PROTOCOL).
 */
int sasl_step(struct sasl *s, const char *in, char **out, struct err *rec);

/* Wipe and free a response from sasl_step; NULL is fine. */
void sasl_free_out(char *out);

/* The server's host name and port, which OAUTHBEARER sends (RFC 7628
 * 3.1); not copied.  Call before the first step; other mechanisms
 * ignore it. */
void sasl_set_server(struct sasl *s, const char *host, const char *port);

/* Whether a 334 is still acceptable after the exchange is done on our
 * side: the error challenge of XOAUTH2 and OAUTHBEARER (RFC 7628
 * 3.2.2), which sasl_step answers; the failure reply follows it. */
int sasl_error_challenge(const struct sasl *s);

/* What a user should check after the server refused AUTH, in buf (size
 * sz): the password, or for OAuth the token, with the reason the server
 * gave in its error challenge (sanitised). */
void sasl_failure_hint(const struct sasl *s, char *buf, size_t sz);

/* End the exchange and wipe what it held; NULL is fine. */
void sasl_free(struct sasl *s);

#endif
