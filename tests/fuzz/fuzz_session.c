/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: a whole client session in plaintext (smtp_send).  The
 * input, after its first byte, is the server's side of the stream, put
 * into a socketpair that net_connect returns (ld --wrap); what the
 * client writes is left unread.  The first byte picks the envelope:
 * partial delivery, 8-bit, SMTPUTF8, DSN requests, one or three
 * recipients, AUTH.
 */
#include <sys/socket.h>

#include <signal.h>

#include "err.h"
#include "fuzz.h"
#include "smtp.h"

int __wrap_net_connect(
    const char *host, const char *port, int timeout_ms, struct err *rec);

static const uint8_t *stream;
static size_t stream_len;
static int peer = -1;

int
__wrap_net_connect(
    const char *host, const char *port, int timeout_ms, struct err *rec)
{
	int sv[2];

	(void)host, (void)port, (void)timeout_ms, (void)rec;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	if (stream_len > 0 &&
	    write(sv[1], stream, stream_len) != (ssize_t)stream_len)
		abort();
	shutdown(sv[1], SHUT_WR);
	peer = sv[1];
	return sv[0];
}

static const char body[] = "From: a@example.org\r\nTo: b@example.org\r\n"
			   "Subject: fuzz\r\n\r\nline\r\n.dot\r\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpt[] = { "b@example.org", "c@example.org",
		"d@example.net" };
	struct smtp_params p = { .host = "mx.example.org",
		.port = "25",
		.tls = SMTP_TLS_OFF,
		.helo = "client.example.org",
		.timeout_ms = 1000 };
	struct smtp_envelope env = { .from = "a@example.org", .rcpt = rcpt };
	struct smtp_result res;
	struct err rec;
	int codes[3], fd;
	char pw[] = "pass.word";

	if (size < 1 || size > 65536)
		return 0;
	signal(SIGPIPE, SIG_IGN);
	stream = data + 1;
	stream_len = size - 1;
	p.partial = data[0] & 1;
	env.eightbit = (data[0] >> 1) & 1;
	env.smtputf8 = (data[0] >> 2) & 1;
	if (data[0] & 8) {
		env.notify = "SUCCESS,FAILURE";
		env.ret = "HDRS";
		env.envid = "id+1=x";
	}
	env.nrcpt = data[0] & 16 ? 3 : 1;
	env.rcpt_codes = data[0] & 32 ? codes : NULL;
	if (data[0] & 64) {
		p.auth = data[0] & 128 ? SMTP_AUTH_ANY : SMTP_AUTH_MECH;
		p.mech = "PLAIN";
		p.user = "alice";
		p.password = pw;
	}
	fd = fuzz_fd(body, sizeof(body) - 1);
	smtp_send(&p, &env, fd, &res, &rec);
	close(fd);
	if (peer != -1)
		close(peer);
	peer = -1;
	return 0;
}
