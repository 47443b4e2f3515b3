/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_LOG_H
#define MAILHOP_LOG_H

#include <stddef.h>

/* One outcome of one message: the fields of its syslog line.  NULL or
 * empty strings are written as "-". */
struct log_rec {
	const char *msgid; /* Message-ID without <> */
	const char *account;
	const char *host;
	const char *tls;    /* "TLS1.3", or "none" */
	const char *auth;   /* mechanism, or "none" */
	long long uid;	    /* real uid of the submitter; -1: unknown */
	const char *from;   /* envelope sender */
	const char *rcpt;   /* envelope recipients, comma-separated */
	long long size;	    /* bytes of the message as sent */
	const char *dsn;    /* "dropped" when -N/-R/-V went unsent, or NULL */
	const char *status; /* sent, queued, deferred, expired, refused,
			     * failed (a local failure) */
	const char *reply;  /* the server's last reply, or the error */
	int exit;	    /* exit code */
	const char *queue;  /* the id of the copy a send kept, or NULL */
};

/* Open syslog: ident mailhop, LOG_PID, facility LOG_MAIL. */
void log_open(void);

/* Format rec as key=value fields in a fixed order into buf (size sz); the
 * dsn and queue fields appear only when set, between size and status;
 * values with spaces, quotes or '=' are quoted with "" and \-escapes; all
 * values are sanitised.  Returns the length, truncated to sz - 1. */
size_t log_format(const struct log_rec *rec, char *buf, size_t sz);

/* Send rec to syslog at LOG_INFO (sent, queued), LOG_NOTICE (deferred) or
 * LOG_ERR (anything else). */
void log_message(const struct log_rec *rec);

/* Turn on the -v transcript to fd (stderr).  Off by default. */
void log_trace_enable(int fd);
int log_trace_enabled(void);

/* Write one protocol line to the transcript, prefixed "<-- " (dir '<',
 * from the server) or "--> " (dir '>', to the server).  The line is
 * sanitised; a trailing CRLF is dropped.  No-op when tracing is off. */
void log_trace(char dir, const char *line, size_t len);

/* The same with note (not sanitised, ours) after the line, as
 * "  [note]": for server lines read before TLS, which anyone on the path
 * could have written (security.md S09). */
void log_trace_note(char dir, const char *line, size_t len, const char *note);

/* Write a free-form note ("TLS1.3 established ...") to the transcript. */
void log_tracef(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
