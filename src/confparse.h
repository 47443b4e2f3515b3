/* SPDX-License-Identifier: ISC */
/* Internal to the configuration module: the language, for conf.c. */
#ifndef MAILHOP_CONFPARSE_H
#define MAILHOP_CONFPARSE_H

#include <stddef.h>
#include <confuse.h>

#include "conf.h"
#include "err.h"

/* Longest value quoted back in a message, terminator included. */
#define CONFPARSE_SHOW_MAX 40

/* Parse the text of one configuration file (len bytes at buf; path only
 * names it in messages).  Comments in buf are overwritten with spaces.
 * *has_password tells whether some account sets password, also on
 * failure.  Returns the tree, which the caller frees with confparse_free;
 * or NULL with rec filled: ERR_CONFIG, EX_CONFIG and "PATH:LINE: KEY:
 * problem (fix)" that never shows a value that may be a secret, or
 * ERR_LOCAL, EX_OSERR when out of memory.  One parse at a time: libconfuse
 * keeps its lexer in globals. */
cfg_t *confparse_buf(const char *path, char *buf, size_t len, int *has_password,
    struct err *rec);

/* The line where key was set in sec (an account block, or the root for
 * "default_account"); for key NULL, the line of the block's "{".  0 when
 * not set or not a key of that block. */
int confparse_key_line(cfg_t *sec, const char *key);

/* Longest value shown by confparse_settings, terminator included. */
#define CONFPARSE_VALUE_MAX 512

/* Every account key of sec, in the order of the key table, with its
 * value as it would be written (lists in { }, a password as
 * "(set, hidden)", NULL when the key has no value), where it came from
 * and the line.  Returns 0 with *v (*n entries, free each value and the
 * array) or -1 when out of memory, *v still to be freed. */
int confparse_settings(cfg_t *sec, struct conf_setting **v, size_t *n);

/* Wipe the passwords in cfg (libconfuse frees its strings unwiped), then
 * free it.  NULL is fine. */
void confparse_free(cfg_t *cfg);

/* Fill rec (ERR_CONFIG, EX_CONFIG) with "path:line: text", "path: text"
 * for line 0, or the text alone for path NULL.  Returns -1. */
int confparse_fail(struct err *rec, const char *path, int line, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* s made safe to quote in a message into buf of size bytes: control
 * bytes escaped, cut to size.  Returns buf. */
const char *confparse_show(char *buf, size_t size, const char *s);

#endif
