/* SPDX-License-Identifier: ISC */
/*
 * The queue directory (see queue.c for its format and crash safety):
 * creating and opening it, ids, names, files written and fsynced, and
 * what crashed writers left in tmp/.  Private to the queue module.
 */
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"
#include "queue_dir.h"

int
queue_dir_err(struct err *rec, int code, const char *what, const char *path)
{
	return err_set(rec, ERR_LOCAL, code, "queue: cannot %s %s: %s", what,
	    path, strerror(errno));
}

void
queue_dir_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int
queue_dir_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Names of the queue (ids): a hex digit first, then hex digits and dots.
 * This also keeps "..", "/" and our temporary names out. */
int
queue_dir_valid_id(const char *id)
{
	size_t i, len = strlen(id);

	if (len == 0 || len >= QUEUE_ID_SIZE ||
	    strchr("0123456789abcdef", id[0]) == NULL)
		return 0;
	for (i = 0; i < len; i++)
		if (strchr("0123456789abcdef.", id[i]) == NULL)
			return 0;
	return 1;
}

uint32_t
queue_dir_random(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == sizeof(r))
		return r;
	return (uint32_t)time(NULL) ^ ((uint32_t)getpid() << 16) ^
	    (uint32_t)clock();
}

/* Unique across processes: two live processes differ in pid, one process
 * counts; the random bits cover a pid reused within the same second.
 * queue_put still renames with RENAME_NOREPLACE. */
void
queue_dir_new_id(char id[QUEUE_ID_SIZE], long long now)
{
	static unsigned counter;

	snprintf(id, QUEUE_ID_SIZE, "%08llx.%x.%04x%04x",
	    (unsigned long long)now & 0xffffffffULL, (unsigned)getpid(),
	    counter++ & 0xffff, queue_dir_random() & 0xffff);
}

/* Remove name in dirfd: a file, or a directory of files (one level, as
 * every directory of ours is).  Best effort: errors are ignored. */
void
queue_dir_remove(int dirfd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 ||
	    (errno != EISDIR && errno != EPERM))
		return;
	fd = openat(
	    dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
queue_dir_free_names(char **v, long n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* The names in dirfd (only ids, with ids_only), sorted: oldest first, as
 * ids start with the creation time in fixed-width hex.  Returns the
 * count with *names set (queue_dir_free_names), or -1. */
long
queue_dir_names(int dirfd, int ids_only, char ***names)
{
	struct dirent *de;
	size_t n = 0, cap = 0;
	char **v = NULL, **nv;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (ids_only ? !queue_dir_valid_id(de->d_name)
			     : de->d_name[0] == '.' &&
			    (de->d_name[1] == '\0' ||
				strcmp(de->d_name, "..") == 0))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	if (de != NULL) {
		queue_dir_free_names(v, (long)n);
		return -1;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), cmp_names);
	*names = v;
	return (long)n;
}

/* fsync the directory that holds path (a path with a '/' in it, or a
 * name in the current directory). */
static int
sync_parent(const char *path)
{
	char buf[PATH_MAX];
	char *slash;
	int fd, ret, saved;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(buf, '/')) == NULL)
		snprintf(buf, sizeof(buf), ".");
	else if (slash == buf)
		buf[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	ret = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return ret;
}

/* Create name in parent with exactly mode, whatever the umask, unless it
 * exists.  A new directory is fsynced, and so is its parent (parent, or
 * with AT_FDCWD the directory name is in): a message fsynced into it
 * must not vanish with the directory after a crash. */
