/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_OPTIONS_H
#define MAILHOP_OPTIONS_H

#include <stddef.h>

#include "err.h"

enum opt_mode { OPT_MODE_SEND };

/* The command line, parsed.  Strings point into argv. */
struct options {
	enum opt_mode mode;
	int extract;	     /* -t */
	int dot_ok;	     /* -i, -oi: mailhop always reads to EOF anyway */
	int verbose;	     /* -v */
	const char *sender;  /* -f; NULL when not given */
	const char *account; /* -a */
	const char *config;  /* -C */
	char **rcpt;	     /* recipient arguments; the array is owned */
	size_t nrcpt;
};

/* Parse argv (argc entries, argv[0] the program name) into o.  Returns 0
 * (free o with opt_free), or -1 with rec filled (ERR_USAGE, EX_USAGE)
 * naming the bad option. */
int opt_parse(int argc, char *const argv[], struct options *o, struct err *rec);

/* Free what opt_parse allocated; o stays usable for nothing else. */
void opt_free(struct options *o);

#endif
