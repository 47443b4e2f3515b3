/* SPDX-License-Identifier: ISC */
/*
 * GnuTLS client sessions: trust from the system store or a CA file, TLS
 * 1.2 at least, SNI for DNS names, and verification that fails the
 * handshake itself (security.md S12-S16).  The handshake runs on a
 * non-blocking socket under a deadline, and each way it can fail is turned
 * into one line that says what to do about it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <gnutls/gnutls.h>

#include "net.h"
#include "tls.h"

#define TLS_PRIORITY_APPEND "-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* What a session owns besides itself; kept with gnutls_session_set_ptr. */
struct tls_ctx {
	gnutls_certificate_credentials_t cred;
	char *host; /* reference identity, without a trailing dot */
	int fd;
	int first_byte; /* first byte the server sent, or -1 */
	int eno;	/* errno of the last failed send or recv */
};

/* Write without SIGPIPE: a peer that has gone must not kill us. */
static ssize_t
tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct tls_ctx *ctx = ptr;
	ssize_t n;

	n = send(ctx->fd, buf, len, MSG_NOSIGNAL);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		ctx->eno = errno;
	return n;
}

/* Read, noting the first byte so that a plain-text answer can be told
 * from a broken TLS one. */
static ssize_t
tls_pull(gnutls_transport_ptr_t ptr, void *buf, size_t len)
{
	struct tls_ctx *ctx = ptr;
	ssize_t n;

	n = recv(ctx->fd, buf, len, 0);
	if (n > 0 && ctx->first_byte == -1)
		ctx->first_byte = *(unsigned char *)buf;
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		ctx->eno = errno;
	return n;
}

static int
tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls_ctx *ctx = ptr;
	struct pollfd pfd = { .fd = ctx->fd, .events = POLLIN };

	return poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
}

/* An IPv4 or IPv6 literal, which gets no SNI (RFC 6066 section 3). */
static int
is_ip_literal(const char *host)
{
	struct in_addr a4;

	return inet_pton(AF_INET, host, &a4) == 1 || strchr(host, ':') != NULL;
}

static void
ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->cred != NULL)
		gnutls_certificate_free_credentials(ctx->cred);
	free(ctx->host);
	free(ctx);
}

/* Allocate the context: a private copy of the host name and the trust
 * anchors from params. */
static struct tls_ctx *
ctx_new(int fd, const struct tls_params *params, struct err *rec)
{
	struct tls_ctx *ctx;
	size_t len;
	int n;

	if ((ctx = calloc(1, sizeof(*ctx))) == NULL ||
	    (ctx->host = strdup(params->host)) == NULL ||
	    gnutls_certificate_allocate_credentials(&ctx->cred) < 0) {
		ctx_free(ctx);
		err_set(rec, ERR_LOCAL, EX_OSERR, "TLS setup: out of memory");
		return NULL;
	}
	ctx->fd = fd;
	ctx->first_byte = -1;
	len = strlen(ctx->host);
	if (len > 1 && ctx->host[len - 1] == '.')
		ctx->host[len - 1] = '\0';

	if (params->ca_file != NULL) {
		n = gnutls_certificate_set_x509_trust_file(
		    ctx->cred, params->ca_file, GNUTLS_X509_FMT_PEM);
		if (n < 0)
			err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "cannot load tls_ca_file %s: %s", params->ca_file,
			    gnutls_strerror(n));
		else if (n == 0)
			err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "tls_ca_file %s holds no PEM certificate",
			    params->ca_file);
	} else {
		n = gnutls_certificate_set_x509_system_trust(ctx->cred);
		if (n <= 0)
			err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "no CA certificates in the system trust store %s",
			    "(install ca-certificates or set tls_ca_file)");
	}
	if (n <= 0) {
		ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Priority, credentials, SNI, verification and transport for s. */
static int
session_setup(gnutls_session_t s, struct tls_ctx *ctx, struct err *rec)
{
	const char *errpos = NULL;
	int r;

	r = gnutls_set_default_priority_append(
	    s, TLS_PRIORITY_APPEND, &errpos, 0);
	if (r >= 0)
		r = gnutls_credentials_set(
		    s, GNUTLS_CRD_CERTIFICATE, ctx->cred);
	if (r >= 0 && !is_ip_literal(ctx->host))
		r = gnutls_server_name_set(
		    s, GNUTLS_NAME_DNS, ctx->host, strlen(ctx->host));
	if (r < 0)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "TLS setup failed: %s", gnutls_strerror(r));

	/* Never NULL: that would skip the host name check (S15). */
	gnutls_session_set_verify_cert(s, ctx->host, 0);
	gnutls_session_set_ptr(s, ctx);
	gnutls_transport_set_ptr(s, ctx);
	gnutls_transport_set_push_function(s, tls_push);
	gnutls_transport_set_pull_function(s, tls_pull);
	gnutls_transport_set_pull_timeout_function(s, tls_pull_timeout);
	return 0;
}

