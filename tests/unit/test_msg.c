/* SPDX-License-Identifier: ISC */
/* Unit tests for msg.c: the cases of tests/data/msg_cases.txt (input
 * bytes, expected spool bytes, recipients, From, Message-ID, errors), the
 * line-end normaliser at every split point, and the large inputs that a
 * table cannot hold (a 2 MiB field, a 50 MB body through a pipe, 20 MB of
 * long lines re-encoded). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "msg.h"

#define CASES "../data/msg_cases.txt"
#define NOW 1796312143 /* Thu, 03 Dec 2026 15:35:43 UTC */
#define NOW_UTC "20261203153543"
#define DOMAIN "example.net"
#define SENDER "sender@example.com"
#define DEFAULT_TZ "CET-1"
#define MAX_LIST 16

struct buf {
	char *p;
	size_t len, cap;
};

struct mcase {
	char name[80];
	int lineno;
	struct buf in, out;
	int extract, nofrom, offset, chunk, marker;
	char from[128], tz[32];
	char *rcpt[MAX_LIST], *mfrom[MAX_LIST], *msender[MAX_LIST];
	int nrcpt, nmfrom, nmsender;
	char *rfrom[MAX_LIST], *rsender[MAX_LIST];
	int nrfrom, nrsender;
	char unparsed[32]; /* "": not checked; "none": NULL */
	char msgid[256];   /* "" = generated */
	int eightbit;
	char fullname[2048];
	int rewrite, flags, from_added, resent, utf8_header, qp;
	int code; /* expected error code, 0 = success */
	char errtext[ERR_TEXT_MAX];
};

/* Copy src into dst (size sz), cut to fit. */
static void
copy(char *dst, size_t sz, const char *src)
{
	size_t n = strlen(src) < sz - 1 ? strlen(src) : sz - 1;

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* Append s with \r \n \t \0 \\ \xHH decoded. */
static void
buf_unescape(struct buf *b, const char *s)
{
	char c, hex[3] = { 0 };

	for (; *s != '\0'; s++) {
		c = *s;
		if (c == '\\' && s[1] != '\0') {
			c = *++s;
			if (c == 'r')
				c = '\r';
			else if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c == '0')
				c = '\0';
			else if (c == 'x' && s[1] != '\0' && s[2] != '\0') {
				memcpy(hex, s + 1, 2);
				c = (char)strtol(hex, NULL, 16);
				s += 2;
			}
		}
		buf_add(b, &c, 1);
	}
}

/* Show bytes with line ends and control bytes visible, for reports. */
static void
show(const char *label, const char *p, size_t n)
{
	size_t i;

	print_error("  %s (%zu bytes): ", label, n);
	for (i = 0; i < n && i < 4000; i++) {
		if (p[i] == '\r')
			print_error("\\r");
		else if (p[i] == '\n')
			print_error("\\n\n    ");
		else if ((unsigned char)p[i] < 0x20)
			print_error("\\x%02x", (unsigned char)p[i]);
		else
			print_error("%c", p[i]);
	}
	print_error("%s\n", i < n ? "..." : "");
}

