/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SECRET_H
#define MAILHOP_SECRET_H

#include <stddef.h>

#include "err.h"

/* The most a password command may print (an OAuth token fits). */
#define SECRET_COMMAND_MAX (16 * 1024)
/* How long a password command may take, in ms. */
#define SECRET_COMMAND_TIMEOUT (30 * 1000)

/* Overwrite n bytes at p with zeros in a way the compiler keeps. */
void secret_wipe(void *p, size_t n);

/* Wipe the string s (to its NUL) and free it; NULL is fine. */
void secret_free(char *s);

/* The length of the n bytes at s without one line end at their end (LF,
 * or CR LF), as a password stored with its newline (secret-tool store
 * ... <<< pw) keeps it.  Only one goes: what is left may still hold a
 * line end, which the caller's check refuses. */
size_t secret_chomp(const char *s, size_t n);

/* Turn off core dumps for the rest of the process (RLIMIT_CORE 0,
 * PR_SET_DUMPABLE 0), before any secret is read. */
void secret_protect_process(void);

/* Run cmd with /bin/sh -c in a process group of its own (given the
 * terminal when ours has it), stdin from /dev/null, stderr ours, with the
 * real uid and gid (S33); read what it prints, at most
 * SECRET_COMMAND_MAX bytes (one more ends the run at once), until the
 * shell has exited with a complete first line or EOF.  Blocks up to
 * timeout_ms.  On failure its whole process group is killed.
 * Returns 0 with *out set to the first line without its line end
 * (malloc'ed; release with secret_free), or -1 with rec filled
 * (ERR_CONFIG, EX_CONFIG: timed out, exit status not 0, killed, output
 * too long, empty, or a control character; ERR_LOCAL, EX_OSERR: cannot
 * start it).  The output never appears in rec. */
int secret_command(
    const char *cmd, int timeout_ms, char **out, struct err *rec);

/* Ask for a password: when standard input is a terminal, on /dev/tty
 * with prompt, echo off, twice (the two must agree; the terminal is
 * restored, also on SIGINT, SIGTERM and SIGHUP); otherwise the first
 * line of standard input, without its line end.  Blocks.  Returns 0
 * with *out malloc'ed (release with secret_free), or -1 with rec
 * filled: EX_NOINPUT at end of input, EX_DATAERR when empty, over
 * SECRET_COMMAND_MAX, with a control character or the two differ,
 * EX_IOERR when the terminal fails.  Never shows the password. */
int secret_ask(const char *prompt, char **out, struct err *rec);

#endif
