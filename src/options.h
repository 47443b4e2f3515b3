/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_OPTIONS_H
#define MAILHOP_OPTIONS_H

#include <stddef.h>

#include "err.h"

/* What the run does: chosen by -b, -I, -q and the program name. */
enum opt_mode {
	OPT_MODE_SEND,	     /* -bm, the default: send one message */
	OPT_MODE_LIST,	     /* -bp, "mailq": list the queue */
	OPT_MODE_NEWALIASES, /* -bi, -I, "newaliases": check the aliases */
	OPT_MODE_FLUSH,	     /* -q: retry the queued messages */
	OPT_MODE_SMTP,	     /* -bs: SMTP on standard input and output */
	/* --store-password ACCOUNT: put a password in the keyring */
	OPT_MODE_STORE_PASSWORD,
	/* --serverinfo: show the account's server, send nothing */
	OPT_MODE_SERVERINFO,
	OPT_MODE_HELP,	 /* --help: a summary of the usage */
	OPT_MODE_VERSION /* --version: mailhop's and its libraries' */
};

/* -N: when the server should send a delivery status notification
 * (RFC 3461 section 4.1); 0 when -N was not given. */
#define OPT_NOTIFY_NEVER 0x1
#define OPT_NOTIFY_SUCCESS 0x2
#define OPT_NOTIFY_FAILURE 0x4
#define OPT_NOTIFY_DELAY 0x8

/* -R: what a failure notification returns (RFC 3461 section 4.3). */
enum opt_ret { OPT_RET_UNSET, OPT_RET_FULL, OPT_RET_HDRS };

/* -B: the body type the caller declared. */
enum opt_body { OPT_BODY_UNSET, OPT_BODY_7BIT, OPT_BODY_8BITMIME };

/* Longest -V envelope id (RFC 3461 section 4.4). */
#define OPT_ENVID_MAX 100

/* The command line, parsed.  Strings point into argv. */
struct options {
	enum opt_mode mode;
	int extract;	      /* -t */
	int dot_ok;	      /* -i, -oi: mailhop always reads to EOF anyway */
	int verbose;	      /* -v */
	const char *sender;   /* -f, -r, without <>; "" is the null sender;
			       * NULL when not given */
	const char *fullname; /* -F; NULL when not given */
	unsigned notify;      /* -N: OPT_NOTIFY_* bits */
	enum opt_ret ret;     /* -R */
	const char *envid;    /* -V; NULL when not given */
	enum opt_body body;   /* -B */
	const char *account;  /* -a, or --store-password's ACCOUNT */
	const char *config;   /* -C */
	const char *queue_id; /* -qI: the queued message to retry now */
	/* -qI alone sets queue_id to "": every queued message; "failed":
	 * the failed area, put back.  -qD: the message to delete, or
	 * "failed" for the failed area. */
	const char *queue_del;
	int pretend; /* --pretend: show the account, send nothing */
	char **rcpt; /* recipient arguments; the array is owned */
	size_t nrcpt;
	char *sender_buf; /* owned copy behind sender when <> was cut */
};

/* Parse argv (argc entries, argv[0] the program name, whose basename
 * "mailq" or "newaliases" picks that mode) into o.  Returns 0 (free o with
 * opt_free), or -1 with rec filled (ERR_USAGE, EX_USAGE) naming the bad
 * option or argument: an unknown option, a missing or bad value, a CR or
 * LF in an address, name or envelope id, recipients outside send mode.
 * Never blocks, never prints. */
int opt_parse(int argc, char *const argv[], struct options *o, struct err *rec);

/* Free what opt_parse allocated; o stays usable for nothing else. */
void opt_free(struct options *o);

#endif
