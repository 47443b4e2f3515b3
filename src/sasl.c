/* SPDX-License-Identifier: ISC */
/*
 * SASL client side of SMTP AUTH (RFC 4954) over GNU SASL: our own choice
 * of mechanism from the server's list, and one libgsasl exchange per
 * session whose responses are wiped as soon as they have been sent.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <gsasl.h>

#include "err.h"
#include "oauth.h"
#include "sasl.h"
#include "secret.h"
#include "tls.h"

/* Longest server list quoted back in an error. */
#define OFFERED_SHOWN 200

struct sasl {
	Gsasl *ctx;
	Gsasl_session *sess;
	struct oauth *oauth; /* XOAUTH2, OAUTHBEARER: ours (oauth.c) */
	char mech[32];
};

/*
 * Our order, strongest first (security.md S21).  Never
 * gsasl_client_suggest_mechanism: it ranks GSSAPI, SAML20 and OPENID20
 * above SCRAM.  The -PLUS variants need channel binding, a later step.
 */
static const char *const sasl_order[] = {
	"SCRAM-SHA-256-PLUS",
	"SCRAM-SHA-1-PLUS",
	"SCRAM-SHA-256",
	"SCRAM-SHA-1",
	"PLAIN",
	"LOGIN",
};

/* Is mech one whole token of the space-separated list offered? */
static int
offered_has(const char *offered, const char *mech)
{
	size_t mlen = strlen(mech);
	const char *p = offered;
	size_t n;

	while (*p != '\0') {
		p += strspn(p, " \t");
		n = strcspn(p, " \t");
		if (n == mlen && n > 0 && strncasecmp(p, mech, n) == 0)
			return 1;
		p += n;
	}
	return 0;
}

static int
copy_name(const char *mech, char *out, size_t sz, struct err *rec)
{
	if ((size_t)snprintf(out, sz, "%s", mech) >= sz)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH mechanism name too long: %s", mech);
	return 0;
}

static int
choose_forced(const char *offered, const char *forced, char *out, size_t sz,
    struct err *rec)
{
	char shown[OFFERED_SHOWN];

	if (!offered_has(offered, forced)) {
		err_sanitize(shown, sizeof shown, offered, strlen(offered));
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "server does not offer AUTH %s (it offers: %s)", forced,
		    shown);
	}
	if ((size_t)snprintf(out, sz, "%s", forced) >= sz)
		return err_set(
		    rec, ERR_CONFIG, EX_CONFIG, "AUTH mechanism name too long");
	return 0;
}

int
sasl_choose(const char *offered, const char *forced, char *out, size_t sz,
    struct err *rec)
{
	char shown[OFFERED_SHOWN];
	size_t i;

	if (forced != NULL)
		return choose_forced(offered, forced, out, sz, rec);
	for (i = 0; i < sizeof sasl_order / sizeof sasl_order[0]; i++) {
		if (offered_has(offered, sasl_order[i]))
			return copy_name(sasl_order[i], out, sz, rec);
	}
	err_sanitize(shown, sizeof shown, offered, strlen(offered));
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "no usable mechanism for AUTH (server offers: %s; mailhop uses SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN)",
	    shown);
}

static int
sasl_start(struct sasl *s, const char *mech, struct err *rec)
{
	int rc;

	rc = gsasl_init(&s->ctx);
	if (rc != GSASL_OK) {
		s->ctx = NULL;
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot start GNU SASL: %s", gsasl_strerror(rc));
	}
	rc = gsasl_client_start(s->ctx, mech, &s->sess);
	if (rc != GSASL_OK) {
		s->sess = NULL;
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "AUTH %s cannot be used: %s", mech, gsasl_strerror(rc));
	}
	return 0;
}

/*
 * Channel binding for SCRAM-*-PLUS (RFC 5802 6, RFC 9266): the TLS
 * session's binding goes in the one matching gsasl property, and gsasl
 * sends it with the "p=" flag; without it a -PLUS mechanism fails here,
 * never silently unbound.  A plain SCRAM gets no binding, so gsasl sends
 * "n": with one set, libgsasl 2.2 fails a plain SCRAM's first step
 * (tried: GSASL_AUTHENTICATION_ERROR before anything is sent), so the "y"
 * flag is not available to us.
 */
static int
is_plus(const char *mech)
{
	size_t n = strlen(mech);

	return n > 5 && strcasecmp(mech + n - 5, "-PLUS") == 0;
}