static void
expected_date(char *buf, size_t sz)
{
	time_t t = NOW;
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* "added [date] [msgid] [from]": the fields msg_read adds, in its order;
 * the generated id is the byte \x01 until the case runs. */
static void
add_expected(struct mcase *c, const char *what)
{
	char date[64];
	int all = what[0] == '\0';

	if (all || strstr(what, "date") != NULL) {
		expected_date(date, sizeof(date));
		buf_adds(&c->out, "Date: ");
		buf_adds(&c->out, date);
		buf_adds(&c->out, "\r\n");
	}
	if (all || strstr(what, "msgid") != NULL) {
		buf_adds(&c->out, "Message-ID: <\x01>\r\n");
		c->marker = 1;
	}
	if (all || strstr(what, "from") != NULL) {
		buf_adds(&c->out, "From: ");
		buf_adds(&c->out, c->from);
		buf_adds(&c->out, "\r\n");
	}
}

static void
set_opts(struct mcase *c, char *words)
{
	char *w;

	for (w = strtok(words, " "); w != NULL; w = strtok(NULL, " ")) {
		if (strcmp(w, "extract") == 0)
			c->extract = 1;
		else if (strcmp(w, "nofrom") == 0)
			c->nofrom = 1;
		else if (strcmp(w, "offset") == 0)
			c->offset = 1;
		else if (strcmp(w, "rewrite") == 0)
			c->rewrite = 1;
		else if (strncmp(w, "chunk=", 6) == 0)
			c->chunk = atoi(w + 6);
		else if (strncmp(w, "from=", 5) == 0)
			copy(c->from, sizeof(c->from), w + 5);
		else if (strncmp(w, "tz=", 3) == 0)
			copy(c->tz, sizeof(c->tz), w + 3);
		else
			fail_msg("unknown option %s in case %s", w, c->name);
	}
	setenv("TZ", c->tz, 1);
	tzset();
}

/* "flags WORDS": the struct msg flags expected set, the others clear. */
static void
set_flags(struct mcase *c, const char *words)
{
	c->flags = 1;
	c->from_added = strstr(words, "from_added") != NULL;
	c->resent = strstr(words, "resent") != NULL;
	c->utf8_header = strstr(words, "utf8_header") != NULL;
	c->qp = strstr(words, "qp") != NULL;
}

static void
set_fullname(struct mcase *c, const char *arg)
{
	struct buf b = { 0 };

	buf_unescape(&b, arg);
	buf_adds(&b, "");
	copy(c->fullname, sizeof(c->fullname), b.p);
	free(b.p);
}

/* "N C": N copies of the character C, which may be an escape. */
static void
rep(struct buf *b, const char *arg)
{
	struct buf c = { 0 };
	char *end;
	long n = strtol(arg, &end, 10);

	buf_unescape(&c, end + 1);
	assert_int_equal(c.len, 1);
	for (; n > 0; n--)
		buf_add(b, c.p, 1);
	free(c.p);
}

/* One keyword line of a case. */
static void
case_line(struct mcase *c, char *kw, char *arg)
{
	if (strcmp(kw, "opts") == 0)
		set_opts(c, arg);
	else if (strcmp(kw, "in") == 0 || strcmp(kw, "in.") == 0) {
		buf_unescape(&c->in, arg);
		if (kw[2] == '\0')
			buf_adds(&c->in, "\n");
	} else if (strcmp(kw, "out") == 0 || strcmp(kw, "out.") == 0) {
		buf_unescape(&c->out, arg);
		if (kw[3] == '\0')
			buf_adds(&c->out, "\r\n");
	} else if (strcmp(kw, "inrep") == 0)
		rep(&c->in, arg);
	else if (strcmp(kw, "outrep") == 0)
		rep(&c->out, arg);
	else if (strcmp(kw, "added") == 0)
		add_expected(c, arg);
	else if (strcmp(kw, "rcpt") == 0 && c->nrcpt < MAX_LIST)
		c->rcpt[c->nrcpt++] = strdup(arg);
	else if (strcmp(kw, "from") == 0 && c->nmfrom < MAX_LIST)
		c->mfrom[c->nmfrom++] = strdup(arg);
	else if (strcmp(kw, "sender") == 0 && c->nmsender < MAX_LIST)
		c->msender[c->nmsender++] = strdup(arg);
	else if (strcmp(kw, "rfrom") == 0 && c->nrfrom < MAX_LIST)
		c->rfrom[c->nrfrom++] = strdup(arg);
	else if (strcmp(kw, "rsender") == 0 && c->nrsender < MAX_LIST)
		c->rsender[c->nrsender++] = strdup(arg);
	else if (strcmp(kw, "unparsed") == 0)
		copy(c->unparsed, sizeof(c->unparsed), arg);
	else if (strcmp(kw, "msgid") == 0)
		copy(c->msgid, sizeof(c->msgid), arg);
	else if (strcmp(kw, "eightbit") == 0)
		c->eightbit = atoi(arg);
	else if (strcmp(kw, "flags") == 0)
		set_flags(c, arg);
	else if (strcmp(kw, "fullname") == 0)
		set_fullname(c, arg);
	else if (strcmp(kw, "error") == 0) {
		c->code = atoi(arg);
		copy(c->errtext, sizeof(c->errtext),
		    strchr(arg, ' ') != NULL ? strchr(arg, ' ') + 1 : "");
	} else
		fail_msg("line %d: unknown keyword %s", c->lineno, kw);
}

static void
case_init(struct mcase *c, const char *name, int lineno)
{
	memset(c, 0, sizeof(*c));
	copy(c->name, sizeof(c->name), name);
	copy(c->from, sizeof(c->from), SENDER);
	copy(c->tz, sizeof(c->tz), DEFAULT_TZ);
	c->lineno = lineno;
	buf_adds(&c->in, "");
	buf_adds(&c->out, "");
	setenv("TZ", c->tz, 1);
	tzset();
}

static void
case_free(struct mcase *c)
{
	int i;

	for (i = 0; i < c->nrcpt; i++)
		free(c->rcpt[i]);
	for (i = 0; i < c->nmfrom; i++)
		free(c->mfrom[i]);
	for (i = 0; i < c->nmsender; i++)
		free(c->msender[i]);
	for (i = 0; i < c->nrfrom; i++)
		free(c->rfrom[i]);
	for (i = 0; i < c->nrsender; i++)
		free(c->rsender[i]);
	free(c->in.p);
	free(c->out.p);
}

/* A child writes p to a pipe, chunk bytes at a time with pauses, so that
 * msg_read sees the input in pieces; returns the read end. */
static int
pipe_writer(const char *p, size_t n, size_t chunk, pid_t *pid)
{
	int fds[2];
	size_t off, k;

	assert_int_equal(pipe(fds), 0);
	*pid = fork();
	assert_true(*pid != -1);
	if (*pid == 0) {
		close(fds[0]);
		for (off = 0; off < n; off += k) {
			k = n - off < chunk ? n - off : chunk;
			if (write(fds[1], p + off, k) != (ssize_t)k)
				_exit(1);
			usleep(300);
		}
		_exit(0);
	}
	close(fds[1]);
	return fds[0];
}

/* The input as a regular unlinked file, read from offset 0 or, with
 * "offset", after a prefix that is not part of the message. */
static int
file_input(const char *p, size_t n, int offset)
{
	char path[] = "/tmp/test_msg.XXXXXX";
	const char *junk = "NOT PART OF THE MESSAGE\n";
	int fd = mkstemp(path);

	assert_true(fd != -1);
	unlink(path);
	if (offset)
		assert_int_equal(write(fd, junk, strlen(junk)), strlen(junk));
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, offset ? (off_t)strlen(junk) : 0, SEEK_SET),
	    offset ? (off_t)strlen(junk) : 0);
	return fd;
}

