/* SPDX-License-Identifier: ISC */
/*
 * Helpers for the libFuzzer targets in tests/fuzz (security.md S42): the
 * entry point's prototype, the input as a C string, as a file descriptor,
 * and cut into pieces.  Static helpers, compiled into each target.
 */
#ifndef MAILHOP_FUZZ_H
#define MAILHOP_FUZZ_H

#include <sys/mman.h>
#include <sys/stat.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The n bytes at p as a malloc'ed C string (it ends at the first NUL). */
static inline char *
fuzz_str(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* A memory file holding the n bytes at p, read from its start, with
 * mode (0600 unless a target needs another). */
static inline int
fuzz_fd(const void *p, size_t n)
{
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	const char *c = p;
	ssize_t w;

	if (fd == -1)
		abort();
	if (fchmod(fd, 0600) == -1)
		abort();
	while (n > 0) {
		if ((w = write(fd, c, n)) <= 0)
			abort();
		c += w;
		n -= (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/* The next piece of *p (*n bytes left) up to sep, which is consumed;
 * *len gets its length.  NULL when nothing is left. */
static inline const char *
fuzz_piece(const char **p, size_t *n, int sep, size_t *len)
{
	const char *s = *p, *e;

	if (*n == 0)
		return NULL;
	e = memchr(s, sep, *n);
	*len = e != NULL ? (size_t)(e - s) : *n;
	*p += *len + (e != NULL);
	*n -= *len + (e != NULL);
	return s;
}

#endif
