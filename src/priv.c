/* SPDX-License-Identifier: ISC */
/*
 * System mode: when mailhop is installed set-group-id (2755 root:mailhop),
 * everything the caller controls is hostile (S36).  The privilege is held
 * only to read the system file: the environment is replaced before
 * libconfuse can expand ${VAR} from it, no user-chosen path is read, and
 * the group is given up for good before stdin, the network or any helper.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"
#include "priv.h"
#include "queue.h"

#define PRIV_PATH "/usr/bin:/bin"

static int sysmode;
static gid_t sysgroup; /* the set-group-id group, in system mode */

int
priv_system(void)
{
	return sysmode;
}

gid_t
priv_group(void)
{
	return sysgroup;
}

/* Give up the set-group-id (and set-user-id) privilege for good: real,
 * effective and saved ids all become the real ones; then check that
 * they did, and that the group cannot be taken back. */
static int
drop(struct err *rec)
{
	uid_t ruid = getuid(), eu, su, ru;
	gid_t rgid = getgid(), egid = getegid(), eg, sg, rg;

	if (setresgid(rgid, rgid, rgid) == -1 ||
	    setresuid(ruid, ruid, ruid) == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot give up the set-group-id privilege: %s",
		    strerror(errno));
	if (getresgid(&rg, &eg, &sg) == -1 || getresuid(&ru, &eu, &su) == -1 ||
	    rg != rgid || eg != rgid || sg != rgid || ru != ruid ||
	    eu != ruid || su != ruid)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "the set-group-id privilege is still held after dropping it");
	/* Root may take any group anyway; anyone else must not get it back. */
	if (ruid != 0 && egid != rgid && setegid(egid) != -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "the set-group-id group could be taken back after dropping it");
	return 0;
}

/* The home directory of the real user, from the password database: the
 * environment's HOME may be anything. */
static const char *
real_home(void)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw == NULL || pw->pw_dir == NULL || pw->pw_dir[0] != '/')
		return "/";
	return pw->pw_dir;
}

/* Whether the real user has a configuration of their own.  access(2)
 * checks with the real ids, so the group cannot help. */
static int
has_user_config(void)
{
	char path[4096];
	int n;

	n = snprintf(
	    path, sizeof(path), "%s/.config/mailhop/config", real_home());
	return n > 0 && (size_t)n < sizeof(path) && access(path, F_OK) == 0;
}

/* A user with a configuration of their own runs as if mailhop were not
 * set-group-id, with their environment, except that the file read is the
 * one found: HOME from the password database, XDG_CONFIG_HOME unset. */
static int
user_mode(struct err *rec)
{
	char home[4096];

	if (drop(rec) == -1)
		return -1;
	snprintf(home, sizeof(home), "%s", real_home());
	if (setenv("HOME", home, 1) == -1 || unsetenv("XDG_CONFIG_HOME") == -1)
		return err_set(
		    rec, ERR_LOCAL, EX_OSERR, "cannot set HOME: out of memory");
	return 0;
}

/* The environment of system mode: PATH and HOME, nothing the caller
 * chose, so that neither libconfuse's ${VAR}, nor GnuTLS, nor a
 * password command sees the caller's variables. */
static int
clear_env(struct err *rec)
{
	char home[4096];

	snprintf(home, sizeof(home), "%s", real_home());
	if (clearenv() != 0 || setenv("PATH", PRIV_PATH, 1) == -1 ||
	    setenv("HOME", home, 1) == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot clear the environment: out of memory");
	return 0;
}

/* Only the group may write the system queue: a process that keeps it
 * does the queue's work (queue.h).  Root needs none, and it is started
 * before the system file is read, so it never holds the secrets. */
static int
start_keeper(struct err *rec)
{
	struct queue_params qp = { 0 };
	char dir[4096];

	if (geteuid() == 0)
		return 0;
	qp.system = 1;
	if (queue_default_dir(dir, sizeof(dir), 1) == -1)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "the system queue directory name is too long");
	return queue_keeper_start(dir, &qp, rec);
}

int
priv_init(const char *config, enum conf_system_use use, struct err *rec)
{
	gid_t group = getegid();
	struct err e;

	if (getegid() == getgid() && geteuid() == getuid())
		return 0;
	if (config != NULL)
		return err_set(rec, ERR_PERM, EX_NOPERM,
		    "-C cannot be used while mailhop runs set-group-id: it reads %s/mailhop.conf, or ~/.config/mailhop/config when you have one (drop -C)",
		    SYSCONFDIR);
	if (has_user_config())
		return user_mode(rec);
	sysmode = 1;
	sysgroup = group;
	umask(077);
	if (clear_env(rec) == -1 || start_keeper(rec) == -1 ||
	    conf_system_preload(group, use, rec) == -1) {
		err_clear(&e);
		if (drop(&e) == -1)
			*rec = e;
		return -1;
	}
	return drop(rec);
}