static int
check_list(const struct mcase *c, const char *what, const struct addr_list *l,
    char *const want[], int n)
{
	size_t i;
	int bad = (size_t)n != l->n;

	for (i = 0; !bad && i < l->n; i++)
		bad = strcmp(l->v[i].mailbox, want[i]) != 0;
	if (!bad)
		return 0;
	print_error("case %s: %s differs\n  want:", c->name, what);
	for (i = 0; i < (size_t)n; i++)
		print_error(" %s", want[i]);
	print_error("\n  got: ");
	for (i = 0; i < l->n; i++)
		print_error(" %s", l->v[i].mailbox);
	print_error("\n");
	return 1;
}

/* A generated id: NOW in UTC, a dot, 24 hex digits, "@" DOMAIN. */
static int
generated_id(const char *id)
{
	size_t i, n = strlen(NOW_UTC);

	if (id == NULL || strncmp(id, NOW_UTC ".", n + 1) != 0)
		return 0;
	for (i = n + 1; i < n + 25; i++)
		if (id[i] == '\0' || strchr("0123456789abcdef", id[i]) == NULL)
			return 0;
	return strcmp(id + n + 25, "@" DOMAIN) == 0;
}

/* Expected bytes with the generated id put in place of the marker. */
static void
expected_bytes(const struct mcase *c, const char *id, struct buf *want)
{
	const char *mk =
	    c->marker ? memchr(c->out.p, '\x01', c->out.len) : NULL;

	if (mk == NULL) {
		buf_add(want, c->out.p, c->out.len);
		return;
	}
	buf_add(want, c->out.p, (size_t)(mk - c->out.p));
	buf_adds(want, id != NULL ? id : "(no id)");
	buf_add(want, mk + 1, c->out.len - (size_t)(mk - c->out.p) - 1);
}

