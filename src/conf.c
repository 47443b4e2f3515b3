/* SPDX-License-Identifier: ISC */
/*
 * The configuration: the choice of account (-a, the envelope sender or
 * the From address against each account's, default_account), its
 * effective settings, the checks across its keys, and its password.
 * conffile.c finds and reads the files; the language itself (schema,
 * checks, error texts that never show a secret) is in confparse.c.
 */
#include <confuse.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "conffile.h"
#include "confparse.h"
#include "err.h"
#include "keyring.h"
#include "policy.h"
#include "secret.h"

#define LIST_MAX 200

/* The account called name, first in the user file, then the system's. */
static cfg_t *
lookup(struct files *fs, const char *name, struct cfile **from)
{
	cfg_t *sec;
	int i;

	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].cfg == NULL)
			continue;
		sec = cfg_gettsec(fs->f[i].cfg, "account", name);
		if (sec != NULL) {
			*from = &fs->f[i];
			return sec;
		}
	}
	return NULL;
}

/* "a, b, c": the accounts there are, each once; returns how many. */
static int
list_accounts(struct files *fs, char *buf, size_t size)
{
	struct cfile *from;
	char name[CONFPARSE_SHOW_MAX];
	size_t len = 0;
	unsigned int j;
	int i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].cfg == NULL)
			continue;
		for (j = 0; j < cfg_size(fs->f[i].cfg, "account"); j++) {
			const char *t =
			    cfg_title(cfg_getnsec(fs->f[i].cfg, "account", j));

			if (lookup(fs, t, &from) == NULL || from != &fs->f[i])
				continue;
			confparse_show(name, sizeof(name), t);
			if (len < size)
				len += (size_t)snprintf(buf + len, size - len,
				    "%s%s", n > 0 ? ", " : "", name);
			n++;
		}
	}
	return n;
}

/* "FILE" or "FILE or FILE": the files that were read. */
static const char *
read_files(struct files *fs, char *buf, size_t size)
{
	if (fs->n == 2 && fs->f[0].cfg != NULL && fs->f[1].cfg != NULL)
		snprintf(buf, size, "%s or %s", fs->f[0].path, fs->f[1].path);
	else
		snprintf(buf, size, "%s",
		    fs->f[0].cfg != NULL ? fs->f[0].path : fs->f[1].path);
	return buf;
}

/* The first account of the first file that has one. */
static const char *
first_account(struct files *fs)
{
	int i;

	for (i = 0; i < fs->n; i++)
		if (fs->f[i].cfg != NULL &&
		    cfg_size(fs->f[i].cfg, "account") > 0)
			return cfg_title(
			    cfg_getnsec(fs->f[i].cfg, "account", 0));
	return NULL;
}

/* Whether the user file alone decides the account, so that a system
 * file this user cannot open does not matter: it has an account, and
 * the one -a or its default_account names, if any, is in it. */
static int
settled_by_user(struct files *fs, const char *name)
{
	cfg_t *u = fs->f[0].cfg;

	if (u == NULL || cfg_size(u, "account") == 0)
		return 0;
	if (name == NULL)
		name = cfg_getstr(u, "default_account");
	return name == NULL || cfg_gettsec(u, "account", name) != NULL;
}

/* The option that gave pk->name, as its errors say it. */
static const char *
named_by(const struct conf_pick *pk)
{
	return pk->option != NULL ? pk->option : "-a";
}

/* The account called pk->name; an error worded for the option that
 * named it, or for the queued message pk->queued_id. */
static cfg_t *
choose_named(struct files *fs, const struct conf_pick *pk, struct cfile **from,
    struct err *rec)
{
	char list[LIST_MAX], files[ERR_TEXT_MAX], buf[CONFPARSE_SHOW_MAX];
	cfg_t *sec;

	if ((sec = lookup(fs, pk->name, from)) != NULL)
		return sec;
	confparse_show(buf, sizeof(buf), pk->name);
	read_files(fs, files, sizeof(files));
	if (pk->queued_id != NULL) {
		confparse_fail(rec, NULL, 0,
		    "queued message %s belongs to account %s, which is no longer in %s: add it back, or delete the message with mailhop -qD%s",
		    pk->queued_id, buf, files, pk->queued_id);
		return NULL;
	}
	if (list_accounts(fs, list, sizeof(list)) == 0)
		snprintf(list, sizeof(list), "none");
	confparse_fail(rec, NULL, 0,
	    "%s %s: no such account in %s (accounts: %s)", named_by(pk), buf,
	    files, list);
	return NULL;
}

