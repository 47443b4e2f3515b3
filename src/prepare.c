/* SPDX-License-Identifier: ISC */
/*
 * Before a send: the account chosen, the envelope sender and recipients
 * (aliases, local names, A-labels for the wire), the message read, and
 * the From policy checked.  Nothing here talks to a server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "policy.h"
#include "run.h"

/* Add the recipients of one argument, which may be an address list. */
static int
add_arg_rcpts(struct run *r, const char *arg)
{
	struct addr_list l = { 0 };
	size_t i;
	int rc = 0;

	if (addr_parse_list(arg, &l, &r->err) == -1) {
		char why[ERR_TEXT_MAX];

		snprintf(why, sizeof(why), "%s", r->err.text);
		err_set(&r->err, ERR_USAGE, EX_USAGE,
		    "recipient argument: %s (give each recipient as user@example.com, or \"Name <user@example.com>\" in quotes)",
		    why);
		rc = -1;
	}
	for (i = 0; rc == 0 && i < l.n; i++)
		rc = alias_expand(r->aliases, r->acct.local_domain,
		    l.v[i].mailbox, &r->rcpt, &r->err);
	addr_list_free(&l);
	return rc;
}

/* Build the envelope recipients from the arguments and, with -t, the
 * header; check each and convert its domain for the wire. */
static int
collect_rcpts(struct run *r)
{
	size_t i;

	for (i = 0; i < r->opt.nrcpt; i++)
		if (add_arg_rcpts(r, r->opt.rcpt[i]) == -1)
			return -1;
	for (i = 0; i < r->msg.rcpt.n; i++)
		if (alias_expand(r->aliases, r->acct.local_domain,
			r->msg.rcpt.v[i].mailbox, &r->rcpt, &r->err) == -1)
			return -1;
	if (r->rcpt.n == 0 && r->opt.pretend)
		return 0; /* --pretend -f ADDR alone shows the account */
	if (r->rcpt.n == 0 && r->opt.extract)
		return err_set(&r->err, ERR_USAGE, EX_USAGE,
		    "no recipients: -t found no address in To, Cc or Bcc, and none was given as an argument");
	if (r->rcpt.n == 0)
		return err_set(&r->err, ERR_USAGE, EX_USAGE,
		    "no recipients (give them as arguments, or use -t to read To, Cc and Bcc)");
	r->wire = calloc(r->rcpt.n, sizeof(*r->wire));
	if (r->wire == NULL)
		return err_set(&r->err, ERR_LOCAL, EX_OSERR, "out of memory");
	for (i = 0; i < r->rcpt.n; i++) {
		if (addr_check(r->rcpt.v[i].mailbox, &r->err) == -1)
			return -1;
		r->wire[i] = addr_to_ascii(r->rcpt.v[i].mailbox, &r->err);
		if (r->wire[i] == NULL)
			return -1;
	}
	return 0;
}

/* The envelope sender: -f or the account's address, "" for the null
 * sender.  A local -f (no domain, or this host's name: cron's -f root)
 * becomes the account's address (issue 4), as the From field does.  Its
 * domain goes as A-labels, as the recipients' do (RFC 5890). */
static int
set_sender(struct run *r)
{
	struct addr_list l = { 0 };
	const char *given = r->opt.sender;
	char why[ERR_TEXT_MAX];

	/* -f is one address, parsed as a recipient is: "bad@@x" must not
	 * pass as the local part "bad@". */
	if (given != NULL && given[0] != '\0' &&
	    (addr_parse_list(given, &l, &r->err) == -1 || l.n != 1)) {
		addr_list_free(&l);
		snprintf(why, sizeof(why), "%s",
		    r->err.class != ERR_NONE ? r->err.text : "not one address");
		return err_set(&r->err, ERR_USAGE, EX_USAGE,
		    "-f: %s (give the sender as one address, user@example.com)",
		    why);
	}
	if (l.n == 1)
		given = l.v[0].mailbox;
	if (given == NULL || alias_is_local(&r->actx, given))
		given = r->acct.from;
	r->sender = alias_sender(r->acct.local_domain, given, &r->err);
	addr_list_free(&l);
	if (r->sender == NULL)
		return -1;
	if ((r->sender[0] != '\0' && addr_check(r->sender, &r->err) == -1) ||
	    (r->wire_sender = addr_to_ascii(r->sender, &r->err)) == NULL) {
		if (r->err.class == ERR_USAGE)
			r->err.code =
			    r->opt.sender != NULL ? EX_USAGE : EX_CONFIG;
		return -1;
	}
	return 0;
}

/* Read the message on infd (-t, -F), after the bytes peek_header took;
 * then fill the envelope.  Bare names in To and Cc get the local domain
 * (R16); a local From becomes the account's address (alias.h). */
static int
read_message(struct run *r, int infd)
{
	struct msg_opts mo = { 0 };

	mo.extract = r->opt.extract;
	mo.from = r->sender[0] != '\0' ? r->wire_sender : r->wire_from;
	mo.fullname = r->opt.fullname;
	mo.domain = addr_domain(r->wire_from);
	mo.rewrite = alias_header_rewrite;
	mo.from_rewrite = alias_from_rewrite;
	mo.rewrite_arg = &r->actx;
	mo.head = r->peek.buf;
	mo.head_len = r->peek.len;
	if (msg_read(infd, &mo, &r->msg, &r->err) == -1)
		return -1;
	r->have_msg = 1;
	if (r->actx.oom)
		return err_set(&r->err, ERR_LOCAL, EX_OSERR, "out of memory");
	return collect_rcpts(r);
}

