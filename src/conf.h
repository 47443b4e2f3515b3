/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_CONF_H
#define MAILHOP_CONF_H

#include <sys/types.h>

#include "addr.h"
#include "err.h"

enum conf_tls { CONF_TLS_STARTTLS, CONF_TLS_IMPLICIT, CONF_TLS_OFF };
enum conf_auth { CONF_AUTH_OFF, CONF_AUTH_ON, CONF_AUTH_MECH };

/* queue_lifetime: the default (the queue's QUEUE_LIFETIME) and the range
 * accepted, in seconds.  Under an hour a message would expire after a
 * retry or two of the schedule (queue.h); over 60 days a sender learns
 * of a failure too late to matter. */
#define CONF_LIFETIME_DEFAULT (5 * 86400L)
#define CONF_LIFETIME_MIN 3600L
#define CONF_LIFETIME_MAX (60 * 86400L)

/* Where an account's setting comes from (mailhop --pretend). */
enum conf_origin { CONF_FROM_BUILTIN, CONF_FROM_ACCOUNT, CONF_FROM_DEFAULTS };

/* One key of an account as --pretend shows it. */
struct conf_setting {
	const char *key; /* static */
	char *value;	 /* as it would be written ("..." for a string, {...}
			  * for a list); "(set, hidden)" for a secret;
			  * NULL: not set and no built-in value */
	enum conf_origin origin;
	int line; /* in the account's file; 0 for a built-in value */
};

/* One account's effective settings.  All strings are malloc'ed and owned
 * by the struct; NULL where the key is unset. */
struct conf_account {
	char *name;
	char *file; /* the file the account came from */
	char *host;
	int port; /* default: 587 starttls, 465 implicit, 25 off */
	enum conf_tls tls;
	char *tls_ca_file;
	char *tls_pin;	      /* "sha256//..." list (tls.h), or NULL */
	char *tls_priorities; /* narrows the TLS default, or NULL */
	char *tls_cert_file;  /* client certificate and key, or NULL */
	char *tls_key_file;
	enum conf_auth auth; /* default: on when user is set, else off */
	char *auth_mech;     /* upper case, for CONF_AUTH_MECH */
	char *user;
	char *password;		/* wiped by conf_account_free */
	char *password_command; /* prints the password (conf_password) */
	char *from;		/* the account's address */
	char *helo;		/* EHLO name; default: the host's name */
	int timeout;		/* seconds; default 60 */
	char *aliases;	      /* aliases file (absolute path), or NULL: none */
	char *local_domain;   /* qualifies bare local names; default: the
			       * domain of from */
	int partial_delivery; /* 1: send to the accepted recipients when
			       * some are refused; default 0 */
	char **allow_from;    /* allow_from patterns (policy.h), or NULL:
			       * the default policy */
	size_t nallow_from;
	int queue;	 /* 1: keep a message that met a temporary
			  * failure and retry it (mailhop -q); 0: exit
			  * 75 and keep nothing; default 1 */
	char *chosen_by; /* why this account (conf_choose) */
	/* A file that was not read because it could not be opened and the
	 * user file decided without it ("FILE: why"), or NULL. */
	char *not_read;
	struct conf_setting *settings; /* every key, for --pretend (with
					* conf_pick.settings), else NULL */
	size_t nsettings;
	/* 1: the password is in the keyring (keyring.h); default 0 */
	int keyring;
	/* Seconds a queued message may wait before it moves to the failed
	 * area; CONF_LIFETIME_MIN .. CONF_LIFETIME_MAX, default 5 days. */
	long long queue_lifetime;
};

/* What chooses the account (conf_choose). */
struct conf_pick {
	const char *name;   /* -a, or NULL */
	const char *option; /* what gave name, for its errors ("-a" when
			     * NULL): --store-password names one too */
	const char *sender; /* -f or -r, or NULL */
	/* Called at most once, only when the choice needs the From header:
	 * append the From mailboxes to *from (may add none).  Returns 0, or
	 * -1 with rec filled, which conf_choose returns.  NULL: no From. */
	int (*get_from)(void *arg, struct addr_list *from, struct err *rec);
	void *arg;
	/* With name: the id of the queued message whose account it is, for
	 * the error when the account is not there; or NULL (-a). */
	const char *queued_id;
	/* 1: fill the account's settings, which only --pretend shows (the
	 * rest of conf_account is filled either way); 0: leave them empty. */
	int settings;
};

