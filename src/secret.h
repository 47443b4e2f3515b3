/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_SECRET_H
#define MAILHOP_SECRET_H

#include <stddef.h>

/* Overwrite n bytes at p with zeros in a way the compiler keeps. */
void secret_wipe(void *p, size_t n);

/* Wipe the string s (to its NUL) and free it; NULL is fine. */
void secret_free(char *s);

/* Turn off core dumps for the rest of the process (RLIMIT_CORE 0,
 * PR_SET_DUMPABLE 0), before any secret is read. */
void secret_protect_process(void);

#endif
