/* SPDX-License-Identifier: ISC */
/* Unit tests: the AUTH mechanism choice, one row of
 * tests/data/smtp_sasl_choose.txt per case; and whole sessions of
 * smtp_send against a scripted server, one block of
 * tests/data/smtp_sessions.txt per case.  Run from tests/unit. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>
#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gsasl.h>

#include "io.h"
#include "log.h"
#include "net.h"
#include "sasl.h"
#include "smtp.h"
#include "rows.h"

/* Every io deadline smtp sets goes through here (ld --wrap, Makefile
 * WRAP_smtp): the longest wait asked for in a session, for its
 * longest_wait row. */
void __real_io_set_deadline(struct io *io, long long deadline_ms);
void __wrap_io_set_deadline(struct io *io, long long deadline_ms);

static long long longest_wait;

void
__wrap_io_set_deadline(struct io *io, long long deadline_ms)
{
	long long wait = deadline_ms - net_now_ms();

	if (wait > longest_wait)
		longest_wait = wait;
	__real_io_set_deadline(io, deadline_ms);
}

/* S35: the password buffer of the session (smtp wipes it when AUTH
 * ends), and whether it still held the password when MAIL went out. */
static const char *watched;
static size_t watched_len;
static int unwiped_at_mail;

static int
all_zero(const char *p, size_t n)
{
	while (n > 0 && p[n - 1] == '\0')
		n--;
	return n == 0;
}

int __real_io_put(struct io *io, const void *buf, size_t len, struct err *rec);
int __wrap_io_put(struct io *io, const void *buf, size_t len, struct err *rec);

int
__wrap_io_put(struct io *io, const void *buf, size_t len, struct err *rec)
{
	if (watched != NULL && len >= 5 && memcmp(buf, "MAIL ", 5) == 0 &&
	    !all_zero(watched, watched_len))
		unwiped_at_mail = 1;
	return __real_io_put(io, buf, len, rec);
}

/* verify_refused rows: the second check of the certificate after the
 * handshake (tls_verify_result) says no, as it would for a handshake in
 * which no certificate was checked. */
int __real_tls_verify_result(gnutls_session_t s, struct err *rec);
int __wrap_tls_verify_result(gnutls_session_t s, struct err *rec);

static int verify_refused;

int
__wrap_tls_verify_result(gnutls_session_t s, struct err *rec)
{
	if (verify_refused)
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "certificate of 127.0.0.1 not checked: forced by the test");
	return __real_tls_verify_result(s, rec);
}

static void
choose_case(char *input, const char *want, int lineno)
{
	char *bar = strstr(input, " | "), mech[32] = "", got[ERR_TEXT_MAX + 16];
	const char *forced;
	struct err rec;

	assert_non_null(bar);
	*bar = '\0';
	forced = strcmp(bar + 3, "-") == 0 ? NULL : bar + 3;
	err_clear(&rec);
	if (sasl_choose(input, forced, mech, sizeof(mech), &rec) == 0) {
		if (strcmp(mech, want) != 0)
			bad(lineno, "chose %s, want %s", mech, want);
		return;
	}
	snprintf(got, sizeof(got), "error %d %s", rec.code, rec.text);
	if (strncmp(want, "error ", 6) != 0 || rec.class != ERR_PERM ||
	    strncmp(got, want, 9) != 0 || strstr(got, want + 9) == NULL)
		bad(lineno, "got %s, want %s", got, want);
}

static void
test_sasl_choose(void **state)
{
	(void)state;
	failures = 0;
	assert_true(
	    each_row("../data/smtp_sasl_choose.txt", choose_case) >= 10);
	assert_int_equal(failures, 0);
}

/* A mechanism name that does not fit is an error, never a cut name. */
static void
test_sasl_choose_small(void **state)
{
	char out[4];
	struct err rec;

	(void)state;
	err_clear(&rec);
	assert_int_equal(
	    sasl_choose("PLAIN", "PLAIN", out, sizeof(out), &rec), -1);
}

/*
 * Sessions: smtp_send against a scripted server in a child process, one
 * block of tests/data/smtp_sessions.txt per case (the format is described
 * at the top of that file).
 */

