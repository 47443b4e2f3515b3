/* SPDX-License-Identifier: ISC */
/*
 * GnuTLS client sessions: trust from the system store, a CA file or a
 * pinned public key, TLS 1.2 at least (a user priority string may only
 * narrow it), SNI for DNS names, a client certificate when configured, and
 * verification that fails the handshake itself (security.md S12-S17).
 * The handshake runs on a non-blocking socket under a deadline, and each
 * way it can fail is turned into one line that says what to do about it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "net.h"
#include "pin.h"
#include "secret.h"
#include "tls.h"
#include "tlsprio.h"

/* Largest private key file read. */
#define TLS_KEY_MAX (64 * 1024)

/* What a session owns besides itself; kept with gnutls_session_set_ptr. */
struct tls_ctx {
	gnutls_certificate_credentials_t cred;
	char *host; /* reference identity, without a trailing dot */
	const struct tls_params *p;
	int fd;
	int first_byte;	     /* first byte the server sent, or -1 */
	int eno;	     /* errno of the last failed send or recv */
	int checked;	     /* the verify callback ran */
	unsigned int status; /* its verdict: 0 or GNUTLS_CERT_* bits */
	int pin_mismatch;    /* tls_pin set and the key is not listed */
	char pin[PIN_MAX];   /* the server's key, "sha256//..." */
	int staging;	     /* tls_push collects into stage (tls_stage) */
	char *stage;	     /* records collected, not sent yet */
	size_t stage_len, stage_cap;
};

/* Keep what GnuTLS writes for tls_staged.  Returns len, or -1 (ENOMEM)
 * when the buffer cannot grow. */
static ssize_t
stage_append(struct tls_ctx *ctx, const void *buf, size_t len)
{
	size_t cap = ctx->stage_cap;
	char *p;

	while (cap - ctx->stage_len < len)
		cap = cap == 0 ? 65536 + 1024 : cap * 2;
	if (cap != ctx->stage_cap) {
		if ((p = realloc(ctx->stage, cap)) == NULL) {
			errno = ENOMEM;
			ctx->eno = ENOMEM;
			return -1;
		}
		ctx->stage = p;
		ctx->stage_cap = cap;
	}
	memcpy(ctx->stage + ctx->stage_len, buf, len);
	ctx->stage_len += len;
	return (ssize_t)len;
}

/* Send what the handshake wrote since the last call, in one write,
 * waiting for room until the deadline.  Returns 0 or a GnuTLS error. */
static int
stage_send(struct tls_ctx *ctx, long long deadline_ms)
{
	struct pollfd pfd = { .fd = ctx->fd, .events = POLLOUT };
	size_t off = 0;
	long long left;
	ssize_t n;

	while (off < ctx->stage_len) {
		n = send(ctx->fd, ctx->stage + off, ctx->stage_len - off,
		    MSG_NOSIGNAL);
		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			ctx->eno = errno;
			return GNUTLS_E_PUSH_ERROR;
		}
		left = deadline_ms - net_now_ms();
		if (left <= 0 ||
		    (errno != EINTR &&
			poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) ==
			    0))
			return GNUTLS_E_TIMEDOUT;
	}
	ctx->stage_len = 0;
	return 0;
}

