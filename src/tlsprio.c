/* SPDX-License-Identifier: ISC */
/*
 * TLS priorities: mailhop's default (the system's GnuTLS default with TLS
 * 1.2 and 1.3 only, RFC 8997) and the account's tls_priorities string,
 * which may only narrow it (security.md S16): checked when the
 * configuration is read, item by item (removals, and re-orderings of what
 * the default has) and by building both priority caches and comparing
 * every list.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>

#include "tlsprio.h"

int
tlsprio_string(const char *user, char *buf, size_t sz)
{
	int n;

	if (user == NULL)
		n = snprintf(buf, sz, "%s", TLSPRIO_DEFAULT);
	else
		n = snprintf(buf, sz, "%s:%s", TLSPRIO_DEFAULT, user);
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

/* Name what the user's string adds to one of our lists, if anything. */
static int
adds(const unsigned int *def, int ndef, const unsigned int *mine, int nmine,
    const char *(*name)(unsigned int), char *why, size_t sz)
{
	int i, j;

	for (i = 0; i < nmine; i++) {
		for (j = 0; j < ndef && def[j] != mine[i]; j++)
			;
		if (j == ndef) {
			snprintf(why, sz,
			    "it enables %s, which mailhop's default leaves out (a priority string may only remove, e.g. -VERS-TLS1.2 or -CIPHER-ALL:+AES-256-GCM)",
			    name(mine[i]) != NULL ? name(mine[i]) : "?");
			return -1;
		}
	}
	return 0;
}

static const char *
proto_name(unsigned int v)
{
	return gnutls_protocol_get_name((gnutls_protocol_t)v);
}

static const char *
cipher_name(unsigned int v)
{
	return gnutls_cipher_get_name((gnutls_cipher_algorithm_t)v);
}

static const char *
mac_name(unsigned int v)
{
	return gnutls_mac_get_name((gnutls_mac_algorithm_t)v);
}

static const char *
kx_name(unsigned int v)
{
	return gnutls_kx_get_name((gnutls_kx_algorithm_t)v);
}

static const char *
sign_name(unsigned int v)
{
	return gnutls_sign_get_name((gnutls_sign_algorithm_t)v);
}

static const char *
group_name(unsigned int v)
{
	return gnutls_group_get_name((gnutls_group_t)v);
}

/* Does mine only narrow def?  Every list of mine within def's, and at
 * least one version and one cipher left. */
static int
narrows(gnutls_priority_t def, gnutls_priority_t mine, char *why, size_t sz)
{
	int (*const get[])(gnutls_priority_t, const unsigned int **) = {
		gnutls_priority_protocol_list, gnutls_priority_cipher_list,
		gnutls_priority_mac_list, gnutls_priority_kx_list,
		gnutls_priority_sign_list, gnutls_priority_group_list
	};
	const char *(*const name[])(unsigned int) = { proto_name, cipher_name,
		mac_name, kx_name, sign_name, group_name };
	const unsigned int *a, *b;
	int i, na, nb;

	for (i = 0; i < (int)(sizeof(get) / sizeof(get[0])); i++) {
		na = get[i](def, &a);
		nb = get[i](mine, &b);
		if (i < 2 && nb <= 0) {
			snprintf(why, sz, "it leaves no TLS %s to use",
			    i == 0 ? "version" : "cipher");
			return -1;
		}
		if (na > 0 && nb > 0 &&
		    adds(a, na, b, nb, name[i], why, sz) == -1)
			return -1;
	}
	return 0;
}

/* A "+VERS-" item other than TLS 1.2 and 1.3 (GnuTLS ignores those it
 * was built without, such as SSL3.0: refused all the same). */
