/* SPDX-License-Identifier: ISC */
/*
 * OAuth 2.0 bearer tokens in SMTP AUTH: XOAUTH2 (Google's, also offered
 * by Microsoft) and OAUTHBEARER (RFC 7628).  libgsasl 2.2 has neither
 * (security.md S24), so the framing and the error exchange are ours.
 * The token is a secret: every buffer that held it is wiped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "base64.h"
#include "err.h"
#include "oauth.h"
#include "secret.h"

enum oauth_state {
	OA_START,   /* nothing sent */
	OA_SENT,    /* initial response sent; an error challenge may come */
	OA_ANSWERED /* the error challenge was answered; failure is due */
};

struct oauth {
	int bearer; /* OAUTHBEARER, else XOAUTH2 */
	const char *user, *token, *host, *port;
	enum oauth_state state;
	char reason[OAUTH_REASON_MAX];
};

int
oauth_is_mech(const char *mech)
{
	return strcasecmp(mech, "XOAUTH2") == 0 ||
	    strcasecmp(mech, "OAUTHBEARER") == 0;
}

/* RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
 * "+" / "/" ) *"=".  Anything else cannot be a bearer token, and a 0x01
 * in it would break the framing. */
static int
is_b64token(const char *t)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "abcdefghijklmnopqrstuvwxyz"
				  "0123456789-._~+/";
	size_t n = strspn(t, set);

	if (n == 0)
		return 0;
	return t[n + strspn(t + n, "=")] == '\0';
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
check_args(
    const char *mech, const char *user, const char *token, struct err *rec)
{
	if (!oauth_is_mech(mech))
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "AUTH %s is not an OAuth mechanism", mech);
	if (user == NULL || token == NULL)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH %s needs a user and a token (password_command or keyring)",
		    mech);
	if (has_control(user))
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH %s: user holds a control character (correct user)",
		    mech);
	if (!is_b64token(token))
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH %s: the password is not an OAuth bearer token (RFC 6750: letters, digits and -._~+/ then any =; give the access token, not a password)",
		    mech);
	return 0;
}

/* Bytes of the gs2 saslname of user: "," and "=" take three. */
static size_t
escaped_len(const char *user)
{
	size_t n = 0;

	for (; *user != '\0'; user++)
		n += *user == ',' || *user == '=' ? 3 : 1;
	return n;
}

static char *
put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *
put_escaped(char *p, const char *user)
{
	for (; *user != '\0'; user++) {
		if (*user == ',')
			p = put_str(p, "=2C");
		else if (*user == '=')
			p = put_str(p, "=3D");
		else
			*p++ = *user;
	}
	return p;
}

/* RFC 7628 3.1: gs2-header, then kvsep-separated pairs, then kvsep. */
static void
frame_bearer(char *p, const char *user, const char *host, const char *port,
    const char *token)
{
	p = put_str(p, "n,a=");
	p = put_escaped(p, user);
	p = put_str(p, ",\001");
	if (host != NULL) {
		p = put_str(p, "host=");
		p = put_str(p, host);
		p = put_str(p, "\001");
	}
	if (port != NULL) {
		p = put_str(p, "port=");
		p = put_str(p, port);
		p = put_str(p, "\001");
	}
	p = put_str(p, "auth=Bearer ");
	p = put_str(p, token);
	put_str(p, "\001\001");
}

static void
frame_xoauth2(char *p, const char *user, const char *token)
{
	p = put_str(p, "user=");
	p = put_str(p, user);
	p = put_str(p, "\001auth=Bearer ");
	p = put_str(p, token);
	put_str(p, "\001\001");
}

int
oauth_frame(const char *mech, const char *user, const char *host,
    const char *port, const char *token, char **out, size_t *len,
    struct err *rec)
{
	size_t n;