static const char *
default_account(struct files *fs, struct cfile **df)
{
	const char *def;
	int i;

	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].cfg == NULL)
			continue;
		def = cfg_getstr(fs->f[i].cfg, "default_account");
		if (def != NULL) {
			*df = &fs->f[i];
			return def;
		}
	}
	return NULL;
}

/* tried: the addresses no account matched ("" if none was tried), for
 * the error of several accounts.  *how says why, when it was not
 * default_account. */
static cfg_t *
choose_default(struct files *fs, const char *tried, struct cfile **from,
    const char **how, struct err *rec)
{
	char list[LIST_MAX], files[ERR_TEXT_MAX], buf[CONFPARSE_SHOW_MAX];
	struct cfile *df = NULL;
	const char *def = default_account(fs, &df);
	cfg_t *sec;
	int n = list_accounts(fs, list, sizeof(list));

	*how = NULL;
	if (def != NULL && (sec = lookup(fs, def, from)) != NULL)
		return sec;
	/* msmtp's default when none is named: migrated files rely on it. */
	*how = n == 1 ? "the only account"
		      : "the account named default (no default_account)";
	if (def == NULL && n > 1 && (sec = lookup(fs, "default", from)) != NULL)
		return sec;
	if (def != NULL)
		confparse_fail(rec, df->path,
		    confparse_key_line(df->cfg, "default_account"),
		    "default_account: no account \"%s\" (accounts: %s)",
		    confparse_show(buf, sizeof(buf), def),
		    n > 0 ? list : "none");
	else if (n == 1)
		return lookup(fs, first_account(fs), from);
	else if (n == 0)
		confparse_fail(rec, NULL, 0,
		    "no account in %s (add account NAME { host = ... })",
		    read_files(fs, files, sizeof(files)));
	else if (tried[0] == '\0')
		confparse_fail(rec, NULL, 0,
		    "several accounts (%s) and no default_account (add default_account = \"%s\" to %s, or pass -a NAME)",
		    list, confparse_show(buf, sizeof(buf), first_account(fs)),
		    fs->f[0].cfg != NULL ? fs->f[0].path : fs->f[1].path);
	else
		confparse_fail(rec, NULL, 0,
		    "several accounts (%s), none that may send as %s, and no default_account (add the address to an account's allow_from, add default_account = \"%s\" to %s, or pass -a NAME)",
		    list, tried,
		    confparse_show(buf, sizeof(buf), first_account(fs)),
		    fs->f[0].cfg != NULL ? fs->f[0].path : fs->f[1].path);
	return NULL;
}

/* One account that may be chosen, with the file it is in. */
struct cand {
	cfg_t *sec;
	struct cfile *cf;
};

/* The accounts in file order, each name once (the user file's wins).
 * Returns how many, or -1 when out of memory; free *v. */
static long
candidates(struct files *fs, struct cand **v)
{
	struct cfile *from = NULL;
	unsigned int j, max = 0;
	long n = 0;
	int i;

	for (i = 0; i < fs->n; i++)
		if (fs->f[i].cfg != NULL)
			max += cfg_size(fs->f[i].cfg, "account");
	if ((*v = calloc(max + 1, sizeof(**v))) == NULL)
		return -1;
	for (i = 0; i < fs->n; i++)
		for (j = 0; fs->f[i].cfg != NULL &&
		     j < cfg_size(fs->f[i].cfg, "account");
		     j++) {
			cfg_t *sec = cfg_getnsec(fs->f[i].cfg, "account", j);

			if (lookup(fs, cfg_title(sec), &from) != sec)
				continue;
			(*v)[n].sec = sec;
			(*v)[n++].cf = from;
		}
	return n;
}

/* The pattern of the account sec that address matches, or NULL: its
 * allow_from patterns, else its from address; *key says which. */