/* The account's From policy. */
static void
account_policy(const struct run *r, struct policy *p)
{
	p->account = r->acct.name;
	p->file = r->acct.file;
	p->allow = (const char *const *)r->acct.allow_from;
	p->nallow = r->acct.nallow_from;
	p->local_domain = r->acct.local_domain;
	p->from = r->acct.from;
}

/* The From policy (allow_from): the envelope sender, every From address,
 * Sender, and the newest Resent block's Resent-From and Resent-Sender,
 * before anything is sent.  An added From is the sender; a local From
 * was rewritten to the account's address (read_message). */
static int
check_policy(struct run *r)
{
	const struct {
		const char *what;
		const struct addr_list *l;
	} fields[] = {
		{ "From address", &r->msg.from },
		{ "Sender address", &r->msg.sender },
		{ "Resent-From address", &r->msg.resent_from },
		{ "Resent-Sender address", &r->msg.resent_sender },
	};
	struct policy p;
	size_t f, i;

	account_policy(r, &p);
	/* A field the policy cannot read must not slip past it; with "*"
	 * there is nothing to check. */
	if (r->msg.unparsed != NULL && !policy_any(&p))
		return err_set(&r->err, ERR_PERM, EX_NOPERM,
		    "the %s field cannot be parsed, so allow_from of account %s cannot be checked (correct the field)",
		    r->msg.unparsed, r->acct.name);
	if (policy_check(&p, "envelope sender", r->sender, &r->err) == -1)
		return -1;
	for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
		for (i = 0; i < fields[f].l->n; i++)
			if (policy_check(&p, fields[f].what,
				fields[f].l->v[i].mailbox, &r->err) == -1)
				return -1;
	return 0;
}

/* conf_pick.get_from: the From addresses of the message's header.  With
 * --pretend, a terminal is not read (it would wait for typing). */
static int
peek_from(void *arg, struct addr_list *from, struct err *rec)
{
	struct run *r = arg;

	if (r->stdin_closed || (r->opt.pretend && isatty(r->infd)))
		return 0;
	return peek_header(r->infd, &r->peek, from, rec);
}

/* domain in A-labels (malloc'ed), or NULL with rec filled. */
static char *
ascii_domain(const char *domain, struct err *rec)
{
	char *box, *ascii, *d = NULL;

	if (asprintf(&box, "x@%s", domain) == -1) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	ascii = addr_to_ascii(box, rec);
	free(box);
	if (ascii != NULL && (d = strdup(ascii + 2)) == NULL)
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	free(ascii);
	return d;
}

/* Choose the account (-a, -f, the From header, default_account). */
int
run_choose_account(struct run *r)
{
	struct conf_pick pick = { 0 };

	pick.name = r->opt.account;
	pick.sender = r->opt.sender;
	pick.get_from = peek_from;
	pick.arg = r;
	pick.settings = r->opt.pretend;
	if (conf_choose(r->opt.config, &pick, &r->acct, &r->err) == -1)
		return -1;
	r->have_acct = 1;
	if (r->opt.verbose && r->acct.not_read != NULL)
		fprintf(stderr, "mailhop: not read: %s\n", r->acct.not_read);
	if (gethostname(r->hostname, sizeof(r->hostname)) == 0) {
		r->hostname[sizeof(r->hostname) - 1] = '\0';
		r->actx.hostname = r->hostname;
	}
	/* What mailhop writes into the header itself (an added or a
	 * rewritten From, qualified names, the Message-ID) is ASCII: a
	 * domain in A-labels needs no SMTPUTF8 (RFC 5890). */
	if ((r->wire_from = addr_to_ascii(r->acct.from, &r->err)) == NULL ||
	    (r->wire_local = ascii_domain(r->acct.local_domain, &r->err)) ==
		NULL) {
		if (r->err.class == ERR_USAGE)
			r->err.code = EX_CONFIG;
		return -1;
	}
	r->actx.from = r->wire_from;
	r->actx.local_domain = r->wire_local;
	return 0;
}

/* The account's aliases file, if it has one. */
static int
load_aliases(struct run *r)
{
	if (r->acct.aliases == NULL)
		return 0;
	if ((r->aliases = alias_load(r->acct.aliases, &r->err)) == NULL)
		return -1;
	r->actx.map = r->aliases;
	return 0;
}

/* Read the configuration, then the message; fill the envelope. */
int
run_prepare(struct run *r, int infd, int stdin_closed)
{
	r->infd = infd;
	r->stdin_closed = stdin_closed;
	if (run_choose_account(r) == -1 || load_aliases(r) == -1 ||
	    set_sender(r) == -1)
		return -1;
	if (stdin_closed)
		return err_set(&r->err, ERR_LOCAL, EX_NOINPUT,
		    "standard input is closed: nothing to send");
	if (read_message(r, infd) == -1)
		return -1;
	return check_policy(r);
}

int
run_pretend_envelope(struct run *r)
{
	if (load_aliases(r) == -1 || set_sender(r) == -1)
		return -1;
	/* A message on a pipe or in a file is read as a send reads it: -t
	 * takes its recipients, and its From is checked.  Else (a terminal,
	 * or no stdin) the arguments alone, and the sender. */
	r->pretend_read = !r->stdin_closed && !isatty(r->infd);
	if ((r->pretend_read ? read_message(r, r->infd) : collect_rcpts(r)) ==
	    -1)
		return -1;
	return check_policy(r);
}
