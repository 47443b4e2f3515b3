/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_ALIAS_H
#define MAILHOP_ALIAS_H

#include <stddef.h>

#include "addr.h"
#include "err.h"

/* Longest chain of aliases followed from one name. */
#define ALIAS_DEPTH_MAX 16
/* Most addresses one name may expand to. */
#define ALIAS_EXPAND_MAX 1000

/* An aliases file in memory (opaque). */
struct alias_map;

/* What alias_check_file found, for newaliases. */
struct alias_info {
	size_t entries; /* names defined, the catch-all "*" included */
	size_t skipped; /* targets ignored: |program, /file, :include: */
	char note[ERR_TEXT_MAX]; /* "PATH:LINE: NAME: ..." on the first
				  * ignored target, else "" */
};

/*
 * Read the aliases file at path (/etc/aliases format, aliases(5)):
 * "name: target, target", continuation lines that start with white space,
 * "#" comment lines, names matched ignoring ASCII case, "name" in double
 * quotes when it holds spaces, "*" as the catch-all.  A target is an
 * address (with or without a domain, "Name <addr>" allowed) or \name (that
 * local name itself, not looked up again); targets that deliver to a
 * program, a file or an :include: list are skipped, since mailhop only
 * sends.  Returns the map (free it with alias_free), or NULL with rec
 * filled: ERR_CONFIG, EX_CONFIG and "PATH:LINE: problem (fix)" for a
 * syntax error, a name defined twice, an unreadable file or one that
 * anyone may write to (it decides where mail goes); ERR_LOCAL,
 * EX_OSERR when out of memory.  Blocks on the file only.
 */
struct alias_map *alias_load(const char *path, struct err *rec);

void alias_free(struct alias_map *map);

/*
 * newaliases (-bi, -I): parse path as alias_load does, then expand every
 * entry to find loops and chains too deep before mail does.  Returns 0
 * with info filled (info may be NULL), or -1 with rec filled as alias_load
 * or alias_expand do (the first error in file order).  Skipped targets
 * are not an error, nor an entry that has only those: main.c may print
 * info->note and still exit 0.
 */
int alias_check_file(
    const char *path, struct alias_info *info, struct err *rec);

/*
 * Expand one envelope recipient into out (deduplicated with addr_list_add,
 * in order).  A mailbox with a domain is added unchanged: it is never an
 * alias.  A bare local name is looked up in map (NULL: no aliases file);
 * targets that are local names are looked up in turn, to ALIAS_DEPTH_MAX
 * levels; a name with no entry, or a target naming its own entry, becomes
 * name@local_domain.  The catch-all "*" applies to the given name only,
 * never to the names an entry maps to.  local_domain must not be NULL.
 * Returns 0; or -1 with rec filled and out holding what was added before:
 * an alias loop or a chain too deep, or an entry whose targets were all
 * skipped (ERR_CONFIG, EX_CONFIG, "PATH:LINE: NAME: problem (fix)"
 * naming the entry at fault); more than ALIAS_EXPAND_MAX addresses
 * (ERR_CONFIG); an empty mailbox (ERR_USAGE, EX_DATAERR); out of memory
 * (ERR_LOCAL, EX_OSERR).
 */
int alias_expand(const struct alias_map *map, const char *local_domain,
    const char *mailbox, struct addr_list *out, struct err *rec);

/*
 * The envelope sender as it goes into MAIL FROM: a bare local name
 * ("root", from cron's -f root) becomes name@local_domain, never aliased;
 * an address with a domain and the null sender "" are copied unchanged.
 * Returns a malloc'ed string, or NULL with rec filled (ERR_LOCAL,
 * EX_OSERR) when out of memory.
 */
char *alias_sender(
    const char *local_domain, const char *mailbox, struct err *rec);

/* The context of the header rewrite callbacks. */
struct alias_ctx {
	const struct alias_map *map; /* alias_to_rewrite only; NULL: none */
	const char *local_domain;    /* not NULL */
	int oom;		     /* set when a call ran out of memory */
	/* alias_from_rewrite and alias_is_local: */
	const char *from;     /* the account's address */
	const char *hostname; /* this host's name (gethostname), or NULL */
	char canon[256];      /* its canonical name, found on first need */
	int canon_done;
};

/*
 * Whether mailbox is a local sender (issue 4, DESIGN.md "The From
 * check"): no domain, or this host's own name as the domain (ctx's
 * hostname, or its canonical name, looked up once with getaddrinfo and
 * AI_CANONNAME as `hostname -f` does, or localhost or
 * localhost.localdomain), ignoring case.  "" (the null sender) is not.
 */
int alias_is_local(struct alias_ctx *ctx, const char *mailbox);

/*
 * Header rewrite callbacks (addr_rewrite_fn), ctx a struct alias_ctx.
 * Each returns NULL to keep mailbox (it has a domain, or is empty), else
 * a malloc'ed replacement the caller frees.  Out of memory: NULL (mailbox
 * kept) and ctx->oom set.
 *
 * alias_header_rewrite is msg_opts.rewrite, for To and Cc and their
 * Resent- forms (From has alias_from_rewrite): a bare name becomes
 * name@local_domain and is never replaced by an alias target, so "To:
 * root" leaves as "To: root@example.com" and no private target address
 * is shown to the recipients; sendmail and Postfix qualify header
 * addresses the same way and never alias them.  The envelope is aliased
 * (alias_expand).
 *
 * alias_to_rewrite, for To and Cc only, for a hook that can tell the
 * fields apart: a bare name that expands to exactly one address becomes
 * that address (so "To: root" shows where the mail went); with several
 * targets, no entry or an expansion error (reported by alias_expand on
 * the envelope), name@local_domain.
 */
char *alias_header_rewrite(void *ctx, const char *mailbox);
char *alias_to_rewrite(void *ctx, const char *mailbox);

/*
 * alias_from_rewrite is msg_opts.from_rewrite, for From and Resent-From:
 * a local sender (alias_is_local) becomes the account's address
 * ctx->from, so "From: Cron Daemon <root>" leaves as "From: Cron Daemon
 * <you@example.com>" and "From: root (Cron Daemon)" as "From:
 * you@example.com (Cron Daemon)": the display name and comments stay.
 * Any other mailbox is kept.
 */
char *alias_from_rewrite(void *ctx, const char *mailbox);

#endif
