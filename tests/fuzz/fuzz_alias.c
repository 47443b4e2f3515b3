/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: an aliases file (alias_load through /proc/self/fd of a
 * memory file), then every name of a fixed set expanded, the catch-all
 * among them, and the header rewrites run on each.
 */
#include <stdio.h>

#include "alias.h"
#include "fuzz.h"

static const char *const names[] = { "root", "postmaster", "a", "x", "nobody",
	"Root", "\"a b\"", "a@b.example", "" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alias_ctx ctx = { .local_domain = "example.org",
		.from = "me@example.org",
		.hostname = "host.example.org",
		.canon_done = 1 };
	struct alias_map *map;
	struct addr_list out;
	struct alias_info info;
	struct err rec;
	char path[64];
	size_t i;
	int fd = fuzz_fd(data, size);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((map = alias_load(path, &rec)) != NULL) {
		ctx.map = map;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			out = (struct addr_list){ 0 };
			alias_expand(map, "example.org", names[i], &out, &rec);
			addr_list_free(&out);
			free(alias_to_rewrite(&ctx, names[i]));
			free(alias_header_rewrite(&ctx, names[i]));
			free(alias_from_rewrite(&ctx, names[i]));
		}
		alias_free(map);
		alias_check_file(path, &info, &rec);
	}
	close(fd);
	return 0;
}
