/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_CONFPARSE_INT_H
#define MAILHOP_CONFPARSE_INT_H

/* What confparse.c and confscan.c share: the key tables and the file
 * being parsed.  Not for other modules: conf.c uses confparse.h. */

#include <stddef.h>

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

#endif
