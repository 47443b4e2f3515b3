/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_CONFPARSE_INT_H
#define MAILHOP_CONFPARSE_INT_H

/* What confparse.c, confscan.c, confcheck.c and conferr.c share: the
 * key tables and the file being parsed.  Not for other modules: conf.c
 * uses confparse.h. */

#include <stdarg.h>
#include <stddef.h>
#include <confuse.h>

#include "err.h"

/* Longest key name looked at. */
#define CONFPARSE_KEY_MAX 32

enum akey {
	K_BLOCK,
	K_HOST,
	K_PORT,
	K_TLS,
	K_CA,
	K_AUTH,
	K_USER,
	K_PASSWORD,
	K_FROM,
	K_HELO,
	K_TIMEOUT,
	K_ALIASES,
	K_LOCAL_DOMAIN,
	K_PARTIAL,
	K_QUEUE,
	K_PASSWORD_COMMAND,
	K_ALLOW_FROM,
	K_PIN,
	K_PRIORITIES,
	K_CERT,
	K_KEY,
	K_KEYRING,
	K_QUEUE_LIFETIME,
	K_NKEYS
};

enum rkey { R_BLOCK, R_DEFAULT, R_NKEYS };

/* The names of the account keys and of the top-level keys, by enum akey
 * and enum rkey; [0] is "". */
extern const char *const confparse_akeys[K_NKEYS];
extern const char *const confparse_rkeys[R_NKEYS];

/* The file being parsed, for the libconfuse callbacks and the pre-scan. */
struct parse {
	const char *path;
	struct err *rec;
	int failed;
	int pw_line; /* line of the last password value */
	int has_password;
};

/* The parse under way, set by confparse_buf around cfg_parse_fp; NULL
 * between parses. */
extern struct parse *confparse_parsing;

/* During a parse: fill its record with "PATH:LINE: text" at cfg's
 * current line and mark it failed.  The first error wins; outside a parse
 * nothing is done.  Returns -1. */
int confparse_pfail(cfg_t *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether cfg is an account block or the defaults block: both take the
 * account keys. */
int confparse_in_account(cfg_t *cfg);

/* The index of s in tab (n entries), ignoring case; -1 when not there. */
int confparse_find(const char *const *tab, size_t n, const char *s);

/*
 * Pre-scan (confscan.c) of the n bytes at s before libconfuse sees them:
 * turn comments into spaces, keeping newlines.  libconfuse 3.3 counts
 * each comment as several lines, so a file with comments would get wrong
 * line numbers in every message.  Quotes and ${VAR} are skipped as its
 * lexer does, so a # inside them stays.  Returns -1 with p->rec filled
 * (and p->failed set), or how many blocks are left open at the end,
 * which libconfuse lets pass.
 */
int confscan_text(struct parse *p, char *s, size_t n);

/* Value checks (confcheck.c), at cfg's current line.  confcheck_value
 * checks v, the string value of key, when key has a check (a key without
 * one passes); the check of password notes it in confparse_parsing.  A
 * file that a value names is opened (O_NONBLOCK) and closed again.
 * confcheck_allow_from checks the last value of the list opt, the one
 * libconfuse has just added, or that the list is not empty.  Both return
 * 0, or -1 after confparse_pfail. */
int confcheck_value(cfg_t *cfg, const char *key, const char *v);
int confcheck_allow_from(cfg_t *cfg, cfg_opt_t *opt);

/* libconfuse's error function (conferr.c), for cfg_set_error_function:
 * fills the record of the parse under way (confparse_pfail) from the
 * message fmt is, using only the arguments known to be key or block
 * names.  Does nothing outside a parse or after its first error. */
void conferr_on_error(cfg_t *cfg, const char *fmt, va_list ap);

#endif
