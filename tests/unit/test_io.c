/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for io.c, tls.c and net.c: a thread plays the server over a
 * socketpair (plain, or TLS with the certificates in tests/data, made by
 * io_certs.sh), and each table row is one case.  Run from tests/unit.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "io.h"
#include "net.h"
#include "tls.h"

#define DATA "../data/"
#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- helpers ---- */

static void
check_err(const struct err *rec, enum err_class cls, int code, const char *text)
{
	if (rec->class != cls || rec->code != code ||
	    strstr(rec->text, text) == NULL)
		fail_msg("got class %d code %d \"%s\", want %d %d \"%s\"",
		    rec->class, rec->code, rec->text, cls, code, text);
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* ---- io_getline over a plain socket ---- */

struct chunk {
	const char *p;
	size_t n;
};

#define B(s)                     \
	{                        \
		s, sizeof(s) - 1 \
	}

struct line_case {
	const char *name;
	size_t fill;		/* 'x' bytes sent first */
	struct chunk chunks[4]; /* then these, 20 ms apart */
	int keep_open;		/* else the server closes after them */
	const char *lines[4];	/* expected lines; the x's lead lines[0] */
	int deadline_ms;	/* 0: 3000 */
	enum err_class cls;	/* then getline fails so */
	int code;
	const char *text;
	int min_ms, max_ms; /* and took this long, if max_ms > 0 */
};

static const struct line_case line_cases[] = {
	{ "crlf", 0, { B("250-a\r\n250 b\r\n") }, 0, { "250-a", "250 b" }, 0,
	    ERR_TEMP, EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "bare-lf", 0, { B("a\nb\r\nc\n") }, 0, { "a", "b", "c" }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "empty-lines", 0, { B("\r\n\n") }, 0, { "", "" }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "lone-cr-kept", 0, { B("a\rb\r\r\n") }, 0, { "a\rb\r" }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "split", 0, { B("25"), B("0 o"), B("k\r"), B("\n") }, 0, { "250 ok" },
	    0, ERR_TEMP, EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "max-crlf", IO_LINE_MAX, { B("\r\n") }, 0, { "" }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "max-lf", IO_LINE_MAX, { B("\n") }, 0, { "" }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "max-split-crlf", IO_LINE_MAX, { B("\r"), B("\n250 x\r\n") }, 0,
	    { "", "250 x" }, 0, ERR_TEMP, EX_TEMPFAIL, "connection lost", 0,
	    0 },
	{ "over-crlf", IO_LINE_MAX + 1, { B("\r\n") }, 0, { NULL }, 0, ERR_PERM,
	    EX_PROTOCOL, "longer than", 0, 0 },
	{ "over-lf", IO_LINE_MAX + 1, { B("\n") }, 0, { NULL }, 0, ERR_PERM,
	    EX_PROTOCOL, "longer than", 0, 0 },
	{ "endless-line", 3 * IO_LINE_MAX, { { NULL, 0 } }, 1, { NULL }, 0,
	    ERR_PERM, EX_PROTOCOL, "longer than", 0, 1000 },
	{ "nul", 0, { B("25\0 ok\r\n") }, 0, { NULL }, 0, ERR_PERM, EX_PROTOCOL,
	    "NUL", 0, 0 },
	{ "nul-after-line", 0, { B("220 ok\r\n"), B("2\0\r\n") }, 0,
	    { "220 ok" }, 0, ERR_PERM, EX_PROTOCOL, "NUL", 0, 0 },
	{ "eof-mid-line", 0, { B("250 partial") }, 0, { NULL }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "eof-at-once", 0, { { NULL, 0 } }, 0, { NULL }, 0, ERR_TEMP,
	    EX_TEMPFAIL, "connection lost", 0, 0 },
	{ "deadline-silent", 0, { { NULL, 0 } }, 1, { NULL }, 300, ERR_TEMP,
	    EX_TEMPFAIL, "timed out waiting for the server", 250, 1500 },
	{ "deadline-mid-line", 0, { B("250 par") }, 1, { NULL }, 300, ERR_TEMP,
	    EX_TEMPFAIL, "timed out waiting for the server", 250, 1500 },
};

struct feed {
	int fd;
	size_t fill;
	const struct chunk *chunks;
	int close_after;
};

static void *
feeder(void *arg)
{
	struct feed *f = arg;
	char *x;
	int i;

	if (f->fill > 0) {
		x = malloc(f->fill);
		memset(x, 'x', f->fill);
		write_all(f->fd, x, f->fill);
		free(x);
	}
	for (i = 0; i < 4 && f->chunks[i].p != NULL; i++) {
		usleep(20000);
		write_all(f->fd, f->chunks[i].p, f->chunks[i].n);
	}
	if (f->close_after)
		close(f->fd);
	return NULL;
}

static void
expect_line(struct io *io, size_t fill, const char *want)
{
	char buf[IO_LINE_MAX + 1];
	struct err rec;
	size_t len = 0, wlen = strlen(want);

	err_clear(&rec);
	if (io_getline(io, buf, sizeof(buf), &len, &rec) == -1)
		fail_msg("io_getline failed: %s", rec.text);
	assert_int_equal(len, fill + wlen);
	assert_int_equal(strlen(buf), len);
	assert_true(strspn(buf, "x") >= fill);
	assert_memory_equal(buf + fill, want, wlen);
}

static void
test_getline(void **state)
{
	const struct line_case *c = *state;
	struct feed f;
	pthread_t t;
	struct io *io;
	struct err rec;
	char buf[IO_LINE_MAX + 1];
	size_t len, i;
	long long t0, ms;
	int sv[2];

	pair(sv);
	f = (struct feed){ sv[1], c->fill, c->chunks, !c->keep_open };
	assert_int_equal(pthread_create(&t, NULL, feeder, &f), 0);
	assert_non_null(io = io_new(sv[0]));
	io_set_deadline(
	    io, net_now_ms() + (c->deadline_ms ? c->deadline_ms : 3000));

	for (i = 0; i < 4 && c->lines[i] != NULL; i++)
		expect_line(io, i == 0 ? c->fill : 0, c->lines[i]);
	err_clear(&rec);
	t0 = net_now_ms();
	assert_int_equal(io_getline(io, buf, sizeof(buf), &len, &rec), -1);
	ms = net_now_ms() - t0;
	check_err(&rec, c->cls, c->code, c->text);
	if (c->max_ms > 0 && (ms < c->min_ms || ms > c->max_ms))
		fail_msg("took %lld ms, want %d..%d", ms, c->min_ms, c->max_ms);

	pthread_join(t, NULL);
	if (c->keep_open)
		close(sv[1]);
	io_free(io);
}

/* A caller's larger buffer allows longer lines (AUTH challenges, S25),
 * up to IO_LONG_LINE_MAX; the default buffer still stops at IO_LINE_MAX.
 * Rows: line length, buffer size, 0 or the error text.  After each, the
 * next line is read whole: io_skip_line drops the rest of a refused line
 * (a 1 MiB one too, more than the input buffer holds) and nothing of a
 * line that was not refused. */
static void
test_getline_long(void **state)
{
	static const struct {
		size_t fill, sz;
		const char *err;
	} rows[] = {
		{ 20000, IO_LONG_LINE_MAX + 8, NULL },
		{ IO_LONG_LINE_MAX, IO_LONG_LINE_MAX + 8, NULL },
		{ IO_LONG_LINE_MAX + 1, IO_LONG_LINE_MAX + 8,
		    "longer than 65536 bytes" },
		{ IO_LONG_LINE_MAX, 2 * IO_LONG_LINE_MAX, NULL },
		{ IO_LONG_LINE_MAX + 1, 2 * IO_LONG_LINE_MAX, "longer than" },
		{ IO_LINE_MAX + 1, IO_LINE_MAX + 1, "longer than 4096 bytes" },
		{ 1 << 20, IO_LONG_LINE_MAX + 8, "longer than 65536 bytes" },
	};
	static const struct chunk end[] = { B("\r\n501 5.7.0 next\r\n"),
		{ NULL, 0 } };
	static char buf[2 * IO_LONG_LINE_MAX];
	struct feed f;
	struct err rec;
	struct io *io;
	pthread_t t;
	size_t i, len;
	int sv[2], r;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pair(sv);
		f = (struct feed){ sv[1], rows[i].fill, end, 1 };
		assert_int_equal(pthread_create(&t, NULL, feeder, &f), 0);
		assert_non_null(io = io_new(sv[0]));
		io_set_deadline(io, net_now_ms() + 3000);
		err_clear(&rec);
		r = io_getline(io, buf, rows[i].sz, &len, &rec);
		if (rows[i].err == NULL && (r != 0 || len != rows[i].fill))
			fail_msg("row %zu: %s", i, rec.text);
		if (rows[i].err != NULL)
			check_err(&rec, ERR_PERM, EX_PROTOCOL, rows[i].err);
		if (io_skip_line(io, &rec) != 0)
			fail_msg("row %zu: io_skip_line: %s", i, rec.text);
		expect_line(io, 0, "501 5.7.0 next");
		pthread_join(t, NULL);
		io_free(io);
	}
}

