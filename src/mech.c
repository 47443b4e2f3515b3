/* SPDX-License-Identifier: ISC */
/*
 * The SASL mechanisms whose messages are only the credentials in base64,
 * so that their framing is ours: PLAIN (RFC 4616: authorization identity,
 * NUL, user, NUL, password; the first left empty), LOGIN (the user, then
 * the password, each answering a challenge whatever its text says, as
 * every client does) and EXTERNAL (RFC 4422 appendix A: an empty
 * authorization identity, so the server takes the client certificate's).
 * A send with them never loads libgsasl, which sasl.c keeps for SCRAM.
 * As in libgsasl's PLAIN and LOGIN, no SASLprep: the strings go as the
 * configuration has them.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "base64.h"
#include "err.h"
#include "mech.h"
#include "secret.h"

enum mech_kind { MECH_PLAIN, MECH_LOGIN, MECH_EXTERNAL };

static const char *const names[] = { "PLAIN", "LOGIN", "EXTERNAL" };

struct mech {
	enum mech_kind kind;
	const char *user, *password;
	int steps; /* responses given */
};

static int
kind_of(const char *mech)
{
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(mech, names[i]) == 0)
			return (int)i;
	return -1;
}

int
mech_is_own(const char *mech)
{
	return kind_of(mech) != -1;
}

struct mech *
mech_new(
    const char *mech, const char *user, const char *password, struct err *rec)
{
	struct mech *m;
	int kind = kind_of(mech);

	if (kind == -1) {
		err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "AUTH %s is not a mechanism of mech.c", mech);
		return NULL;
	}
	if (kind != MECH_EXTERNAL && (user == NULL || password == NULL)) {
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "AUTH %s needs a user and a password", names[kind]);
		return NULL;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	m->kind = (enum mech_kind)kind;
	m->user = user;
	m->password = password;
	return m;
}

/* "\0user\0password" in base64. */
static int
plain(const struct mech *m, char **out)
{
	size_t nu = strlen(m->user), np = strlen(m->password);
	size_t len = 1 + nu + 1 + np;
	char *raw;
	int r;

	if ((raw = malloc(len)) == NULL)
		return -1;
	raw[0] = '\0';
	memcpy(raw + 1, m->user, nu);
	raw[1 + nu] = '\0';
	memcpy(raw + 2 + nu, m->password, np);
	r = b64_encode(raw, len, out);
	secret_wipe(raw, len);
	free(raw);
	return r;
}

int
mech_step(struct mech *m, const char *in, char **out, struct err *rec)
{
	int last = m->kind != MECH_LOGIN || m->steps == 1, r;

	(void)in; /* no mechanism here reads the server's challenge */
	*out = NULL;
	if (m->steps > (m->kind == MECH_LOGIN ? 1 : 0))
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "server sent an extra AUTH %s challenge", names[m->kind]);
	if (m->kind == MECH_PLAIN)
		r = plain(m, out);
	else if (m->kind == MECH_EXTERNAL)
		r = b64_encode("", 0, out);
	else
		r = m->steps == 0
		    ? b64_encode(m->user, strlen(m->user), out)
		    : b64_encode(m->password, strlen(m->password), out);
	if (r == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	m->steps++;
	return last ? 0 : 1;
}

void
mech_free(struct mech *m)
{
	free(m);
}
