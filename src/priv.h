/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_PRIV_H
#define MAILHOP_PRIV_H

#include <sys/types.h>

#include "conf.h"
#include "err.h"

/* System mode (mailhop(1) SYSTEM MODE, S36): the privilege of a
 * set-group-id install (2755 root:mailhop) serves only to read the system
 * file, 0640 root:mailhop, and to reach the system queue. */

/* Called once, after the command line is parsed and before anything is
 * read.  Unprivileged (egid and euid equal the real ids): does nothing.
 * Privileged: refuses config (-C, a file to read) with EX_NOPERM; for a
 * user with a configuration of their own (~/.config/mailhop/config, home
 * from the password database, never from the environment) gives up the
 * privilege for good and returns, the run then being an ordinary one;
 * otherwise (system mode) replaces the environment with PATH and HOME
 * (from the password database), reads the system file as use says
 * (conf_system_preload), starts the queue keeper unless euid is 0, and
 * gives up the privilege for good, checking that it cannot come back.
 * Returns 0, or -1 with rec filled (EX_NOPERM, EX_CONFIG, EX_OSERR).
 * After it returns the process holds no privilege. */
int priv_init(const char *config, enum conf_system_use use, struct err *rec);

/* Whether this run is in system mode: it reads the system file alone and
 * uses the system queue. */
int priv_system(void);

/* In system mode, the set-group-id group the process started with (and
 * has given up). */
gid_t priv_group(void);

#endif
