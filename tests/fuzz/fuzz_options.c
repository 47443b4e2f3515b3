/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the command line (opt_parse), with -f, -F, -N, -R, -V and
 * the recipients.  The input is argv, its words separated by NUL; the
 * first is the program name (mailq and newaliases pick their modes).
 */
#include "fuzz.h"
#include "options.h"

#define ARGS_MAX 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[ARGS_MAX + 1];
	const char *p = (const char *)data, *w;
	struct options o;
	struct err rec;
	size_t n;
	int argc = 0, i;

	while (argc < ARGS_MAX && (w = fuzz_piece(&p, &size, '\0', &n)))
		argv[argc++] = fuzz_str(w, n);
	argv[argc] = NULL;
	if (argc > 0 && opt_parse(argc, argv, &o, &rec) == 0)
		opt_free(&o);
	for (i = 0; i < argc; i++)
		free(argv[i]);
	return 0;
}