static int
make_dir(int parent, const char *name, mode_t mode)
{
	int fd, ret, saved;

	if (mkdirat(parent, name, 0700) == -1)
		return errno == EEXIST ? 0 : -1;
	fd = openat(
	    parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	ret = fchmod(fd, mode) == 0 && fsync(fd) == 0 ? 0 : -1;
	saved = errno;
	close(fd);
	errno = saved;
	if (ret == -1)
		return -1;
	return parent == AT_FDCWD ? sync_parent(name) : fsync(parent);
}

/* mkdir -p of the parents of path, 0700 (for a user queue under
 * $XDG_STATE_HOME, as the XDG base directory spec asks); each one made
 * is fsynced into its own parent. */
static int
make_parents(const char *path)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = strchr(buf + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0700) == 0) {
			if (sync_parent(buf) == -1)
				return -1;
		} else if (errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

/* A user queue must be ours and closed to others: the messages in it are
 * the user's mail.  The system queue must not be writable by everyone.
 * Either way the queue cannot be used: EX_CANTCREAT, as for a queue that
 * cannot be made (EX_NOPERM would say a login was refused). */
static int
check_top(const struct queue *q, int system, struct err *rec)
{
	struct stat st;

	if (fstat(q->dir, &st) == -1)
		return queue_dir_err(rec, EX_IOERR, "examine", q->path);
	if (system && (st.st_mode & S_IWOTH))
		return err_set(rec, ERR_LOCAL, EX_CANTCREAT,
		    "queue: %s is writable by everyone; chmod o-w it (mode 2770, group mailhop)",
		    q->path);
	if (!system && (st.st_uid != geteuid() || (st.st_mode & 077)))
		return err_set(rec, ERR_LOCAL, EX_CANTCREAT,
		    "queue: %s is not private to you (owner %ld, mode %04o); chown it to yourself and chmod 700 it",
		    q->path, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int
open_dirs(struct queue *q, int system, struct err *rec)
{
	static const char *const sub[] = { "tmp", "msg", "failed" };
	int *fd[] = { &q->tmp, &q->msg, &q->failed };
	int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	size_t i;

	if (!system && make_parents(q->path) == -1)
		return queue_dir_err(
		    rec, EX_CANTCREAT, "create the parents of", q->path);
	if (make_dir(AT_FDCWD, q->path, q->dmode) == -1)
		return queue_dir_err(rec, EX_CANTCREAT, "create", q->path);
	if ((q->dir = open(q->path, flags)) == -1)
		return queue_dir_err(rec, EX_CANTCREAT, "open", q->path);
	if (check_top(q, system, rec) == -1)
		return -1;
	for (i = 0; i < 3; i++) {
		if (make_dir(q->dir, sub[i], q->dmode) == -1 ||
		    (*fd[i] = openat(q->dir, sub[i], flags | O_NOFOLLOW)) == -1)
			return err_set(rec, ERR_LOCAL, EX_CANTCREAT,
			    "queue: cannot create %s/%s: %s", q->path, sub[i],
			    strerror(errno));
	}
	return 0;
}

/* What crashed writers left in tmp/ (half-built messages, messages being
 * removed) once it is old enough that no live writer can be using it. */
static void
clean_tmp(struct queue *q, long long now)
{
	struct stat st;
	char **names;
	long n, i;

	if ((n = queue_dir_names(q->tmp, 0, &names)) == -1)
		return;
	for (i = 0; i < n; i++)
		if (fstatat(q->tmp, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - (long long)st.st_mtime >= QUEUE_TMP_AGE)
			queue_dir_remove(q->tmp, names[i]);
	queue_dir_free_names(names, n);
}

int
queue_open(const char *dir, const struct queue_params *p, struct queue **qp,
    struct err *rec)
{
	struct queue *q;
	int system = p != NULL && p->system;

	*qp = NULL;
	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->path = strdup(dir)) == NULL) {
		free(q);
		return err_set(
		    rec, ERR_LOCAL, EX_OSERR, "queue: out of memory");
	}
	q->dir = q->tmp = q->msg = q->failed = -1;
	q->dmode = system ? 02770 : 0700;
	q->fmode = system ? 0660 : 0600;
	q->lifetime =
	    p != NULL && p->lifetime > 0 ? p->lifetime : QUEUE_LIFETIME;
	if (system && queue_keeper_on()) {
		q->remote = 1;
		*qp = q;
		return 0;
	}
	if (open_dirs(q, system, rec) == -1) {
		queue_close(q);
		return -1;
	}
	clean_tmp(q, (long long)time(NULL));
	*qp = q;
	return 0;
}

void
queue_set_lifetime(struct queue *q, long long lifetime)
{
	q->lifetime = lifetime > 0 ? lifetime : QUEUE_LIFETIME;
}

void
queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	queue_dir_close(&q->dir);
	queue_dir_close(&q->tmp);
	queue_dir_close(&q->msg);
	queue_dir_close(&q->failed);
	free(q->path);
	free(q);
}

/* Create name in dfd with text, mode exactly, and fsync it (with
 * sync). */
int
queue_dir_write_file(int dfd, const char *name, const char *text, size_t len,
    mode_t mode, int sync)
{
	int fd, ret = -1, saved;

	fd = openat(dfd, name,
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1)
		return -1;
	if (fchmod(fd, mode) == 0 && queue_dir_write_all(fd, text, len) == 0 &&
	    (!sync || fsync(fd) == 0))
		ret = 0;
	saved = errno;
	if (close(fd) == -1 && ret == 0)
		return -1;
	errno = saved;
	return ret;
}

int
queue_dir_same(int where, const char *id, int dfd)
{
	struct stat a, b;

	return fstat(dfd, &a) == 0 &&
	    fstatat(where, id, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
