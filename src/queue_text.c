/* SPDX-License-Identifier: ISC */
/*
 * The queue's text and arithmetic, without files: checking, writing and
 * strictly parsing the envelope whose format queue.c describes (anything
 * unexpected makes the message corrupt: reported, never sent), the mailq
 * listing, the retry schedule and where the queue lives.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "queue.h"

#define MAGIC "mailhop-queue"
/* Format 2 added the uid line.  An envelope of format 1 (mailhop before
 * it) is still read, its submitter unknown (uid -1), and is written back
 * as format 1, so that it stays readable to the mailhop that wrote it. */
#define VERSION "2"
#define VERSION_NO_UID "1"

long long
queue_backoff(unsigned attempts, uint32_t rnd)
{
	long long base = QUEUE_DELAY_FIRST;
	long long low, span;

	if (attempts == 0)
		return 0;
	while (--attempts > 0 && base < QUEUE_DELAY_MAX)
		base *= 2;
	if (base > QUEUE_DELAY_MAX)
		base = QUEUE_DELAY_MAX;
	low = base * (100 - QUEUE_JITTER_PCT) / 100;
	span = base * 2 * QUEUE_JITTER_PCT / 100;
	return low + (long long)(((unsigned long long)span * rnd) >> 32);
}

int
queue_default_dir(char *buf, size_t sz, int system)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (system)
		n = snprintf(buf, sz, "%s", SPOOLDIR);
	else if (state != NULL && state[0] == '/')
		n = snprintf(buf, sz, "%s/mailhop/queue", state);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, sz, "%s/.local/state/mailhop/queue", home);
	else
		return -1;
	return n < 0 || (size_t)n >= sz ? -1 : 0;
}

static int
clean_text(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int
queue_text_check(
    const struct queue_env *env, struct queue_entry *e, struct err *rec)
{
	size_t i;

	memset(e, 0, sizeof(*e));
	e->account = env->account;
	e->sender = env->sender != NULL ? env->sender : "";
	e->rcpt = env->rcpt;
	e->nrcpt = env->nrcpt;
	e->msgid = env->msgid != NULL ? env->msgid : "";
	e->params = env->params != NULL ? env->params : "";
	e->uid = -1; /* the writer's (put_in) */
	if (e->account == NULL || e->account[0] == '\0' ||
	    !clean_text(e->account) || !clean_text(e->sender) ||
	    !clean_text(e->msgid) || !clean_text(e->params))
		return err_set(rec, ERR_USAGE, EX_SOFTWARE,
		    "queue: an envelope field is empty or holds a control character");
	if (e->nrcpt == 0 || e->nrcpt > QUEUE_RCPT_MAX)
		return err_set(rec, ERR_USAGE, EX_SOFTWARE,
		    "queue: %zu recipients (1 to %d can be queued)", e->nrcpt,
		    QUEUE_RCPT_MAX);
	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i] == NULL || e->rcpt[i][0] == '\0' ||
		    !clean_text(e->rcpt[i]))
			return err_set(rec, ERR_USAGE, EX_SOFTWARE,
			    "queue: recipient %zu is empty or holds a control character",
			    i + 1);
	return 0;
}

static void
put_field(FILE *f, const char *key, const char *value)
{
	if (value == NULL || value[0] == '\0')
		fprintf(f, "%s\n", key);
	else
		fprintf(f, "%s %s\n", key, value);
}