static int
adds_old_version(const char *v, char *why, size_t sz)
{
	const char *p = v;
	size_t n;

	while (*(p += strspn(p, ":")) != '\0') {
		n = strcspn(p, ":");
		if (n > 6 && strncasecmp(p, "+VERS-", 6) == 0 &&
		    !(n == 12 &&
			(strncasecmp(p + 6, "TLS1.2", 6) == 0 ||
			    strncasecmp(p + 6, "TLS1.3", 6) == 0))) {
			snprintf(why, sz,
			    "it enables %.*s; mailhop allows only TLS1.2 and TLS1.3 (a priority string may only remove, e.g. -VERS-TLS1.2)",
			    (int)(n - 6 > 20 ? 20 : n - 6), p + 6);
			return -1;
		}
		p += n;
	}
	return 0;
}

/* Is item (n bytes, after its '+') one entry of the lists narrows()
 * compares: a version, cipher, MAC, key exchange, signature or group
 * that GnuTLS knows by that name?  "-ALL" groups, certificate types,
 * compression and the like are not. */
static int
is_listed_item(const char *item, size_t n)
{
	char name[64];
	const char *v;

	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, item, n);
	name[n] = '\0';
	if (n > 4 && strcasecmp(name + n - 4, "-ALL") == 0)
		return 0;
	if (strncasecmp(name, "VERS-", 5) == 0)
		return gnutls_protocol_get_id(name + 5) !=
		    GNUTLS_VERSION_UNKNOWN;
	if (strncasecmp(name, "SIGN-", 5) == 0)
		return gnutls_sign_get_id(name + 5) != GNUTLS_SIGN_UNKNOWN;
	if (strncasecmp(name, "GROUP-", 6) == 0 ||
	    strncasecmp(name, "CURVE-", 6) == 0) {
		v = name + 6;
		return gnutls_group_get_id(v) != GNUTLS_GROUP_INVALID ||
		    gnutls_ecc_curve_get_id(v) != GNUTLS_ECC_CURVE_INVALID;
	}
	return gnutls_cipher_get_id(name) != GNUTLS_CIPHER_UNKNOWN ||
	    gnutls_mac_get_id(name) != GNUTLS_MAC_UNKNOWN ||
	    gnutls_kx_get_id(name) != GNUTLS_KX_UNKNOWN;
}

/* Every item must take away ("-ITEM", "!ITEM") or name one algorithm or
 * version ("+ITEM"), which narrows() then finds in the default: it can
 * only put back, after a removal, what the default had.  A keyword (NORMAL,
 * SECURE128, PERFORMANCE, LEGACY, @SYSTEM...) replaces the default with its own
 * lists and settings (its security level, its verification profile),
 * and "+CIPHER-ALL" and its kin add what no comparison of lists shows,
 * such as a certificate type. */
static int
only_removes(const char *v, char *why, size_t sz)
{
	const char *p = v;
	size_t n;

	while (*(p += strspn(p, ":")) != '\0') {
		n = strcspn(p, ":");
		if (p[0] != '-' && p[0] != '!' &&
		    !(p[0] == '+' && is_listed_item(p + 1, n - 1))) {
			snprintf(why, sz,
			    "\"%.*s\" is not allowed (write only items that remove, as -VERS-TLS1.2 or -CIPHER-ALL, and +ITEM for a version or algorithm the default has, as -CIPHER-ALL:+AES-256-GCM)",
			    (int)(n > 40 ? 40 : n), p);
			return -1;
		}
		p += n;
	}
	return 0;
}

