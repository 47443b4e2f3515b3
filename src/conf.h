/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_CONF_H
#define MAILHOP_CONF_H

#include "err.h"

enum conf_tls { CONF_TLS_STARTTLS, CONF_TLS_IMPLICIT, CONF_TLS_OFF };
enum conf_auth { CONF_AUTH_OFF, CONF_AUTH_ON, CONF_AUTH_MECH };

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
	int queue; /* 1: keep a message that met a temporary
		    * failure and retry it (mailhop -q); 0: exit
		    * 75 and keep nothing; default 1 */
};

/* Find the configuration and the account to use.  file is the -C
 * argument, or NULL for the user file ($XDG_CONFIG_HOME/mailhop/config,
 * else ~/.config/mailhop/config) and the system file
 * (SYSCONFDIR/mailhop.conf); an account in the user file replaces one of
 * the same name in the system file.  name is the -a argument, or NULL for
 * default_account (the user file's, else the system file's), else the only
 * account there is.  Returns 0 with acct filled (free it with
 * conf_account_free), or -1 with rec filled (ERR_CONFIG, EX_CONFIG) and a
 * text of the form "FILE:LINE: KEY: problem (what to write instead)" that
 * never shows a secret value. */
int conf_load(const char *file, const char *name, struct conf_account *acct,
    struct err *rec);

/* When acct has a password_command and logs in, run it (secret_command,
 * up to SECRET_COMMAND_TIMEOUT) and put the password it prints into
 * acct->password.  Returns 0 (also when there is nothing to run), or -1
 * with rec filled: "FILE: account NAME: password command failed: ...",
 * never with the command's output. */
int conf_password(struct conf_account *acct, struct err *rec);

void conf_account_free(struct conf_account *acct);

#endif