static int
check_spool(const struct mcase *c, const struct msg *m)
{
	struct buf want = { 0 }, got = { 0 };
	struct stat st;
	int bad = 0;

	assert_int_equal(fstat(m->fd, &st), 0);
	got.cap = (size_t)m->size + 1;
	got.p = calloc(1, got.cap);
	assert_non_null(got.p);
	got.len = (size_t)pread(m->fd, got.p, (size_t)m->size, 0);
	expected_bytes(c, m->msgid, &want);
	buf_adds(&want, "");
	if (st.st_size != m->size || got.len != want.len ||
	    memcmp(got.p, want.p, want.len) != 0) {
		print_error(
		    "case %s (line %d): spool differs\n", c->name, c->lineno);
		show("want", want.p, want.len);
		show("got", got.p, got.len);
		bad = 1;
	}
	free(want.p);
	free(got.p);
	return bad;
}

static int
check_result(const struct mcase *c, const struct msg *m)
{
	int bad = check_spool(c, m);

	bad |= check_list(c, "rcpt", &m->rcpt, c->rcpt, c->nrcpt);
	bad |= check_list(c, "from", &m->from, c->mfrom, c->nmfrom);
	bad |= check_list(c, "sender", &m->sender, c->msender, c->nmsender);
	bad |= check_list(c, "rfrom", &m->resent_from, c->rfrom, c->nrfrom);
	bad |= check_list(
	    c, "rsender", &m->resent_sender, c->rsender, c->nrsender);
	if (c->unparsed[0] != '\0' &&
	    strcmp(c->unparsed, m->unparsed != NULL ? m->unparsed : "none") !=
		0) {
		print_error("case %s: unparsed %s\n", c->name,
		    m->unparsed != NULL ? m->unparsed : "none");
		bad = 1;
	}
	if (c->msgid[0] == '\0' ? !generated_id(m->msgid)
				: strcmp(c->msgid, m->msgid) != 0) {
		print_error("case %s: msgid %s, want %s\n", c->name,
		    m->msgid != NULL ? m->msgid : "NULL",
		    c->msgid[0] != '\0' ? c->msgid : "a generated one");
		bad = 1;
	}
	if (m->eightbit != c->eightbit) {
		print_error("case %s: eightbit %d\n", c->name, m->eightbit);
		bad = 1;
	}
	if (c->flags &&
	    (m->from_added != c->from_added || m->resent != c->resent ||
		m->utf8_header != c->utf8_header || m->qp != c->qp)) {
		print_error("case %s: flags from_added %d resent %d "
			    "utf8_header %d qp %d\n",
		    c->name, m->from_added, m->resent, m->utf8_header, m->qp);
		bad = 1;
	}
	return bad;
}

static int
check_error(
    const struct mcase *c, int rc, const struct msg *m, const struct err *rec)
{
	if (rc == -1 && rec->code == c->code &&
	    strcmp(rec->text, c->errtext) == 0 && m->fd == -1)
		return 0;
	print_error("case %s (line %d): rc %d code %d fd %d\n  want: %d %s\n"
		    "  got:  %d %s\n",
	    c->name, c->lineno, rc, rec->code, m->fd, c->code, c->errtext,
	    rec->code, rec->text);
	return 1;
}

/* The fake rewrite callback: a mailbox without "@" gets "@example.com";
 * "old@x" becomes "new@example.org"; "crlf@x" gets a line break. */
static char *
fake_rewrite(void *arg, const char *mailbox)
{
	char *out = NULL;

	assert_non_null(arg);
	if (strcmp(mailbox, "old@x") == 0)
		return strdup("new@example.org");
	if (strcmp(mailbox, "crlf@x") == 0)
		return strdup("x@y\r\nBcc: victim@example.net");
	if (strchr(mailbox, '@') != NULL)
		return NULL;
	assert_true(asprintf(&out, "%s@example.com", mailbox) != -1);
	return out;
}

