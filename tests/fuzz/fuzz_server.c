/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: -bs, the SMTP server on standard input (server_run).
 * The input is the client's side of the dialogue; the replies go to
 * /dev/null, and each message is read back by a relay callback that
 * takes, refuses or defers it as its first byte says.
 */
#include <fcntl.h>
#include <sysexits.h>

#include "fuzz.h"
#include "server.h"

static int
relay(void *arg, const struct server_msg *m, struct err *rec)
{
	char buf[4096], first = 0;
	ssize_t r;
	size_t i;

	(void)arg;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i] == NULL)
			abort();
	if ((r = read(m->fd, buf, sizeof(buf))) > 0)
		first = buf[0];
	while (r > 0)
		r = read(m->fd, buf, sizeof(buf));
	if (first == 'P')
		return err_set(rec, ERR_PERM, EX_DATAERR, "refused");
	if (first == 'T')
		return err_set(rec, ERR_TEMP, EX_TEMPFAIL, "deferred");
	err_set(rec, ERR_NONE, 0, "sent");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server_params p = { .hostname = "fuzz.example.org",
		.tmpdir = "/tmp",
		.timeout_ms = 1000 };
	struct err rec;
	int in = fuzz_fd(data, size), out;

	if ((out = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		abort();
	server_run(in, out, &p, relay, NULL, &rec);
	close(in);
	close(out);
	return 0;
}
