/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the read-ahead of a message's header (peek_header) that
 * picks the account by From.  The bytes it read must be the input's
 * first, and what it left must be the rest.
 */
#include "fuzz.h"
#include "peek.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_list from = { 0 };
	struct peek p = { 0 };
	struct err rec;
	int fd = fuzz_fd(data, size);
	off_t off;

	if (peek_header(fd, &p, &from, &rec) == 0) {
		off = lseek(fd, 0, SEEK_CUR);
		if (p.len > size || (off_t)p.len != off ||
		    memcmp(p.buf, data, p.len) != 0 || (p.eof && p.len != size))
			abort();
		peek_free(&p);
	}
	addr_list_free(&from);
	close(fd);
	return 0;
}
