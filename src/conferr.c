/* SPDX-License-Identifier: ISC */
/*
 * libconfuse's errors in our words: "FILE:LINE: KEY: problem (fix)",
 * with a "did you mean" for a typo of a key and a hint for msmtp's keys,
 * and never a value that may be a secret (libconfuse's own text can
 * quote one).  confparse.c sets conferr_on_error as its error function.
 */
#include <confuse.h>
#include <libintl.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "confparse.h"
#include "confparse_int.h"

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Edits (insert, delete, change, swap two neighbours) from a to b,
 * ignoring case. */
static int
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[CONFPARSE_KEY_MAX + 1][CONFPARSE_KEY_MAX + 1], best;

	if (la > CONFPARSE_KEY_MAX || lb > CONFPARSE_KEY_MAX)
		return CONFPARSE_KEY_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			best = d[i - 1][j - 1] +
			    (lower(a[i - 1]) != lower(b[j - 1]));
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 &&
			    lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* The key of this block closest to name, if it is close enough to be a
 * typo of it. */
static const char *
closest_key(cfg_t *cfg, const char *name)
{
	const char *best = NULL;
	int d, bestd = strlen(name) > 4 ? 3 : 2;
	unsigned int i;

	for (i = 0; i < cfg_num(cfg); i++) {
		const char *key = cfg_getnopt(cfg, i)->name;

		if (key[0] == '\001')
			continue;
		d = edit_distance(name, key);
		if (d < bestd) {
			bestd = d;
			best = key;
		}
	}
	return best;
}

/* msmtp's keys that mailhop spells otherwise or does without: a fixed
 * table, so the name shown is never the user's text. */
static const struct {
	const char *key;
	const char *hint;
} msmtp_keys[] = {
	{ "passwordeval", "mailhop's is password_command" },
	{ "tls_trust_file", "mailhop's is tls_ca_file" },
	{ "tls_fingerprint",
	    "mailhop's is tls_pin, a SHA-256 of the server's public key: run mailhop --serverinfo to get it" },
	{ "tls_starttls", "mailhop's is tls = starttls or tls = implicit" },
	{ "tls_certcheck",
	    "mailhop has none: verification cannot be turned off; use tls_ca_file or tls_pin" },
	{ "tls_crl_file", "mailhop has none (remove it)" },
	{ "tls_min_dh_prime_bits", "mailhop has none (remove it)" },
	{ "tls_host_override",
	    "mailhop has none: set host to the name the certificate shows" },
	{ "logfile",
	    "mailhop has none: it always logs one line a message to syslog" },
	{ "logfile_time_format", "mailhop has none: it logs to syslog" },
	{ "syslog",
	    "mailhop has none: it always logs one line a message to syslog" },
	{ "domain", "mailhop's is helo" },
	{ "maildomain", "mailhop's is local_domain" },
	{ "auto_from",
	    "mailhop has none: set from; a local From is rewritten to it" },
	{ "set_from_header",
	    "mailhop has none: a From is added only when missing" },
	{ "allow_from_override",
	    "mailhop has none: -f is checked against allow_from" },
	{ "add_missing_from_header",
	    "mailhop has none: it adds a missing From" },
	{ "add_missing_date_header",
	    "mailhop has none: it adds a missing Date" },
	{ "remove_bcc_headers", "mailhop has none: it always removes Bcc" },
	{ "undisclosed_recipients", "mailhop has none (remove it)" },
	{ "dsn_notify", "mailhop has none: give -N on the command line" },
	{ "dsn_return", "mailhop has none: give -R on the command line" },
	{ "protocol", "mailhop has none: it speaks SMTP only" },
	{ "source_ip", "mailhop has none (remove it)" },
	{ "proxy_host", "mailhop has none (remove it)" },
	{ "proxy_port", "mailhop has none (remove it)" },
	{ "socket", "mailhop has none (remove it)" },
	{ "ntlmdomain", "mailhop has none: NTLM is not supported" },
	{ "eval", "mailhop has none (remove it)" },
};

