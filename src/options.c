/* SPDX-License-Identifier: ISC */
/*
 * The sendmail command line, as Postfix's sendmail(1) takes it (see
 * callers.md, R1-R13).  Flags may be grouped (-ti), values glued
 * (-fme@example.org) or separate (-f me@example.org); options may follow
 * recipients, as with GNU getopt, until "--" ends them.  Options that make
 * no sense here are accepted and ignored, their values consumed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "options.h"

/* -h is sendmail's hop count, but a person typing it means --help. */
#define HOPS_HINT " (did you mean --help?)"

/* How an option letter takes its value. */
enum opt_kind {
	OPT_FLAG,  /* none */
	OPT_VALUE, /* glued, else the next argument */
	OPT_GLUED  /* only glued, possibly empty (-q, -q30m) */
};

struct opt_def {
	char letter;
	enum opt_kind kind;
};

/* Postfix's getopt string A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx,
 * plus our -a. */
static const struct opt_def defs[] = {
	{ 't', OPT_FLAG },
	{ 'i', OPT_FLAG },
	{ 'v', OPT_FLAG },
	{ 'I', OPT_FLAG },
	{ 'G', OPT_FLAG },
	{ 'm', OPT_FLAG },
	{ 'U', OPT_FLAG },
	{ 'c', OPT_FLAG },
	{ 'x', OPT_FLAG },
	{ 'n', OPT_FLAG },
	{ 'f', OPT_VALUE },
	{ 'r', OPT_VALUE },
	{ 'F', OPT_VALUE },
	{ 'N', OPT_VALUE },
	{ 'R', OPT_VALUE },
	{ 'V', OPT_VALUE },
	{ 'B', OPT_VALUE },
	{ 'b', OPT_VALUE },
	{ 'a', OPT_VALUE },
	{ 'C', OPT_VALUE },
	{ 'o', OPT_VALUE },
	{ 'O', OPT_VALUE },
	{ 'A', OPT_VALUE },
	{ 'h', OPT_VALUE },
	{ 'L', OPT_VALUE },
	{ 'X', OPT_VALUE },
	{ 'e', OPT_VALUE },
	{ 'p', OPT_VALUE },
	{ 'q', OPT_GLUED },
};

/* -b modes mailhop does not have, and why. */
static const struct {
	const char *mode;
	const char *what;
} no_modes[] = {
	{ "d",
	    "-bd (run as a daemon) is not supported: mailhop is not a "
	    "daemon" },
	{ "l",
	    "-bl (run as a daemon) is not supported: mailhop is not a "
	    "daemon" },
	{ "D",
	    "-bD (run as a daemon) is not supported: mailhop is not a "
	    "daemon" },
	{ "v",
	    "-bv (verify addresses) is not supported: the account's "
	    "server decides what it accepts" },
	{ "h",
	    "-bh (host status) is not supported: mailhop keeps no host "
	    "status" },
	{ "H",
	    "-bH (purge host status) is not supported: mailhop keeps no "
	    "host status" },
	{ "t", "-bt (address test mode) is not supported" },
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

/* An error about the value v of option -c; v is shown sanitised. */
static int
bad_value(struct err *rec, char c, const char *v, const char *hint)
{
	char shown[64];

	err_sanitize(shown, sizeof(shown), v, strlen(v));
	return err_set(rec, ERR_USAGE, EX_USAGE,
	    "option -%c: bad value \"%s\" (%s)", c, shown, hint);
}

/* CR and LF would let an argument smuggle SMTP commands or header lines;
 * argv cannot hold a NUL. */
static int
check_line(struct err *rec, char c, const char *v)
{
	if (strpbrk(v, "\r\n") == NULL)
		return 0;
	return bad_value(
	    rec, c, v, "it holds a line break; give it on one line");
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
	case 'I':
		o->mode = OPT_MODE_NEWALIASES;
		break;
	default:
		/* -G, -m, -U, -c, -x, -n: nothing to do here (mailhop(1)). */
		break;
	}
}

