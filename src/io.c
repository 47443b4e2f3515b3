/* SPDX-License-Identifier: ISC */
/*
 * Buffered line reader and writer over a non-blocking socket, plain or
 * TLS.  Every wait is a poll bounded by one monotonic deadline, so a
 * silent or dripping server costs at most the time the caller allowed
 * (security.md S18); every input line has a cap.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "io.h"
#include "net.h"

/* Room for the longest line, its CR LF, and what follows it. */
#define IO_IN_SIZE (IO_LONG_LINE_MAX + 4 * IO_LINE_MAX)
#define IO_OUT_SIZE (64 * 1024)

/* Used until the caller sets a deadline: RFC 5321 4.5.3.2 waits at most
 * five minutes for most replies, and no wait may be endless. */
#define IO_DEFAULT_WAIT_MS (5 * 60 * 1000)

struct io {
	int fd;
	gnutls_session_t tls;
	long long deadline;
	int dead;	 /* a TLS start failed: no byte may go out in clear */
	int refused;	 /* io_getline refused the line at in_start */
	size_t in_start; /* first unconsumed byte */
	size_t in_end;	 /* end of received bytes */
	size_t in_scan;	 /* bytes before this hold no LF and no NUL */
	size_t limit;	 /* longest line for this io_getline */
	size_t out_len;
	size_t in_used;	 /* bytes of in and out ever written, wiped */
	size_t out_used; /* at the end (io_free) */
	char in[IO_IN_SIZE];
	char out[IO_OUT_SIZE];
};

static int send_held(struct io *io, struct err *rec);

void
io_forget_sent(struct io *io)
{
	if (io == NULL || io->out_used <= io->out_len)
		return;
	explicit_bzero(io->out + io->out_len, io->out_used - io->out_len);
	io->out_used = io->out_len;
}

struct io *
io_new(int fd)
{
	struct io *io;
	int fl;

	/* Only the fields are cleared: the buffers are read only where
	 * written, and clearing 80 KiB is most of a send's own work. */
	if ((io = malloc(sizeof(*io))) == NULL)
		return NULL;
	memset(io, 0, offsetof(struct io, in));
	io->fd = fd;
	io->deadline = net_now_ms() + IO_DEFAULT_WAIT_MS;

	/* The waits below rely on a non-blocking socket. */
	fl = fcntl(fd, F_GETFL);
	if (fl != -1 && (fl & O_NONBLOCK) == 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	return io;
}

void
io_free(struct io *io)
{
	struct err ignored;

	if (io == NULL)
		return;
	if (io->tls != NULL) {
		/* One close_notify attempt (after a flight still held);
		 * waiting for the peer's gains nothing once the reply we
		 * needed has arrived. */
		(void)send_held(io, &ignored);
		gnutls_bye(io->tls, GNUTLS_SHUT_WR);
		tls_session_free(io->tls);
	}
	if (io->fd != -1)
		close(io->fd);

	/* The buffers have carried AUTH exchanges: wipe what they held. */
	if (io->out_len > io->out_used)
		io->out_used = io->out_len;
	explicit_bzero(io->in, io->in_used);
	explicit_bzero(io->out, io->out_used);
	explicit_bzero(io, offsetof(struct io, in));
	free(io);
}

void
io_set_deadline(struct io *io, long long deadline_ms)
{
	io->deadline = deadline_ms;
}

gnutls_session_t
io_tls(struct io *io)
{
	return io->tls;
}

size_t
io_pending(const struct io *io)
{
	size_t n = io->in_end - io->in_start;

	if (io->tls != NULL)
		n += gnutls_record_check_pending(io->tls);
	return n;
}

static int
timed_out(struct err *rec)
{
	return err_set(
	    rec, ERR_TEMP, EX_TEMPFAIL, "timed out waiting for the server");
}

/* Acknowledge what arrives at once while we wait for it.  Linux delays
 * the ACK of a segment (up to 40 ms) once a dialogue looks interactive,
 * and a server with Nagle's algorithm on holds its next write until that
 * ACK: Postfix writes its TLS 1.3 session ticket and then the reply to
 * EHLO, which waited 40 ms on loopback and a round trip more on a slow
 * link.  The setting does not stick (tcp(7)), so it is renewed before
 * each wait; a socket that is not TCP ignores it. */
static void
quick_ack(struct io *io)
{
	int on = 1;

	(void)setsockopt(io->fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
}

/* Wait for events on the socket until the deadline; 0 when it may be
 * ready (the next call tells), -1 with rec filled on timeout. */
static int
io_wait(struct io *io, short events, struct err *rec)
{
	struct pollfd pfd = { .fd = io->fd, .events = events };
	long long left = io->deadline - net_now_ms();
	int r;

	if (left <= 0)
		return timed_out(rec);
	if (events & POLLIN)
		quick_ack(io);
	r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	if (r == 0)
		return timed_out(rec);
	if (r == -1 && errno != EINTR)
		return err_set(
		    rec, ERR_LOCAL, EX_OSERR, "poll: %s", strerror(errno));
	return 0;
}

static int
lost(struct err *rec, const char *why)
{
	if (why == NULL)
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "connection lost: the server closed it");
	return err_set(rec, ERR_TEMP, EX_TEMPFAIL, "connection lost: %s", why);
}

/* Receive more bytes into the input buffer from the plain socket. */
static int
fill_plain(struct io *io, struct err *rec)
{
	ssize_t n;

	for (;;) {
		n = recv(io->fd, io->in + io->in_end,
		    sizeof(io->in) - io->in_end, 0);
		if (n > 0) {
			io->in_end += (size_t)n;
			if (io->in_end > io->in_used)
				io->in_used = io->in_end;
			return 0;
		}
		if (n == 0)
			return lost(rec, NULL);
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (io_wait(io, POLLIN, rec) == -1)
				return -1;
		} else if (errno != EINTR)
			return lost(rec, strerror(errno));
	}
}