static const char *
matching(cfg_t *sec, const char *address, const char **key)
{
	struct policy p = { .nallow = 1, .local_domain = "" };
	unsigned int i, n = cfg_size(sec, "allow_from");
	const char *pat;

	for (i = 0; i < n; i++) {
		pat = cfg_getnstr(sec, "allow_from", i);
		p.allow = &pat;
		*key = "allow_from";
		if (pat != NULL && policy_allowed(&p, address))
			return pat;
	}
	if (n > 0 || (pat = cfg_getstr(sec, "from")) == NULL)
		return NULL;
	/* The default policy: the from address itself, not as a pattern. */
	p.allow = NULL;
	p.nallow = 0;
	p.from = pat;
	*key = "from";
	return policy_allowed(&p, address) ? pat : NULL;
}

/* The first account whose addresses match address (what names it in
 * *why); NULL when none does, or address has no domain. */
static cfg_t *
match_address(const struct cand *v, long n, const char *what,
    const char *address, struct cfile **from, char **why, int *oom)
{
	char a[256], p[256];
	const char *pat, *key;
	long i;

	if (address == NULL || strchr(address, '@') == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((pat = matching(v[i].sec, address, &key)) == NULL)
			continue;
		*from = v[i].cf;
		err_sanitize(a, sizeof(a), address, strlen(address));
		err_sanitize(p, sizeof(p), pat, strlen(pat));
		if (asprintf(why, "%s %s matches its %s \"%s\" (line %d)", what,
			a, key, p, confparse_key_line(v[i].sec, key)) == -1) {
			*why = NULL;
			*oom = 1;
		}
		return v[i].sec;
	}
	return NULL;
}

/* Add what to the addresses tried (sz bytes), when it has a domain. */
static void
note_tried(char *tried, size_t sz, const char *what, const char *address)
{
	char a[128];
	size_t len = strlen(tried);

	if (address == NULL || strchr(address, '@') == NULL || len >= sz)
		return;
	err_sanitize(a, sizeof(a), address, strlen(address));
	snprintf(
	    tried + len, sz - len, "%s%s %s", len > 0 ? " nor " : "", what, a);
}

/* Rules 2 and 3: the envelope sender, then the From header.  The
 * addresses that matched no account go into tried (sz bytes). */
static cfg_t *
choose_by_address(struct files *fs, const struct conf_pick *pk,
    struct cfile **from, char **why, char *tried, size_t sz, struct err *rec)
{
	struct addr_list l = { 0 };
	struct cand *v = NULL;
	cfg_t *sec = NULL;
	long n = candidates(fs, &v);
	int oom = n < 0, failed = 0;
	size_t i;

	if (n > 0 &&
	    (sec = match_address(v, n, "the envelope sender (-f)", pk->sender,
		 from, why, &oom)) == NULL)
		note_tried(tried, sz, "-f", pk->sender);
	if (sec == NULL && n > 1 && pk->get_from != NULL) {
		failed = pk->get_from(pk->arg, &l, rec) == -1;
		for (i = 0; !failed && sec == NULL && i < l.n; i++)
			sec = match_address(v, n, "the From address",
			    l.v[i].mailbox, from, why, &oom);
		for (i = 0; !failed && sec == NULL && i < l.n; i++)
			note_tried(tried, sz, "From", l.v[i].mailbox);
	}
	addr_list_free(&l);
	free(v);
	if (oom && !failed)
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	return oom || failed ? NULL : sec;
}

