/* SPDX-License-Identifier: ISC */
/*
 * Resolve the server's name and open one TCP connection to it.  Every
 * address the resolver returns is tried in turn, all within one time
 * budget, so a dead first address cannot use up the caller's whole wait.
 * The socket handed back is non-blocking: io.c does its waiting with poll.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

long long
net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fill rec for a getaddrinfo failure. */
static int
resolve_error(const char *host, const char *port, int rc, struct err *rec)
{
	switch (rc) {
	case EAI_NONAME:
	case EAI_NODATA:
	case EAI_ADDRFAMILY:
		return err_set(
		    rec, ERR_PERM, EX_NOHOST, "host %s not found", host);
	case EAI_SERVICE:
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "port %s is not a known service or number", port);
	case EAI_MEMORY:
		return err_set(rec, ERR_LOCAL, EX_OSERR,
		    "cannot look up host %s: out of memory", host);
	case EAI_SYSTEM:
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "cannot look up host %s: %s", host, strerror(errno));
	default:
		/* EAI_AGAIN and EAI_FAIL: the resolver may recover. */
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "cannot look up host %s: %s", host, gai_strerror(rc));
	}
}

/* Wait up to ms for a non-blocking connect on fd; returns 0 or an errno
 * value (ETIMEDOUT when the time runs out). */
static int
connect_wait(int fd, long long ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	long long deadline = net_now_ms() + ms, left;
	socklen_t elen = sizeof(int);
	int r, e = 0;

	for (;;) {
		left = deadline - net_now_ms();
		if (left <= 0)
			return ETIMEDOUT;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			break;
		if (r == 0)
			return ETIMEDOUT;
		if (errno != EINTR)
			return errno;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		return errno;
	return e;
}

/* Try one address for at most ms; returns the socket, or -1 with *eno
 * set to why. */
static int
connect_one(const struct addrinfo *ai, long long ms, int *eno)
{
	int fd, on = 1;

	fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		*eno = errno;
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		*eno = errno == EINPROGRESS ? connect_wait(fd, ms) : errno;
		if (*eno != 0) {
			close(fd);
			return -1;
		}
	}

	/* Each pipelined group must leave at once, not wait for Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
		*eno = errno;
		close(fd);
		return -1;
	}
	return fd;
}

static int
count_addrs(const struct addrinfo *ai)
{
	int n = 0;

	for (; ai != NULL; ai = ai->ai_next)
		n++;
	return n;
}

const char *
net_host(const char *host, char *buf, size_t sz, struct err *rec)
{
	size_t n = strlen(host);
	unsigned char a[sizeof(struct in6_addr)];

	if (n < 2 || host[0] != '[' || host[n - 1] != ']')
		return host;
	if (n - 2 < sz) {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		if (inet_pton(AF_INET6, buf, a) == 1 ||
		    inet_pton(AF_INET, buf, a) == 1)
			return buf;
	}
	err_set(rec, ERR_CONFIG, EX_CONFIG,
	    "host %.200s: brackets hold an IP address only (write host = \"mail.example.org\" for a name, host = \"::1\" or \"[::1]\" for an address)",
	    host);
	return NULL;
}

int
net_connect(const char *host, const char *port, int timeout_ms, struct err *rec)
{
	struct addrinfo hints, *res, *ai;
	long long deadline = net_now_ms() + timeout_ms, left;
	int rc, fd = -1, eno = ETIMEDOUT, n;
	char buf[NET_HOST_MAX];
	const char *name = net_host(host, buf, sizeof(buf), rec);

	if (name == NULL)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	rc = getaddrinfo(name, port, &hints, &res);
	if (rc != 0)
		return resolve_error(host, port, rc, rec);

	/*
	 * Each address gets an equal share of what is left, so a quick
	 * refusal hands its unused time on to the addresses after it.
	 */
	n = count_addrs(res);
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next, n--) {
		left = deadline - net_now_ms();
		if (left <= 0) {
			eno = ETIMEDOUT;
			break;
		}
		fd = connect_one(ai, left / n > 0 ? left / n : left, &eno);
	}
	freeaddrinfo(res);

	if (fd == -1)
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL,
		    "cannot connect to %s port %s: %s", host, port,
		    strerror(eno));
	return fd;
}