/* -f and -r: "" and "<>" are the null sender; <addr> loses its brackets. */
static int
set_sender(struct options *o, char c, const char *v, struct err *rec)
{
	size_t len = strlen(v);

	if (check_line(rec, c, v) == -1)
		return -1;
	free(o->sender_buf);
	o->sender_buf = NULL;
	o->sender = v;
	if (len < 2 || v[0] != '<' || v[len - 1] != '>')
		return 0;
	o->sender_buf = strndup(v + 1, len - 2);
	if (o->sender_buf == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	o->sender = o->sender_buf;
	return 0;
}

/* -N never | success,failure,delay (RFC 3461 section 4.1). */
static int
set_notify(struct options *o, const char *v, struct err *rec)
{
	static const char hint[] =
	    "use never, or a comma list of success, failure and delay";
	const char *p = v, *e;
	unsigned bits = 0;
	size_t n;

	do {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n == 5 && strncasecmp(p, "never", n) == 0)
			bits |= OPT_NOTIFY_NEVER;
		else if (n == 7 && strncasecmp(p, "success", n) == 0)
			bits |= OPT_NOTIFY_SUCCESS;
		else if (n == 7 && strncasecmp(p, "failure", n) == 0)
			bits |= OPT_NOTIFY_FAILURE;
		else if (n == 5 && strncasecmp(p, "delay", n) == 0)
			bits |= OPT_NOTIFY_DELAY;
		else
			return bad_value(rec, 'N', v, hint);
		if (e != NULL)
			p = e + 1;
	} while (e != NULL);
	if ((bits & OPT_NOTIFY_NEVER) && bits != OPT_NOTIFY_NEVER)
		return bad_value(rec, 'N', v, "never goes alone");
	o->notify = bits;
	return 0;
}

/* -V envid: printable ASCII, at most OPT_ENVID_MAX characters. */
static int
set_envid(struct options *o, const char *v, struct err *rec)
{
	size_t i, n = strlen(v);

	if (check_line(rec, 'V', v) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			break;
	if (n == 0 || n > OPT_ENVID_MAX || i < n)
		return bad_value(rec, 'V', v,
		    "an envelope id is 1 to 100 printable ASCII characters");
	o->envid = v;
	return 0;
}

/* -R and -B take one of two words. */
static int
set_ret_body(struct options *o, char c, const char *v, struct err *rec)
{
	if (c == 'R' && strcasecmp(v, "full") == 0)
		o->ret = OPT_RET_FULL;
	else if (c == 'R' && strcasecmp(v, "hdrs") == 0)
		o->ret = OPT_RET_HDRS;
	else if (c == 'R')
		return bad_value(rec, c, v, "use full or hdrs");
	else if (strcasecmp(v, "7bit") == 0)
		o->body = OPT_BODY_7BIT;
	else if (strcasecmp(v, "8bitmime") == 0)
		o->body = OPT_BODY_8BITMIME;
	else
		return bad_value(rec, c, v, "use 7BIT or 8BITMIME");
	return 0;
}

/* -b: the mode. */
static int
set_mode(struct options *o, const char *v, struct err *rec)
{
	size_t i;

	if (strcmp(v, "m") == 0)
		o->mode = OPT_MODE_SEND;
	else if (strcmp(v, "p") == 0)
		o->mode = OPT_MODE_LIST;
	else if (strcmp(v, "i") == 0)
		o->mode = OPT_MODE_NEWALIASES;
	else if (strcmp(v, "s") == 0)
		o->mode = OPT_MODE_SMTP;
	else {
		for (i = 0; i < sizeof(no_modes) / sizeof(no_modes[0]); i++)
			if (strcmp(v, no_modes[i].mode) == 0)
				return err_set(rec, ERR_USAGE, EX_USAGE,
				    "%s (see mailhop(1))", no_modes[i].what);
		return bad_value(rec, 'b', v,
		    "the modes are -bm, -bp, -bi and -bs; see mailhop(1)");
	}
	return 0;
}

/* -q, -q30m, -q1h30m: flush the queue (the interval means nothing to a
 * program that is not a daemon); -qIID makes message ID due at once
 * first (a failed one goes back into the queue), -qI alone every queued
 * message, -qIfailed the failed area; -qDID deletes message ID,
 * -qDfailed the failed area, and sends nothing; -qR and -qS are accepted
 * and ignored. */
static int
set_flush(struct options *o, const char *v, struct err *rec)
{
	size_t n = strspn(v, "0123456789smhdw");

	if (v[0] != '\0' && v[n] != '\0' && strchr("RISD", v[0]) == NULL)
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "unknown option -q%.40s (use -q, -q with an interval such as -q30m, -qI[id] or -qD<id>; see mailhop --help)",
		    v);
	if (v[0] == 'D' && v[1] == '\0')
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "option -qD needs a queue id, glued: -qDID deletes that message (mailq lists them), -qDfailed the failed area");
	o->mode = OPT_MODE_FLUSH;
	if (v[0] == 'I')
		o->queue_id = v + 1;
	if (v[0] == 'D')
		o->queue_del = v + 1;
	return 0;
}