/* Write without SIGPIPE: a peer that has gone must not kill us. */
static ssize_t
tls_push(gnutls_transport_ptr_t ptr, const void *buf, size_t len)
{
	struct tls_ctx *ctx = ptr;
	ssize_t n;

	if (ctx->staging)
		return stage_append(ctx, buf, len);
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

/* GnuTLS waits here for more of the peer's flight: what it wrote of its
 * own goes out (in one write, tls_handshake) only when it would wait,
 * so that a whole flight leaves together. */
static int
tls_pull_timeout(gnutls_transport_ptr_t ptr, unsigned int ms)
{
	struct tls_ctx *ctx = ptr;
	struct pollfd pfd = { .fd = ctx->fd, .events = POLLIN };
	int r;

	if (ctx->stage_len > 0 && poll(&pfd, 1, 0) == 1)
		return 1;
	if (ctx->stage_len > 0 &&
	    (r = stage_send(
		 ctx, net_now_ms() + (ms > INT_MAX ? INT_MAX : ms))) < 0) {
		errno = ctx->eno != 0 ? ctx->eno : ETIMEDOUT;
		return r == GNUTLS_E_TIMEDOUT ? 0 : -1;
	}
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
	free(ctx->stage);
	free(ctx);
}

/* The trust anchors: none with tls_pin (the key decides, S17), else the
 * CA file or the system store (S12). */
static int
load_trust(
    struct tls_ctx *ctx, const struct tls_params *params, struct err *rec)
{
	int n;

	if (params->pin != NULL)
		return 0;
	gnutls_certificate_set_verify_flags(ctx->cred,
	    gnutls_certificate_get_verify_flags(ctx->cred) |
		GNUTLS_VERIFY_DO_NOT_ALLOW_WILDCARDS);
	if (params->ca_file != NULL) {
		n = gnutls_certificate_set_x509_trust_file(
		    ctx->cred, params->ca_file, GNUTLS_X509_FMT_PEM);
		if (n < 0)
			return err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "cannot load tls_ca_file %s: %s", params->ca_file,
			    gnutls_strerror(n));
		if (n == 0)
			return err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "tls_ca_file %s holds no PEM certificate",
			    params->ca_file);
		return 0;
	}
	n = gnutls_certificate_set_x509_system_trust(ctx->cred);
	if (n <= 0)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "no CA certificates in the system trust store %s",
		    "(install ca-certificates or set tls_ca_file)");
	return 0;
}

/* Read the private key file as a password file is read: checked on the
 * open descriptor, owned by us (or root), no group or other bits. */
