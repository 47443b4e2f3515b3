/* SPDX-License-Identifier: ISC */
/*
 * Secrets in memory: wiping, keeping them out of core files, reading a
 * password from a command (password_command, S33), and asking for one
 * without echo (mailhop --store-password).  The keyring is keyring.c.
 */
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "secret.h"

void
secret_wipe(void *p, size_t n)
{
	if (p != NULL)
		explicit_bzero(p, n);
}

void
secret_free(char *s)
{
	if (s == NULL)
		return;
	secret_wipe(s, strlen(s));
	free(s);
}

size_t
secret_chomp(const char *s, size_t n)
{
	if (n == 0 || s[n - 1] != '\n')
		return n;
	n--;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	return n;
}

void
secret_protect_process(void)
{
	struct rlimit rl = { 0, 0 };

	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/* What the command did, as secret_command collects it. */
struct cmd_run {
	pid_t pid;     /* the shell, leader of a process group of its own */
	int fd;	       /* read end of its stdout; -1 after EOF */
	int pidfd;     /* readable once the shell has exited, or -1 */
	int tty;       /* our terminal, lent to the command's group, or -1 */
	char *buf;     /* the first SECRET_COMMAND_MAX bytes */
	size_t len;    /* bytes kept in buf */
	size_t total;  /* bytes read */
	long deadline; /* CLOCK_MONOTONIC, ms */
	int timed_out;
	int exited; /* the shell has exited (not reaped yet) */
	int status; /* of waitpid, once exited */
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Make pgrp the terminal's foreground group; we may be in the background
 * by then, which would stop us with SIGTTOU. */
static void
give_tty(int tty, pid_t pgrp)
{
	void (*old)(int) = signal(SIGTTOU, SIG_IGN);

	(void)tcsetpgrp(tty, pgrp);
	signal(SIGTTOU, old);
}

/* In the child: a process group of its own (so that it and whatever it
 * leaves running can be killed together), holding the terminal when we
 * held it (so that it may still ask there); stdin /dev/null, stdout the
 * pipe, stderr as ours, the real uid and gid, default SIGPIPE (we ignore
 * it); then the shell. */
static void
exec_child(const char *cmd, int out, int tty)
{
	int in = open("/dev/null", O_RDONLY);
	gid_t g = getgid();
	uid_t u = getuid();

	setpgid(0, 0);
	if (tty != -1)
		give_tty(tty, getpid());
	if (in == -1 || dup2(in, 0) == -1 || dup2(out, 1) == -1)
		_exit(126);
	if (setresgid(g, g, g) == -1 || setresuid(u, u, u) == -1)
		_exit(126);
	signal(SIGPIPE, SIG_DFL);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Our controlling terminal when our process group has it, else -1. */
static int
foreground_tty(void)
{
	int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (tty != -1 && tcgetpgrp(tty) != getpgrp()) {
		close(tty);
		tty = -1;
	}
	return tty;
}

/* Read what the pipe has: into buf up to the cap; a byte more is
 * counted in total, which ends the run (the command prints too much).
 * Returns 1 when bytes came. */
static int
read_chunk(struct cmd_run *c)
{
	char over[1];
	ssize_t r;

	if (c->len < SECRET_COMMAND_MAX)
		r = read(c->fd, c->buf + c->len, SECRET_COMMAND_MAX - c->len);
	else
		r = read(c->fd, over, sizeof(over));
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		close(c->fd);
		c->fd = -1;
		return 0;
	}
	if (c->len < SECRET_COMMAND_MAX)
		c->len += (size_t)r;
	else
		secret_wipe(over, sizeof(over));
	c->total += (size_t)r;
	return 1;
}

/* Whether the shell has exited; its status is taken, the zombie kept so
 * that its process group cannot be reused before we kill it. */
static void
check_exit(struct cmd_run *c)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
		-1 ||
	    si.si_pid != c->pid)
		return;
	c->exited = 1;
	if (si.si_code == CLD_EXITED)
		c->status = W_EXITCODE(si.si_status, 0);
	else
		c->status = si.si_status & 0x7f; /* WIFSIGNALED */
}

/* Whether there is no need to wait any longer: too much output, the
 * shell failed, or it exited 0 and the first line is complete (a child
 * it left running may hold the pipe open: msmtp does not wait for EOF
 * either) or the pipe is at EOF. */
