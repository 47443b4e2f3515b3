/* SPDX-License-Identifier: ISC */
/*
 * SASL client side of SMTP AUTH (RFC 4954): our own choice of mechanism
 * from the server's list, and one exchange per session whose responses
 * are wiped as soon as they have been sent.  PLAIN, LOGIN and EXTERNAL
 * (mech.c) and the OAuth mechanisms (oauth.c) are framed here; SCRAM
 * goes through GNU SASL, which is loaded with dlopen when an exchange
 * needs it, so that a send with PLAIN never maps libgsasl and the four
 * libraries it brings (a third of a million instructions of relocation
 * per run); the header gives the prototypes.
 */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <gsasl.h>

#include "base64.h"
#include "err.h"
#include "mech.h"
#include "oauth.h"
#include "sasl.h"
#include "secret.h"
#include "tls.h"

#define LIBGSASL "libgsasl.so.18"

/* Longest server list quoted back in an error. */
#define OFFERED_SHOWN 200

struct sasl {
	Gsasl *ctx;
	Gsasl_session *sess;
	struct oauth *oauth; /* XOAUTH2, OAUTHBEARER: ours (oauth.c) */
	struct mech *own;    /* PLAIN, LOGIN, EXTERNAL: ours (mech.c) */
	char mech[32];
};

/* What we use of libgsasl, resolved once. */
static struct {
	void *handle;
	__typeof__(&gsasl_init) init;
	__typeof__(&gsasl_done) done;
	__typeof__(&gsasl_client_start) client_start;
	__typeof__(&gsasl_finish) finish;
	__typeof__(&gsasl_property_set) property_set;
	/* Optional: without them gsasl's copies are freed unwiped. */
	__typeof__(&gsasl_property_fast) property_fast;
	__typeof__(&gsasl_property_free) property_free;
	__typeof__(&gsasl_step64) step64;
	__typeof__(&gsasl_strerror) strerror;
} gs;

static int
load_gsasl(const char *mech, struct err *rec)
{
	const char *why;

	if (gs.handle != NULL)
		return 0;
	if ((gs.handle = dlopen(LIBGSASL, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		why = dlerror();
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "AUTH %s needs GNU SASL, which cannot be loaded: %s (install libgsasl18, or set auth = plain)",
		    mech, why != NULL ? why : LIBGSASL);
	}
	gs.init = (__typeof__(gs.init))dlsym(gs.handle, "gsasl_init");
	gs.done = (__typeof__(gs.done))dlsym(gs.handle, "gsasl_done");
	gs.client_start =
	    (__typeof__(gs.client_start))dlsym(gs.handle, "gsasl_client_start");
	gs.finish = (__typeof__(gs.finish))dlsym(gs.handle, "gsasl_finish");
	gs.property_set =
	    (__typeof__(gs.property_set))dlsym(gs.handle, "gsasl_property_set");
	gs.property_fast = (__typeof__(gs.property_fast))dlsym(
	    gs.handle, "gsasl_property_fast");
	gs.property_free = (__typeof__(gs.property_free))dlsym(
	    gs.handle, "gsasl_property_free");
	gs.step64 = (__typeof__(gs.step64))dlsym(gs.handle, "gsasl_step64");
	gs.strerror =
	    (__typeof__(gs.strerror))dlsym(gs.handle, "gsasl_strerror");
	if (gs.init == NULL || gs.done == NULL || gs.client_start == NULL ||
	    gs.finish == NULL || gs.property_set == NULL || gs.step64 == NULL ||
	    gs.strerror == NULL) {
		dlclose(gs.handle);
		gs.handle = NULL;
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "AUTH %s needs GNU SASL 2.0 or later (%s lacks a function it needs)",
		    mech, LIBGSASL);
	}
	return 0;
}

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

	if (load_gsasl(mech, rec) == -1)
		return -1;
	rc = gs.init(&s->ctx);
	if (rc != GSASL_OK) {
		s->ctx = NULL;
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot start GNU SASL: %s", gs.strerror(rc));
	}
	rc = gs.client_start(s->ctx, mech, &s->sess);
	if (rc != GSASL_OK) {
		s->sess = NULL;
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "AUTH %s cannot be used: %s", mech, gs.strerror(rc));
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
	int rc = -1;

	if (type != NULL && b64_encode(cb.data, cb.size, &b64) == 0) {
		gs.property_set(s->sess,
		    strcmp(type, "tls-exporter") == 0 ? GSASL_CB_TLS_EXPORTER
						      : GSASL_CB_TLS_UNIQUE,
		    b64);
		rc = 0;
	}
	gnutls_free(cb.data);
	secret_free(b64);
	if (rc == -1)
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "AUTH %s needs the TLS channel binding, which this session lacks",
		    s->mech);
	return 0;
}