int
tls_session_new(int fd, const struct tls_params *params, gnutls_session_t *out,
    struct err *rec)
{
	struct tls_ctx *ctx;
	gnutls_session_t s;
	int r;

	*out = NULL;
	if (params == NULL || params->host == NULL)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "TLS setup: no host name to verify against");
	if ((ctx = ctx_new(fd, params, rec)) == NULL)
		return -1;
	r = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL);
	if (r < 0) {
		ctx_free(ctx);
		return err_set(rec, ERR_LOCAL, EX_OSERR, "TLS setup failed: %s",
		    gnutls_strerror(r));
	}
	if (session_setup(s, ctx, rec) == -1) {
		gnutls_deinit(s);
		ctx_free(ctx);
		return -1;
	}
	*out = s;
	return 0;
}

/* What the user can do about each kind of failure. */
#define HINT_CA "set tls_ca_file to the CA that signed it"
#define HINT_NAME "set host to a name the certificate lists"
#define HINT_TIME "check the clock, or have the certificate renewed"
#define HINT_VERSION "the server must offer TLS version 1.2 or 1.3"
#define HINT_PLAIN \
	"the server does not speak TLS on this port; try tls = starttls"

static int
handshake_fail(
    struct err *rec, const char *host, const char *why, const char *hint)
{
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "TLS handshake with %s failed: %s (%s)", host, why, hint);
}

#define NOT_TRUSTED "The certificate is NOT trusted. "

/* Why a certificate failed, in GnuTLS's words, and the hint that fixes
 * it. */
static int
cert_error(gnutls_session_t s, const char *host, struct err *rec)
{
	unsigned int status = gnutls_session_get_verify_cert_status(s);
	gnutls_datum_t out = { NULL, 0 };
	const char *why = "verification failed", *hint = HINT_CA;
	size_t len = strlen(why);

	if (gnutls_certificate_verification_status_print(
		status, gnutls_certificate_type_get(s), &out, 0) == 0 &&
	    out.data != NULL) {
		why = (const char *)out.data;
		/* Our message says "not trusted" already. */
		if (strncmp(why, NOT_TRUSTED, strlen(NOT_TRUSTED)) == 0)
			why += strlen(NOT_TRUSTED);
		len = strlen(why);
	}
	while (len > 0 && (why[len - 1] == ' ' || why[len - 1] == '.'))
		len--;

	if ((status & GNUTLS_CERT_SIGNER_NOT_FOUND) == 0) {
		if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
			hint = HINT_NAME;
		else if (status &
		    (GNUTLS_CERT_EXPIRED | GNUTLS_CERT_NOT_ACTIVATED))
			hint = HINT_TIME;
	}
	err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "certificate of %s not trusted: %.*s (%s)", host, (int)len, why,
	    hint);
	gnutls_free(out.data);
	return -1;
}

/* A fatal alert from the server. */
static int
alert_error(gnutls_session_t s, const char *host, struct err *rec)
{
	gnutls_alert_description_t a = gnutls_alert_get(s);
	const char *name = gnutls_alert_get_name(a);

	if (a == GNUTLS_A_PROTOCOL_VERSION)
		return handshake_fail(rec, host,
		    "the server refused our protocol version", HINT_VERSION);
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "TLS handshake with %s failed: the server sent the alert \"%s\"",
	    host, name == NULL ? "unknown" : name);
}

