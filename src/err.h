/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_ERR_H
#define MAILHOP_ERR_H

#include <stddef.h>

/* What kind of failure an error record describes; main.c, send.c and
 * flush.c turn it into an outcome (delivered, queued, refused) and an
 * exit code. */
enum err_class {
	ERR_NONE = 0,
	ERR_TEMP,   /* 4xx, timeout, lost connection: may succeed later */
	ERR_PERM,   /* 5xx or a refusal that retrying cannot change */
	ERR_LOCAL,  /* a failure on this machine (file, memory, fork) */
	ERR_CONFIG, /* the configuration is wrong */
	ERR_USAGE   /* the command line or input is wrong */
};

#define ERR_TEXT_MAX 512
#define ERR_REPLY_MAX 512

/* The error record every module fills.  text is one line without the
 * "mailhop: " prefix; reply holds the server's sanitised reply, or "". */
struct err {
	enum err_class class;
	int code; /* sysexits.h value */
	char text[ERR_TEXT_MAX];
	char reply[ERR_REPLY_MAX];
};

/* Clear rec to "no error". */
void err_clear(struct err *rec);

/* Fill rec with class, exit code and a printf-style text; returns -1 so a
 * caller can write `return err_set(...)`.  Never fails. */
int err_set(struct err *rec, enum err_class cls, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Store a server reply (len bytes, not NUL-terminated) sanitised into
 * rec->reply. */
void err_reply(struct err *rec, const char *reply, size_t len);

/* Copy len bytes of untrusted text into dst (size dstsz, always
 * terminated): control bytes, DEL, invalid UTF-8, and the UTF-8 of the C1
 * controls, the bidirectional controls and the line and paragraph
 * separators become \xHH, byte by byte; text that does not fit is cut
 * and ends in "...".  Returns strlen(dst). */
size_t err_sanitize(char *dst, size_t dstsz, const char *src, size_t len);

/* Name of a sysexits code ("EX_TEMPFAIL"), or "EX_UNKNOWN". */
const char *err_exit_name(int code);

#endif
