/* SPDX-License-Identifier: ISC */
/*
 * What the value of each key must be: a host name, an address, a readable
 * file (a private key ours alone), a domain, an authentication method, a
 * password SASLprep allows, a TLS pin or priority string, an allow_from
 * pattern; each refusal says what to write instead, without showing a
 * value that may be a secret.  confparse.c's validate callback calls them.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <confuse.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "confparse.h"
#include "confparse_int.h"
#include "err.h"
#include "pin.h"
#include "tlsprio.h"

#define PATH_SHOW 200 /* longest path quoted back in a message */

static const char *const auth_values[] = { "on", "off", "plain", "login",
	"scram-sha-1", "scram-sha-256", "xoauth2", "oauthbearer", "external" };

/* No whitespace or control bytes, and not empty. */
static int
is_word(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return s[0] != '\0';
}

/* A host name (IDN bytes included) or an IP address (IPv6 with its
 * zone): no space, quote or shell character, and no leading '-' that a
 * helper could take for an option. */
static int
is_hostname(const char *s)
{
	const unsigned char *p;

	if (s[0] == '-' || s[0] == '.' || !is_word(s))
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x80 && !isalnum(*p) && strchr(".-_:[]%", *p) == NULL)
			return 0;
	return 1;
}

static int
check_name(cfg_t *cfg, const char *key, const char *v)
{
	char buf[CONFPARSE_SHOW_MAX];

	if (is_hostname(v))
		return 0;
	return confparse_pfail(cfg,
	    "%s: \"%s\" is not a host name (write %s = \"%s\")", key,
	    confparse_show(buf, sizeof(buf), v), key,
	    strcmp(key, "helo") == 0 ? "myhost.example.com"
				     : "smtp.example.com");
}

static int
check_from(cfg_t *cfg, const char *key, const char *v)
{
	const char *at = strchr(v, '@');
	char buf[CONFPARSE_SHOW_MAX];

	if (is_word(v) && at != NULL && at != v && at[1] != '\0' &&
	    strchr(at + 1, '@') == NULL)
		return 0;
	return confparse_pfail(cfg,
	    "%s: \"%s\" is not an address (write %s = \"you@example.com\")",
	    key, confparse_show(buf, sizeof(buf), v), key);
}

/* A private key is a secret: ours (or root's), no group or other bits,
 * as for a config file with a password.  tls.c checks again on the
 * descriptor it reads the key from. */
static int
check_key_owner(cfg_t *cfg, const char *key, const char *v, struct stat *st)
{
	char buf[PATH_SHOW];

	if (st->st_uid != geteuid() && st->st_uid != 0)
		return confparse_pfail(cfg,
		    "%s: %s belongs to uid %u, not to you (run: chown $(id -u) %s)",
		    key, confparse_show(buf, sizeof(buf), v),
		    (unsigned)st->st_uid, buf);
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return confparse_pfail(cfg,
		    "%s: %s is open to others (run: chmod 600 %s)", key,
		    confparse_show(buf, sizeof(buf), v), buf);
	return 0;
}

/* An absolute path of a readable regular file: a PEM file for
 * tls_ca_file, tls_cert_file and tls_key_file, an aliases file for
 * aliases.  (tls.c checks the key file's owner and mode as it reads it.) */
static int
check_file(cfg_t *cfg, const char *key, const char *v)
{
	int al = strcmp(key, "aliases") == 0;
	const char *what = al ? "an aliases file" : "a PEM file";
	const char *noun = al ? "aliases file" : "PEM file";
	char buf[PATH_SHOW];
	struct stat st;
	int fd, e;

	if (strcmp(key, "tls_ca_file") == 0 && strcmp(v, "system") == 0)
		return confparse_pfail(cfg,
		    "%s: \"system\" is msmtp's way to say the system's trusted CAs, which mailhop uses when %s is not set (remove the line)",
		    key, key);
	if (v[0] == '~')
		return confparse_pfail(cfg,
		    "%s: \"%s\" starts with ~, which is not expanded (write the full path, or \"${HOME}/...\" in double quotes)",
		    key, confparse_show(buf, sizeof(buf), v));
	if (v[0] != '/')
		return confparse_pfail(cfg,
		    "%s: \"%s\" is not an absolute path (write the full path of %s)",
		    key, confparse_show(buf, sizeof(buf), v), what);
	fd = open(v, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		e = errno;
		return confparse_pfail(cfg,
		    "%s: cannot read %s: %s (write the path of a readable %s)",
		    key, confparse_show(buf, sizeof(buf), v), strerror(e),
		    noun);
	}
	e = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	if (e && strcmp(key, "tls_key_file") == 0)
		return check_key_owner(cfg, key, v, &st);
	if (e)
		return 0;
	return confparse_pfail(cfg,
	    "%s: %s is not a regular file (write the path of %s)", key,
	    confparse_show(buf, sizeof(buf), v), what);
}