#define SCRIPT_MAX 256
#define FAKE_BUF (1 << 18)
#define CERTS "../data/io_server.pem"
#define KEY "../data/io_server.key"
#define CA "../data/io_ca.pem"

struct scase {
	int lineno;
	size_t n;
	char *row[SCRIPT_MAX];
	int rowno[SCRIPT_MAX];
};

/* The server's side of the connection. */
struct fake {
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	char *buf;
	size_t len;
	int group; /* C lines left in a G group */
	/* Bytes of BDAT data still to come as D rows; -1: none pending. */
	long long bdat_left;
	int closed;
	const char *pass;
};

static const char *
row_arg(const char *row, const char *kw)
{
	size_t n = strlen(kw);

	if (strncmp(row, kw, n) == 0 && (row[n] == ' ' || row[n] == '\0'))
		return row[n] == ' ' ? row + n + 1 : row + n;
	return NULL;
}

/* The value of key in the case's params row, or def. */
static const char *
param(const struct scase *c, const char *key, const char *def, char *buf,
    size_t sz)
{
	const char *p;
	size_t i, n = strlen(key);

	for (i = 0; i < c->n; i++) {
		if ((p = row_arg(c->row[i], "params")) == NULL)
			continue;
		for (; *p != '\0'; p += strcspn(p, " "), p += strspn(p, " ")) {
			if (strncmp(p, key, n) != 0 || p[n] != '=')
				continue;
			snprintf(buf, sz, "%.*s", (int)strcspn(p + n + 1, " "),
			    p + n + 1);
			return buf;
		}
	}
	return def;
}