static int
run_case(struct mcase *c)
{
	struct msg_opts o = { 0 };
	struct msg m;
	struct err rec;
	pid_t pid = -1;
	int fd, rc, st, bad;

	o.extract = c->extract;
	o.from = c->nofrom ? NULL : c->from;
	o.domain = DOMAIN;
	o.now = NOW;
	o.fullname = c->fullname[0] != '\0' ? c->fullname : NULL;
	if (c->rewrite) {
		o.rewrite = fake_rewrite;
		o.rewrite_arg = c;
	}
	if (c->chunk > 0)
		fd = pipe_writer(c->in.p, c->in.len, (size_t)c->chunk, &pid);
	else
		fd = file_input(c->in.p, c->in.len, c->offset);
	err_clear(&rec);
	rc = msg_read(fd, &o, &m, &rec);
	close(fd);
	if (pid != -1)
		assert_int_equal(waitpid(pid, &st, 0), pid);
	if (c->code != 0)
		bad = check_error(c, rc, &m, &rec);
	else if (rc != 0) {
		print_error("case %s (line %d): failed: %d %s\n", c->name,
		    c->lineno, rec.code, rec.text);
		bad = 1;
	} else
		bad = check_result(c, &m);
	msg_free(&m);
	return bad;
}

static void
test_table(void **state)
{
	char line[4096], *arg, *nl, *got;
	struct mcase c;
	int lineno = 0, n = 0, bad = 0, open = 0;
	FILE *f = fopen(CASES, "r");

	(void)state;
	assert_non_null(f);
	do {
		got = fgets(line, sizeof(line), f);
		lineno++;
		if (got != NULL && (nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if (open && (got == NULL || strncmp(line, "=== ", 4) == 0)) {
			bad += run_case(&c);
			case_free(&c);
			n++;
			open = 0;
		}
		if (got != NULL && strncmp(line, "=== ", 4) == 0) {
			case_init(&c, line + 4, lineno);
			open = 1;
		} else if (got != NULL && open && line[0] != '#' &&
		    line[0] != '\0') {
			arg = strchr(line, ' ');
			if (arg != NULL)
				*arg++ = '\0';
			case_line(&c, line, arg != NULL ? arg : "");
		}
	} while (got != NULL);
	fclose(f);
	if (bad != 0)
		fail_msg("%s: %d of %d cases failed", CASES, bad, n);
	assert_true(n >= 40);
}

/* Feed in at the given split points; returns the output length. */
static size_t
feed_split(const char *in, size_t len, size_t a, size_t b, char *out)
{
	struct msg_crlf st = { 0 };
	size_t o;

	o = msg_crlf_feed(&st, in, a, out);
	o += msg_crlf_feed(&st, in + a, b - a, out + o);
	o += msg_crlf_feed(&st, in + b, len - b, out + o);
	return o;
}

/* Every way of cutting each input in three pieces gives the same CRLF
 * output: a CR at the end of one chunk and its LF at the start of the
 * next are one line end (RFC 5321 section 2.3.8). */
static void
test_crlf_splits(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "a\nb\n", "a\r\nb\r\n" },
		{ "a\r\nb\r\n", "a\r\nb\r\n" },
		{ "a\rb\r", "a\r\nb\r\n" },
		{ "a\r\r\nb", "a\r\n\r\nb" },
		{ "\r\n\r\n", "\r\n\r\n" },
		{ "\n\r", "\r\n\r\n" },
		{ "\r\n\n\r\r\n", "\r\n\r\n\r\n\r\n" },
		{ "x\r", "x\r\n" },
		{ "", "" },
	};
	char out[64];
	size_t i, a, b, len, n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = strlen(t[i].in);
		for (a = 0; a <= len; a++)
			for (b = a; b <= len; b++) {
				n = feed_split(t[i].in, len, a, b, out);
				out[n] = '\0';
				if (strcmp(out, t[i].out) != 0)
					fail_msg(
					    "row %zu split %zu,%zu", i, a, b);
			}
	}
}