int
queue_text_format(const struct queue_entry *e, char **text, size_t *len)
{
	FILE *f;
	size_t i;

	*text = NULL;
	if ((f = open_memstream(text, len)) == NULL)
		return -1;
	fprintf(f, "%s %s\n", MAGIC, e->uid >= 0 ? VERSION : VERSION_NO_UID);
	put_field(f, "account", e->account);
	put_field(f, "sender", e->sender);
	if (e->uid >= 0)
		fprintf(f, "uid %lld\n", e->uid);
	fprintf(f, "created %lld\nattempts %u\nnext-try %lld\nsize %lld\n",
	    e->created, e->attempts, e->next_try, e->size);
	put_field(f, "last-error", e->last_error);
	put_field(f, "msgid", e->msgid);
	put_field(f, "params", e->params);
	for (i = 0; i < e->nrcpt; i++)
		put_field(f, "rcpt", e->rcpt[i]);
	fputs("end\n", f);
	if (ferror(f)) {
		fclose(f);
		free(*text);
		*text = NULL;
		return -1;
	}
	if (fclose(f) != 0) {
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

static int bad(struct queue_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
bad(struct queue_text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return -1;
}

/* The next line at *p, cut at its "\n"; NULL at the end of the text or
 * when the last line has no "\n" (a file cut short). */
static char *
next_line(char **p)
{
	char *line = *p, *nl = strchr(line, '\n');

	if (nl == NULL)
		return NULL;
	*nl = '\0';
	*p = nl + 1;
	return line;
}

/* The value of the next line, which must be key with or without a
 * value; NULL with t->why set otherwise. */
static char *
field(struct queue_text *t, char **p, const char *key)
{
	size_t klen = strlen(key);
	char *line = next_line(p);

	if (line == NULL) {
		bad(t, "envelope ends before its %s line", key);
		return NULL;
	}
	if (strncmp(line, key, klen) != 0 ||
	    (line[klen] != '\0' && line[klen] != ' ')) {
		bad(t, "envelope has \"%.40s\" where %s belongs", line, key);
		return NULL;
	}
	return line[klen] == ' ' ? line + klen + 1 : line + klen;
}

/* A decimal number field: digits only, at most 18 of them. */
static int
number(struct queue_text *t, char **p, const char *key, long long *out)
{
	const char *v = field(t, p, key);
	size_t len;

	if (v == NULL)
		return -1;
	len = strspn(v, "0123456789");
	if (len == 0 || len > 18 || v[len] != '\0')
		return bad(
		    t, "envelope: %s is not a number: \"%.40s\"", key, v);
	*out = strtoll(v, NULL, 10);
	return 0;
}

static int
parse_head(struct queue_text *t, char **p)
{
	struct queue_entry *e = &t->e;
	const char *v;
	long long attempts;

	if ((v = field(t, p, MAGIC)) == NULL)
		return -1;
	if (strcmp(v, VERSION) != 0 && strcmp(v, VERSION_NO_UID) != 0)
		return bad(
		    t, "envelope format version \"%.20s\" is unknown", v);
	e->uid = -1;
	if ((e->account = field(t, p, "account")) == NULL ||
	    (e->sender = field(t, p, "sender")) == NULL ||
	    (strcmp(v, VERSION) == 0 && number(t, p, "uid", &e->uid) == -1) ||
	    number(t, p, "created", &e->created) == -1 ||
	    number(t, p, "attempts", &attempts) == -1 ||
	    number(t, p, "next-try", &e->next_try) == -1 ||
	    number(t, p, "size", &e->size) == -1 ||
	    (e->last_error = field(t, p, "last-error")) == NULL ||
	    (e->msgid = field(t, p, "msgid")) == NULL ||
	    (e->params = field(t, p, "params")) == NULL)
		return -1;
	if (e->account[0] == '\0')
		return bad(t, "envelope: the account is empty");
	if (attempts > UINT_MAX)
		return bad(t, "envelope: attempts is out of range");
	if (e->uid >= UINT_MAX) /* (uid_t)-1 is no one's */
		return bad(t, "envelope: uid is out of range");
	e->attempts = (unsigned)attempts;
	return 0;
}

/* rcpt lines up to "end", which must end the file. */
static int
parse_rcpts(struct queue_text *t, char **p, const char *end)
{
	const char **v;
	size_t cap = 0;
	char *line;

	for (;;) {
		if ((line = next_line(p)) == NULL)
			return bad(t, "envelope ends before its end line");
		if (strcmp(line, "end") == 0)
			break;
		if (strncmp(line, "rcpt ", 5) != 0 || line[5] == '\0')
			return bad(t,
			    "envelope has \"%.40s\" where rcpt or end belongs",
			    line);
		if (t->e.nrcpt == QUEUE_RCPT_MAX)
			return bad(t, "envelope has over %d recipients",
			    QUEUE_RCPT_MAX);
		if (t->e.nrcpt == cap) {
			cap = cap ? cap * 2 : 8;
			if ((v = realloc(t->rcpt, cap * sizeof(*v))) == NULL)
				return bad(t, "out of memory");
			t->rcpt = v;
		}
		t->rcpt[t->e.nrcpt++] = line + 5;
	}
	if (*p != end)
		return bad(t, "envelope goes on after its end line");
	if (t->e.nrcpt == 0)
		return bad(t, "envelope has no recipient");
	t->e.rcpt = t->rcpt;
	return 0;
}

int
queue_text_parse(struct queue_text *t, char *buf, size_t len)
{
	size_t i;
	char *p = buf;

	memset(t, 0, sizeof(*t));
	t->buf = buf;
	buf[len] = '\0';
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < 0x20 && c != '\n') || c == 0x7f)
			return bad(t,
			    "envelope has control byte 0x%02x at offset %zu", c,
			    i);
	}
	if (parse_head(t, &p) == -1 || parse_rcpts(t, &p, buf + len) == -1)
		return -1;
	return 0;
}