static cfg_t *
choose(struct files *fs, const struct conf_pick *pk, struct cfile **from,
    char **why, struct err *rec)
{
	struct cfile *sys = fs->n == 2 ? &fs->f[1] : NULL, *df = NULL;
	char buf[CONFPARSE_SHOW_MAX], tried[300] = "";
	const char *how;
	cfg_t *sec;
	int rc;

	if (sys != NULL && sys->open_errno != 0 &&
	    !settled_by_user(fs, pk->name)) {
		conffile_system_unreadable(fs, pk->name, rec);
		return NULL;
	}
	err_clear(rec);
	if (pk->name != NULL) {
		sec = choose_named(fs, pk, from, rec);
		rc = asprintf(why, "%s %s", named_by(pk),
		    confparse_show(buf, sizeof(buf), pk->name));
	} else if ((sec = choose_by_address(fs, pk, from, why, tried,
			sizeof(tried), rec)) != NULL ||
	    rec->class != ERR_NONE)
		return sec;
	else if ((sec = choose_default(fs, tried, from, &how, rec)) == NULL)
		return NULL;
	else if (how != NULL)
		rc = asprintf(why, "%s", how);
	else {
		default_account(fs, &df);
		rc = asprintf(why, "default_account (%s, line %d)", df->path,
		    confparse_key_line(df->cfg, "default_account"));
	}
	if (sec != NULL && rc == -1) {
		*why = NULL;
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	return sec;
}

static char *
dup_str(const char *v, int *oom)
{
	char *s;

	if (v == NULL)
		return NULL;
	if ((s = strdup(v)) == NULL)
		*oom = 1;
	return s;
}

static void
set_allow_from(cfg_t *sec, struct conf_account *a, int *oom)
{
	size_t i, n = cfg_size(sec, "allow_from");

	if (n == 0)
		return;
	if ((a->allow_from = calloc(n, sizeof(*a->allow_from))) == NULL) {
		*oom = 1;
		return;
	}
	a->nallow_from = n;
	for (i = 0; i < n; i++)
		a->allow_from[i] =
		    dup_str(cfg_getnstr(sec, "allow_from", (unsigned)i), oom);
}

static void
set_auth(cfg_t *sec, struct conf_account *a, int *oom)
{
	const char *v = cfg_getstr(sec, "auth");
	char *p;

	if (v == NULL)
		a->auth = a->user != NULL ? CONF_AUTH_ON : CONF_AUTH_OFF;
	else if (strcasecmp(v, "on") == 0)
		a->auth = CONF_AUTH_ON;
	else if (strcasecmp(v, "off") == 0)
		a->auth = CONF_AUTH_OFF;
	else {
		a->auth = CONF_AUTH_MECH;
		if ((a->auth_mech = dup_str(v, oom)) == NULL)
			return;
		for (p = a->auth_mech; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	}
}

/* Letters, digits, dots and hyphens, with a dot: a usable EHLO name. */
static int
is_fqdn(const char *s)
{
	return s[0] != '\0' && strchr(s, '.') != NULL &&
	    strspn(s,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789.-") == strlen(s);
}

/* This host's name for EHLO: gethostname, else its canonical name, else
 * "localhost". */
static char *
default_helo(int *oom)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	char *name = NULL;

	if (gethostname(host, sizeof(host)) == -1)
		return dup_str("localhost", oom);
	host[sizeof(host) - 1] = '\0';
	if (is_fqdn(host))
		return dup_str(host, oom);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) == 0 &&
	    res->ai_canonname != NULL && is_fqdn(res->ai_canonname))
		name = dup_str(res->ai_canonname, oom);
	if (res != NULL)
		freeaddrinfo(res);
	return name != NULL ? name : dup_str("localhost", oom);
}

/* The TLS keys that need each other. */
static int
check_tls_keys(
    cfg_t *sec, const char *path, const struct conf_account *a, struct err *rec)
{
	const char *k;

	if ((a->tls_cert_file == NULL) != (a->tls_key_file == NULL)) {
		k = a->tls_cert_file != NULL ? "tls_cert_file" : "tls_key_file";
		return confparse_fail(rec, path, confparse_key_line(sec, k),
		    "%s: set without %s (a client certificate needs both tls_cert_file and tls_key_file)",
		    k,
		    a->tls_cert_file != NULL ? "tls_key_file"
					     : "tls_cert_file");
	}
	if (a->tls == CONF_TLS_OFF) {
		k = a->tls_pin != NULL		? "tls_pin"
		    : a->tls_priorities != NULL ? "tls_priorities"
		    : a->tls_cert_file != NULL	? "tls_cert_file"
						: NULL;
		if (k != NULL)
			return confparse_fail(rec, path,
			    confparse_key_line(sec, k),
			    "%s: set but tls = off (set tls = starttls or implicit, or remove %s)",
			    k, k);
	}
	return 0;
}

/* One source of the password at most: password, password_command or
 * keyring (the error is on the line of the later key).  The keyring
 * finds the entry by user. */