static int
apply_value(struct options *o, char c, const char *v, struct err *rec)
{
	switch (c) {
	case 'f':
	case 'r':
		return set_sender(o, c, v, rec);
	case 'F':
		o->fullname = v;
		return check_line(rec, c, v);
	case 'N':
		return set_notify(o, v, rec);
	case 'V':
		return set_envid(o, v, rec);
	case 'R':
	case 'B':
		return set_ret_body(o, c, v, rec);
	case 'b':
		return set_mode(o, v, rec);
	case 'q':
		return set_flush(o, v, rec);
	case 'a':
		o->account = v;
		return 0;
	case 'C':
		o->config = v;
		return 0;
	case 'o':
		/* -oi is -i; sendmail's other -o options do not apply. */
		if (strcmp(v, "i") == 0)
			o->dot_ok = 1;
		return 0;
	case 'h':
		/* sendmail's hop count, consumed only; a word that is not
		 * a number is more likely a try at --help. */
		if (v[0] < '0' || v[0] > '9' ||
		    strspn(v, "0123456789") != strlen(v))
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "option -h needs a number, the hop count" HOPS_HINT);
		return 0;
	default:
		/* -O, -A, -L, -X, -e, -p: the value is consumed only. */
		return 0;
	}
}

/* --store-password ACCOUNT (or =ACCOUNT): the only long option. */
static int
parse_long(
    int argc, char *const argv[], int *i, struct options *o, struct err *rec)
{
	static const char name[] = "--store-password";
	const char *w = argv[*i], *v;
	size_t n = sizeof(name) - 1;

	if (strncmp(w, name, n) != 0 || (w[n] != '\0' && w[n] != '='))
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "unknown option %.40s (see mailhop --help, or mailhop(1))",
		    w);
	if (w[n] == '=')
		v = w + n + 1;
	else if (*i + 1 < argc)
		v = argv[++*i];
	else
		v = "";
	if (v[0] == '\0')
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "--store-password needs the name of an account (mailhop --store-password NAME)");
	if (o->account != NULL && strcmp(o->account, v) != 0)
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "--store-password names an account other than -a (give the account once)");
	o->account = v;
	o->mode = OPT_MODE_STORE_PASSWORD;
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

	if (w[1] == '-')
		return parse_long(argc, argv, i, o, rec);
	for (k = 1; w[k] != '\0'; k++) {
		d = find_def(w[k]);
		if (d == NULL)
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "unknown option -%c (see mailhop(1))", w[k]);
		if (d->kind == OPT_FLAG) {
			apply_flag(o, w[k]);
			continue;
		}
		if (w[k + 1] != '\0' || d->kind == OPT_GLUED)
			return apply_value(o, w[k], w + k + 1, rec);
		if (*i + 1 >= argc)
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "option -%c needs a value%s", w[k],
			    w[k] == 'h' ? HOPS_HINT : "");
		(*i)++;
		return apply_value(o, w[k], argv[*i], rec);
	}
	return 0;
}