void
queue_text_free(struct queue_text *t)
{
	free(t->buf);
	free(t->rcpt);
	memset(t, 0, sizeof(*t));
}

/* The listing: totals and whether the header was written. */
struct printer {
	FILE *f;
	long long now;
	long long bytes;
	size_t count;
	size_t failed;
};

static void
when(char *buf, size_t sz, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, sz, "%a %b %e %H:%M:%S", &tm) == 0)
		snprintf(buf, sz, "%lld", t);
}

void
queue_text_age(char *buf, size_t sz, long long secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 60)
		snprintf(buf, sz, "%llds", secs);
	else if (secs < 3600)
		snprintf(buf, sz, "%lldm", secs / 60);
	else if (secs < 86400)
		snprintf(
		    buf, sz, "%lldh%02lldm", secs / 3600, secs % 3600 / 60);
	else
		snprintf(
		    buf, sz, "%lldd%02lldh", secs / 86400, secs % 86400 / 3600);
}

/* The state line: account, submitter, then attempts and next try, or
 * why the message is in failed/. */
static void
print_state(FILE *f, const struct queue_entry *e, long long now)
{
	long long wait = e->next_try - now;
	const char *sep = e->last_error[0] != '\0' ? ": " : "";
	char uid[32];

	if (e->uid >= 0)
		snprintf(uid, sizeof(uid), "uid %lld", e->uid);
	else
		snprintf(uid, sizeof(uid), "uid unknown");
	if (e->failed &&
	    strncmp(e->last_error, QUEUE_EXPIRED, strlen(QUEUE_EXPIRED)) == 0) {
		fprintf(f, "  (account %s, %s: %s)\n", e->account, uid,
		    e->last_error);
		return;
	}
	if (e->failed) {
		fprintf(f, "  (failed, account %s, %s: %s)\n", e->account, uid,
		    e->last_error[0] ? e->last_error : "no reason kept");
		return;
	}
	fprintf(f, "  (account %s, %s, %u attempt%s, next try ", e->account,
	    uid, e->attempts, e->attempts == 1 ? "" : "s");
	if (wait <= 0)
		fprintf(f, "now%s%s)\n", sep, e->last_error);
	else
		fprintf(f, "in %lld min%s%s)\n", (wait + 59) / 60, sep,
		    e->last_error);
}

static int
print_entry(const struct queue_entry *e, void *arg)
{
	struct printer *pr = arg;
	char date[64], age[32];
	size_t i;

	if (pr->count++ == 0)
		fprintf(pr->f, "%-24s %8s %6s %-20s %s\n", "-Queue ID-",
		    "--Size--", "-Age--", "----Arrival Time----",
		    "-Sender/Recipient-------");
	if (e->bad != NULL) {
		fprintf(pr->f, "%-24s  (unreadable: %s)\n\n", e->id, e->bad);
		return 0;
	}
	pr->bytes += e->size;
	pr->failed += e->failed != 0;
	when(date, sizeof(date), e->created);
	queue_text_age(age, sizeof(age), pr->now - e->created);
	fprintf(pr->f, "%-23s%c %8lld %6s %-20s %s\n", e->id,
	    e->failed ? '!' : ' ', e->size, age, date,
	    e->sender[0] ? e->sender : "<>");
	print_state(pr->f, e, pr->now);
	for (i = 0; i < e->nrcpt; i++)
		fprintf(pr->f, "%62s%s\n", "", e->rcpt[i]);
	fputc('\n', pr->f);
	return 0;
}

int
queue_print(struct queue *q, FILE *f, long long now, struct err *rec)
{
	struct printer pr = { f, now, 0, 0, 0 };

	if (queue_list(q, print_entry, &pr, rec) == -1)
		return -1;
	if (pr.count == 0)
		fputs("mail queue is empty\n", f);
	else if (pr.failed == 0)
		fprintf(f, "-- %lld Kbytes in %zu Request%s.\n",
		    (pr.bytes + 1023) / 1024, pr.count,
		    pr.count == 1 ? "" : "s");
	else
		fprintf(f, "-- %lld Kbytes in %zu Request%s, %zu failed.\n",
		    (pr.bytes + 1023) / 1024, pr.count,
		    pr.count == 1 ? "" : "s", pr.failed);
	if (fflush(f) != 0 || ferror(f))
		return err_set(rec, ERR_LOCAL, EX_IOERR,
		    "queue: cannot write the listing: %s", strerror(errno));
	return 0;
}