int
tlsprio_check(const char *v, char *why, size_t sz)
{
	char buf[TLSPRIO_STRING_MAX];
	gnutls_priority_t def = NULL, mine = NULL;
	const char *errpos = NULL;
	int r = -1, e;

	/* %FLAGS can weaken what no list shows (%COMPAT, %NO_SESSION_HASH,
	 * %VERIFY_ALLOW_BROKEN...). */
	if (strchr(v, '%') != NULL)
		snprintf(why, sz,
		    "%%flags are not allowed (write only -ITEM or +ITEM operations that narrow the default)");
	else if (tlsprio_string(v, buf, sizeof(buf)) == -1)
		snprintf(why, sz, "longer than %d characters", TLSPRIO_MAX);
	else if (adds_old_version(v, why, sz) == -1)
		;
	else if (gnutls_priority_init2(&def, TLSPRIO_DEFAULT, NULL,
		     GNUTLS_PRIORITY_INIT_DEF_APPEND) < 0)
		snprintf(why, sz, "GnuTLS's default priority is unusable");
	else if ((e = gnutls_priority_init2(
		      &mine, buf, &errpos, GNUTLS_PRIORITY_INIT_DEF_APPEND)) ==
	    GNUTLS_E_NO_PRIORITIES_WERE_SET)
		snprintf(why, sz, "it leaves no TLS version or cipher to use");
	else if (e < 0)
		snprintf(why, sz,
		    "GnuTLS does not accept it at \"%.40s\" (see gnutls_priority_init(3) for the syntax)",
		    errpos != NULL && errpos >= buf + strlen(TLSPRIO_DEFAULT) &&
			    errpos < buf + strlen(buf)
			? errpos
			: v);
	else if (only_removes(v, why, sz) == 0)
		r = narrows(def, mine, why, sz);
	if (def != NULL)
		gnutls_priority_deinit(def);
	if (mine != NULL)
		gnutls_priority_deinit(mine);
	return r;
}

/* The same groups as p, X25519 moved first: ":-GROUP-ALL:+GROUP-X25519"
 * and the others in p's order appended to prio (len bytes of buf).
 * Returns 0 when there is something to move, else -1. */
static int
x25519_first(gnutls_priority_t p, char *buf, size_t len, size_t sz)
{
	const unsigned int *g;
	const char *name;
	int i, n, found = 0, w;

	n = gnutls_priority_group_list(p, &g);
	for (i = 1; i < n; i++)
		found |= g[i] == GNUTLS_GROUP_X25519;
	if (!found)
		return -1;
	w = snprintf(buf + len, sz - len, ":-GROUP-ALL:+GROUP-X25519");
	for (i = 0; i <= n; i++) {
		if (w < 0 || (size_t)w >= sz - len)
			return -1;
		len += (size_t)w;
		w = 0;
		name =
		    i < n ? gnutls_group_get_name((gnutls_group_t)g[i]) : NULL;
		if (name != NULL && g[i] != GNUTLS_GROUP_X25519)
			w = snprintf(buf + len, sz - len, ":+GROUP-%s", name);
	}
	return 0;
}

/* The system default with our versions and the user's narrowing; among
 * the groups that leaves, X25519 first.  GnuTLS lists NIST P-256 first
 * and sends a key share for it and one for X25519; the server takes the
 * first it supports, P-256, whose arithmetic costs about a million
 * instructions more per connection than X25519's.  The set of groups
 * stays the one the system and the user allow; only the order moves. */
int
tlsprio_set(gnutls_session_t s, const char *user)
{
	char prio[TLSPRIO_STRING_MAX + 512];
	gnutls_priority_t p = NULL, q = NULL;
	const char *errpos = NULL;
	int r;

	if (tlsprio_string(user, prio, sizeof(prio) - 512) == -1)
		return GNUTLS_E_INVALID_REQUEST;
	r = gnutls_priority_init2(
	    &p, prio, &errpos, GNUTLS_PRIORITY_INIT_DEF_APPEND);
	if (r < 0)
		return r;
	if (x25519_first(p, prio, strlen(prio), sizeof(prio)) == 0 &&
	    gnutls_priority_init2(
		&q, prio, &errpos, GNUTLS_PRIORITY_INIT_DEF_APPEND) < 0)
		q = NULL;
	r = gnutls_priority_set(s, q != NULL ? q : p);
	gnutls_priority_deinit(p);
	if (q != NULL)
		gnutls_priority_deinit(q);
	return r;
}
