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
	/* NULL, or pins checked by pin_check: the server's key must be
	 * one of them, and then nothing else is checked (no chain, name or
	 * dates: the key is the identity, RFC 7671 5.1). */
	const char *pin;
	const char *priorities; /* NULL, or checked by tlsprio_check */
	const char *cert_file;	/* client certificate (PEM), or NULL */
	const char *key_file;	/* its key: owner and mode are checked */
	/* 1 only for --serverinfo, which sends nothing that matters after
	 * the handshake: a refused certificate does not stop the handshake,
	 * tls_verify_result tells the verdict; cert_file and key_file are
	 * not used (no client certificate for a server not yet judged). */
	int report;
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
 * ERR_TEMP/EX_TEMPFAIL.  On success the client's last flight (Finished,
 * with its Certificate when asked for) may still be held, unsent, in the
 * stage (tls_staged): TLS 1.3 lets the first command follow it at once,
 * and sent apart the two would be two packets.  The caller sends what
 * tls_staged holds before it waits for the server or closes. */
int tls_handshake(gnutls_session_t s, long long deadline_ms, struct err *rec);

/* After a handshake: 0 when the certificate (or pin) was accepted, else
 * -1 with rec filled as a failed handshake would fill it (ERR_PERM,
 * EX_UNAVAILABLE), also when no certificate was checked.  --serverinfo
 * (params->report) learns the verdict here; a send calls it as a second
 * check before it sends anything inside TLS. */
int tls_verify_result(gnutls_session_t s, struct err *rec);

/* After a handshake with params->report: the verdict as GNUTLS_CERT_*
 * bits, 0 when the certificate (or pin) was accepted.  With tls_pin
 * set, a refusal is GNUTLS_CERT_INVALID alone. */
unsigned int tls_verify_status(gnutls_session_t s);

/* The channel binding of the session for SCRAM-*-PLUS: "tls-exporter"
 * (TLS 1.3, or 1.2 with the extended master secret) or "tls-unique"
 * (other TLS 1.2), with its bytes in *out (free with gnutls_free); NULL
 * when GnuTLS has none. */
const char *tls_channel_binding(gnutls_session_t s, gnutls_datum_t *out);

/* The pin of the server's certificate ("" when unknown); valid as long
 * as the session. */
const char *tls_peer_pin(gnutls_session_t s);

/* "TLS1.3" etc. for the log line; a static string. */
const char *tls_version_name(gnutls_session_t s);

/* With on, what GnuTLS writes on s (its records) is collected instead
 * of sent, after what the stage already holds, until tls_stage(s, 0);
 * tls_staged gives it and empties the stage (the bytes stay valid until
 * the next record is collected or the session's end), for the caller to
 * send in one write.  A record that cannot be collected (out of memory)
 * fails the gnutls_record_send that made it. */
void tls_stage(gnutls_session_t s, int on);
const char *tls_staged(gnutls_session_t s, size_t *len);

/* Release the session and its credentials; NULL is fine. */
void tls_session_free(gnutls_session_t s);

#endif