static int
check_sources(cfg_t *sec, const char *path, const struct conf_account *a,
    const char *name, struct err *rec)
{
	static const char *const keys[] = { "password", "password_command",
		"keyring" };
	int set[3], i, n = 0, line = 0;
	const char *on[3];

	set[0] = a->password != NULL;
	set[1] = a->password_command != NULL;
	set[2] = a->keyring;
	for (i = 0; i < 3; i++) {
		if (!set[i])
			continue;
		on[n++] = keys[i];
		if (confparse_key_line(sec, keys[i]) > line)
			line = confparse_key_line(sec, keys[i]);
	}
	if (n == 2)
		return confparse_fail(rec, path, line,
		    "account %s: %s and %s are both set (keep one: the password comes from exactly one of them)",
		    name, on[0], on[1]);
	if (n == 3)
		return confparse_fail(rec, path, line,
		    "account %s: password, password_command and keyring are all set (keep one: the password comes from exactly one of them)",
		    name);
	if (a->keyring && a->user == NULL)
		return confparse_fail(rec, path,
		    confparse_key_line(sec, "keyring"),
		    "account %s: keyring is on but user is missing (add user = \"...\": the keyring entry is found by host and user)",
		    name);
	return 0;
}

/* auth = external: the client certificate is the credential. */
static int
is_external(const struct conf_account *a)
{
	return a->auth == CONF_AUTH_MECH && a->auth_mech != NULL &&
	    strcmp(a->auth_mech, "EXTERNAL") == 0;
}

static int check_account(
    cfg_t *, const char *, struct conf_account *, struct err *);

/* The checks for auth = external: a client certificate, and no password
 * (it would never be used); then the others as for no login. */
static int
check_external(cfg_t *sec, const char *path, struct conf_account *a,
    const char *name, struct err *rec)
{
	const char *k;
	int r;

	if (a->tls_cert_file == NULL && a->tls_key_file == NULL)
		return confparse_fail(rec, path,
		    confparse_key_line(sec, "auth"),
		    "account %s: auth = external logs in with a client certificate (add tls_cert_file and tls_key_file)",
		    name);
	k = a->password != NULL		  ? "password"
	    : a->password_command != NULL ? "password_command"
	    : a->keyring		  ? "keyring"
					  : NULL;
	if (k != NULL)
		return confparse_fail(rec, path, confparse_key_line(sec, k),
		    "account %s: auth = external sends no password (remove %s)",
		    name, k);
	a->auth = CONF_AUTH_OFF;
	r = check_account(sec, path, a, rec);
	a->auth = CONF_AUTH_MECH;
	return r;
}

/* The checks across keys, with the line of the key at fault. */
static int
check_account(
    cfg_t *sec, const char *path, struct conf_account *a, struct err *rec)
{
	char name[CONFPARSE_SHOW_MAX];

	confparse_show(name, sizeof(name), a->name);
	if (is_external(a))
		return check_external(sec, path, a, name, rec);
	if (a->host == NULL)
		return confparse_fail(rec, path, confparse_key_line(sec, NULL),
		    "account %s: host is missing (add host = \"smtp.example.com\")",
		    name);
	if (a->from == NULL)
		return confparse_fail(rec, path, confparse_key_line(sec, NULL),
		    "account %s: from is missing (add from = \"you@example.com\")",
		    name);
	if (a->auth != CONF_AUTH_OFF && a->user == NULL)
		return confparse_fail(rec, path,
		    confparse_key_line(sec, "auth"),
		    "account %s: auth is set but user is missing (add user = \"...\" or set auth = off)",
		    name);
	if (check_sources(sec, path, a, name, rec) == -1)
		return -1;
	if ((a->password != NULL || a->password_command != NULL) &&
	    a->user == NULL && cfg_size(sec, "auth") == 0)
		return confparse_fail(rec, path,
		    confparse_key_line(sec,
			a->password != NULL ? "password" : "password_command"),
		    "account %s: %s is set but user is missing (add user = \"...\")",
		    name,
		    a->password != NULL ? "password" : "password_command");
	if (a->auth != CONF_AUTH_OFF && a->password == NULL &&
	    a->password_command == NULL && !a->keyring)
		return confparse_fail(rec, path,
		    confparse_key_line(sec, "user"),
		    "account %s: user is set but password is missing (add password = \"...\", password_command = \"...\" or keyring = on, or set auth = off)",
		    name);
	if (a->auth != CONF_AUTH_OFF && a->tls == CONF_TLS_OFF)
		return confparse_fail(rec, path, confparse_key_line(sec, "tls"),
		    "tls: auth over an unencrypted connection would send the password in clear (set tls = starttls or implicit)");
	return check_tls_keys(sec, path, a, rec);
}

