/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_TLSPRIO_H
#define MAILHOP_TLSPRIO_H

#include <stddef.h>

#include <gnutls/gnutls.h>

/* Appended to the system default: TLS 1.2 at least (RFC 8997). */
#define TLSPRIO_DEFAULT "-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Longest tls_priorities string, and room for it with the default. */
#define TLSPRIO_MAX 400
#define TLSPRIO_STRING_MAX (TLSPRIO_MAX + sizeof(TLSPRIO_DEFAULT) + 1)

/* Write the string to append to the system default: TLSPRIO_DEFAULT, then
 * user (NULL: none) after a colon, into buf (size sz).  Returns 0, or -1
 * when it does not fit. */
int tlsprio_string(const char *user, char *buf, size_t sz);

/* Does the priority string v only narrow mailhop's default?  Refused: a
 * syntax error, %flags, a "+VERS-" other than TLS1.2 and TLS1.3, an empty
 * result, an item that neither removes ("-", "!") nor names one version
 * or algorithm ("+" and a name: a keyword such as NORMAL, or "+CIPHER-ALL",
 * is refused), and anything that adds a version, cipher, MAC, key
 * exchange, signature or group to the default's lists.  Returns 0, or -1
 * with why (size sz). */
int tlsprio_check(const char *v, char *why, size_t sz);

/* Set on s the system default with TLSPRIO_DEFAULT and user (NULL:
 * none), X25519 moved first among the groups that leaves.  Returns 0 or
 * a GnuTLS error code. */
int tlsprio_set(gnutls_session_t s, const char *user);

#endif
