/* SPDX-License-Identifier: ISC */
/* Internal to the configuration module: the files, for conf.c. */
#ifndef MAILHOP_CONFFILE_H
#define MAILHOP_CONFFILE_H

#include <confuse.h>

#include "err.h"

/* One configuration file. */
struct cfile {
	char *path;
	int system;	  /* root may own it */
	cfg_t *cfg;	  /* NULL: absent, not opened, or not parsed */
	int open_errno;	  /* why the system file could not be opened */
	int has_password; /* some account in it sets password */
};

/* The user file (or the -C file) and the system file. */
struct files {
	struct cfile f[2];
	int n;
};

/*
 * Load into fs (zeroed by the caller) the -C file when file is not NULL,
 * which must be there; else the user file and SYSCONFDIR/mailhop.conf,
 * or in system mode that file alone, as conf_system_preload read it.
 * Each is parsed (confparse_buf) and its owner and mode checked on the
 * descriptor read (through a symbolic link, the file it leads to): owned
 * by the caller (euid) or root and not writable by its group or others;
 * when it holds a password, also the caller's (the system file: root's)
 * and unreadable by others (S32).  A file that is not there is left out; a
 * system file that cannot be opened keeps why in open_errno
 * (conffile_system_unreadable).  Returns 0, or -1 with rec filled:
 * ERR_CONFIG, EX_CONFIG, also when no file is there at all; ERR_LOCAL,
 * EX_OSERR when out of memory.  The caller frees fs with
 * conffile_free_files either way.
 */
int conffile_load_files(struct files *fs, const char *file, struct err *rec);

/* Fill rec (ERR_CONFIG, EX_CONFIG) with why the system file of fs could
 * not be opened, and what to do, for the account name (-a) or, for NULL,
 * the user file's default_account. */
void conffile_system_unreadable(
    struct files *fs, const char *name, struct err *rec);

/* Free the trees and paths in fs, not fs. */
void conffile_free_files(struct files *fs);

#endif