static int
settled(const struct cmd_run *c)
{
	if (c->total > SECRET_COMMAND_MAX)
		return 1;
	if (!c->exited)
		return 0;
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)
		return 1;
	return c->fd == -1 || memchr(c->buf, '\n', c->len) != NULL;
}

/* Read and watch the shell until settled or the deadline. */
static void
collect(struct cmd_run *c)
{
	struct pollfd pfd[2];
	long left;
	int n, wait;

	while (!settled(c)) {
		left = c->deadline - now_ms();
		if (left <= 0) {
			c->timed_out = 1;
			return;
		}
		pfd[0].fd = c->fd;
		pfd[1].fd = c->exited ? -1 : c->pidfd;
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		/* Without a pidfd, look at the shell every 10 ms. */
		wait = c->pidfd == -1 && left > 10 ? 10 : (int)left;
		n = poll(pfd, 2, wait);
		if (n == -1 && errno != EINTR)
			return;
		if (n > 0 && pfd[0].revents != 0)
			read_chunk(c);
		if (!c->exited)
			check_exit(c);
	}
	/* What the shell wrote before it exited counts against the cap,
	 * however fast it went. */
	while (c->exited && c->fd != -1 && c->total <= SECRET_COMMAND_MAX &&
	    read_chunk(c))
		;
}

/* Kill the command's group unless it succeeded (what a good command
 * left running is its own business), reap the shell, take the terminal
 * back. */
static void
finish(struct cmd_run *c, int ok)
{
	if (!ok || !c->exited)
		killpg(c->pid, SIGKILL);
	while (waitpid(c->pid, &c->status, 0) == -1 && errno == EINTR)
		;
	if (c->tty != -1) {
		give_tty(c->tty, getpgrp());
		close(c->tty);
	}
	if (c->fd != -1)
		close(c->fd);
	if (c->pidfd != -1)
		close(c->pidfd);
}

/* The verdict on what the command did; the output is never shown. */
static int
judge(const struct cmd_run *c, int timeout_ms, struct err *rec)
{
	if (c->total > SECRET_COMMAND_MAX)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "password command printed more than %d KiB (it must print only the password)",
		    SECRET_COMMAND_MAX / 1024);
	if (c->timed_out)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "password command timed out after %d ms (it must print the password and exit)",
		    timeout_ms);
	if (WIFSIGNALED(c->status))
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "password command failed: killed by signal %d",
		    WTERMSIG(c->status));
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "password command failed: exit %d",
		    WIFEXITED(c->status) ? WEXITSTATUS(c->status) : -1);
	return 0;
}

/* Cut buf to its first line: one LF and a CR before it go. */
static int
first_line(struct cmd_run *c, struct err *rec)
{
	char *nl = memchr(c->buf, '\n', c->len);
	size_t n = nl != NULL ? (size_t)(nl - c->buf) : c->len, i;

	if (n > 0 && nl != NULL && c->buf[n - 1] == '\r')
		n--;
	secret_wipe(c->buf + n, SECRET_COMMAND_MAX + 1 - n);
	c->len = n;
	if (n == 0)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "password command printed nothing (it must print the password on its first line)");
	/* SASLprep (RFC 4013) prohibits control characters. */
	for (i = 0; i < n; i++)
		if ((unsigned char)c->buf[i] < 0x20 || c->buf[i] == 0x7f)
			return err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "password command printed a control character in its first line (a password cannot hold one)");
	return 0;
}

static int
start(struct cmd_run *c, const char *cmd, struct err *rec)
{
	int p[2], e;

	if (pipe2(p, O_CLOEXEC) == -1)
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot run the password command: %s", strerror(errno));
	c->tty = foreground_tty();
	c->pid = fork();
	if (c->pid == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		if (c->tty != -1)
			close(c->tty);
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot run the password command: %s", strerror(e));
	}
	if (c->pid == 0)
		exec_child(cmd, p[1], c->tty);
	/* Both sides set the group, so that neither waits for the other. */
	setpgid(c->pid, c->pid);
	if (c->tty != -1)
		give_tty(c->tty, c->pid);
	close(p[1]);
	c->fd = p[0];
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	c->pidfd = pidfd_open(c->pid, 0);
	return 0;
}