/* A domain name: no '@', no empty label; bytes over 0x7f are left to
 * IDNA. */
static int
check_domain(cfg_t *cfg, const char *key, const char *v)
{
	char buf[CONFPARSE_SHOW_MAX];

	if (is_word(v) && strchr(v, '@') == NULL && v[0] != '.' &&
	    v[strlen(v) - 1] != '.' && strstr(v, "..") == NULL)
		return 0;
	return confparse_pfail(cfg,
	    "%s: \"%s\" is not a domain name (write %s = \"example.com\")", key,
	    confparse_show(buf, sizeof(buf), v), key);
}

/* The value is not shown: a confused user may have put a secret here. */
static int
check_auth(cfg_t *cfg, const char *key, const char *v)
{
	if (confparse_find(auth_values,
		sizeof(auth_values) / sizeof(auth_values[0]), v) >= 0)
		return 0;
	return confparse_pfail(cfg,
	    "%s: not an authentication method (write on, off, plain, login, scram-sha-1, scram-sha-256, xoauth2, oauthbearer or external)",
	    key);
}

static int
check_password(cfg_t *cfg, const char *key, const char *v)
{
	const char *p;

	confparse_parsing->has_password = 1;
	confparse_parsing->pw_line = cfg->line;
	if (v[0] == '\0')
		return confparse_pfail(cfg,
		    "%s: empty (write the password, or remove the line and set auth = off)",
		    key);
	/* SASLprep (RFC 4013) prohibits control characters. */
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return confparse_pfail(cfg,
			    "%s: contains a control character (a tab or line break cannot be sent)",
			    key);
	return 0;
}

static int
check_nonempty(cfg_t *cfg, const char *key, const char *v)
{
	if (v[0] != '\0')
		return 0;
	return confparse_pfail(
	    cfg, "%s: empty (remove the line or write %s = \"...\")", key, key);
}

/* tls_pin and tls_priorities: tls.c knows what is valid. */
static int
check_tls_value(cfg_t *cfg, const char *key, const char *v)
{
	char why[ERR_TEXT_MAX - 100];
	int r;

	if (strcmp(key, "tls_pin") == 0)
		r = pin_check(v, why, sizeof(why));
	else
		r = tlsprio_check(v, why, sizeof(why));
	return r == 0 ? 0 : confparse_pfail(cfg, "%s: %s", key, why);
}

static const struct {
	const char *key;
	int (*check)(cfg_t *, const char *, const char *);
} checks[] = {
	{ "host", check_name },
	{ "helo", check_name },
	{ "from", check_from },
	{ "tls_ca_file", check_file },
	{ "tls_cert_file", check_file },
	{ "tls_key_file", check_file },
	{ "tls_pin", check_tls_value },
	{ "tls_priorities", check_tls_value },
	{ "aliases", check_file },
	{ "local_domain", check_domain },
	{ "auth", check_auth },
	{ "password", check_password },
	{ "user", check_nonempty },
	{ "password_command", check_nonempty },
	{ "default_account", check_nonempty },
};

/* One allow_from pattern: "*", or LOCAL@DOMAIN where LOCAL is "*", a
 * name, or a name ending in "+*", and DOMAIN has no "*". */
static int
is_pattern(const char *v)
{
	const char *at = strrchr(v, '@'), *star = strchr(v, '*');
	size_t llen;

	if (strcmp(v, "*") == 0)
		return 1;
	if (!is_word(v) || at == NULL || at == v || at[1] == '\0')
		return 0;
	if (strchr(at, '*') != NULL)
		return 0;
	llen = (size_t)(at - v);
	if (star == NULL || star > at)
		return 1;
	if (llen == 1)
		return 1;
	return star == at - 1 && llen > 2 && v[llen - 2] == '+' &&
	    memchr(v, '*', llen - 1) == NULL;
}

int
confcheck_allow_from(cfg_t *cfg, cfg_opt_t *opt)
{
	char buf[CONFPARSE_SHOW_MAX];
	const char *v;

	if (opt->nvalues == 0)
		return confparse_pfail(cfg,
		    "%s: empty list (write allow_from = {\"you@example.com\"}, or \"*\" to leave it to the server)",
		    opt->name);
	/* libconfuse calls this after each value of the list. */
	v = cfg_opt_getnstr(opt, opt->nvalues - 1);
	if (v != NULL && is_pattern(v))
		return 0;
	return confparse_pfail(cfg,
	    "%s: \"%s\" is not an address pattern (write you@example.com, *@example.com, you+*@example.com or *)",
	    opt->name, confparse_show(buf, sizeof(buf), v ? v : ""));
}

int
confcheck_value(cfg_t *cfg, const char *key, const char *v)
{
	size_t i;

	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (strcmp(checks[i].key, key) == 0)
			return checks[i].check(cfg, key, v);
	return 0;
}