static int
set_binding(struct sasl *s, gnutls_session_t tls, struct err *rec)
{
	gnutls_datum_t cb = { NULL, 0 };
	const char *type = tls != NULL ? tls_channel_binding(tls, &cb) : NULL;
	char *b64 = NULL;
	size_t len;
	int rc = -1;

	if (type != NULL &&
	    gsasl_base64_to((const char *)cb.data, cb.size, &b64, &len) ==
		GSASL_OK) {
		gsasl_property_set(s->sess,
		    strcmp(type, "tls-exporter") == 0 ? GSASL_CB_TLS_EXPORTER
						      : GSASL_CB_TLS_UNIQUE,
		    b64);
		rc = 0;
	}
	gnutls_free(cb.data);
	free(b64);
	if (rc == -1)
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "AUTH %s needs the TLS channel binding, which this session lacks",
		    s->mech);
	return 0;
}

/* RFC 4422 appendix A: the client certificate is the credential; an
 * empty authorization identity (sent as "=") lets the server derive it
 * from the certificate. */
static struct sasl *
sasl_external(struct err *rec)
{
	struct sasl *s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	snprintf(s->mech, sizeof s->mech, "EXTERNAL");
	if (sasl_start(s, "EXTERNAL", rec) == -1) {
		sasl_free(s);
		return NULL;
	}
	return s;
}

struct sasl *
sasl_new(const char *mech, const char *user, const char *password,
    gnutls_session_t tls, struct err *rec)
{
	struct sasl *s;

	if (strcasecmp(mech, "EXTERNAL") == 0)
		return sasl_external(rec);
	if (user == NULL || password == NULL) {
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH needs a user and a password for this account");
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	snprintf(s->mech, sizeof s->mech, "%s", mech);
	if (oauth_is_mech(mech)) {
		s->oauth = oauth_new(mech, user, password, rec);
		if (s->oauth != NULL)
			return s;
		sasl_free(s);
		return NULL;
	}
	if (sasl_start(s, mech, rec) == -1) {
		sasl_free(s);
		return NULL;
	}
	gsasl_property_set(s->sess, GSASL_AUTHID, user);
	gsasl_property_set(s->sess, GSASL_PASSWORD, password);
	if (is_plus(mech) && set_binding(s, tls, rec) == -1) {
		sasl_free(s);
		return NULL;
	}
	return s;
}

static int
step_error(struct sasl *s, int rc, struct err *rec)
{
	switch (rc) {
	case GSASL_BASE64_ERROR:
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server sent an AUTH %s challenge that is not base64",
		    s->mech);
	case GSASL_AUTHENTICATION_ERROR:
		/* SCRAM: the server's signature does not prove that it
		 * knows the password (RFC 5802 section 5). */
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server failed to prove its identity in AUTH %s", s->mech);
	case GSASL_NO_AUTHID:
	case GSASL_NO_PASSWORD:
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH %s needs a user and a password", s->mech);
	default:
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "AUTH %s failed on our side: %s", s->mech,
		    gsasl_strerror(rc));
	}
}

int
sasl_step(struct sasl *s, const char *in, char **out, struct err *rec)
{
	int rc;

	*out = NULL;
	if (s->oauth != NULL)
		return oauth_step(s->oauth, in, out, rec);
	rc = gsasl_step64(s->sess, in, out);
	if (rc == GSASL_NEEDS_MORE)
		return 1;
	if (rc == GSASL_OK)
		return 0;
	sasl_free_out(*out);
	*out = NULL;
	return step_error(s, rc, rec);
}

void
sasl_free_out(char *out)
{
	secret_free(out);
}

void
sasl_free(struct sasl *s)
{
	if (s == NULL)
		return;
	/* gsasl frees its property copies without wiping them (S35): end
	 * the session as soon as the exchange is over. */
	if (s->sess != NULL)
		gsasl_finish(s->sess);
	if (s->ctx != NULL)
		gsasl_done(s->ctx);
	oauth_free(s->oauth);
	free(s);
}

void
sasl_set_server(struct sasl *s, const char *host, const char *port)
{
	if (s->oauth != NULL)
		oauth_set_server(s->oauth, host, port);
}

int
sasl_error_challenge(const struct sasl *s)
{
	return s != NULL && oauth_error_expected(s->oauth);
}

void
sasl_failure_hint(const struct sasl *s, char *buf, size_t sz)
{
	const char *why = s != NULL ? oauth_reason(s->oauth) : "";

	if (s != NULL && strcmp(s->mech, "EXTERNAL") == 0)
		snprintf(buf, sz,
		    "the server did not accept the certificate in tls_cert_file for AUTH EXTERNAL");
	else if (s == NULL || s->oauth == NULL)
		snprintf(buf, sz, "check user and password");
	else if (why[0] != '\0')
		snprintf(buf, sz,
		    "the server refused the OAuth token: %s; get a fresh token",
		    why);
	else
		snprintf(buf, sz,
		    "check user and the OAuth token; it may have expired");
}
