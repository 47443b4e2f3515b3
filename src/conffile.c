/* SPDX-License-Identifier: ISC */
/*
 * The configuration files: where they are, reading one whole from the
 * descriptor that is checked, their ownership and mode checks (only the
 * caller or root may change one; one that holds a password is its
 * owner's alone, S32), and system mode's copy of the system file, read
 * while the process holds the group that may read it.  conf.c picks the
 * account; the language is in confparse.c.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <confuse.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "conffile.h"
#include "confparse.h"
#include "err.h"
#include "secret.h"

/* Larger files are refused: a config is a few hundred bytes per account,
 * and libconfuse grows quoted strings 32 bytes at a time. */
#define CONF_MAX_SIZE (64 * 1024)

/* System mode (conf_system_preload): the system file as it was read
 * while the process held the group that may read it. */
static struct {
	int on;
	enum conf_system_use use;
	int spent;	/* CONF_SYSTEM_ONCE: buf was wiped, or never read */
	int open_errno; /* why it could not be opened, or 0 */
	gid_t group;	/* that group: the file may be 0640 root:group */
	struct stat st; /* fstat of the opened file */
	char *buf;	/* its bytes (NULL: not there) */
	size_t len;
} sys_copy;

/* Read the whole file into *buf, which the caller wipes and frees. */
static int
read_all(int fd, const char *path, char **buf, size_t *len, struct err *rec)
{
	size_t cap = CONF_MAX_SIZE + 1, n = 0;
	ssize_t r;
	int e;

	if ((*buf = malloc(cap)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	while (n < cap && (r = read(fd, *buf + n, cap - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			e = errno;
			return confparse_fail(rec, NULL, 0,
			    "cannot read %s: %s", path, strerror(e));
		}
		n += (size_t)r;
	}
	*len = n;
	if (n > CONF_MAX_SIZE)
		return confparse_fail(rec, path, 0,
		    "larger than %d KiB (is this the configuration file?)",
		    CONF_MAX_SIZE / 1024);
	if (memchr(*buf, '\0', n) != NULL)
		return confparse_fail(rec, path, 0,
		    "contains a NUL byte (is this the configuration file?)");
	return 0;
}

/* The group name of gid, for a chown hint. */
static const char *
group_name(gid_t gid, char *buf, size_t size)
{
	struct group *gr = getgrgid(gid);

	if (gr != NULL)
		snprintf(buf, size, "%s", gr->gr_name);
	else
		snprintf(buf, size, "%u", (unsigned)gid);
	return buf;
}

/* In system mode: no bits for others, the group may only read, and only
 * when it is the set-group-id group. */
static int
system_mode_ok(const struct stat *st)
{
	if (st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP))
		return 0;
	return !(st->st_mode & S_IRGRP) || st->st_gid == sys_copy.group;
}

/* S32: a file with a password is its owner's alone; in system mode the
 * system file may also be read by the set-group-id group (0640
 * root:mailhop), which no user has. */
static int
check_mode(const struct cfile *cf, const struct stat *st, struct err *rec)
{
	struct passwd *pw;
	char user[64], grp[64];
	int sysmode = cf->system && sys_copy.on;

	if (!cf->has_password)
		return 0;
	if (st->st_uid != geteuid() && !(cf->system && st->st_uid == 0)) {
		pw = getpwuid(geteuid());
		if (pw != NULL)
			snprintf(user, sizeof(user), "%s", pw->pw_name);
		else
			snprintf(user, sizeof(user), "%u", (unsigned)geteuid());
		pw = getpwuid(st->st_uid);
		return confparse_fail(rec, cf->path, 0,
		    "holds a password but is owned by uid %u%s%.32s%s (run: chown %s %s)",
		    (unsigned)st->st_uid, pw != NULL ? " (" : "",
		    pw != NULL ? pw->pw_name : "", pw != NULL ? ")" : "", user,
		    cf->path);
	}
	if (sysmode && !system_mode_ok(st))
		return confparse_fail(rec, cf->path, 0,
		    "holds a password but others may read or change it (run: chown root:%s %s; chmod 640 %s)",
		    group_name(sys_copy.group, grp, sizeof(grp)), cf->path,
		    cf->path);
	if (sysmode)
		return 0;
	/* Say the writers too: chmod 600 takes both away. */
	if (st->st_mode & S_IROTH)
		return confparse_fail(rec, cf->path, 0,
		    "holds a password but is readable %s others%s%s (run: chmod 600 %s)",
		    st->st_mode & S_IWOTH ? "and writable by" : "by",
		    !(st->st_mode & S_IWOTH) && (st->st_mode & S_IWGRP)
			? " and writable by its group "
			: "",
		    !(st->st_mode & S_IWOTH) && (st->st_mode & S_IWGRP)
			? group_name(st->st_gid, grp, sizeof(grp))
			: "",
		    cf->path);
	if (st->st_mode & S_IRGRP)
		return confparse_fail(rec, cf->path, 0,
		    "holds a password but is readable %s its group %s%s (run: chmod 600 %s)",
		    st->st_mode & S_IWGRP ? "and writable by" : "by",
		    group_name(st->st_gid, grp, sizeof(grp)),
		    st->st_mode & S_IWOTH ? " and writable by others" : "",
		    cf->path);
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return confparse_fail(rec, cf->path, 0,
		    "holds a password but others may change it (run: chmod 600 %s)",
		    cf->path);
	return 0;
}

/* Any configuration file, with a password or not, says which commands
 * mailhop runs (password_command) and where mail goes (host, aliases):
 * whoever may change it may do both as the caller.  So its owner is the
 * caller or root, and neither its group nor others may write it.  st is
 * the fstat of the descriptor read, so for a symbolic link it is the file
 * the link leads to. */
static int
check_writers(const struct cfile *cf, const struct stat *st, struct err *rec)
{
	struct passwd *pw;
	char user[64], grp[64];

	if (st->st_uid != geteuid() && st->st_uid != 0) {
		pw = getpwuid(geteuid());
		if (cf->system) /* /etc/mailhop.conf is root's to keep */
			snprintf(user, sizeof(user), "root");
		else if (pw != NULL)
			snprintf(user, sizeof(user), "%s", pw->pw_name);
		else
			snprintf(user, sizeof(user), "%u", (unsigned)geteuid());
		pw = getpwuid(st->st_uid);
		return confparse_fail(rec, cf->path, 0,
		    "owned by uid %u%s%.32s%s, who may change the commands it runs and where mail goes (run: chown %s %s)",
		    (unsigned)st->st_uid, pw != NULL ? " (" : "",
		    pw != NULL ? pw->pw_name : "", pw != NULL ? ")" : "", user,
		    cf->path);
	}
	if (st->st_mode & S_IWOTH)
		return confparse_fail(rec, cf->path, 0,
		    "anyone may change it, and so the commands it runs and where mail goes (run: chmod go-w %s)",
		    cf->path);
	if (st->st_mode & S_IWGRP)
		return confparse_fail(rec, cf->path, 0,
		    "its group %s may change it, and so the commands it runs and where mail goes (run: chmod g-w %s)",
		    group_name(st->st_gid, grp, sizeof(grp)), cf->path);
	return 0;
}

/* A file that is not there is fine unless it is the -C file; one that
 * cannot be opened is an error (B39), later for the system file. */
static int
open_failed(struct cfile *cf, int required, struct err *rec)
{
	int e = errno;

	if ((e == ENOENT || e == ENOTDIR) && !required)
		return 0;
	if (cf->system) {
		cf->open_errno = e;
		return 0;
	}
	/* Only the -C file is required: say where the path came from. */
	return confparse_fail(rec, NULL, 0, "cannot read %s: %s%s", cf->path,
	    strerror(e),
	    required && (e == ENOENT || e == ENOTDIR)
		? " (check the path given to -C)"
		: "");
}

/* Wipe and free the bytes of the system file, keeping the rest. */
static void
wipe_copy(void)
{
	if (sys_copy.buf != NULL) {
		secret_wipe(sys_copy.buf, sys_copy.len);
		free(sys_copy.buf);
	}
	sys_copy.buf = NULL;
	sys_copy.len = 0;
}

/* System mode: parse a copy of the bytes conf_system_preload read
 * (confparse_buf writes over comments), with the fstat taken then.  A
 * run that chooses its account once wipes them here, before parsing: from
 * then on the only password in memory is that of the account chosen (in
 * the parsed tree, which conf_choose frees and wipes, and in its struct
 * conf_account, which the flush after the send borrows, since it sends
 * that account's messages alone). */
static int
load_copy(struct cfile *cf, struct err *rec)
{
	size_t len = sys_copy.len;
	char *buf;
	int rc = -1;

	if (sys_copy.spent)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "internal error: %s was wiped after its one use in this run",
		    cf->path);
	if (sys_copy.use == CONF_SYSTEM_ONCE)
		sys_copy.spent = 1;
	if (sys_copy.buf == NULL) {
		errno = sys_copy.open_errno;
		return open_failed(cf, 0, rec);
	}
	if ((buf = malloc(len + 1)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	memcpy(buf, sys_copy.buf, len);
	if (sys_copy.use == CONF_SYSTEM_ONCE)
		wipe_copy();
	cf->cfg = confparse_buf(cf->path, buf, len, &cf->has_password, rec);
	if (cf->cfg != NULL && check_mode(cf, &sys_copy.st, rec) == 0)
		rc = check_writers(cf, &sys_copy.st, rec);
	secret_wipe(buf, len);
	free(buf);
	return rc;
}

/* Open, check and parse one file from the same descriptor, so what is
 * checked is what is read. */
static int
load_file(struct cfile *cf, int required, struct err *rec)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, e, rc = -1;

	if (cf->system && sys_copy.on)
		return load_copy(cf, rec);
	fd = open(cf->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return open_failed(cf, required, rec);
	if (fstat(fd, &st) == -1) {
		e = errno;
		confparse_fail(
		    rec, NULL, 0, "cannot read %s: %s", cf->path, strerror(e));
	} else if (!S_ISREG(st.st_mode))
		confparse_fail(rec, cf->path, 0,
		    "not a regular file (name a configuration file)");
	else if (read_all(fd, cf->path, &buf, &len, rec) == 0 &&
	    (cf->cfg = confparse_buf(
		 cf->path, buf, len, &cf->has_password, rec)) != NULL &&
	    check_mode(cf, &st, rec) == 0)
		rc = check_writers(cf, &st, rec);
	if (buf != NULL) {
		secret_wipe(buf, len);
		free(buf);
	}
	close(fd);
	return rc;
}

/* $XDG_CONFIG_HOME/mailhop/config, else ~/.config/mailhop/config. */
static char *
user_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;
	char *path;

	if (xdg != NULL && xdg[0] == '/')
		return asprintf(&path, "%s/mailhop/config", xdg) == -1 ? NULL
								       : path;
	if (home == NULL || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] != '/')
		return NULL;
	return asprintf(&path, "%s/.config/mailhop/config", home) == -1 ? NULL
									: path;
}

int
conffile_load_files(struct files *fs, const char *file, struct err *rec)
{
	if (file != NULL) {
		fs->n = 1;
		if ((fs->f[0].path = strdup(file)) == NULL)
			return err_set(
			    rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return load_file(&fs->f[0], 1, rec);
	}
	fs->n = 2;
	/* System mode reads the system file alone (mailhop(1) SYSTEM MODE). */
	fs->f[0].path = sys_copy.on ? NULL : user_path();
	fs->f[1].path = strdup(SYSCONFDIR "/mailhop.conf");
	fs->f[1].system = 1;
	if (fs->f[1].path == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (fs->f[0].path != NULL && load_file(&fs->f[0], 0, rec) == -1)
		return -1;
	if (load_file(&fs->f[1], 0, rec) == -1)
		return -1;
	if (fs->f[0].cfg == NULL && fs->f[1].cfg == NULL &&
	    fs->f[1].open_errno == 0)
		return confparse_fail(rec, NULL, 0,
		    "no configuration file: write %s or %s (see mailhop.conf(5))",
		    fs->f[0].path != NULL ? fs->f[0].path
					  : "~/.config/mailhop/config",
		    fs->f[1].path);
	return 0;
}

/* The system file could not be opened and the user file does not
 * decide without it: say why, and what to do. */
void
conffile_system_unreadable(struct files *fs, const char *name, struct err *rec)
{
	const struct cfile *sys = &fs->f[1], *u = &fs->f[0];
	char grp[64], buf[CONFPARSE_SHOW_MAX];
	const char *why = strerror(sys->open_errno);

	if (name == NULL && u->cfg != NULL)
		name = cfg_getstr(u->cfg, "default_account");
	if (sys_copy.on && sys->open_errno == EACCES)
		confparse_fail(rec, NULL, 0,
		    "cannot read %s: %s (run: chown root:%s %s; chmod 640 %s)",
		    sys->path, why,
		    group_name(sys_copy.group, grp, sizeof(grp)), sys->path,
		    sys->path);
	else if (u->cfg != NULL && cfg_size(u->cfg, "account") > 0 &&
	    name != NULL)
		confparse_fail(rec, NULL, 0,
		    "cannot read %s: %s, and account %s is not in %s (define it there, or name one of its accounts)",
		    sys->path, why, confparse_show(buf, sizeof(buf), name),
		    u->path);
	else
		confparse_fail(rec, NULL, 0,
		    "cannot read %s: %s (put an account in %s, see mailhop.conf(5))",
		    sys->path, why,
		    u->path != NULL ? u->path : "~/.config/mailhop/config");
}

void
conffile_free_files(struct files *fs)
{
	int i;

	for (i = 0; i < 2; i++) {
		confparse_free(fs->f[i].cfg);
		free(fs->f[i].path);
	}
}

void
conf_system_forget(void)
{
	wipe_copy();
	memset(&sys_copy, 0, sizeof(sys_copy));
}

/*
 * How long the bytes (every account's password) stay depends on use:
 * CONF_SYSTEM_UNUSED (-bp) reads nothing; CONF_SYSTEM_ONCE (a send, and
 * every mode but -q and -bs) wipes them when the account is chosen
 * (load_copy), before its password command runs or the message is read.
 * CONF_SYSTEM_KEEP (-q, -bs) keeps them until exit: -q loads the account
 * of each queued message, and -bs the account of each message of the
 * dialogue, after the group is gone, and which accounts those are is
 * known only as the queue or the dialogue is read.
 */
int
conf_system_preload(gid_t group, enum conf_system_use use, struct err *rec)
{
	const char *path = SYSCONFDIR "/mailhop.conf";
	int fd, e, rc = -1;

	conf_system_forget();
	sys_copy.on = 1;
	sys_copy.use = use;
	sys_copy.group = group;
	if (use == CONF_SYSTEM_UNUSED) {
		sys_copy.spent = 1;
		return 0;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		sys_copy.open_errno = errno;
		return 0;
	}
	if (fstat(fd, &sys_copy.st) == -1) {
		e = errno;
		confparse_fail(
		    rec, NULL, 0, "cannot read %s: %s", path, strerror(e));
	} else if (!S_ISREG(sys_copy.st.st_mode))
		confparse_fail(rec, path, 0,
		    "not a regular file (name a configuration file)");
	else
		rc = read_all(fd, path, &sys_copy.buf, &sys_copy.len, rec);
	close(fd);
	if (rc == -1 && sys_copy.buf != NULL) {
		secret_wipe(sys_copy.buf, CONF_MAX_SIZE + 1);
		free(sys_copy.buf);
		sys_copy.buf = NULL;
	}
	if (rc == 0)
		atexit(conf_system_forget);
	return rc;
}