	*out = NULL;
	if (check_args(mech, user, token, rec) == -1)
		return -1;
	/* Room for every key, value and separator, and the NUL. */
	n = 64 + escaped_len(user) + strlen(token) +
	    (host != NULL ? strlen(host) : 0) +
	    (port != NULL ? strlen(port) : 0);
	if ((*out = calloc(1, n)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (strcasecmp(mech, "OAUTHBEARER") == 0)
		frame_bearer(*out, user, host, port, token);
	else
		frame_xoauth2(*out, user, token);
	*len = strlen(*out);
	return 0;
}

void
oauth_reason_of(const char *json, size_t n, char *buf, size_t sz)
{
	static const char key[] = "\"status\"";
	const char *p = NULL, *end = json + n, *v;
	size_t i;

	buf[0] = '\0';
	for (i = 0; n >= sizeof(key) - 1 && i <= n - (sizeof(key) - 1); i++)
		if (memcmp(json + i, key, sizeof(key) - 1) == 0) {
			p = json + i + sizeof(key) - 1;
			break;
		}
	if (p == NULL)
		return;
	while (p < end && (*p == ' ' || *p == '\t' || *p == ':'))
		p++;
	if (p < end && *p == '"')
		p++;
	v = p;
	while (v < end && strchr("\"\\,}", *v) == NULL)
		v++;
	if (v > p)
		err_sanitize(buf, sz, p, (size_t)(v - p));
}

struct oauth *
oauth_new(
    const char *mech, const char *user, const char *token, struct err *rec)
{
	struct oauth *o;

	if (check_args(mech, user, token, rec) == -1)
		return NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	o->bearer = strcasecmp(mech, "OAUTHBEARER") == 0;
	o->user = user;
	o->token = token;
	return o;
}

void
oauth_set_server(struct oauth *o, const char *host, const char *port)
{
	o->host = host;
	o->port = port;
}

static int
initial(struct oauth *o, char **out, struct err *rec)
{
	const char *mech = o->bearer ? "OAUTHBEARER" : "XOAUTH2";
	char *raw;
	size_t len;
	int rc;

	if (oauth_frame(mech, o->user, o->host, o->port, o->token, &raw, &len,
		rec) == -1)
		return -1;
	rc = b64_encode(raw, len, out);
	secret_wipe(raw, len);
	free(raw);
	if (rc != 0) {
		*out = NULL;
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	}
	o->state = OA_SENT;
	return 0;
}

/* RFC 7628 3.2.2: the server's error is a JSON object; the client
 * answers with 0x01 alone (3.2.3) and the server then fails the
 * exchange.  XOAUTH2 servers (Google's) want an empty answer. */
static int
answer_error(struct oauth *o, const char *in, char **out, struct err *rec)
{
	char *json = NULL;
	size_t n = 0;

	if (b64_decode(in, &json, &n) != 0)
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server sent an AUTH %s challenge that is not base64",
		    o->bearer ? "OAUTHBEARER" : "XOAUTH2");
	oauth_reason_of(json, n, o->reason, sizeof(o->reason));
	secret_free(json);
	if ((*out = strdup(o->bearer ? "AQ==" : "")) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	o->state = OA_ANSWERED;
	return 0;
}

int
oauth_step(struct oauth *o, const char *in, char **out, struct err *rec)
{
	*out = NULL;
	if (o->state == OA_START && in == NULL)
		return initial(o, out, rec);
	if (o->state == OA_SENT && in != NULL)
		return answer_error(o, in, out, rec);
	return err_set(rec, ERR_PERM, EX_PROTOCOL,
	    "server sent an extra AUTH %s challenge",
	    o->bearer ? "OAUTHBEARER" : "XOAUTH2");
}

int
oauth_error_expected(const struct oauth *o)
{
	return o != NULL && o->state == OA_SENT;
}

const char *
oauth_reason(const struct oauth *o)
{
	return o != NULL ? o->reason : "";
}

void
oauth_free(struct oauth *o)
{
	free(o);
}
