/* SPDX-License-Identifier: ISC */
/*
 * The sendmail command line.  Flags may be grouped (-ti), values glued
 * (-fme@example.org) or separate (-f me@example.org); options may follow
 * recipients, as with GNU getopt, until "--" ends them.
 */
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "options.h"

/* What one option letter does. */
enum opt_kind { OPT_FLAG, OPT_VALUE };

struct opt_def {
	char letter;
	enum opt_kind kind;
};

static const struct opt_def defs[] = {
	{ 't', OPT_FLAG },
	{ 'i', OPT_FLAG },
	{ 'v', OPT_FLAG },
	{ 'f', OPT_VALUE },
	{ 'a', OPT_VALUE },
	{ 'C', OPT_VALUE },
	{ 'o', OPT_VALUE },
};

static const struct opt_def *
find_def(char c)
{
	size_t i;

	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (defs[i].letter == c)
			return &defs[i];
	return NULL;
}

static void
apply_flag(struct options *o, char c)
{
	switch (c) {
	case 't':
		o->extract = 1;
		break;
	case 'i':
		o->dot_ok = 1;
		break;
	case 'v':
		o->verbose = 1;
		break;
	}
}

static int
apply_value(struct options *o, char c, const char *v, struct err *rec)
{
	switch (c) {
	case 'f':
		o->sender = v;
		break;
	case 'a':
		o->account = v;
		break;
	case 'C':
		o->config = v;
		break;
	case 'o':
		/* -oi is -i; sendmail's other -o options do not apply. */
		if (strcmp(v, "i") == 0)
			o->dot_ok = 1;
		else
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "unknown option -o%.40s (only -oi is known)", v);
		break;
	}
	return 0;
}

/* Parse the option word argv[*i] (which starts with '-'), taking a
 * separate value from argv[*i + 1] when needed. */
static int
parse_word(
    int argc, char *const argv[], int *i, struct options *o, struct err *rec)
{
	const char *w = argv[*i];
	const struct opt_def *d;
	size_t k;

	for (k = 1; w[k] != '\0'; k++) {
		d = find_def(w[k]);
		if (d == NULL)
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "unknown option -%c (see mailhop(1))", w[k]);
		if (d->kind == OPT_FLAG) {
			apply_flag(o, w[k]);
			continue;
		}
		if (w[k + 1] != '\0')
			return apply_value(o, w[k], w + k + 1, rec);
		if (*i + 1 >= argc)
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "option -%c needs a value", w[k]);
		(*i)++;
		return apply_value(o, w[k], argv[*i], rec);
	}
	return 0;
}

int
opt_parse(int argc, char *const argv[], struct options *o, struct err *rec)
{
	char **rcpt;
	int i, n = 0, rest = 0;

	memset(o, 0, sizeof(*o));
	o->mode = OPT_MODE_SEND;
	/* Recipients are collected in order, options taken out. */
	rcpt = calloc(argc + 1, sizeof(*rcpt));
	if (rcpt == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	for (i = 1; i < argc; i++) {
		if (rest || argv[i][0] != '-' || argv[i][1] == '\0') {
			rcpt[n++] = argv[i];
		} else if (strcmp(argv[i], "--") == 0) {
			rest = 1;
		} else if (parse_word(argc, argv, &i, o, rec) == -1) {
			free(rcpt);
			return -1;
		}
	}
	o->rcpt = rcpt;
	o->nrcpt = n;
	return 0;
}

void
opt_free(struct options *o)
{
	free(o->rcpt);
	o->rcpt = NULL;
}