static int
read_key(const char *path, gnutls_datum_t *out, struct err *rec)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "cannot read tls_key_file %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		e = err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "tls_key_file %s is not a regular file", path);
	else if (st.st_uid != geteuid() && st.st_uid != 0)
		e = err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "tls_key_file %s belongs to uid %u, not to you (run: chown $(id -u) %s)",
		    path, (unsigned)st.st_uid, path);
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		e = err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "tls_key_file %s is open to others (run: chmod 600 %s)",
		    path, path);
	else if (st.st_size <= 0 || st.st_size > TLS_KEY_MAX ||
	    (out->data = malloc((size_t)st.st_size)) == NULL)
		e = err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "tls_key_file %s is empty or over %d bytes", path,
		    TLS_KEY_MAX);
	else
		e = 0;
	while (e == 0 && len < (size_t)st.st_size &&
	    (n = read(fd, out->data + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	out->size = (unsigned int)len;
	return e;
}

/* The client certificate and its key (tls_cert_file, tls_key_file).
 * Never in report mode: there a certificate that fails does not stop the
 * handshake, and ours would go out to a server we have just refused
 * (under TLS 1.2 in clear; tried, both versions).  Under TLS 1.3 the
 * server's CertificateRequest comes before its Certificate, so a choice
 * made when it asks could not know the verdict. */
static int
load_client_cert(
    struct tls_ctx *ctx, const struct tls_params *params, struct err *rec)
{
	gnutls_datum_t cert = { NULL, 0 }, key = { NULL, 0 };
	int r;

	if (params->cert_file == NULL || params->key_file == NULL ||
	    params->report)
		return 0;
	if ((r = gnutls_load_file(params->cert_file, &cert)) < 0)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "cannot read tls_cert_file %s: %s", params->cert_file,
		    gnutls_strerror(r));
	r = read_key(params->key_file, &key, rec);
	if (r == 0 &&
	    (r = gnutls_certificate_set_x509_key_mem2(
		 ctx->cred, &cert, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0)
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "cannot use tls_cert_file %s with tls_key_file %s: %s",
		    params->cert_file, params->key_file, gnutls_strerror(r));
	if (key.data != NULL)
		secret_wipe(key.data, key.size);
	free(key.data);
	gnutls_free(cert.data);
	return r < 0 ? -1 : 0;
}

/* Allocate the context: a private copy of the host name and the trust
 * anchors from params. */
static struct tls_ctx *
ctx_new(int fd, const struct tls_params *params, struct err *rec)
{
	struct tls_ctx *ctx;
	char buf[NET_HOST_MAX];
	const char *host = net_host(params->host, buf, sizeof(buf), rec);
	size_t len;

	/* "[::1]" is checked as ::1: an iPAddress, no SNI (S14). */
	if (host == NULL)
		return NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL ||
	    (ctx->host = strdup(host)) == NULL ||
	    gnutls_certificate_allocate_credentials(&ctx->cred) < 0) {
		ctx_free(ctx);
		err_set(rec, ERR_LOCAL, EX_OSERR, "TLS setup: out of memory");
		return NULL;
	}
	ctx->p = params;
	ctx->fd = fd;
	ctx->first_byte = -1;
	len = strlen(ctx->host);
	if (len > 1 && ctx->host[len - 1] == '.')
		ctx->host[len - 1] = '\0';

	if (load_trust(ctx, params, rec) == -1 ||
	    load_client_cert(ctx, params, rec) == -1) {
		ctx_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Is name (len bytes) the whole-label wildcard "*." followed by rest? */
static int
is_wildcard_of(const char *name, size_t len, const char *rest)
{
	return rest != NULL && len == strlen(rest) + 1 && name[0] == '*' &&
	    strncasecmp(name + 1, rest, len - 1) == 0;
}

/* RFC 9525 6.3: a wildcard is the whole left-most label and nothing
 * else.  GnuTLS also lets "*ail.example.org" match mail.example.org
 * (lib/str.c), so GnuTLS checks the name without wildcards (the
 * credentials' GNUTLS_VERIFY_DO_NOT_ALLOW_WILDCARDS), and only a name
 * that fails that comes here: it stands when GnuTLS matches it with
 * wildcards and through a DNS-ID (the CN when there is none) that is
 * "*." and the host without its first label.  (Checking every name here
 * would parse the certificate once more on each send.) */
static int
wildcard_ok(const gnutls_datum_t *der, const char *host)
{
	const char *rest = strchr(host, '.');
	gnutls_x509_crt_t crt;
	char name[256];
	size_t len;
	unsigned int i;
	int type, ok = 0, dns = 0;

	if (gnutls_x509_crt_init(&crt) < 0)
		return 0;
	if (gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_check_hostname2(crt, host, 0) == 0)
		goto done;
	for (i = 0; !ok; i++) {
		len = sizeof(name);
		type = gnutls_x509_crt_get_subject_alt_name(
		    crt, i, name, &len, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME) {
			dns = 1;
			ok = is_wildcard_of(name, len, rest);
		}
	}
	len = sizeof(name);
	if (!ok && !dns &&
	    gnutls_x509_crt_get_dn_by_oid(
		crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, name, &len) == 0)
		ok = is_wildcard_of(name, len, rest);
done:
	gnutls_x509_crt_deinit(crt);
	return ok;
}

/* The name matched through a whole-label wildcard (wildcard_ok): the
 * rest of the verdict is GnuTLS's check of the chain alone, with no host
 * name, taken whole.  Clearing the wrong-name bit and reading what is
 * left would depend on which reason bits GnuTLS sets beside
 * GNUTLS_CERT_INVALID: a fault it marks with that bit alone would pass
 * (security.md S13, S15). */
static void
recheck_without_name(gnutls_session_t s, struct tls_ctx *ctx)
{
	unsigned int status = GNUTLS_CERT_INVALID;

	if (gnutls_certificate_verify_peers3(s, NULL, &status) < 0)
		ctx->status |= GNUTLS_CERT_INVALID;
	else
		ctx->status = status;
}

/* The certificate check, run by GnuTLS inside the handshake, so that a
 * refusal fails the handshake itself (S15): with tls_pin the server's key
 * must be listed (the chain, names and dates are not looked at: the key
 * is the identity, as with DANE-EE, RFC 7671 5.1); else GnuTLS checks the
 * chain and the name (no wildcards), and for a name that matched only
 * through a wildcard (wildcard_ok) the chain is checked again without
 * the name (recheck_without_name).  The verdict stays in ctx
 * for the error text and for params->report, where it does not stop the
 * handshake. */
static int
verify_peer(gnutls_session_t s)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);
	const gnutls_datum_t *chain;
	unsigned int n = 0;

	ctx->checked = 1;
	ctx->status = GNUTLS_CERT_INVALID;
	ctx->pin_mismatch = 0;
	ctx->pin[0] = '\0';
	chain = gnutls_certificate_get_peers(s, &n);
	/* The key's pin is needed only to compare with tls_pin or to show
	 * (report): computing it parses the certificate once more. */
	if (chain == NULL || n == 0 ||
	    ((ctx->p->pin != NULL || ctx->p->report) &&
		pin_cert(&chain[0], ctx->pin, sizeof(ctx->pin)) == -1))
		ctx->pin[0] = '\0';
	else if (ctx->p->pin != NULL) {
		ctx->pin_mismatch = !pin_listed(ctx->p->pin, ctx->pin);
		ctx->status = ctx->pin_mismatch ? GNUTLS_CERT_INVALID : 0;
	} else if (gnutls_certificate_verify_peers3(
		       s, ctx->host, &ctx->status) < 0)
		ctx->status |= GNUTLS_CERT_INVALID;
	else if ((ctx->status & GNUTLS_CERT_UNEXPECTED_OWNER) &&
	    wildcard_ok(&chain[0], ctx->host))
		recheck_without_name(s, ctx);
	if (ctx->status == 0 || ctx->p->report)
		return 0;
	return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
}

/* Priority, credentials, SNI, verification and transport for s. */
static int
session_setup(gnutls_session_t s, struct tls_ctx *ctx, struct err *rec)
{
	int r;

	r = tlsprio_set(s, ctx->p->priorities);
	if (r >= 0)
		r = gnutls_credentials_set(
		    s, GNUTLS_CRD_CERTIFICATE, ctx->cred);
	if (r >= 0 && !is_ip_literal(ctx->host))
		r = gnutls_server_name_set(
		    s, GNUTLS_NAME_DNS, ctx->host, strlen(ctx->host));
	if (r < 0)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "TLS setup failed: %s", gnutls_strerror(r));

	gnutls_session_set_verify_function(s, verify_peer);
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
	/* No session resumption in v1 (security.md S20): no ticket is
	 * asked for, kept or offered, so nothing can be planted.  One key
	 * share, for the first group (X25519, set_priority): a server
	 * without it asks for another (HelloRetryRequest, one round trip
	 * more), where every connection would pay for a second share. */
	r = gnutls_init(&s,
	    GNUTLS_CLIENT | GNUTLS_NO_SIGNAL | GNUTLS_NO_TICKETS |
		GNUTLS_KEY_SHARE_TOP);
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

/* What the user can do about each kind of failure.  Never "pin what you
 * see": a man in the middle is one paste away from trusted (S17). */
#define HINT_CA \
	"set tls_ca_file to the CA that signed it; tls_pin is for a private server whose key you have checked with its operator"
#define HINT_NAME "set host to a name the certificate lists"
#define HINT_TIME "check the clock, or have the certificate renewed"
#define HINT_VERSION "the server must offer TLS version 1.2 or 1.3"
#define HINT_NARROWED \
	"the account's tls_priorities may leave out the protocol version or ciphers the server needs"
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

/* The server's key is not the pinned one (S17).  The key seen is shown,
 * but not as a line to paste: it may be an attacker's. */
static int
pin_error(const struct tls_ctx *ctx, struct err *rec)
{
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "key of %s does not match tls_pin; this may be an attack: confirm a new key with the server's operator, by another path than this connection, before changing tls_pin (the server showed the key %s; tls_pin has %.200s)",
	    ctx->host, ctx->pin[0] != '\0' ? ctx->pin : "unknown", ctx->p->pin);
}

