/* SPDX-License-Identifier: ISC */
/*
 * Passwords in the keyring (the freedesktop Secret Service, through
 * libsecret), as msmtp keeps them.  libsecret and GLib are loaded with
 * dlopen only when an account uses the keyring, so a normal send never
 * has them in its address space; the header gives the prototypes.
 */
#include <sys/auxv.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <libsecret/secret.h>

#include "err.h"
#include "keyring.h"
#include "secret.h"

/* Room for an account's name quoted for the shell in a hint. */
#define KEYRING_NAME_MAX 200

#define LIBSECRET "libsecret-1.so.0"

/* What we use of libsecret and GLib, resolved once. */
static struct {
	void *handle;
	__typeof__(&secret_password_lookup_nonpageable_sync) lookup;
	__typeof__(&secret_password_store_sync) store;
	__typeof__(&secret_password_clear_sync) clear;
	__typeof__(&secret_password_free) free_password;
	__typeof__(&g_error_free) free_error;
	__typeof__(&g_dbus_error_quark) dbus_error;
} lib;

/* No SECRET_SCHEMA_DONT_MATCH_NAME on lookup would miss the entries
 * secret-tool stores, whose schema is org.freedesktop.Secret.Generic. */
static const SecretSchema schema = {
	.name = KEYRING_SCHEMA,
	.flags = SECRET_SCHEMA_DONT_MATCH_NAME,
	.attributes = {
	    { "host", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "service", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "user", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { NULL, 0 },
	},
};

/* Where libgnome-keyring kept network passwords (user, protocol, server):
 * entries from before libsecret, which msmtp also still finds. */
static const SecretSchema compat = {
	.name = "org.gnome.keyring.NetworkPassword",
	.flags = SECRET_SCHEMA_NONE,
	.attributes = {
	    { "user", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "domain", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "object", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "protocol", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "port", SECRET_SCHEMA_ATTRIBUTE_INTEGER },
	    { "server", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { "authtype", SECRET_SCHEMA_ATTRIBUTE_STRING },
	    { NULL, 0 },
	},
};

static int
load(struct err *rec)
{
	const char *why;

	if (lib.handle != NULL)
		return 0;
	/* Tried with GLib 2.74: in a process started set-group-id (even
	 * with the group given up) GDBus ignores DBUS_SESSION_BUS_ADDRESS
	 * and fails with "Cannot spawn a message bus when AT_SECURE is
	 * set".  Say so plainly instead. */
	if (getauxval(AT_SECURE))
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "keyring = on cannot work in a set-group-id mailhop: GLib does not use the session bus in such a process (install mailhop without SETGID, or use password_command)");
	lib.handle = dlopen(LIBSECRET, RTLD_NOW | RTLD_LOCAL);
	if (lib.handle == NULL) {
		why = dlerror();
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "keyring = on needs libsecret, which cannot be loaded: %s (install libsecret-1-0, or use password_command)",
		    why != NULL ? why : LIBSECRET);
	}
	/* dlsym on the handle also finds GLib, a dependency of it. */
	lib.lookup = (__typeof__(lib.lookup))dlsym(
	    lib.handle, "secret_password_lookup_nonpageable_sync");
	lib.store = (__typeof__(lib.store))dlsym(
	    lib.handle, "secret_password_store_sync");
	lib.clear = (__typeof__(lib.clear))dlsym(
	    lib.handle, "secret_password_clear_sync");
	lib.free_password = (__typeof__(lib.free_password))dlsym(
	    lib.handle, "secret_password_free");
	lib.free_error =
	    (__typeof__(lib.free_error))dlsym(lib.handle, "g_error_free");
	lib.dbus_error =
	    (__typeof__(lib.dbus_error))dlsym(lib.handle, "g_dbus_error_quark");
	if (lib.lookup == NULL || lib.store == NULL || lib.clear == NULL ||
	    lib.free_password == NULL || lib.free_error == NULL ||
	    lib.dbus_error == NULL)
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "keyring = on needs libsecret 0.19 or later (%s lacks a function it needs)",
		    LIBSECRET);
	return 0;
}

/* The Secret Service could not be asked (no session bus, no service on
 * it) or refused (a locked collection, a dismissed prompt).  GLib's
 * message is shown sanitised. */
static int
unreachable(GError *e, struct err *rec)
{
	char why[200];

	err_sanitize(why, sizeof(why), e != NULL ? e->message : "unknown",
	    e != NULL ? strlen(e->message) : 7);
	if (e != NULL)
		lib.free_error(e);
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "the keyring (Secret Service) is not available: %s (run mailhop in a desktop session with a keyring such as gnome-keyring unlocked, with DBUS_SESSION_BUS_ADDRESS set; or use password_command)",
	    why);
}

/* Storing failed.  A fresh gnome-keyring that was never unlocked has
 * no login collection for the default alias to name, and refuses the
 * item with UnknownMethod, "Object does not exist at path
 * .../collection/login" (gnome-keyring 42, no desktop session): say
 * how to make one.  Anything else is unreachable(). */