/* The msmtp key name is, ignoring case, or -1. */
static int
msmtp_key(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(msmtp_keys) / sizeof(msmtp_keys[0]); i++)
		if (strcasecmp(msmtp_keys[i].key, name) == 0)
			return (int)i;
	return -1;
}

/* The account key closest to name, for a typo at the top level. */
static const char *
closest_account_key(const char *name)
{
	const char *best = NULL;
	int k, d, bestd = strlen(name) > 4 ? 3 : 2;

	for (k = 1; k < K_NKEYS; k++)
		if ((d = edit_distance(name, confparse_akeys[k])) < bestd) {
			bestd = d;
			best = confparse_akeys[k];
		}
	return best;
}

/*
 * libconfuse found a word where a key belongs.  The word is shown only
 * when it is nearly a key, or one of msmtp's: it may be a piece of a
 * password (S38).
 */
static void
unknown_key(cfg_t *cfg, const char *name)
{
	char buf[CONFPARSE_SHOW_MAX];
	const char *hint;
	int m;

	if (confparse_parsing->pw_line == cfg->line)
		confparse_pfail(cfg,
		    "password: unexpected text after the value (put the password in quotes: password = \"...\")");
	else if (!confparse_in_account(cfg) &&
	    confparse_find(confparse_akeys, K_NKEYS, name) > 0)
		confparse_pfail(cfg,
		    "%s: only allowed inside an account block or defaults (write account NAME { %s = ... })",
		    confparse_akeys[confparse_find(
			confparse_akeys, K_NKEYS, name)],
		    confparse_akeys[confparse_find(
			confparse_akeys, K_NKEYS, name)]);
	else if (confparse_in_account(cfg) &&
	    confparse_find(confparse_rkeys, R_NKEYS, name) > 0)
		confparse_pfail(cfg,
		    "default_account: not allowed inside an account block or defaults (move it before the block)");
	else if (confparse_in_account(cfg) &&
	    (strcmp(name, "account") == 0 || strcmp(name, "defaults") == 0))
		confparse_pfail(cfg,
		    "%s: inside another account block or defaults (close the block above with })",
		    strcmp(name, "account") == 0 ? "account" : "defaults");
	else if ((m = msmtp_key(name)) >= 0)
		confparse_pfail(cfg,
		    "%s: a key of msmtp, not of mailhop; %s (see mailhop.conf(5))",
		    msmtp_keys[m].key, msmtp_keys[m].hint);
	else if ((hint = closest_key(cfg, name)) != NULL)
		confparse_pfail(cfg, "%s: unknown key (did you mean %s?)",
		    confparse_show(buf, sizeof(buf), name), hint);
	else if (!confparse_in_account(cfg) &&
	    (hint = closest_account_key(name)) != NULL)
		confparse_pfail(cfg,
		    "%s: unknown key (did you mean %s? it goes inside account NAME { ... } or defaults { ... })",
		    confparse_show(buf, sizeof(buf), name), hint);
	else
		confparse_pfail(
		    cfg, "unknown key (see mailhop.conf(5) for the keys)");
}

/* Only punctuation is shown: any other token may be a secret. */
static void
unexpected_token(cfg_t *cfg, const char *tok)
{
	static const char *const safe[] = { "=", "+=", "{", "}", "(", ")",
		"," };

	if (confparse_find(safe, sizeof(safe) / sizeof(safe[0]), tok) >= 0)
		confparse_pfail(cfg,
		    "unexpected \"%s\" (write key = value, one per line, e.g. host = \"smtp.example.com\")",
		    tok);
	else
		confparse_pfail(cfg,
		    "unexpected word (write key = value, one per line, e.g. host = \"smtp.example.com\")");
}