static void die(const struct fake *f, int rowno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void
die(const struct fake *f, int rowno, const char *fmt, ...)
{
	va_list ap;

	(void)f;
	fprintf(stderr, "fake server, row %d: ", rowno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	_exit(1);
}

static ssize_t
fake_recv(struct fake *f)
{
	ssize_t n;

	if (f->len == FAKE_BUF)
		return -1;
	do {
		if (f->tls != NULL)
			n = gnutls_record_recv(
			    f->tls, f->buf + f->len, FAKE_BUF - f->len);
		else
			n = recv(f->fd, f->buf + f->len, FAKE_BUF - f->len, 0);
	} while (n == GNUTLS_E_INTERRUPTED || (n == -1 && errno == EINTR));
	if (n > 0)
		f->len += (size_t)n;
	return n;
}

static void
fake_send(struct fake *f, const char *p, size_t n, int rowno)
{
	ssize_t w;

	while (n > 0) {
		if (f->tls != NULL)
			w = gnutls_record_send(f->tls, p, n);
		else
			w = send(f->fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			die(f, rowno, "cannot send");
		p += w, n -= (size_t)w;
	}
}

/* Lines complete in the buffer. */
static int
fake_lines(const struct fake *f)
{
	int n = 0;
	size_t i;

	for (i = 0; i + 1 < f->len; i++)
		if (f->buf[i] == '\r' && f->buf[i + 1] == '\n')
			n++;
	return n;
}

/* Take one CRLF line into a new string. */
static char *
fake_line(struct fake *f, int rowno)
{
	char *crlf, *line;
	size_t n;

	while ((crlf = memmem(f->buf, f->len, "\r\n", 2)) == NULL)
		if (fake_recv(f) <= 0)
			die(f, rowno,
			    "connection ended, %zu bytes pending: %.*s", f->len,
			    (int)f->len, f->buf);
	n = (size_t)(crlf - f->buf);
	line = malloc(n + 1);
	assert_non_null(line);
	memcpy(line, f->buf, n);
	line[n] = '\0';
	memmove(f->buf, crlf + 2, f->len - n - 2);
	f->len -= n + 2;
	return line;
}

/* RFC 3030: the size in BDAT must be the bytes that follow it.  D rows
 * take them line by line; the next command must start right after. */
static void
fake_bdat(struct fake *f, const char *got, int cmd, int rowno)
{
	if (!cmd && f->bdat_left >= 0) {
		f->bdat_left -= (long long)strlen(got) + 2;
		if (f->bdat_left < 0)
			die(f, rowno, "data line past the BDAT size");
		return;
	}
	if (f->bdat_left > 0)
		die(f, rowno, "BDAT promised %lld more bytes", f->bdat_left);
	f->bdat_left = -1;
	if (strncmp(got, "BDAT ", 5) == 0)
		f->bdat_left = atoll(got + 5);
}

/* C: a command the client sends alone (nothing follows it before our
 * reply); in a G group, the whole group arrived with its first line. */
static void
fake_expect(struct fake *f, const char *want, int strict, int rowno)
{
	const char *p = want;
	size_t len;
	char *text = unescape(&p, '\0', &len), *got = fake_line(f, rowno);
	int cmd = strict;

	if (strict && f->group > 0 && fake_lines(f) < f->group - 1)
		die(f, rowno, "group of %d not sent at once: %.*s", f->group,
		    (int)f->len, f->buf);
	if (f->group > 0)
		strict = --f->group == 0;
	if (strcmp(got, text) != 0)
		die(f, rowno, "got \"%s\", want \"%s\"", got, text);
	fake_bdat(f, got, cmd, rowno);
	if (strict && f->len > 0)
		die(f, rowno, "more sent after \"%s\": %.*s", got, (int)f->len,
		    f->buf);
	free(got);
	free(text);
}

static void
fake_reply(struct fake *f, const char *text, int crlf, int rowno)
{
	const char *p = text;
	size_t len;
	char *t = unescape(&p, '\0', &len);

	fake_send(f, t, len, rowno);
	if (crlf)
		fake_send(f, "\r\n", 2, rowno);
	free(t);
}

static void
fake_tls(struct fake *f, int rowno)
{
	int rc;

	assert_int_equal(gnutls_certificate_allocate_credentials(&f->cred), 0);
	assert_int_equal(gnutls_certificate_set_x509_key_file(
			     f->cred, CERTS, KEY, GNUTLS_X509_FMT_PEM),
	    0);
	gnutls_init(&f->tls, GNUTLS_SERVER);
	gnutls_set_default_priority(f->tls);
	gnutls_credentials_set(f->tls, GNUTLS_CRD_CERTIFICATE, f->cred);
	gnutls_transport_set_int(f->tls, f->fd);
	do
		rc = gnutls_handshake(f->tls);
	while (rc < 0 && !gnutls_error_is_fatal(rc));
	if (rc < 0)
		die(f, rowno, "handshake: %s", gnutls_strerror(rc));
}

static int
fake_sasl_cb(Gsasl *ctx, Gsasl_session *s, Gsasl_property prop)
{
	(void)ctx;
	if (prop != GSASL_PASSWORD)
		return GSASL_NO_CALLBACK;
	return gsasl_property_set(s, prop, gsasl_session_hook_get(s));
}

/* One server step: the client's line in, our 334 out, or 535 when the
 * client's proof is wrong.  Returns the gsasl result. */
static int
fake_sasl_step(struct fake *f, Gsasl_session *s, const char *in, int rowno,
    const char *mode)
{
	char *out = NULL, *line;
	int rc;

	rc = gsasl_step64(s, in, &out);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		fake_reply(f, "535 5.7.8 authentication failed", 1, rowno);
		return rc;
	}
	/* badsig: spoil the server signature (v=...) of SCRAM. */
	if (rc == GSASL_OK && strcmp(mode, "badsig") == 0)
		out[10] = out[10] == 'A' ? 'B' : 'A';
	fake_send(f, "334 ", 4, rowno);
	fake_send(f, out, strlen(out), rowno);
	fake_send(f, "\r\n", 2, rowno);
	free(out);
	line = fake_line(f, rowno);
	/* RFC 4954 4: an empty response after the last step; "*" cancels. */
	if (rc == GSASL_OK &&
	    strcmp(line, strcmp(mode, "badsig") == 0 ? "*" : "") != 0)
		die(f, rowno, "after the last step: \"%s\"", line);
	if (rc == GSASL_NEEDS_MORE)
		rc = fake_sasl_step(f, s, line, rowno, mode);
	free(line);
	return rc;
}

/* sasl MECH PASSWORD [early|badsig]: run a real server exchange. */
static void
fake_sasl(struct fake *f, const char *args, int rowno)
{
	char mech[32], pass[64], mode[16] = "", *line, *ir;
	Gsasl *ctx;
	Gsasl_session *s;

	assert_true(sscanf(args, "%31s %63s %15s", mech, pass, mode) >= 2);
	line = fake_line(f, rowno);
	if (strncmp(line, "AUTH ", 5) != 0 ||
	    strncmp(line + 5, mech, strlen(mech)) != 0 ||
	    line[5 + strlen(mech)] != ' ')
		die(f, rowno, "want AUTH %s with a response: %s", mech, line);
	ir = line + 6 + strlen(mech);
	if (strcmp(mode, "early") == 0) {
		fake_reply(f, "235 2.7.0 too soon", 1, rowno);
		free(line);
		return;
	}
	gsasl_init(&ctx);
	gsasl_callback_set(ctx, fake_sasl_cb);
	assert_int_equal(gsasl_server_start(ctx, mech, &s), GSASL_OK);
	gsasl_session_hook_set(s, pass);
	if (fake_sasl_step(f, s, ir, rowno, mode) == GSASL_OK &&
	    strcmp(mode, "badsig") != 0)
		fake_reply(f, "235 2.7.0 Authentication successful", 1, rowno);
	free(line);
	gsasl_finish(s);
	gsasl_done(ctx);
}

/* After the script the client must close without sending anything. */
static void
fake_eof(struct fake *f, int rowno)
{
	ssize_t n;

	while ((n = fake_recv(f)) > 0)
		;
	if (f->len > 0)
		die(f, rowno, "client sent more: %.*s", (int)f->len, f->buf);
}

/* Rows for the client's side; all others are the server's script. */
static int
client_row(const char *row)
{
	static const char *const kw[] = { "case", "params", "msg", "expect",
		"result", "reply", "trace", "notrace", "outcome", "codes",
		"longest_wait", "verify_refused" };
	size_t i;

	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (row_arg(row, kw[i]) != NULL)
			return 1;
	return 0;
}

static void
fake_row(struct fake *f, const char *row, int rowno)
{
	const char *a;

	if ((a = row_arg(row, "S")) != NULL)
		fake_reply(f, a, 1, rowno);
	else if ((a = row_arg(row, "S!")) != NULL)
		fake_reply(f, a, 0, rowno);
	else if ((a = row_arg(row, "C")) != NULL)
		fake_expect(f, a, 1, rowno);
	else if ((a = row_arg(row, "D")) != NULL)
		fake_expect(f, a, 0, rowno);
	else if ((a = row_arg(row, "G")) != NULL)
		f->group = atoi(a);
	else if (row_arg(row, "tls") != NULL)
		fake_tls(f, rowno);
	else if ((a = row_arg(row, "sasl")) != NULL)
		fake_sasl(f, a, rowno);
	else if ((a = row_arg(row, "sleep")) != NULL)
		usleep((useconds_t)atoi(a) * 1000);
	else if (row_arg(row, "close") != NULL) {
		close(f->fd);
		f->closed = 1;
	} else
		die(f, rowno, "unknown row: %s", row);
}

static int
fake_run(const struct scase *c, int lfd)
{
	struct timeval tv = { 10, 0 };
	struct fake f = { 0 };
	size_t i;

	alarm(20);
	f.bdat_left = -1;
	f.buf = malloc(FAKE_BUF);
	assert_non_null(f.buf);
	/* noconnect: the client must give up before connecting. */
	if (c->n > 1 && row_arg(c->row[1], "noconnect") != NULL)
		return poll(&(struct pollfd){ .fd = lfd, .events = POLLIN }, 1,
			   300) != 0;
	f.fd = accept(lfd, NULL, NULL);
	assert_true(f.fd >= 0);
	setsockopt(f.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; i < c->n && !f.closed; i++)
		if (!client_row(c->row[i]))
			fake_row(&f, c->row[i], c->rowno[i]);
	if (!f.closed)
		fake_eof(&f, c->lineno);
	return 0;
}

static int
listen_any(char *port, size_t sz)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(port, sz, "%u", ntohs(sin.sin_port));
	return fd;
}

/* The spool file: every msg row, unescaped, in order. */
static int
spool(const struct scase *c)
{
	FILE *f = tmpfile();
	const char *a;
	char *text;
	size_t i, len;
	int fd;

	assert_non_null(f);
	for (i = 0; i < c->n; i++) {
		if ((a = row_arg(c->row[i], "msg")) == NULL)
			continue;
		text = unescape(&a, '\0', &len);
		assert_int_equal(fwrite(text, 1, len, f), len);
		free(text);
	}
	fd = dup(fileno(f));
	fclose(f);
	return fd;
}

struct client {
	struct smtp_params p;
	struct smtp_envelope env;
	char buf[16][512];
	char rcptbuf[512];
	char pass[512]; /* smtp wipes it (S35) */
	char pass_was[512];
	const char *rcpt[8];
	int codes[8];
};

/* Unescape a param value into buf (512 bytes or more). */
static char *
unescape_param(const char *v, char *buf)
{
	size_t len;
	char *t = unescape(&v, '\0', &len);

	assert_true(len < 512);
	memcpy(buf, t, len + 1);
	free(t);
	return buf;
}

/* DSN values are used as given; "-" (the default) is NULL. */
static const char *
dsn_param(const struct scase *c, const char *key, char *buf)
{
	const char *v = param(c, key, "-", buf, 512);

	return strcmp(v, "-") == 0 ? NULL : unescape_param(v, buf);
}

static void
client_extensions(const struct scase *c, struct client *cl)
{
	cl->env.smtputf8 = atoi(param(c, "utf8", "0", cl->buf[10], 512));
	cl->env.notify = dsn_param(c, "notify", cl->buf[11]);
	cl->env.ret = dsn_param(c, "ret", cl->buf[12]);
	cl->env.envid = dsn_param(c, "envid", cl->buf[13]);
	cl->p.partial = atoi(param(c, "partial", "0", cl->buf[14], 512));
	cl->env.rcpt_codes = cl->codes;
}

static void
client_params(const struct scase *c, struct client *cl)
{
	static const char *const tls[] = { "starttls", "implicit", "off" };
	const char *v;
	char *r;
	int i;

	memset(cl, 0, sizeof(*cl));
	v = param(c, "tls", "off", cl->buf[0], sizeof(cl->buf[0]));
	for (i = 0; i < 3 && strcmp(v, tls[i]) != 0; i++)
		;
	assert_true(i < 3);
	cl->p.tls = (enum smtp_tls)i;
	cl->p.ca_file = CA;
	cl->p.host = param(c, "host", "127.0.0.1", cl->buf[1], 512);
	v = param(c, "auth", "off", cl->buf[2], 512);
	cl->p.auth = strcmp(v, "off") == 0 ? SMTP_AUTH_OFF
	    : strcmp(v, "any") == 0	   ? SMTP_AUTH_ANY
					   : SMTP_AUTH_MECH;
	cl->p.mech = v;
	cl->p.user = param(c, "user", "alice", cl->buf[3], 512);
	snprintf(cl->pass, sizeof(cl->pass), "%s",
	    param(c, "pass", "secret", cl->buf[4], 512));
	memcpy(cl->pass_was, cl->pass, sizeof(cl->pass));
	cl->p.password = cl->pass;
	cl->p.helo = unescape_param(
	    param(c, "helo", "client.test", cl->buf[5], 512), cl->buf[5]);
	cl->p.timeout_ms = atoi(param(c, "timeout", "5000", cl->buf[6], 512));
	cl->env.from = unescape_param(
	    param(c, "from", "a@example.org", cl->buf[7], 512), cl->buf[7]);
	if (strcmp(cl->env.from, "-") == 0)
		cl->env.from = "";
	cl->env.eightbit = atoi(param(c, "8bit", "0", cl->buf[8], 512));
	v = param(c, "rcpt", "b@example.org", cl->rcptbuf, 512);
	unescape_param(v, cl->rcptbuf);
	for (r = strtok(cl->rcptbuf, ","); r != NULL && cl->env.nrcpt < 8;
	     r = strtok(NULL, ","))
		cl->rcpt[cl->env.nrcpt++] = r;
	cl->env.rcpt = cl->rcpt;
	client_extensions(c, cl);
}

/* The transcript never shows the password; trace and notrace rows
 * (unescaped: \n marks a line end) must be in it or not. */
static void
check_trace(const struct scase *c, const struct client *cl, FILE *tr)
{
	char all[1 << 16], *want;
	const char *a;
	size_t i, n;
	int in;

	rewind(tr);
	all[0] = '\n';
	n = fread(all + 1, 1, sizeof(all) - 2, tr);
	all[n + 1] = '\0';
	if (strstr(all, cl->pass_was) != NULL)
		bad(c->lineno, "password in the transcript:\n%s", all);
	for (i = 0; i < c->n; i++) {
		in = (a = row_arg(c->row[i], "trace")) != NULL;
		if (!in && (a = row_arg(c->row[i], "notrace")) == NULL)
			continue;
		want = unescape(&a, '\0', &n);
		if ((strstr(all, want) != NULL) != in)
			bad(c->rowno[i], "\"%s\" %s the transcript:\n%s", want,
			    in ? "not in" : "in", all);
		free(want);
	}
}

/* codes A,B,...: env.rcpt_codes, one per recipient. */
static void
check_codes(const struct scase *c, const struct client *cl)
{
	char got[128] = "";
	const char *a;
	size_t i, n;

	for (i = 0; i < cl->env.nrcpt; i++) {
		n = strlen(got);
		snprintf(got + n, sizeof(got) - n, "%s%d", i > 0 ? "," : "",
		    cl->codes[i]);
	}
	for (i = 0; i < c->n; i++)
		if ((a = row_arg(c->row[i], "codes")) != NULL &&
		    strcmp(got, a) != 0)
			bad(c->rowno[i], "rcpt codes %s, want %s", got, a);
}

/* longest_wait MS: the longest wait smtp set for the io, from the moment
 * it set it, is MS (to within 100 ms). */
static void
check_wait(const struct scase *c)
{
	const char *a;
	long long want;
	size_t i;

	for (i = 0; i < c->n; i++) {
		if ((a = row_arg(c->row[i], "longest_wait")) == NULL)
			continue;
		want = atoll(a);
		if (longest_wait > want || longest_wait < want - 100)
			bad(c->rowno[i], "longest wait %lld ms, want %lld",
			    longest_wait, want);
	}
}

/* expect RC CODE TEXT: smtp_send's return, rec.code (0 on success) and a
 * part of rec.text (of res.reply on success). */
static void
check_result(const struct scase *c, int rc, const struct err *rec,
    const struct smtp_result *res)
{
	const char *a, *text;
	char want[64];
	int wrc, wcode, off = 0;
	size_t i;

	for (i = 0; i < c->n; i++) {
		if ((a = row_arg(c->row[i], "expect")) != NULL) {
			assert_int_equal(
			    sscanf(a, "%d %d %n", &wrc, &wcode, &off) >= 2, 1);
			text = rc == 0 ? res->reply : rec->text;
			if (rc != wrc || rec->code != wcode ||
			    strstr(text, a + off) == NULL)
				bad(c->rowno[i], "got %d %d \"%s\", want %s",
				    rc, rec->code, text, a);
		}
		if ((a = row_arg(c->row[i], "reply")) != NULL &&
		    strstr(rec->reply, a) == NULL)
			bad(c->rowno[i], "rec.reply \"%s\", want \"%s\"",
			    rec->reply, a);
		snprintf(want, sizeof(want), "%s %s", res->tls, res->mech);
		if ((a = row_arg(c->row[i], "result")) != NULL &&
		    strcmp(want, a) != 0)
			bad(c->rowno[i], "tls and mech \"%s\", want \"%s\"",
			    want, a);
		snprintf(want, sizeof(want), "delivered=%zu dsn=%s",
		    res->delivered, res->dsn_dropped ? "dropped" : "kept");
		if ((a = row_arg(c->row[i], "outcome")) != NULL &&
		    strcmp(want, a) != 0)
			bad(c->rowno[i], "outcome \"%s\", want \"%s\"", want,
			    a);
	}
}

/* smtp_params.accepted: called once for a message every recipient got,
 * on its 250, and never for one that failed or went in part. */
static int accepted_calls;

static void
count_accepted(void *arg)
{
	(void)arg;
	accepted_calls++;
}

static int
has_row(const struct scase *c, const char *kw)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (row_arg(c->row[i], kw) != NULL)
			return 1;
	return 0;
}