/* Why a certificate failed, in GnuTLS's words, and the hint that fixes
 * it. */
static int
cert_error(gnutls_session_t s, struct err *rec)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);
	unsigned int status = ctx->status;
	gnutls_datum_t out = { NULL, 0 };
	const char *why = "verification failed", *hint = HINT_CA;
	size_t len = strlen(why);

	if (ctx->pin_mismatch)
		return pin_error(ctx, rec);
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
	    "certificate of %s not trusted: %.*s (%s)", ctx->host, (int)len,
	    why, hint);
	gnutls_free(out.data);
	return -1;
}

/* A fatal alert from the server. */
static int
alert_error(gnutls_session_t s, const char *host, struct err *rec)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);
	gnutls_alert_description_t a = gnutls_alert_get(s);
	const char *name = gnutls_alert_get_name(a);
	int narrowed = ctx->p->priorities != NULL;

	if (a == GNUTLS_A_PROTOCOL_VERSION)
		return handshake_fail(rec, host,
		    "the server refused our protocol version",
		    narrowed ? HINT_NARROWED : HINT_VERSION);
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "TLS handshake with %s failed: the server sent the alert \"%s\"%s",
	    host, name == NULL ? "unknown" : name,
	    narrowed ? " (" HINT_NARROWED ")" : "");
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
		return cert_error(s, rec);
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
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);
	long long left = deadline_ms - net_now_ms();
	int r, e;

	if (left <= 0)
		return handshake_error(s, GNUTLS_E_TIMEDOUT, rec);
	gnutls_handshake_set_timeout(
	    s, left > INT_MAX ? INT_MAX : (unsigned int)left);

	/* Each flight GnuTLS writes is collected and leaves in one write:
	 * the client's last one (ChangeCipherSpec, Certificate when asked
	 * for, Finished) is otherwise three small packets.  E_AGAIN,
	 * E_INTERRUPTED and warning alerts are retried, but only while
	 * time is left (S18). */
	tls_stage(s, 1);
	for (;;) {
		/* The last flight stays held for the first command (tls.h). */
		r = gnutls_handshake(s);
		e = r == 0 ? 0 : stage_send(ctx, deadline_ms);
		if (e < 0 && (r >= 0 || !gnutls_error_is_fatal(r)))
			r = e;
		if (r == 0 || gnutls_error_is_fatal(r))
			break;
		if ((r == GNUTLS_E_AGAIN &&
			handshake_wait(s, deadline_ms) == -1) ||
		    net_now_ms() >= deadline_ms) {
			r = GNUTLS_E_TIMEDOUT;
			break;
		}
	}
	tls_stage(s, 0);
	return r == 0 ? 0 : handshake_error(s, r, rec);
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