/* Write len bytes of buf on the socket, waiting as needed. */
static int
send_all(struct io *io, const char *buf, size_t len, struct err *rec)
{
	size_t off = 0;
	ssize_t n;

	while (off < len) {
		n = send(io->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n >= 0)
			off += (size_t)n;
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (io_wait(io, POLLOUT, rec) == -1)
				return -1;
		} else if (errno != EINTR)
			return lost(rec, strerror(errno));
	}
	return 0;
}

/* Send what the TLS stage holds: the handshake's last flight when no
 * command has carried it yet (tls_handshake). */
static int
send_held(struct io *io, struct err *rec)
{
	const char *wire;
	size_t len;

	wire = tls_staged(io->tls, &len);
	return len > 0 ? send_all(io, wire, len, rec) : 0;
}

/* Receive more bytes into the input buffer through TLS. */
static int
fill_tls(struct io *io, struct err *rec)
{
	ssize_t n;
	short ev;

	if (send_held(io, rec) == -1)
		return -1;
	for (;;) {
		n = gnutls_record_recv(
		    io->tls, io->in + io->in_end, sizeof(io->in) - io->in_end);
		if (n > 0) {
			io->in_end += (size_t)n;
			if (io->in_end > io->in_used)
				io->in_used = io->in_end;
			return 0;
		}
		if (n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION)
			return lost(rec, NULL);
		if (n == GNUTLS_E_REHANDSHAKE)
			return err_set(rec, ERR_PERM, EX_PROTOCOL,
			    "server asked for TLS renegotiation (refused)");
		if (n == GNUTLS_E_AGAIN &&
		    gnutls_record_check_pending(io->tls) == 0) {
			ev = gnutls_record_get_direction(io->tls) == 1 ? POLLOUT
								       : POLLIN;
			if (io_wait(io, ev, rec) == -1)
				return -1;
		} else if (gnutls_error_is_fatal((int)n))
			return lost(rec, gnutls_strerror((int)n));
		else if (net_now_ms() >= io->deadline)
			return timed_out(rec);
	}
}

/* Look for the end of the line that starts at in_start.  Returns the
 * offset just past its LF, 0 when more bytes are needed, -1 on a bad
 * line. */
static ssize_t
find_eol(struct io *io, struct err *rec)
{
	char *lf, *nul;
	size_t from = io->in_scan, n = io->in_end - from;

	lf = memchr(io->in + from, '\n', n);
	if (lf != NULL)
		n = (size_t)(lf - (io->in + from));
	nul = memchr(io->in + from, '\0', n);
	if (nul != NULL)
		return err_set(
		    rec, ERR_PERM, EX_PROTOCOL, "the server sent a NUL byte");
	io->in_scan = from + n;

	/* The line without its CR: room for one CR before the LF. */
	n = io->in_scan - io->in_start;
	if (n > io->limit + 1 ||
	    (lf != NULL && n == io->limit + 1 &&
		io->in[io->in_scan - 1] != '\r'))
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "the server sent a line longer than %zu bytes", io->limit);
	return lf != NULL ? (ssize_t)io->in_scan + 1 : 0;
}

/* Move the unconsumed bytes to the front so the buffer can take more. */
static void
compact(struct io *io)
{
	size_t n = io->in_end - io->in_start;

	if (io->in_start == 0)
		return;
	memmove(io->in, io->in + io->in_start, n);
	io->in_scan -= io->in_start;
	io->in_end = n;
	io->in_start = 0;
}

static int
fill(struct io *io, struct err *rec)
{
	return io->tls != NULL ? fill_tls(io, rec) : fill_plain(io, rec);
}

static int
refuse_dead(struct err *rec)
{
	return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
	    "connection unusable after a failed TLS start");
}