int
secret_command(const char *cmd, int timeout_ms, char **out, struct err *rec)
{
	struct cmd_run c;
	int rc = -1;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if ((c.buf = calloc(1, SECRET_COMMAND_MAX + 1)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	c.deadline = now_ms() + timeout_ms;
	if (start(&c, cmd, rec) == 0) {
		collect(&c);
		rc = judge(&c, timeout_ms, rec);
		finish(&c, rc == 0);
		if (rc == 0)
			rc = first_line(&c, rec);
	}
	if (rc == 0)
		*out = c.buf;
	else {
		secret_wipe(c.buf, SECRET_COMMAND_MAX + 1);
		free(c.buf);
	}
	return rc;
}

/* Read one line from fd into buf (size SECRET_COMMAND_MAX + 1), without
 * its line end.  Returns its length, or -1 at EOF before any byte, -2
 * when it is too long, -3 on a read error. */
static ssize_t
read_line(int fd, char *buf)
{
	size_t n = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(fd, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -3;
		if (r == 0 || c == '\n')
			break;
		if (n == SECRET_COMMAND_MAX)
			return -2;
		buf[n++] = c;
	}
	if (r == 0 && n == 0)
		return -1;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return (ssize_t)n;
}

/* One line read into a fresh buffer, checked as a password. */
static int
ask_line(int fd, char **out, struct err *rec)
{
	char *buf = calloc(1, SECRET_COMMAND_MAX + 1);
	ssize_t n, i;
	int rc = 0;

	*out = NULL;
	if (buf == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	n = read_line(fd, buf);
	if (n == -1)
		rc = err_set(rec, ERR_USAGE, EX_NOINPUT,
		    "no password given (type it, or give it on standard input)");
	else if (n == -2)
		rc = err_set(rec, ERR_USAGE, EX_DATAERR,
		    "the password is longer than %d KiB",
		    SECRET_COMMAND_MAX / 1024);
	else if (n == -3)
		rc = err_set(rec, ERR_LOCAL, EX_IOERR,
		    "cannot read the password: %s", strerror(errno));
	else if (n == 0)
		rc = err_set(rec, ERR_USAGE, EX_DATAERR,
		    "the password is empty (nothing was stored)");
	for (i = 0; rc == 0 && i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			rc = err_set(rec, ERR_USAGE, EX_DATAERR,
			    "the password holds a control character (a tab or other control key cannot be sent)");
	if (rc == 0)
		*out = buf;
	else {
		secret_wipe(buf, SECRET_COMMAND_MAX + 1);
		free(buf);
	}
	return rc;
}

/* The terminal's settings while echo is off, for the signal handler. */
static struct termios tty_saved;
static volatile sig_atomic_t tty_fd = -1;

static void
tty_restore(int sig)
{
	if (tty_fd != -1)
		tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Ask on the terminal, echo off, twice; the two must agree. */
static int
ask_tty(int tty, const char *prompt, char **out, struct err *rec)
{
	static const char again[] = "Again: ";
	struct termios quiet;
	char *second = NULL;
	int rc;

	if (tcgetattr(tty, &tty_saved) == -1)
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "cannot turn off echo on the terminal: %s",
		    strerror(errno));
	quiet = tty_saved;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	tty_fd = tty;
	signal(SIGINT, tty_restore);
	signal(SIGTERM, tty_restore);
	signal(SIGHUP, tty_restore);
	tcsetattr(tty, TCSAFLUSH, &quiet);
	(void)!write(tty, prompt, strlen(prompt));
	rc = ask_line(tty, out, rec);
	if (rc == 0) {
		(void)!write(tty, again, sizeof(again) - 1);
		rc = ask_line(tty, &second, rec);
	}
	tcsetattr(tty, TCSAFLUSH, &tty_saved);
	tty_fd = -1;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (rc == 0 && strcmp(*out, second) != 0)
		rc = err_set(rec, ERR_USAGE, EX_DATAERR,
		    "the two passwords differ (nothing was stored)");
	secret_free(second);
	if (rc == -1) {
		secret_free(*out);
		*out = NULL;
	}
	return rc;
}

int
secret_ask(const char *prompt, char **out, struct err *rec)
{
	int tty, rc;

	*out = NULL;
	if (!isatty(STDIN_FILENO))
		return ask_line(STDIN_FILENO, out, rec);
	tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (tty == -1)
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "cannot open the terminal: %s", strerror(errno));
	rc = ask_tty(tty, prompt, out, rec);
	close(tty);
	return rc;
}