/* The mode the program name selects (R13): only mailq and newaliases. */
static enum opt_mode
name_mode(const char *argv0)
{
	const char *base;

	if (argv0 == NULL)
		return OPT_MODE_SEND;
	base = strrchr(argv0, '/');
	base = base != NULL ? base + 1 : argv0;
	if (strcmp(base, "mailq") == 0)
		return OPT_MODE_LIST;
	if (strcmp(base, "newaliases") == 0)
		return OPT_MODE_NEWALIASES;
	return OPT_MODE_SEND;
}

/* The recipient arguments fit the mode and hold no line break. */
static int
check_rcpts(const struct options *o, struct err *rec)
{
	static const char *const names[] = {
		[OPT_MODE_LIST] = "listing the queue (-bp, mailq)",
		[OPT_MODE_NEWALIASES] =
		    "checking the aliases (-bi, -I, newaliases)",
		[OPT_MODE_FLUSH] = "flushing the queue (-q)",
		[OPT_MODE_SMTP] = "SMTP on standard input (-bs)",
		[OPT_MODE_STORE_PASSWORD] =
		    "storing a password (--store-password)",
		[OPT_MODE_SERVERINFO] = "showing the server (--serverinfo)",
		[OPT_MODE_HELP] = "--help",
		[OPT_MODE_VERSION] = "--version",
	};
	size_t i;

	if (o->pretend && o->mode != OPT_MODE_SEND)
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "--pretend shows the account a message would be sent with; it does not go with %s",
		    names[o->mode]);
	if (o->nrcpt > 0 && o->mode != OPT_MODE_SEND)
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "%s takes no recipient arguments; leave them out",
		    names[o->mode]);
	for (i = 0; i < o->nrcpt; i++)
		if (strpbrk(o->rcpt[i], "\r\n") != NULL)
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "recipient argument %zu holds a line break; give each address on one line",
			    i + 1);
	return 0;
}

int
opt_parse(int argc, char *const argv[], struct options *o, struct err *rec)
{
	char **rcpt;
	int i, n = 0, rest = 0;

	memset(o, 0, sizeof(*o));
	o->mode = name_mode(argc > 0 ? argv[0] : NULL);
	/* Recipients are collected in order, options taken out. */
	rcpt = calloc(argc + 1, sizeof(*rcpt));
	if (rcpt == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	o->rcpt = rcpt;
	for (i = 1; i < argc; i++) {
		if (rest || argv[i][0] != '-' || argv[i][1] == '\0') {
			rcpt[n++] = argv[i];
		} else if (strcmp(argv[i], "--") == 0) {
			rest = 1;
		} else if (strcmp(argv[i], "--pretend") == 0) {
			o->pretend = 1;
		} else if (strcmp(argv[i], "--serverinfo") == 0) {
			o->mode = OPT_MODE_SERVERINFO;
		} else if (strcmp(argv[i], "--help") == 0) {
			o->mode = OPT_MODE_HELP;
		} else if (strcmp(argv[i], "--version") == 0) {
			o->mode = OPT_MODE_VERSION;
		} else if (parse_word(argc, argv, &i, o, rec) == -1) {
			opt_free(o);
			return -1;
		}
	}
	o->nrcpt = n;
	if (check_rcpts(o, rec) == -1) {
		opt_free(o);
		return -1;
	}
	return 0;
}

void
opt_free(struct options *o)
{
	free(o->rcpt);
	o->rcpt = NULL;
	free(o->sender_buf);
	o->sender_buf = NULL;
	o->sender = NULL;
}