int
io_getline(struct io *io, char *buf, size_t sz, size_t *len, struct err *rec)
{
	ssize_t eol;
	size_t n;

	if (io->dead)
		return refuse_dead(rec);
	io->limit = sz - 1 < IO_LINE_MAX ? IO_LINE_MAX
	    : sz - 1 > IO_LONG_LINE_MAX	 ? IO_LONG_LINE_MAX
					 : sz - 1;
	while ((eol = find_eol(io, rec)) == 0) {
		compact(io);
		if (fill(io, rec) == -1)
			return -1;
	}
	if (eol == -1) {
		io->refused = 1;
		return -1;
	}

	n = (size_t)eol - 1 - io->in_start;
	if (n > 0 && io->in[eol - 2] == '\r')
		n--;
	if (n >= sz)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "line buffer of %zu bytes too small", sz);
	memcpy(buf, io->in + io->in_start, n);
	buf[n] = '\0';
	*len = n;
	io->in_start = io->in_scan = (size_t)eol;
	return 0;
}

int
io_skip_line(struct io *io, struct err *rec)
{
	char *lf;

	while (io->refused) {
		lf = memchr(
		    io->in + io->in_start, '\n', io->in_end - io->in_start);
		if (lf != NULL) {
			io->in_start = io->in_scan = (size_t)(lf - io->in) + 1;
			io->refused = 0;
			return 0;
		}
		/* Nothing of the line is kept: the buffer takes more. */
		io->in_start = io->in_scan = io->in_end = 0;
		if (fill(io, rec) == -1)
			return -1;
	}
	return 0;
}

static int
flush_plain(struct io *io, struct err *rec)
{
	return send_all(io, io->out, io->out_len, rec);
}

/* The buffer (one pipelined group, or 64 KiB of a message) becomes TLS
 * records of 16 KiB at most, which GnuTLS would write one by one: they
 * are collected (tls_stage) and leave in one write, after the
 * handshake's last flight if it is still held. */
static int
flush_tls(struct io *io, struct err *rec)
{
	const char *wire;
	size_t off = 0, len;
	ssize_t n;

	tls_stage(io->tls, 1);
	while (off < io->out_len) {
		/* Collected, not sent: no E_AGAIN. */
		n = gnutls_record_send(
		    io->tls, io->out + off, io->out_len - off);
		if (n >= 0)
			off += (size_t)n;
		else if (n != GNUTLS_E_INTERRUPTED) {
			tls_stage(io->tls, 0);
			return lost(rec, gnutls_strerror((int)n));
		}
	}
	tls_stage(io->tls, 0);
	wire = tls_staged(io->tls, &len);
	return send_all(io, wire, len, rec);
}

int
io_flush(struct io *io, struct err *rec)
{
	int r;

	if (io->dead)
		return refuse_dead(rec);
	if (io->out_len == 0)
		return 0;
	r = io->tls != NULL ? flush_tls(io, rec) : flush_plain(io, rec);

	/* On failure the connection is unusable: never resend a part. */
	if (io->out_len > io->out_used)
		io->out_used = io->out_len;
	io->out_len = 0;
	return r;
}

int
io_put(struct io *io, const void *buf, size_t len, struct err *rec)
{
	const char *p = buf;
	size_t n;

	while (len > 0) {
		n = sizeof(io->out) - io->out_len;
		if (n > len)
			n = len;
		memcpy(io->out + io->out_len, p, n);
		io->out_len += n;
		p += n;
		len -= n;
		if (io->out_len == sizeof(io->out) && io_flush(io, rec) == -1)
			return -1;
	}
	return 0;
}

/* The checks and the handshake behind io_starttls. */
static int
tls_start(struct io *io, const struct tls_params *params, struct err *rec)
{
	gnutls_session_t s;

	/* RFC 3207 4.2: nothing the server sent before the handshake may
	 * be used after it (S04, CVE-2020-14954 and kin). */
	if (io->in_end > io->in_start)
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "unexpected data from %s after the 220 reply to STARTTLS %s",
		    params->host, "(possible response injection)");
	if (io->out_len > 0)
		return err_set(rec, ERR_LOCAL, EX_SOFTWARE,
		    "unsent data before the TLS handshake");

	if (tls_session_new(io->fd, params, &s, rec) == -1)
		return -1;
	if (tls_handshake(s, io->deadline, rec) == -1) {
		tls_session_free(s);
		return -1;
	}
	io->tls = s;
	return 0;
}

int
io_starttls(struct io *io, const struct tls_params *params, struct err *rec)
{
	if (io->tls != NULL)
		return err_set(rec, ERR_PERM, EX_PROTOCOL,
		    "TLS is already active on this connection");
	if (tls_start(io, params, rec) == 0)
		return 0;

	/* Never fall back to clear text on this connection (S11). */
	io->dead = 1;
	return -1;
}
