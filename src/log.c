/* SPDX-License-Identifier: ISC */
/*
 * Logging: the one syslog line each message gets, in key=value fields of
 * a fixed order, and the -v transcript on stderr.  Everything that came
 * from the network or the input is sanitised on the way out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static int trace_fd = -1;

void
log_open(void)
{
	openlog("mailhop", LOG_PID, LOG_MAIL);
}

/* Does value need quotes to stay one field? */
static int
needs_quotes(const char *v)
{
	return v[0] == '\0' || strpbrk(v, " \t\"=\\") != NULL;
}

/* Append key=value to buf at *off, sanitised and quoted as needed. */
static void
put_field(char *buf, size_t sz, size_t *off, const char *key, const char *v)
{
	char clean[ERR_REPLY_MAX];
	const char *p;
	size_t o = *off;

	if (v == NULL || v[0] == '\0')
		v = "-";
	err_sanitize(clean, sizeof(clean), v, strlen(v));
	if (o + 1 < sz && o > 0)
		buf[o++] = ' ';
	o += snprintf(buf + o, o < sz ? sz - o : 0, "%s=", key);
	if (!needs_quotes(clean)) {
		o += snprintf(buf + o, o < sz ? sz - o : 0, "%s", clean);
		*off = o < sz ? o : sz - 1;
		return;
	}
	if (o + 1 < sz)
		buf[o++] = '"';
	for (p = clean; *p != '\0' && o + 2 < sz; p++) {
		if (*p == '"' || *p == '\\')
			buf[o++] = '\\';
		buf[o++] = *p;
	}
	if (o + 1 < sz)
		buf[o++] = '"';
	buf[o < sz ? o : sz - 1] = '\0';
	*off = o < sz ? o : sz - 1;
}

size_t
log_format(const struct log_rec *rec, char *buf, size_t sz)
{
	char num[32];
	size_t off = 0;

	if (sz == 0)
		return 0;
	buf[0] = '\0';
	put_field(buf, sz, &off, "msgid", rec->msgid);
	put_field(buf, sz, &off, "account", rec->account);
	put_field(buf, sz, &off, "host", rec->host);
	put_field(buf, sz, &off, "tls", rec->tls);
	put_field(buf, sz, &off, "auth", rec->auth);
	snprintf(num, sizeof(num), "%lld", rec->uid);
	put_field(buf, sz, &off, "uid", rec->uid >= 0 ? num : NULL);
	put_field(buf, sz, &off, "from", rec->from);
	put_field(buf, sz, &off, "rcpt", rec->rcpt);
	snprintf(num, sizeof(num), "%lld", rec->size);
	put_field(buf, sz, &off, "size", num);
	if (rec->dsn != NULL)
		put_field(buf, sz, &off, "dsn", rec->dsn);
	if (rec->queue != NULL)
		put_field(buf, sz, &off, "queue", rec->queue);
	put_field(buf, sz, &off, "status", rec->status);
	put_field(buf, sz, &off, "reply", rec->reply);
	snprintf(num, sizeof(num), "%d", rec->exit);
	put_field(buf, sz, &off, "exit", num);
	return off;
}

void
log_message(const struct log_rec *rec)
{
	char line[2048];
	int prio = LOG_ERR;

	log_format(rec, line, sizeof(line));
	if (rec->status != NULL &&
	    (strcmp(rec->status, "sent") == 0 ||
		strcmp(rec->status, "queued") == 0))
		prio = LOG_INFO;
	else if (rec->status != NULL && strcmp(rec->status, "deferred") == 0)
		prio = LOG_NOTICE;
	syslog(prio, "%s", line);
}

void
log_trace_enable(int fd)
{
	trace_fd = fd;
}

int
log_trace_enabled(void)
{
	return trace_fd >= 0;
}

void
log_trace(char dir, const char *line, size_t len)
{
	log_trace_note(dir, line, len, NULL);
}

void
log_trace_note(char dir, const char *line, size_t len, const char *note)
{
	char clean[ERR_TEXT_MAX * 9];

	if (trace_fd < 0)
		return;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	err_sanitize(clean, sizeof(clean), line, len);
	dprintf(trace_fd, "%s %s%s%s%s\n", dir == '<' ? "<--" : "-->", clean,
	    note != NULL ? "  [" : "", note != NULL ? note : "",
	    note != NULL ? "]" : "");
}

void
log_tracef(const char *fmt, ...)
{
	char buf[1024], clean[1024];
	va_list ap;

	if (trace_fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	err_sanitize(clean, sizeof(clean), buf, strlen(buf));
	dprintf(trace_fd, "--- %s\n", clean);
}