static int
fill_account(
    cfg_t *sec, const struct cfile *cf, struct conf_account *a, struct err *rec)
{
	static const int ports[] = { [CONF_TLS_STARTTLS] = 587,
		[CONF_TLS_IMPLICIT] = 465,
		[CONF_TLS_OFF] = 25 };
	int oom = 0;

	a->name = dup_str(cfg_title(sec), &oom);
	a->file = dup_str(cf->path, &oom);
	a->host = dup_str(cfg_getstr(sec, "host"), &oom);
	a->tls = (enum conf_tls)cfg_getint(sec, "tls");
	a->port = cfg_size(sec, "port") > 0 ? (int)cfg_getint(sec, "port")
					    : ports[a->tls];
	/* Port 465 speaks TLS from the first byte (RFC 8314 3.3): with
	 * the default starttls the session would only wait for a
	 * greeting that never comes.  tls written out stays as written. */
	if (a->port == 465 && confparse_key_line(sec, "tls") == 0)
		a->tls = CONF_TLS_IMPLICIT;
	a->tls_ca_file = dup_str(cfg_getstr(sec, "tls_ca_file"), &oom);
	a->tls_pin = dup_str(cfg_getstr(sec, "tls_pin"), &oom);
	a->tls_priorities = dup_str(cfg_getstr(sec, "tls_priorities"), &oom);
	a->tls_cert_file = dup_str(cfg_getstr(sec, "tls_cert_file"), &oom);
	a->tls_key_file = dup_str(cfg_getstr(sec, "tls_key_file"), &oom);
	a->user = dup_str(cfg_getstr(sec, "user"), &oom);
	a->password = dup_str(cfg_getstr(sec, "password"), &oom);
	a->password_command =
	    dup_str(cfg_getstr(sec, "password_command"), &oom);
	a->keyring = (int)cfg_getint(sec, "keyring");
	a->from = dup_str(cfg_getstr(sec, "from"), &oom);
	a->helo = dup_str(cfg_getstr(sec, "helo"), &oom);
	a->timeout = (int)cfg_getint(sec, "timeout");
	a->aliases = dup_str(cfg_getstr(sec, "aliases"), &oom);
	a->local_domain = dup_str(cfg_getstr(sec, "local_domain"), &oom);
	a->partial_delivery = (int)cfg_getint(sec, "partial_delivery");
	a->queue = (int)cfg_getint(sec, "queue");
	a->queue_lifetime = (long long)cfg_getint(sec, "queue_lifetime");
	set_auth(sec, a, &oom);
	set_allow_from(sec, a, &oom);
	if (oom)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (check_account(sec, cf->path, a, rec) == -1)
		return -1;
	if (a->helo == NULL && (a->helo = default_helo(&oom)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (a->local_domain == NULL &&
	    (a->local_domain = strdup(strrchr(a->from, '@') + 1)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	return 0;
}

/* The settings --pretend shows, with the values conf computes for keys
 * left unset. */
static int
fill_settings(cfg_t *sec, struct conf_account *a)
{
	struct conf_setting *c;
	size_t i;
	int rc = 0;

	if (confparse_settings(sec, &a->settings, &a->nsettings) == -1)
		return -1;
	for (i = 0; rc != -1 && i < a->nsettings; i++) {
		c = &a->settings[i];
		/* The built-in tls follows port 465 (fill_account). */
		if (strcmp(c->key, "tls") == 0 && c->line == 0 &&
		    a->tls == CONF_TLS_IMPLICIT) {
			free(c->value);
			if ((c->value = strdup("implicit")) == NULL)
				rc = -1;
		}
		if (c->value != NULL)
			continue;
		if (strcmp(c->key, "port") == 0)
			rc = asprintf(&c->value, "%d", a->port);
		else if (strcmp(c->key, "auth") == 0)
			rc = asprintf(&c->value, "%s",
			    a->auth == CONF_AUTH_OFF ? "off" : "on");
		else if (strcmp(c->key, "helo") == 0)
			rc = asprintf(&c->value, "\"%s\"", a->helo);
		else if (strcmp(c->key, "local_domain") == 0)
			rc = asprintf(&c->value, "\"%s\"", a->local_domain);
		else if (strcmp(c->key, "allow_from") == 0)
			rc = asprintf(&c->value, "{\"%s\"}", a->from);
		if (rc == -1)
			c->value = NULL;
	}
	return rc == -1 ? -1 : 0;
}

/* The system file this user could not open, for --pretend and -v. */
static int
note_not_read(const struct files *fs, struct conf_account *a)
{
	const struct cfile *sys = &fs->f[1];

	if (fs->n != 2 || sys->open_errno == 0)
		return 0;
	if (asprintf(&a->not_read, "%s: %s", sys->path,
		strerror(sys->open_errno)) == -1) {
		a->not_read = NULL;
		return -1;
	}
	return 0;
}

/*
 * XXX: libconfuse's lexer keeps its own copies of the text it scans (its
 * read buffer, the quoted-string buffer) and frees them unwiped; only
 * our buffer and the values in the cfg tree are wiped.
 */
int
conf_choose(const char *file, const struct conf_pick *pick,
    struct conf_account *acct, struct err *rec)
{
	struct files fs;
	struct cfile *from = NULL;
	char *why = NULL;
	cfg_t *sec;
	int rc = -1;

	memset(acct, 0, sizeof(*acct));
	memset(&fs, 0, sizeof(fs));
	if (conffile_load_files(&fs, file, rec) == 0 &&
	    (sec = choose(&fs, pick, &from, &why, rec)) != NULL &&
	    (rc = fill_account(sec, from, acct, rec)) == 0) {
		acct->chosen_by = why;
		why = NULL;
		if (note_not_read(&fs, acct) == -1)
			rc = err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		if (pick->settings && fill_settings(sec, acct) == -1)
			rc = err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	}
	free(why);
	if (rc == -1)
		conf_account_free(acct);
	conffile_free_files(&fs);
	return rc;
}

int
conf_load(const char *file, const char *name, struct conf_account *acct,
    struct err *rec)
{
	struct conf_pick pick = { .name = name };

	return conf_choose(file, &pick, acct, rec);
}

int
conf_load_queued(const char *file, const char *name, const char *id,
    struct conf_account *acct, struct err *rec)
{
	struct conf_pick pick = { .name = name, .queued_id = id };

	return conf_choose(file, &pick, acct, rec);
}

int
conf_password(struct conf_account *acct, struct err *rec)
{
	char name[CONFPARSE_SHOW_MAX], why[ERR_TEXT_MAX];
	int rc;

	if (acct->auth == CONF_AUTH_OFF || acct->password != NULL)
		return 0;
	confparse_show(name, sizeof(name), acct->name);
	if (acct->password_command != NULL)
		rc = secret_command(acct->password_command,
		    SECRET_COMMAND_TIMEOUT, &acct->password, rec);
	else if (acct->keyring)
		rc = keyring_lookup(
		    acct->host, acct->user, name, &acct->password, rec);
	else
		return 0;
	if (rc == 0)
		return 0;
	snprintf(why, sizeof(why), "%s", rec->text);
	return err_set(rec, rec->class, rec->code, "%s: account %s: %s",
	    acct->file, name, why);
}

void
conf_account_free(struct conf_account *acct)
{
	size_t i;

	if (acct == NULL)
		return;
	free(acct->name);
	free(acct->file);
	free(acct->host);
	free(acct->tls_ca_file);
	free(acct->tls_pin);
	free(acct->tls_priorities);
	free(acct->tls_cert_file);
	free(acct->tls_key_file);
	free(acct->auth_mech);
	free(acct->user);
	secret_free(acct->password);
	free(acct->password_command);
	free(acct->from);
	free(acct->helo);
	free(acct->aliases);
	free(acct->local_domain);
	for (i = 0; i < acct->nallow_from; i++)
		free(acct->allow_from[i]);
	free(acct->allow_from);
	free(acct->chosen_by);
	free(acct->not_read);
	for (i = 0; acct->settings != NULL && i < acct->nsettings; i++)
		free(acct->settings[i].value);
	free(acct->settings);
	memset(acct, 0, sizeof(*acct));
}