static void
run_session(const struct scase *c)
{
	struct smtp_result res;
	struct client cl;
	struct err rec;
	FILE *tr = tmpfile();
	int lfd, msgfd, st, rc;
	pid_t pid;

	assert_non_null(tr);
	client_params(c, &cl);
	lfd = listen_any(cl.buf[9], sizeof(cl.buf[9]));
	cl.p.port = cl.buf[9];
	msgfd = spool(c);
	fflush(NULL);
	if ((pid = fork()) == 0)
		_exit(fake_run(c, lfd));
	assert_true(pid > 0);
	close(lfd);
	log_trace_enable(fileno(tr));
	longest_wait = 0;
	cl.p.accepted = count_accepted;
	accepted_calls = 0;
	watched = cl.pass;
	watched_len = strlen(cl.pass);
	unwiped_at_mail = 0;
	verify_refused = has_row(c, "verify_refused");
	rc = smtp_send(&cl.p, &cl.env, msgfd, &res, &rec);
	watched = NULL;
	verify_refused = 0;
	log_trace_enable(-1);
	if (accepted_calls != (rc == 0))
		bad(c->lineno, "accepted called %d times, smtp_send gave %d",
		    accepted_calls, rc);
	/* S35: wiped when AUTH ended, before MAIL; and in any case by the
	 * time the session is over. */
	if (unwiped_at_mail)
		bad(c->lineno, "the password was not wiped before MAIL");
	if (!all_zero(cl.pass, watched_len))
		bad(c->lineno, "the password was not wiped: \"%s\"", cl.pass);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		bad(c->lineno, "the server's script failed (status %d)", st);
	check_result(c, rc, &rec, &res);
	check_codes(c, &cl);
	check_wait(c);
	check_trace(c, &cl, tr);
	close(msgfd);
	fclose(tr);
}