static int
read_with(int fd, struct msg_opts *o, struct msg *m, struct err *rec)
{
	o->domain = DOMAIN;
	o->now = NOW;
	o->from = SENDER;
	err_clear(rec);
	return msg_read(fd, o, m, rec);
}

/* A folded field of 2 MiB is refused, naming the field; the input is
 * still read to its end. */
static void
test_big_field(void **state)
{
	struct buf in = { 0 };
	struct msg_opts o = { 0 };
	struct msg m;
	struct err rec;
	char piece[999];
	int fd, i;

	(void)state;
	memset(piece, 'x', sizeof(piece));
	piece[0] = ' ';
	piece[sizeof(piece) - 1] = '\n';
	buf_adds(&in, "To: a@x\nX-Big: start\n");
	for (i = 0; i < 2100; i++)
		buf_add(&in, piece, sizeof(piece));
	buf_adds(&in, "\nbody\n");
	fd = file_input(in.p, in.len, 0);
	assert_int_equal(read_with(fd, &o, &m, &rec), -1);
	assert_int_equal(rec.code, EX_DATAERR);
	assert_int_equal(rec.class, ERR_USAGE);
	assert_string_equal(rec.text,
	    "header field X-Big at line 2 is over 1048576 octets unfolded");
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)in.len);
	close(fd);
	free(in.p);
}

/* Run msg_read on a header of n addresses in one folded field, name. */
static int
read_list(const char *name, int n, int extract, struct msg *m, struct err *rec)
{
	struct buf in = { 0 };
	struct msg_opts o = { 0 };
	char a[32];
	int fd, i, rc;

	buf_adds(&in, name);
	buf_adds(&in, ": a0@x");
	for (i = 1; i < n; i++) {
		snprintf(a, sizeof(a), ",\n a%d@x", i);
		buf_adds(&in, a);
	}
	buf_adds(&in, "\n\nbody\n");
	fd = file_input(in.p, in.len, 0);
	o.extract = extract;
	rc = read_with(fd, &o, m, rec);
	close(fd);
	free(in.p);
	return rc;
}

/* Over 10000 addresses: refused with extract; a From that long is left
 * out of m->from; both without parsing, whose de-duplication is
 * quadratic. */
static void
test_many_addresses(void **state)
{
	struct msg m;
	struct err rec;

	(void)state;
	assert_int_equal(read_list("Cc", 10001, 1, &m, &rec), -1);
	assert_int_equal(rec.code, EX_DATAERR);
	assert_string_equal(rec.text,
	    "header field Cc at line 1: over 10000 addresses in To, Cc and "
	    "Bcc");
	assert_int_equal(read_list("Cc", 10001, 0, &m, &rec), 0);
	assert_int_equal(m.rcpt.n, 0);
	msg_free(&m);
	assert_int_equal(read_list("From", 10001, 0, &m, &rec), 0);
	assert_int_equal(m.from.n, 0);
	msg_free(&m);
	assert_int_equal(read_list("From", 300, 0, &m, &rec), 0);
	assert_int_equal(m.from.n, 300);
	msg_free(&m);
}