int
tls_verify_result(gnutls_session_t s, struct err *rec)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);

	if (!ctx->checked)
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "certificate of %s not checked: the server sent none",
		    ctx->host);
	if (ctx->status != 0)
		return cert_error(s, rec);
	return 0;
}

const char *
tls_channel_binding(gnutls_session_t s, gnutls_datum_t *out)
{
	out->data = NULL;
	out->size = 0;
	/* RFC 9266 3 and security.md S23: tls-exporter under TLS 1.3, and
	 * under 1.2 with the extended master secret (RFC 7627); else
	 * tls-unique (RFC 5929), which the triple handshake cannot reach
	 * here: no renegotiation, no resumption (S18, S20). */
	if (gnutls_protocol_get_version(s) == GNUTLS_TLS1_3 ||
	    gnutls_session_ext_master_secret_status(s) != 0)
		return gnutls_session_channel_binding(
			   s, GNUTLS_CB_TLS_EXPORTER, out) == 0
		    ? "tls-exporter"
		    : NULL;
	return gnutls_session_channel_binding(s, GNUTLS_CB_TLS_UNIQUE, out) == 0
	    ? "tls-unique"
	    : NULL;
}

unsigned int
tls_verify_status(gnutls_session_t s)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);

	return ctx->checked ? ctx->status : GNUTLS_CERT_INVALID;
}

const char *
tls_peer_pin(gnutls_session_t s)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);

	return ctx->pin;
}

void
tls_stage(gnutls_session_t s, int on)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);

	ctx->staging = on;
}

const char *
tls_staged(gnutls_session_t s, size_t *len)
{
	struct tls_ctx *ctx = gnutls_session_get_ptr(s);

	*len = ctx->stage_len;
	ctx->stage_len = 0;
	return ctx->stage;
}