/* Find the configuration and the account to use.  file is the -C
 * argument, or NULL for the user file ($XDG_CONFIG_HOME/mailhop/config,
 * else ~/.config/mailhop/config) and the system file
 * (SYSCONFDIR/mailhop.conf); an account in the user file replaces one of
 * the same name in the system file; a system file that cannot be opened
 * is skipped (acct->not_read) when the user file has an account and the
 * one name or its default_account names.  name is the -a argument, or NULL for
 * default_account (the user file's, else the system file's), else the only
 * account there is.  Returns 0 with acct filled (free it with
 * conf_account_free), or -1 with rec filled (ERR_CONFIG, EX_CONFIG) and a
 * text of the form "FILE:LINE: KEY: problem (what to write instead)" that
 * never shows a secret value. */
int conf_load(const char *file, const char *name, struct conf_account *acct,
    struct err *rec);

/* conf_load of the account name of queued message id: when no file has
 * it, the error (ERR_CONFIG, EX_CONFIG) says "queued message ID belongs
 * to account NAME, which is no longer in FILE: add it back, or delete
 * the message with mailhop -qDID". */
int conf_load_queued(const char *file, const char *name, const char *id,
    struct conf_account *acct, struct err *rec);

/* conf_load with the whole choice, in this order: -a (pick->name); else
 * the first account, in file order (the user file's, then the system
 * file's), whose addresses match the envelope sender pick->sender; else
 * the first whose addresses match an address of the From header
 * (pick->get_from, asked only when there are several accounts); else
 * default_account; else the only account.  An account's addresses are
 * its allow_from patterns, else its from address (policy_allowed); an
 * address without a domain chooses nothing.  acct->chosen_by says which
 * rule chose it.  Fails as conf_load, or as get_from. */
int conf_choose(const char *file, const struct conf_pick *pick,
    struct conf_account *acct, struct err *rec);

/* When acct logs in and its password is not in the file, get it: run
 * its password_command (secret_command, up to SECRET_COMMAND_TIMEOUT),
 * or look it up in the keyring (keyring_lookup, which loads libsecret),
 * and put it into acct->password.  An account has at most one of
 * password, password_command and keyring (conf_load checks).  Returns 0
 * (also when there is nothing to do), or -1 with rec filled: "FILE:
 * account NAME: ...", never with the password. */
int conf_password(struct conf_account *acct, struct err *rec);

void conf_account_free(struct conf_account *acct);

/* How a system-mode run uses the system file (conf_system_preload). */
enum conf_system_use {
	CONF_SYSTEM_UNUSED, /* never: it is not read (-bp) */
	CONF_SYSTEM_ONCE,   /* one account choice: wiped when it is made */
	CONF_SYSTEM_KEEP    /* an account for each message (-q, -bs) */
};

/* System mode (priv.h): read the system file (SYSCONFDIR/mailhop.conf)
 * now, while the process holds the group that may read it, and keep its
 * bytes and fstat.  From then on conf_load never reads the user file or
 * the disk: it parses this copy, which may be 0640 root:group (group: the
 * set-group-id group), and file must be NULL.  Nothing is parsed here, so
 * libconfuse runs after the group is gone.  With CONF_SYSTEM_ONCE the
 * bytes are wiped by the first conf_load, before it parses them, and a
 * second conf_load fails (ERR_LOCAL, EX_SOFTWARE); with CONF_SYSTEM_UNUSED
 * nothing is read and every conf_load fails so.  Returns 0 (also when the
 * file cannot be opened: conf_load says so), or -1 with rec filled
 * (ERR_CONFIG, EX_CONFIG: not a regular file, too large, unreadable).
 * What is left is wiped at exit (atexit: conf_system_forget). */
int conf_system_preload(gid_t group, enum conf_system_use use, struct err *rec);

/* Wipe and free the copy conf_system_preload kept, if any. */
void conf_system_forget(void);

#endif