static int
store_failed(GError *e, const char *account, struct err *rec)
{
	char why[120];

	if (e == NULL || e->domain != lib.dbus_error() ||
	    (e->code != G_DBUS_ERROR_UNKNOWN_METHOD &&
		e->code != G_DBUS_ERROR_UNKNOWN_OBJECT))
		return unreachable(e, rec);
	err_sanitize(why, sizeof(why), e->message, strlen(e->message));
	lib.free_error(e);
	return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
	    "the keyring has no default collection to store the password in (%s): gnome-keyring makes its login keyring when first unlocked; with no desktop session, run dbus-run-session -- sh -c 'printf %%s \"$KEYRING_PW\" | gnome-keyring-daemon --unlock --components=secrets; mailhop --store-password %s' (see keyring in mailhop.conf(5))",
	    why, account);
}

/* A password the server can take, its n bytes: not empty, no control
 * character (SASLprep, RFC 4013).  The entry is there, so the fix is to
 * store it again. */
static int
check(const char *pw, size_t n, const char *host, const char *user,
    const char *account, struct err *rec)
{
	size_t i;

	if (n == 0)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "the keyring's password for user \"%s\" at %s is empty (store it again: mailhop --store-password %s)",
		    user, host, account);
	for (i = 0; i < n; i++)
		if ((unsigned char)pw[i] < 0x20 || pw[i] == 0x7f)
			return err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "the keyring's password for user \"%s\" at %s holds a control character (store it again: mailhop --store-password %s)",
			    user, host, account);
	return 0;
}

/* XXX: no deadline: a locked keyring shows its unlock prompt on the
 * desktop and the lookup waits for the user, as msmtp's does; the
 * account's timeout covers only the server. */
/* Our entry, else a libgnome-keyring one.  NULL with *e set: the
 * service failed; NULL alone: no entry. */
static gchar *
find(const char *host, const char *user, GError **e)
{
	gchar *pw;

	pw = lib.lookup(&schema, NULL, e, "host", host, "service",
	    KEYRING_SERVICE, "user", user, NULL);
	if (pw != NULL || *e != NULL)
		return pw;
	return lib.lookup(&compat, NULL, e, "user", user, "protocol",
	    KEYRING_SERVICE, "server", host, NULL);
}

/* The account's name as one shell word, for the commands the errors
 * suggest: as it is when plain, else in double quotes; "NAME" for one
 * that cannot be shown so (a control character, or a single quote,
 * which would end the sh -c '...' of store_failed's hint). */
static const char *
shell_name(char *buf, size_t sz, const char *name)
{
	static const char plain[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789._@+-";
	size_t i, o = 0;

	if (name[0] != '\0' && name[0] != '-' &&
	    strspn(name, plain) == strlen(name))
		return name;
	buf[o++] = '"';
	for (i = 0; name[i] != '\0' && o + 3 < sz; i++) {
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f ||
		    name[i] == '\'')
			return "NAME";
		if (strchr("\"\\$`", name[i]) != NULL)
			buf[o++] = '\\';
		buf[o++] = name[i];
	}
	if (name[i] != '\0')
		return "NAME";
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

int
keyring_lookup(const char *host, const char *user, const char *account,
    char **out, struct err *rec)
{
	GError *e = NULL;
	gchar *pw;
	char name[KEYRING_NAME_MAX];
	size_t n;
	int rc;

	*out = NULL;
	account = shell_name(name, sizeof(name), account);
	if (load(rec) == -1)
		return -1;
	pw = find(host, user, &e);
	if (e != NULL) {
		if (pw != NULL)
			lib.free_password(pw);
		return unreachable(e, rec);
	}
	/* Nothing to store "again": maybe nothing was ever stored. */
	if (pw == NULL)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "no password for user \"%s\" at %s in the keyring, or it is locked (store one: mailhop --store-password %s; or unlock the keyring)",
		    user, host, account);
	/* secret-tool store keeps the newline of what it reads (<<< pw,
	 * echo pw |): one goes, as from a password_command. */
	n = secret_chomp(pw, strlen(pw));
	rc = check(pw, n, host, user, account, rec);
	if (rc == 0 && (*out = strndup(pw, n)) == NULL)
		rc = err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	/* secret_password_free wipes it before freeing. */
	lib.free_password(pw);
	return rc;
}

int
keyring_store(const char *host, const char *user, const char *account,
    const char *label, const char *password, struct err *rec)
{
	GError *e = NULL;
	char name[KEYRING_NAME_MAX];

	account = shell_name(name, sizeof(name), account);
	if (load(rec) == -1)
		return -1;
	/* Every item with these attributes goes first, whatever its schema:
	 * secret-tool's (org.freedesktop.Secret.Generic, which msmtp's
	 * manual has its users make) as well as ours, so that no stale
	 * one is left for msmtp or a lookup to find. */
	lib.clear(&schema, NULL, &e, "host", host, "service", KEYRING_SERVICE,
	    "user", user, NULL);
	if (e != NULL)
		return unreachable(e, rec);
	if (lib.store(&schema, SECRET_COLLECTION_DEFAULT, label, password, NULL,
		&e, "host", host, "service", KEYRING_SERVICE, "user", user,
		NULL))
		return 0;
	return store_failed(e, account, rec);
}