/* A struct sasl for mech, named. */
static struct sasl *
sasl_alloc(const char *mech, struct err *rec)
{
	struct sasl *s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	snprintf(s->mech, sizeof s->mech, "%s", mech);
	return s;
}

struct sasl *
sasl_new(const char *mech, const char *user, const char *password,
    gnutls_session_t tls, struct err *rec)
{
	struct sasl *s;
	int external = strcasecmp(mech, "EXTERNAL") == 0;

	if (!external && (user == NULL || password == NULL)) {
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH needs a user and a password for this account");
		return NULL;
	}
	if ((s = sasl_alloc(mech, rec)) == NULL)
		return NULL;
	if (oauth_is_mech(mech))
		s->oauth = oauth_new(mech, user, password, rec);
	else if (mech_is_own(mech))
		s->own = mech_new(mech, user, password, rec);
	else if (sasl_start(s, mech, rec) == 0) {
		gs.property_set(s->sess, GSASL_AUTHID, user);
		gs.property_set(s->sess, GSASL_PASSWORD, password);
		if (!is_plus(mech) || set_binding(s, tls, rec) == 0)
			return s;
	}
	if (s->oauth != NULL || s->own != NULL)
		return s;
	sasl_free(s);
	return NULL;
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
		    "AUTH %s failed on our side: %s", s->mech, gs.strerror(rc));
	}
}

int
sasl_step(struct sasl *s, const char *in, char **out, struct err *rec)
{
	int rc;

	*out = NULL;
	if (s->oauth != NULL)
		return oauth_step(s->oauth, in, out, rec);
	if (s->own != NULL)
		return mech_step(s->own, in, out, rec);
	rc = gs.step64(s->sess, in, out);
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

/* gsasl frees its property copies without wiping them (S35): the
 * password and what SCRAM derived from it are wiped in place first (the
 * strings are gsasl's own malloc'ed copies).  XXX: SCRAM's ClientKey and
 * the like live in the mechanism's private state, which gsasl_finish
 * frees unwiped; no API reaches them. */
static void
wipe_properties(Gsasl_session *sess)
{
	static const Gsasl_property secret[] = { GSASL_PASSWORD,
		GSASL_SCRAM_SALTED_PASSWORD, GSASL_SCRAM_SERVERKEY,
		GSASL_SCRAM_STOREDKEY };
	const char *v;
	size_t i;

	if (gs.property_fast == NULL || gs.property_free == NULL)
		return;
	for (i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
		v = gs.property_fast(sess, secret[i]);
		if (v != NULL)
			secret_wipe((char *)v, strlen(v));
		gs.property_free(sess, secret[i]);
	}
}

void
sasl_free(struct sasl *s)
{
	if (s == NULL)
		return;
	/* smtp ends the exchange as soon as it is over (smtp.h). */
	if (s->sess != NULL) {
		wipe_properties(s->sess);
		gs.finish(s->sess);
	}
	if (s->ctx != NULL)
		gs.done(s->ctx);
	oauth_free(s->oauth);
	mech_free(s->own);
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
