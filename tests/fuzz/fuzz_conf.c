/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: the text of a configuration file (confparse_buf: the
 * scanner, libconfuse, every key's validation), then every account's
 * settings listed as --pretend does.
 */
#include <confuse.h>

#include "confparse.h"
#include "fuzz.h"

static void
settings(cfg_t *sec)
{
	struct conf_setting *v = NULL;
	size_t n = 0, i;

	confparse_settings(sec, &v, &n);
	for (i = 0; i < n; i++)
		free(v[i].value);
	free(v);
	confparse_key_line(sec, NULL);
	confparse_key_line(sec, "host");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_str(data, size);
	struct err rec;
	cfg_t *cfg;
	unsigned i;
	int pw;

	cfg = confparse_buf("fuzz.conf", buf, size, &pw, &rec);
	if (cfg != NULL) {
		for (i = 0; i < cfg_size(cfg, "account"); i++)
			settings(cfg_getnsec(cfg, "account", i));
		confparse_key_line(cfg, "default_account");
	}
	confparse_free(cfg);
	free(buf);
	return 0;
}
