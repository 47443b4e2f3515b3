/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: a message read as a send reads it (msg_read), with -t,
 * the header rewrites and read-ahead bytes chosen by the first byte.
 * The spool file must then hold what msg_read promises: CRLF line ends
 * only, no line over 998 octets, and as many bytes as m.size says.
 */
#include <stdio.h>

#include "fuzz.h"
#include "msg.h"

/* Bare names qualified, as alias_header_rewrite does. */
static char *
qualify(void *arg, const char *mailbox)
{
	char *s;

	(void)arg;
	if (strchr(mailbox, '@') != NULL || mailbox[0] == '\0')
		return NULL;
	if (asprintf(&s, "%s@example.org", mailbox) == -1)
		abort();
	return s;
}

static void
check_spool(const struct msg *m)
{
	char buf[65536];
	long long off = 0, col = 0;
	ssize_t r, i;
	int cr = 0;

	while ((r = pread(m->fd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < r; i++) {
			if (cr != (buf[i] == '\n'))
				abort(); /* a bare CR or LF */
			cr = buf[i] == '\r';
			col = buf[i] == '\n' ? 0 : col + 1;
			if (col > 999)
				abort(); /* a line over 998 octets */
		}
		off += r;
	}
	if (r == -1 || off != m->size || cr)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_opts o = { .from = "sender@example.org",
		.domain = "example.org",
		.tmpdir = "/tmp",
		.now = 1700000000 };
	struct msg m;
	struct err rec;
	unsigned flags;
	size_t head;
	int fd;

	if (size < 2)
		return 0;
	flags = data[0];
	head = data[1] < size - 2 ? data[1] : size - 2;
	data += 2;
	size -= 2;
	o.extract = flags & 1;
	o.rewrite = flags & 2 ? qualify : NULL;
	o.from_rewrite = flags & 4 ? qualify : NULL;
	o.fullname = flags & 8 ? "Fuzz \"Q\" Tester \xc3\xa9" : NULL;
	if (flags & 16) {
		o.head = (const char *)data;
		o.head_len = head;
		data += head;
		size -= head;
	}
	fd = fuzz_fd(data, size);
	if (msg_read(fd, &o, &m, &rec) == 0) {
		check_spool(&m);
		msg_free(&m);
	}
	close(fd);
	return 0;
}