static long
max_rss_kb(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/* Fork a child that writes hdr, then n copies of line (len bytes), into a
 * new pipe; fds gets the pipe with its write end closed here. */
static pid_t
spawn_writer(int fds[2], const char *hdr, const char *line, size_t len, long n)
{
	pid_t pid;
	long i;

	assert_int_equal(pipe(fds), 0);
	if ((pid = fork()) == 0) {
		close(fds[0]);
		if (write(fds[1], hdr, strlen(hdr)) == -1)
			_exit(1);
		for (i = 0; i < n; i++)
			if (write(fds[1], line, len) == -1)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	return pid;
}

/* 50 MB of body through a pipe: streamed, so memory stays small. */
static void
test_big_body(void **state)
{
	static const char hdr[] = "To: a@x\nSubject: big\n\n";
	char line[64];
	struct msg_opts o = { 0 };
	struct msg m;
	struct err rec;
	int fds[2], st;
	long lines = 50L * 1000 * 1000 / sizeof(line), before;
	pid_t pid;

	(void)state;
	memset(line, 'y', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	pid = spawn_writer(fds, hdr, line, sizeof(line), lines);
	before = max_rss_kb();
	assert_int_equal(read_with(fds[0], &o, &m, &rec), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(m.size > lines * (long)(sizeof(line) + 1));
	assert_true(max_rss_kb() - before < 16 * 1024);
	close(fds[0]);
	msg_free(&m);
}

/* 20 MB of 2000-octet lines: the body becomes quoted-printable in a
 * second pass over the spool file, still in bounded memory. */
static void
test_big_body_qp(void **state)
{
	static const char hdr[] = "To: a@x\nSubject: big\n\n";
	char line[2000], tail[64];
	struct msg_opts o = { 0 };
	struct msg m;
	struct err rec;
	int fds[2], st;
	long lines = 20L * 1000 * 1000 / sizeof(line), before;
	pid_t pid;

	(void)state;
	memset(line, 'q', sizeof(line));
	line[sizeof(line) - 2] = '=';
	line[sizeof(line) - 1] = '\n';
	pid = spawn_writer(fds, hdr, line, sizeof(line), lines);
	before = max_rss_kb();
	assert_int_equal(read_with(fds[0], &o, &m, &rec), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(m.qp);
	/* Each line: 26 soft breaks of 3 octets, "=3D", CRLF. */
	assert_true(m.size > lines * (long)(sizeof(line) + 26 * 3 + 3));
	assert_true(max_rss_kb() - before < 16 * 1024);
	assert_int_equal(pread(m.fd, tail, 8, m.size - 8), 8);
	assert_memory_equal(tail, "qqq=3D\r\n", 8);
	close(fds[0]);
	msg_free(&m);
}

/* Pieces of random messages: fields, folds, long runs, 8-bit bytes. */
static const char *const pieces[] = { "To: a@x, root\n", "Bcc: b@y\n",
	"bcc: c@z,\n d@w\n", "Resent-To: r@x\n", "RESENT-BCC: s@x\n",
	"Resent-From: root\n", "From: Ivy <ivy\n", "From: root (Cron)\n",
	"Content-Type: multipart/mixed; boundary=b\n",
	"Content-Type: text/plain; charset=utf-8\n",
	"Content-Transfer-Encoding: 8bit\n",
	"Content-Transfer-Encoding: base64\n", "MIME-Version: 1.0\n",
	"Content-Length: 9\n", "X-A: a b c\n", " folded\n", "\n", "\r\n", "\r",
	".\n", "From x\n",
	"Gr\xc3\xbc\xc3\x9f"
	"e ",
	"\xe9", "= ", "\t", " ", "x", "old@x" };

static void
random_message(struct buf *b)
{
	size_t i, k, n = (size_t)rand() % 40;

	for (i = 0; i < n; i++) {
		k = (size_t)rand() % (sizeof(pieces) / sizeof(pieces[0]) + 2);
		if (k < sizeof(pieces) / sizeof(pieces[0]))
			buf_adds(b, pieces[k]);
		else
			for (k = (size_t)rand() % 1500; k > 0; k--)
				buf_add(b, k % 97 == 0 ? " " : "y", 1);
	}
}

/* A spool as SMTP needs it: CRLF only as a pair, no line over
 * MSG_LINE_MAX, no Bcc or Resent-Bcc in the header. */
static void
check_wire(const struct msg *m)
{
	char *p = malloc((size_t)m->size + 1), *l, *e;
	size_t len;
	int head = 1;

	assert_non_null(p);
	assert_int_equal(pread(m->fd, p, (size_t)m->size, 0), m->size);
	p[m->size] = '\0';
	for (l = p; l < p + m->size; l = e + 2) {
		e = strstr(l, "\r\n");
		assert_non_null(e);
		len = (size_t)(e - l);
		assert_true(len <= MSG_LINE_MAX);
		assert_null(memchr(l, '\r', len));
		assert_null(memchr(l, '\n', len));
		head = head && len > 0;
		assert_false(head &&
		    (strncasecmp(l, "bcc", 3) == 0 ||
			strncasecmp(l, "resent-bcc", 10) == 0));
	}
	free(p);
}

/* Random messages, options and rewriting: no crash or leak (ASan), and
 * what is sent is always fit for the wire; a refusal is a data error. */
static void
test_random_messages(void **state)
{
	struct msg_opts o = { 0 };
	struct mcase c = { 0 };
	struct msg m;
	struct err rec;
	int i, fd, rc, sent = 0, qp = 0, refused = 0;

	(void)state;
	srand(5322);
	for (i = 0; i < 400; i++) {
		struct buf in = { 0 };

		random_message(&in);
		buf_adds(&in, "");
		memset(&o, 0, sizeof(o));
		o.extract = rand() % 2;
		o.fullname = rand() % 2 ? "J\xc3\xb6rg, \"x\"" : NULL;
		o.rewrite = rand() % 2 ? fake_rewrite : NULL;
		o.rewrite_arg = &c;
		fd = file_input(in.p, in.len, 0);
		rc = read_with(fd, &o, &m, &rec);
		close(fd);
		if (rc == 0)
			check_wire(&m);
		else
			assert_true(rec.code == EX_DATAERR && m.fd == -1);
		sent += rc == 0;
		qp += rc == 0 && m.qp;
		refused += rc != 0;
		msg_free(&m);
		free(in.p);
	}
	print_message("random: %d sent (%d quoted-printable), %d refused\n",
	    sent, qp, refused);
	assert_true(sent > 100 && qp > 20 && refused > 20);
}

/* An unreadable input is EX_NOINPUT. */
static void
test_read_error(void **state)
{
	struct msg_opts o = { 0 };
	struct msg m;
	struct err rec;

	(void)state;
	assert_int_equal(read_with(-1, &o, &m, &rec), -1);
	assert_int_equal(rec.class, ERR_LOCAL);
	assert_int_equal(rec.code, EX_NOINPUT);
	assert_string_equal(
	    rec.text, "cannot read the message: Bad file descriptor");
	assert_int_equal(m.fd, -1);
	msg_free(&m);
}

/* No spool directory: EX_CANTCREAT naming it, input still read to EOF. */
static void
test_spool_dir(void **state)
{
	static const char in[] = "To: a@x\n\nbody\n";
	struct msg_opts o = { 0 };
	struct msg m;
	struct err rec;
	int fd = file_input(in, strlen(in), 0);

	(void)state;
	o.tmpdir = "/nonexistent/spool";
	assert_int_equal(read_with(fd, &o, &m, &rec), -1);
	assert_int_equal(rec.class, ERR_LOCAL);
	assert_int_equal(rec.code, EX_CANTCREAT);
	assert_string_equal(rec.text,
	    "cannot create a spool file in /nonexistent/spool: No such file "
	    "or directory");
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)strlen(in));
	close(fd);

	setenv("TMPDIR", "/nonexistent/env", 1);
	fd = file_input(in, strlen(in), 0);
	o.tmpdir = NULL;
	assert_int_equal(read_with(fd, &o, &m, &rec), -1);
	assert_non_null(strstr(rec.text, "/nonexistent/env"));
	unsetenv("TMPDIR");
	close(fd);
}

/* The spool file is private and has no name; each Message-ID is new. */
static void
test_spool_private(void **state)
{
	static const char in[] = "To: a@x\n\nbody\n";
	struct msg_opts o = { 0 };
	struct msg m1, m2;
	struct err rec;
	struct stat st;
	int fd;

	(void)state;
	fd = file_input(in, strlen(in), 0);
	assert_int_equal(read_with(fd, &o, &m1, &rec), 0);
	close(fd);
	fd = file_input(in, strlen(in), 0);
	assert_int_equal(read_with(fd, &o, &m2, &rec), 0);
	close(fd);
	assert_int_equal(fstat(m1.fd, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_nlink, 0);
	assert_string_not_equal(m1.msgid, m2.msgid);
	msg_free(&m1);
	msg_free(&m2);
	msg_free(&m1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_crlf_splits),
		cmocka_unit_test(test_big_field),
		cmocka_unit_test(test_many_addresses),
		cmocka_unit_test(test_big_body),
		cmocka_unit_test(test_big_body_qp),
		cmocka_unit_test(test_random_messages),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_spool_dir),
		cmocka_unit_test(test_spool_private),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