/* ---- io_put and io_flush ---- */

struct sink {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *
drain(void *arg)
{
	struct sink *s = arg;
	ssize_t n;

	while (s->len < s->cap &&
	    (n = recv(s->fd, s->buf + s->len, s->cap - s->len, 0)) > 0)
		s->len += (size_t)n;
	return NULL;
}

/* More than the output buffer and the socket buffers hold, in odd
 * pieces: the writer must wait for POLLOUT and lose nothing. */
static void
test_flush_large(void **state)
{
	size_t total = (1 << 20) + 123, off, n, i;
	char *data = malloc(total);
	struct sink s = { 0, NULL, 0, 0 };
	struct err rec;
	struct io *io;
	pthread_t t;
	int sv[2];

	(void)state;
	for (i = 0; i < total; i++)
		data[i] = (char)(i * 7 + i / 251);
	pair(sv);
	s = (struct sink){ sv[1], calloc(1, total + 1), 0, total + 1 };
	assert_int_equal(pthread_create(&t, NULL, drain, &s), 0);
	assert_non_null(io = io_new(sv[0]));
	io_set_deadline(io, net_now_ms() + 5000);

	err_clear(&rec);
	for (off = 0; off < total; off += n) {
		n = total - off < 9999 ? total - off : 9999;
		assert_int_equal(io_put(io, data + off, n, &rec), 0);
	}
	assert_int_equal(io_flush(io, &rec), 0);
	io_free(io);
	pthread_join(t, NULL);

	assert_int_equal(s.len, total);
	assert_memory_equal(s.buf, data, total);
	close(sv[1]);
	free(s.buf);
	free(data);
}

/* A peer that has gone: an error, and no SIGPIPE killing the test. */
static void
test_flush_closed_peer(void **state)
{
	struct err rec;
	struct io *io;
	int sv[2];

	(void)state;
	pair(sv);
	close(sv[1]);
	assert_non_null(io = io_new(sv[0]));
	io_set_deadline(io, net_now_ms() + 2000);
	err_clear(&rec);
	assert_int_equal(io_put(io, "QUIT\r\n", 6, &rec), 0);
	assert_int_equal(io_flush(io, &rec), -1);
	check_err(&rec, ERR_TEMP, EX_TEMPFAIL, "connection lost");
	io_free(io);
}

/* ---- io_starttls before the handshake ---- */

/* S04: the 220 and injected replies arrive in one segment. */
static void
test_starttls_injection(void **state)
{
	static const struct chunk inj[] = {
		B("220 ready\r\n250-evil\r\n250 AUTH LOGIN\r\n"), { NULL, 0 }
	};
	struct tls_params p = { .host = "localhost",
		.ca_file = DATA "io_ca.pem" };
	struct feed f;
	struct err rec;
	struct io *io;
	pthread_t t;
	char buf[64];
	int sv[2];

	(void)state;
	pair(sv);
	f = (struct feed){ sv[1], 0, inj, 0 };
	assert_int_equal(pthread_create(&t, NULL, feeder, &f), 0);
	assert_non_null(io = io_new(sv[0]));
	io_set_deadline(io, net_now_ms() + 3000);
	expect_line(io, 0, "220 ready");
	assert_true(io_pending(io) > 0);

	err_clear(&rec);
	assert_int_equal(io_starttls(io, &p, &rec), -1);
	check_err(&rec, ERR_PERM, EX_PROTOCOL, "possible response injection");
	assert_null(io_tls(io));

	/* Nothing more may leave in clear, not even QUIT (S11). */
	assert_int_equal(io_put(io, "QUIT\r\n", 6, &rec), 0);
	assert_int_equal(io_flush(io, &rec), -1);
	pthread_join(t, NULL);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	close(sv[1]);
	io_free(io);
}

struct hs_case {
	const char *name;
	struct chunk reply[2]; /* what the "server" sends */
	int deadline_ms;
	enum err_class cls;
	int code;
	const char *text;
	int min_ms, max_ms;
};

static const struct hs_case hs_cases[] = {
	{ "hs-silent-server", { { NULL, 0 } }, 300, ERR_TEMP, EX_TEMPFAIL,
	    "TLS handshake with localhost timed out", 250, 1500 },
	{ "hs-plain-text-server", { B("220 mail.example.org ESMTP\r\n") }, 3000,
	    ERR_PERM, EX_UNAVAILABLE, "try tls = starttls", 0, 1500 },
	{ "hs-close", { { NULL, 0 } }, -1, ERR_TEMP, EX_TEMPFAIL,
	    "connection lost", 0, 1500 },
};

static void
test_handshake_fault(void **state)
{
	const struct hs_case *c = *state;
	struct tls_params p = { .host = "localhost",
		.ca_file = DATA "io_ca.pem" };
	struct feed f;
	struct err rec;
	struct io *io;
	pthread_t t;
	long long t0, ms;
	int sv[2];

	pair(sv);
	f = (struct feed){ sv[1], 0, c->reply, c->deadline_ms < 0 };
	assert_int_equal(pthread_create(&t, NULL, feeder, &f), 0);
	assert_non_null(io = io_new(sv[0]));
	io_set_deadline(
	    io, net_now_ms() + (c->deadline_ms < 0 ? 3000 : c->deadline_ms));

	err_clear(&rec);
	t0 = net_now_ms();
	assert_int_equal(io_starttls(io, &p, &rec), -1);
	ms = net_now_ms() - t0;
	check_err(&rec, c->cls, c->code, c->text);
	if (ms < c->min_ms || ms > c->max_ms)
		fail_msg("took %lld ms, want %d..%d", ms, c->min_ms, c->max_ms);
	assert_null(io_tls(io));
	pthread_join(t, NULL);
	if (c->deadline_ms >= 0)
		close(sv[1]);
	io_free(io);
}

/* ---- TLS against a GnuTLS server thread ---- */

struct tls_case {
	const char *name;
	const char *host; /* reference identity */
	const char *ca_file;
	const char *server_prio; /* NULL: NORMAL */
	const char *sni;	 /* what the server saw; "" none */
	enum err_class cls;	 /* ERR_NONE: success */
	int code;
	const char *text; /* error text, or the TLS version */
};

static const struct tls_case tls_cases[] = {
	{ "tls-ok-name", "localhost", DATA "io_ca.pem", NULL, "localhost",
	    ERR_NONE, 0, "TLS1.3" },
	{ "tls-ok-name-dot", "localhost.", DATA "io_ca.pem", NULL, "localhost",
	    ERR_NONE, 0, "TLS1.3" },
	{ "tls-ok-ipv4-no-sni", "127.0.0.1", DATA "io_ca.pem", NULL, "",
	    ERR_NONE, 0, "TLS1.3" },
	{ "tls-ok-tls12", "localhost", DATA "io_ca.pem",
	    "NORMAL:-VERS-ALL:+VERS-TLS1.2", "localhost", ERR_NONE, 0,
	    "TLS1.2" },
	{ "tls-wrong-name", "mail.example.org", DATA "io_ca.pem", NULL,
	    "mail.example.org", ERR_PERM, EX_UNAVAILABLE,
	    "certificate of mail.example.org not trusted" },
	{ "tls-ipv6-not-in-cert", "::1", DATA "io_ca.pem", NULL, "", ERR_PERM,
	    EX_UNAVAILABLE, "does not match" },
	/* A bracketed literal is the address (R6): no SNI, iPAddress. */
	{ "tls-ok-ipv4-bracketed", "[127.0.0.1]", DATA "io_ca.pem", NULL, "",
	    ERR_NONE, 0, "TLS1.3" },
	{ "tls-ipv6-bracketed-not-in-cert", "[::1]", DATA "io_ca.pem", NULL, "",
	    ERR_PERM, EX_UNAVAILABLE, "certificate of ::1 not trusted" },
	{ "tls-bracketed-name", "[localhost]", DATA "io_ca.pem", NULL, NULL,
	    ERR_CONFIG, EX_CONFIG, "brackets hold an IP address only" },
	{ "tls-unknown-ca", "localhost", DATA "io_other_ca.pem", NULL,
	    "localhost", ERR_PERM, EX_UNAVAILABLE,
	    "(set tls_ca_file to the CA that signed it; tls_pin is for a private server whose key you have checked with its operator)" },
	{ "tls-server-tls11", "localhost", DATA "io_ca.pem",
	    "NORMAL:-VERS-ALL:+VERS-TLS1.1", "localhost", ERR_PERM,
	    EX_UNAVAILABLE, "protocol version" },
	{ "tls-missing-ca-file", "localhost", DATA "io_nonexistent.pem", NULL,
	    NULL, ERR_CONFIG, EX_CONFIG, "tls_ca_file" },
	{ "tls-ca-file-not-pem", "localhost", DATA "io_certs.sh", NULL, NULL,
	    ERR_CONFIG, EX_CONFIG, "tls_ca_file" },
};

struct tls_srv {
	int fd;
	const char *prio;
	char sni[256];
	int sni_seen;
};

static int
note_sni(gnutls_session_t s)
{
	struct tls_srv *sv = gnutls_session_get_ptr(s);
	size_t len = sizeof(sv->sni) - 1;
	unsigned int type;

	sv->sni_seen = 1;
	if (gnutls_server_name_get(s, sv->sni, &len, &type, 0) != 0)
		sv->sni[0] = '\0';
	return 0;
}

/* Handshake; send a greeting; echo one record; close without
 * close_notify. */
/* The server's certificate and key: io_server.pem unless a forced
 * case names the wildcard one. */
static const char *srv_cert = DATA "io_server.pem";
static const char *srv_key = DATA "io_server.key";

static void *
tls_server(void *arg)
{
	struct tls_srv *sv = arg;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char buf[256];
	ssize_t n;

	gnutls_certificate_allocate_credentials(&cred);
	gnutls_certificate_set_x509_key_file(
	    cred, srv_cert, srv_key, GNUTLS_X509_FMT_PEM);
	gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_SIGNAL);
	gnutls_priority_set_direct(s, sv->prio ? sv->prio : "NORMAL", NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_session_set_ptr(s, sv);
	gnutls_handshake_set_post_client_hello_function(s, note_sni);
	gnutls_transport_set_int(s, sv->fd);
	gnutls_handshake_set_timeout(s, 5000);
	if (gnutls_handshake(s) == 0) {
		gnutls_record_send(s, "220 tls ok\r\n", 12);
		n = gnutls_record_recv(s, buf, sizeof(buf));
		if (n > 0)
			gnutls_record_send(s, buf, (size_t)n);
	}
	close(sv->fd);
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(cred);
	return NULL;
}

/* After a good handshake: lines both ways, then the server's close. */
static void
tls_talk(struct io *io, const char *version)
{
	struct err rec;
	char buf[IO_LINE_MAX + 1];
	size_t len;

	assert_non_null(io_tls(io));
	assert_string_equal(tls_version_name(io_tls(io)), version);
	expect_line(io, 0, "220 tls ok");
	err_clear(&rec);
	assert_int_equal(io_put(io, "EHLO me\r\n", 9, &rec), 0);
	assert_int_equal(io_flush(io, &rec), 0);
	expect_line(io, 0, "EHLO me");
	assert_int_equal(io_getline(io, buf, sizeof(buf), &len, &rec), -1);
	check_err(&rec, ERR_TEMP, EX_TEMPFAIL, "connection lost");
}

static void
test_tls(void **state)
{
	const struct tls_case *c = *state;
	struct tls_params p = { .host = c->host, .ca_file = c->ca_file };
	struct tls_srv sv;
	struct err rec;
	struct io *io;
	pthread_t t;
	int fds[2], r;

	pair(fds);
	memset(&sv, 0, sizeof(sv));
	sv.fd = fds[1];
	sv.prio = c->server_prio;
	assert_int_equal(pthread_create(&t, NULL, tls_server, &sv), 0);
	assert_non_null(io = io_new(fds[0]));
	io_set_deadline(io, net_now_ms() + 5000);

	err_clear(&rec);
	r = io_starttls(io, &p, &rec);
	if (c->cls == ERR_NONE) {
		if (r == -1)
			fail_msg("io_starttls failed: %s", rec.text);
		tls_talk(io, c->text);
	} else {
		assert_int_equal(r, -1);
		check_err(&rec, c->cls, c->code, c->text);
		assert_null(io_tls(io));
	}
	io_free(io);
	pthread_join(t, NULL);
	if (c->sni != NULL) {
		assert_true(sv.sni_seen);
		assert_string_equal(sv.sni, c->sni);
	}
}

/* S15: the verdict is GnuTLS's status, not only its return code (the
 * msmtp CVE-2019-8337 and ulfius class).  Calls from tls.c to
 * gnutls_certificate_verify_peers3 come here (ld --wrap, Makefile
 * WRAP_io): a good certificate's check gets the row's status bits, or
 * its error return, added. */
int __real_gnutls_certificate_verify_peers3(
    gnutls_session_t s, const char *host, unsigned int *status);
int __wrap_gnutls_certificate_verify_peers3(
    gnutls_session_t s, const char *host, unsigned int *status);

static unsigned int forced_status;
static int forced_ret;

int
__wrap_gnutls_certificate_verify_peers3(
    gnutls_session_t s, const char *host, unsigned int *status)
{
	int r = __real_gnutls_certificate_verify_peers3(s, host, status);

	*status |= forced_status;
	return forced_ret != 0 ? forced_ret : r;
}

struct forced_case {
	const char *name;
	unsigned int status;
	int ret;
	const char *text; /* NULL: accepted */
	int wild;	  /* io_wild.pem (*.example.org) for mail.example.org */
};

static const struct forced_case forced_cases[] = {
	{ "tls-forced-none", 0, 0, NULL, 0 },
	{ "tls-forced-revoked", GNUTLS_CERT_INVALID | GNUTLS_CERT_REVOKED, 0,
	    "revoked", 0 },
	{ "tls-forced-revoked-bit-alone", GNUTLS_CERT_REVOKED, 0, "revoked",
	    0 },
	{ "tls-forced-insecure",
	    GNUTLS_CERT_INVALID | GNUTLS_CERT_INSECURE_ALGORITHM, 0,
	    "insecure algorithm", 0 },
	{ "tls-forced-invalid-alone", GNUTLS_CERT_INVALID, 0,
	    "certificate of localhost not trusted", 0 },
	{ "tls-forced-error-return", 0, GNUTLS_E_MEMORY_ERROR,
	    "certificate of localhost not trusted", 0 },
	/* A name that matched only through a whole-label wildcard: the
	 * chain is checked again without the name and that verdict taken
	 * whole.  Clearing the wrong-name bit accepted the INVALID one. */
	{ "tls-forced-wildcard-none", 0, 0, NULL, 1 },
	{ "tls-forced-wildcard-invalid-alone", GNUTLS_CERT_INVALID, 0,
	    "certificate of mail.example.org not trusted", 1 },
	{ "tls-forced-wildcard-expired",
	    GNUTLS_CERT_INVALID | GNUTLS_CERT_EXPIRED, 0, "expired", 1 },
	{ "tls-forced-wildcard-error-return", 0, GNUTLS_E_MEMORY_ERROR,
	    "certificate of mail.example.org not trusted", 1 },
};

static int
forced_reset(void **state)
{
	(void)state;
	forced_status = 0;
	forced_ret = 0;
	srv_cert = DATA "io_server.pem";
	srv_key = DATA "io_server.key";
	return 0;
}

static void
test_tls_forced(void **state)
{
	const struct forced_case *c = *state;
	const char *host = c->wild ? "mail.example.org" : "localhost";
	struct tls_case t = { c->name, host,
		c->wild ? DATA "io_wild_ca.pem" : DATA "io_ca.pem", NULL, host,
		c->text != NULL ? ERR_PERM : ERR_NONE,
		c->text != NULL ? EX_UNAVAILABLE : 0,
		c->text != NULL ? c->text : "TLS1.3" };
	void *p = &t;

	if (c->wild) {
		srv_cert = DATA "io_wild.pem";
		srv_key = DATA "io_wild.key";
	}

	forced_status = c->status;
	forced_ret = c->ret;
	test_tls(&p);
}

/* ---- net_connect ---- */

/* A listening socket on 127.0.0.1; returns it and its port. */
static int
listener(char *port, size_t sz, int backlog)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	snprintf(port, sz, "%u", ntohs(sin.sin_port));
	return fd;
}