/* Did the server answer the ClientHello with something that is not a
 * TLS record at all (an SMTP greeting, say)? */
static int
plain_answer(const struct tls_ctx *ctx)
{
	/* TLS records start with content type 20-23 (RFC 8446 5.1). */
	return ctx->first_byte != -1 &&
	    (ctx->first_byte < 20 || ctx->first_byte > 23);
}

/* Fill rec for a failed handshake that returned r. */
static int
handshake_error(gnutls_session_t s, int r, struct err *rec)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);

	if (r == GNUTLS_E_TIMEDOUT)
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "TLS handshake with %s timed out", ctx->host);
	if (plain_answer(ctx))
		return handshake_fail(rec, ctx->host,
		    "the server answered in plain text", HINT_PLAIN);
	switch (r) {
	case GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR:
	case GNUTLS_E_CERTIFICATE_ERROR:
		return cert_error(s, ctx->host, rec);
	case GNUTLS_E_FATAL_ALERT_RECEIVED:
		return alert_error(s, ctx->host, rec);
	case GNUTLS_E_UNSUPPORTED_VERSION_PACKET:
		return handshake_fail(rec, ctx->host,
		    "unsupported protocol version", HINT_VERSION);
	case GNUTLS_E_PREMATURE_TERMINATION:
	case GNUTLS_E_PUSH_ERROR:
	case GNUTLS_E_PULL_ERROR:
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "TLS handshake with %s failed: connection lost (%s)",
		    ctx->host,
		    ctx->eno != 0 ? strerror(ctx->eno)
				  : "the server closed it");
	default:
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "TLS handshake with %s failed: %s", ctx->host,
		    gnutls_strerror(r));
	}
}

/* Wait until the socket is ready in the direction GnuTLS needs; returns
 * 0, or -1 when the deadline passes. */
static int
handshake_wait(gnutls_session_t s, long long deadline_ms)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);
	struct pollfd pfd;
	long long left;
	int r;

	pfd.fd = ctx->fd;
	pfd.events = gnutls_record_get_direction(s) == 1 ? POLLOUT : POLLIN;
	for (;;) {
		left = deadline_ms - net_now_ms();
		if (left <= 0)
			return -1;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0 || (r == -1 && errno != EINTR))
			return 0;
		if (r == 0)
			return -1;
	}
}

int
tls_handshake(gnutls_session_t s, long long deadline_ms, struct err *rec)
{
	long long left = deadline_ms - net_now_ms();
	int r;

	if (left <= 0)
		return handshake_error(s, GNUTLS_E_TIMEDOUT, rec);
	gnutls_handshake_set_timeout(
	    s, left > INT_MAX ? INT_MAX : (unsigned int)left);

	/* E_AGAIN, E_INTERRUPTED and warning alerts are retried, but only
	 * while time is left (S18). */
	while ((r = gnutls_handshake(s)) < 0) {
		if (gnutls_error_is_fatal(r))
			return handshake_error(s, r, rec);
		if (r == GNUTLS_E_AGAIN && handshake_wait(s, deadline_ms) == -1)
			return handshake_error(s, GNUTLS_E_TIMEDOUT, rec);
		if (net_now_ms() >= deadline_ms)
			return handshake_error(s, GNUTLS_E_TIMEDOUT, rec);
	}
	return 0;
}

const char *
tls_version_name(gnutls_session_t s)
{
	const char *name;

	if (s == NULL)
		return "none";
	name = gnutls_protocol_get_name(gnutls_protocol_get_version(s));
	return name != NULL ? name : "unknown";
}

void
tls_session_free(gnutls_session_t s)
{
	struct tls_ctx *ctx;

	if (s == NULL)
		return;
	ctx = gnutls_session_get_ptr(s);
	gnutls_deinit(s);
	ctx_free(ctx);
}
