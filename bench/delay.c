/* SPDX-License-Identifier: ISC */
/*
 * delay: hold every packet of one netfilter queue for a fixed time, then
 * let it through.  make bench's stand-in for a long link (this kernel has
 * no netem qdisc): an iptables rule sends the client-to-server packets to
 * the queue (-j NFQUEUE --queue-num N) and this program accepts each one
 * DELAY_MS after it arrived.  Packets are held side by side, not one after
 * the other, so the delay adds latency and no bandwidth limit.
 *
 *	delay QUEUE_NUM DELAY_MS
 *
 * Prints "ready" on standard output once the queue is bound (add the rule
 * after that, or packets are dropped), runs until SIGTERM or SIGINT, then
 * lets every held packet go and exits 0.  Needs CAP_NET_ADMIN in the
 * network namespace of the rule.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>

#define DELAY_MAX_HELD 65536 /* packets held at once (a power of two) */

struct held {
	uint32_t id;
	struct timespec due;
};

/* Packets in arrival order; since each is held as long as the others,
 * that is also the order they are due in. */
struct delay {
	struct nfq_q_handle *qh;
	long delay_ns;
	struct held ring[DELAY_MAX_HELD];
	unsigned head, tail; /* head: next to release; tail: next free */
	int failed;
};

static volatile sig_atomic_t delay_stop;

static void
delay_on_signal(int sig)
{
	(void)sig;
	delay_stop = 1;
}

static long long
delay_ns_until(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000000000LL +
	    (t->tv_nsec - now.tv_nsec);
}

static int
delay_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
    struct nfq_data *nfa, void *arg)
{
	struct delay *d = arg;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	struct held *h;

	(void)msg;
	if (ph == NULL)
		return 0;
	if (d->tail - d->head >= DELAY_MAX_HELD) {
		/* Full: let it through at once rather than lose it. */
		nfq_set_verdict(qh, ntohl(ph->packet_id), NF_ACCEPT, 0, NULL);
		return 0;
	}
	h = &d->ring[d->tail % DELAY_MAX_HELD];
	h->id = ntohl(ph->packet_id);
	clock_gettime(CLOCK_MONOTONIC, &h->due);
	h->due.tv_nsec += d->delay_ns;
	h->due.tv_sec += h->due.tv_nsec / 1000000000L;
	h->due.tv_nsec %= 1000000000L;
	d->tail++;
	return 0;
}

/* Accept every held packet that is due (all of them with all set). */
static void
delay_release(struct delay *d, int all)
{
	while (d->head != d->tail) {
		struct held *h = &d->ring[d->head % DELAY_MAX_HELD];

		if (!all && delay_ns_until(&h->due) > 0)
			return;
		if (nfq_set_verdict(d->qh, h->id, NF_ACCEPT, 0, NULL) < 0) {
			fprintf(stderr, "delay: verdict for packet %u: %s\n",
			    h->id, strerror(errno));
			d->failed = 1;
		}
		d->head++;
	}
}

/* How long poll may sleep: until the oldest held packet is due. */
static struct timespec
delay_wait(const struct delay *d)
{
	struct timespec ts = { 1, 0 };
	long long ns;

	if (d->head == d->tail)
		return ts;
	ns = delay_ns_until(&d->ring[d->head % DELAY_MAX_HELD].due);
	if (ns < 0)
		ns = 0;
	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	return ts;
}

static void
delay_lost(struct delay *d)
{
	fprintf(stderr, "delay: queue messages lost (ENOBUFS)\n");
	d->failed = 1;
}

static void
delay_loop(struct delay *d, struct nfq_handle *h)
{
	static char buf[65536] __attribute__((aligned));
	struct pollfd pfd = { nfq_fd(h), POLLIN, 0 };

	while (!delay_stop) {
		struct timespec ts = delay_wait(d);
		ssize_t n;

		if (ppoll(&pfd, 1, &ts, NULL) > 0) {
			while ((n = recv(pfd.fd, buf, sizeof(buf),
				    MSG_DONTWAIT)) > 0)
				nfq_handle_packet(h, buf, (int)n);
			if (n < 0 && errno == ENOBUFS)
				delay_lost(d);
		}
		delay_release(d, 0);
	}
	delay_release(d, 1);
}

static int
delay_usage(void)
{
	fprintf(stderr, "usage: delay QUEUE_NUM DELAY_MS\n");
	return 64;
}

int
main(int argc, char **argv)
{
	static struct delay d;
	struct nfq_handle *h;
	struct sigaction sa;
	char *end;
	long qnum, ms;

	if (argc != 3)
		return delay_usage();
	qnum = strtol(argv[1], &end, 10);
	if (*end != '\0' || qnum < 0 || qnum > 65535)
		return delay_usage();
	ms = strtol(argv[2], &end, 10);
	if (*end != '\0' || ms < 0 || ms > 10000)
		return delay_usage();
	d.delay_ns = ms * 1000000L;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = delay_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	h = nfq_open();
	if (h == NULL) {
		perror("delay: nfq_open");
		return 71;
	}
	d.qh = nfq_create_queue(h, (uint16_t)qnum, delay_on_packet, &d);
	if (d.qh == NULL) {
		perror("delay: nfq_create_queue (queue taken, or not root?)");
		return 71;
	}
	if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0 ||
	    nfq_set_queue_maxlen(d.qh, DELAY_MAX_HELD) < 0) {
		perror("delay: nfq_set_mode");
		return 71;
	}
	nfnl_rcvbufsiz(nfq_nfnlh(h), 8 << 20);
	printf("ready\n");
	fflush(stdout);

	delay_loop(&d, h);
	nfq_destroy_queue(d.qh);
	nfq_close(h);
	return d.failed ? 70 : 0;
}