static void
test_net_ok(void **state)
{
	char port[16];
	struct err rec;
	int lfd, fd, on = 0, fl;
	socklen_t len = sizeof(on);

	(void)state;
	lfd = listener(port, sizeof(port), 5);
	err_clear(&rec);
	fd = net_connect("localhost", port, 3000, &rec);
	if (fd == -1)
		fail_msg("net_connect: %s", rec.text);
	assert_true((fl = fcntl(fd, F_GETFL)) != -1 && (fl & O_NONBLOCK));
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(
	    getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	assert_true(on);
	close(fd);
	close(lfd);
}

struct net_case {
	const char *name;
	const char *host; /* "127.0.0.1" gets a closed or full port */
	int full;	  /* the listener's queue is full: SYNs vanish */
	int timeout_ms;
	enum err_class cls;
	int code;
	const char *text;
	int min_ms, max_ms;
};

static const struct net_case net_cases[] = {
	{ "net-refused", "127.0.0.1", 0, 3000, ERR_TEMP, EX_TEMPFAIL,
	    "cannot connect to 127.0.0.1 port ", 0, 1000 },
	{ "net-no-such-host", "nonexistent.invalid", 0, 3000, ERR_PERM,
	    EX_NOHOST, "host nonexistent.invalid not found", 0, 3000 },
	{ "net-budget", "127.0.0.1", 1, 300, ERR_TEMP, EX_TEMPFAIL,
	    "Connection timed out", 250, 1500 },
	/* R6: "[::1]" as URLs write it; a name in brackets is refused. */
	{ "net-refused-bracketed", "[127.0.0.1]", 0, 3000, ERR_TEMP,
	    EX_TEMPFAIL, "cannot connect to [127.0.0.1] port ", 0, 1000 },
	{ "net-bracketed-name", "[localhost]", 0, 3000, ERR_CONFIG, EX_CONFIG,
	    "host [localhost]: brackets hold an IP address only (write host = ",
	    0, 100 },
	{ "net-bracketed-empty", "[]", 0, 3000, ERR_CONFIG, EX_CONFIG,
	    "brackets hold an IP address only", 0, 100 },
};

static void
test_net_fail(void **state)
{
	const struct net_case *c = *state;
	char port[16] = "25";
	struct err rec;
	int lfd = -1, fill[4], i, n = 0;
	long long t0, ms;

	if (strcmp(c->host, "127.0.0.1") == 0 ||
	    strcmp(c->host, "[127.0.0.1]") == 0) {
		lfd = listener(port, sizeof(port), 0);
		if (!c->full) {
			close(lfd);
			lfd = -1;
		}
	}
	for (i = 0; c->full && i < 4; i++) {
		fill[n] = net_connect("127.0.0.1", port, 100, &rec);
		if (fill[n] != -1)
			n++;
	}

	err_clear(&rec);
	t0 = net_now_ms();
	assert_int_equal(net_connect(c->host, port, c->timeout_ms, &rec), -1);
	ms = net_now_ms() - t0;
	check_err(&rec, c->cls, c->code, c->text);
	if (ms < c->min_ms || ms > c->max_ms)
		fail_msg("took %lld ms, want %d..%d", ms, c->min_ms, c->max_ms);
	if (c->cls == ERR_TEMP && !c->full)
		assert_non_null(strstr(rec.text, "Connection refused"));
	while (n > 0)
		close(fill[--n]);
	if (lfd != -1)
		close(lfd);
}

/* ---- main ---- */

/* One cmocka test per row of a table whose rows start with their name. */
static size_t
add_rows(struct CMUnitTest *out, size_t k, CMUnitTestFunction fn,
    const void *rows, size_t n, size_t stride)
{
	const char *row = rows;
	size_t i;

	for (i = 0; i < n; i++, row += stride)
		out[k++] = (struct CMUnitTest){ *(const char *const *)row, fn,
			NULL, NULL, (void *)row };
	return k;
}

#define ADD_ROWS(out, k, fn, t) \
	add_rows(out, k, fn, t, NROWS(t), sizeof((t)[0]))

int
main(void)
{
	struct CMUnitTest tests[NROWS(line_cases) + NROWS(hs_cases) +
	    NROWS(tls_cases) + NROWS(forced_cases) + NROWS(net_cases) + 8];
	size_t i, k = 0;

	/* A wait that ignores its deadline must fail the run, not hang it. */
	alarm(120);
	k = ADD_ROWS(tests, k, test_getline, line_cases);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_getline_long);
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_flush_large);
	tests[k++] =
	    (struct CMUnitTest)cmocka_unit_test(test_flush_closed_peer);
	tests[k++] =
	    (struct CMUnitTest)cmocka_unit_test(test_starttls_injection);
	k = ADD_ROWS(tests, k, test_handshake_fault, hs_cases);
	k = ADD_ROWS(tests, k, test_tls, tls_cases);
	for (i = 0; i < NROWS(forced_cases); i++)
		tests[k++] =
		    (struct CMUnitTest){ forced_cases[i].name, test_tls_forced,
			    NULL, forced_reset, (void *)&forced_cases[i] };
	tests[k++] = (struct CMUnitTest)cmocka_unit_test(test_net_ok);
	k = ADD_ROWS(tests, k, test_net_fail, net_cases);
	return _cmocka_run_group_tests("io", tests, k, NULL, NULL);
}
