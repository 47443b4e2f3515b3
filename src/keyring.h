/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_KEYRING_H
#define MAILHOP_KEYRING_H

#include "err.h"

/*
 * Entries are msmtp's, so that a password stored for msmtp (or with
 * secret-tool and these attributes) works unchanged: attributes host,
 * service "smtp" and user, under msmtp's schema name, which a lookup
 * does not require (entries made by secret-tool carry another).  A
 * lookup that finds none tries libgnome-keyring's network passwords
 * (org.gnome.keyring.NetworkPassword: user, protocol "smtp", server), as
 * msmtp does.
 */
#define KEYRING_SCHEMA "de.marlam.msmtp.password"
#define KEYRING_SERVICE "smtp"

/* Look up the password of user at host in the Secret Service (the
 * keyring), loading libsecret with dlopen on first use: nothing of it or
 * GLib is in the process before.  Blocks on D-Bus (the keyring may ask
 * to be unlocked).  Returns 0 with *out malloc'ed (release with
 * secret_free): the entry without one line end at its end (LF or CR LF,
 * secret_chomp); or -1 with rec filled: ERR_PERM, EX_UNAVAILABLE when
 * libsecret cannot be loaded or the Secret Service cannot be reached;
 * ERR_CONFIG, EX_CONFIG when it has no entry (the fix: store one with
 * mailhop --store-password account), or what is left of the one it has
 * is empty or holds a control character (store it again).  The password
 * never appears in rec. */
int keyring_lookup(const char *host, const char *user, const char *account,
    char **out, struct err *rec);

/* Store password for user at host in the default collection of the
 * Secret Service with label, after removing every item with the same
 * attributes (host, service, user), whatever its schema.  Blocks.  Returns 0,
 * or -1 with rec filled as keyring_lookup does (EX_UNAVAILABLE); when
 * there is no default collection, the text says how to make one and
 * store again (mailhop --store-password account). */
int keyring_store(const char *host, const char *user, const char *account,
    const char *label, const char *password, struct err *rec);

#endif