static void
free_case(struct scase *c)
{
	while (c->n > 0)
		free(c->row[--c->n]);
}

/* Run the case collected so far, if any. */
static int
flush_case(struct scase *c)
{
	size_t i, expects = 0;

	if (c->n == 0)
		return 0;
	for (i = 0; i < c->n; i++)
		expects += row_arg(c->row[i], "expect") != NULL;
	if (row_arg(c->row[0], "case") == NULL || expects != 1)
		bad(c->lineno,
		    "a case starts with a case row and has one "
		    "expect row");
	else
		run_session(c);
	free_case(c);
	return 1;
}

static void
test_sessions(void **state)
{
	char row[ROW_MAX], *end;
	struct scase c = { 0 };
	int lineno = 0, cases = 0;
	FILE *f = fopen("../data/smtp_sessions.txt", "r");

	(void)state;
	assert_non_null(f);
	signal(SIGPIPE, SIG_IGN);
	failures = 0;
	while (fgets(row, sizeof(row), f) != NULL) {
		lineno++;
		if ((end = strchr(row, '\n')) != NULL)
			*end = '\0';
		if (row[0] == '#')
			continue;
		if (row[0] == '\0' || row_arg(row, "case") != NULL)
			cases += flush_case(&c);
		if (row[0] == '\0')
			continue;
		if (c.n == 0)
			c.lineno = lineno;
		assert_true(c.n < SCRIPT_MAX);
		c.rowno[c.n] = lineno;
		c.row[c.n++] = strdup(row);
	}
	cases += flush_case(&c);
	fclose(f);
	assert_true(cases >= 40);
	assert_int_equal(failures, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sasl_choose),
		cmocka_unit_test(test_sasl_choose_small),
		cmocka_unit_test(test_sessions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