enum cmsg {
	CM_NOKEY,
	CM_TOKEN,
	CM_NOEQUAL,
	CM_APPEND,
	CM_EOF,
	CM_QUOTE,
	CM_ESCAPE,
	CM_OCTAL,
	CM_DUPTITLE,
	CM_NOBRACE,
	CM_NOTITLE,
	CM_CLOSE,
	CM_OTHER
};

/* libconfuse 3.3's messages, as passed to its error function. */
static const char *const cmsg_ids[CM_OTHER] = {
	[CM_NOKEY] = "no such option '%s'",
	[CM_TOKEN] = "unexpected token '%s'",
	[CM_NOEQUAL] = "missing equal sign after option '%s'",
	[CM_APPEND] = "attempt to append to non-list option '%s'",
	[CM_EOF] = "premature end of file",
	[CM_QUOTE] = "unterminated string constant",
	[CM_ESCAPE] = "bad escape sequence '%s'",
	[CM_OCTAL] = "invalid octal number '%s'",
	[CM_DUPTITLE] = "found duplicate title '%s'",
	[CM_NOBRACE] = "missing opening brace for section '%s'",
	[CM_NOTITLE] = "missing title for section '%s'",
	[CM_CLOSE] = "unexpected closing brace",
};

/* Which message fmt is, also when libconfuse's are translated. */
static enum cmsg
classify(const char *fmt)
{
	int i;

	for (i = 0; i < CM_OTHER; i++)
		if (strcmp(fmt, cmsg_ids[i]) == 0 ||
		    strcmp(fmt, dgettext("confuse", cmsg_ids[i])) == 0)
			return (enum cmsg)i;
	return CM_OTHER;
}

/*
 * Our error function for libconfuse: its text is never printed, since
 * its arguments can be values.  Only the arguments known to be key or
 * block names are used.
 */
void
conferr_on_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	enum cmsg m = classify(fmt);
	char buf[CONFPARSE_SHOW_MAX];
	const char *arg = "";

	if (confparse_parsing == NULL || confparse_parsing->failed)
		return;
	if (m == CM_NOKEY || m == CM_TOKEN || m == CM_NOEQUAL ||
	    m == CM_APPEND || m == CM_DUPTITLE || m == CM_NOBRACE ||
	    m == CM_NOTITLE)
		arg = va_arg(ap, const char *);
	switch (m) {
	case CM_NOKEY:
		unknown_key(cfg, arg);
		break;
	case CM_TOKEN:
		unexpected_token(cfg, arg);
		break;
	case CM_NOEQUAL:
		confparse_pfail(
		    cfg, "%s: missing \"=\" (write %s = value)", arg, arg);
		break;
	case CM_APPEND:
		confparse_pfail(cfg,
		    "%s: \"+=\" is not allowed (write %s = value)", arg, arg);
		break;
	case CM_EOF:
		confparse_pfail(cfg,
		    "unexpected end of file (close the last quote, or the account block with })");
		break;
	case CM_QUOTE:
		confparse_pfail(cfg, "unterminated quote (add the closing ')");
		break;
	case CM_ESCAPE:
	case CM_OCTAL:
		confparse_pfail(cfg,
		    "bad escape sequence in a quoted string (write \\\\ for a backslash)");
		break;
	case CM_DUPTITLE:
		confparse_pfail(cfg,
		    "account %s: defined twice (keep one block)",
		    confparse_show(buf, sizeof(buf), arg));
		break;
	case CM_NOBRACE:
	case CM_NOTITLE:
		if (strcmp(arg, "defaults") == 0)
			confparse_pfail(cfg,
			    "defaults: expected \"{\" (write defaults { ... } around the keys every account shares)");
		else
			confparse_pfail(cfg,
			    "account: expected a name and \"{\" (write account NAME { ... })");
		break;
	case CM_CLOSE:
		confparse_pfail(cfg,
		    "unexpected \"}\" (remove it, or open a block with account NAME {)");
		break;
	default:
		confparse_pfail(cfg, "syntax error (see mailhop.conf(5))");
		break;
	}
}
