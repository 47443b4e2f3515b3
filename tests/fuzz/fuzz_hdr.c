/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: one header field and the helpers msg.c runs on it: the
 * field name, the MIME fields, a Message-ID value, folding; and the
 * From field made from -f and -F (the input split at its first NUL).
 */
#include "fuzz.h"
#include "hdr.h"
#include "qp.h"

static void
field(const char *f, size_t len)
{
	struct hdr_mime mi = { 0 };
	size_t n, v, outlen;
	char *s, *out, buf[256];

	if ((n = hdr_field_name(f, len, &v)) == 0 || v > len)
		return;
	hdr_mime_field(&mi, f, len, n, v);
	hdr_qp_refusal(&mi, 1, buf, sizeof(buf));
	hdr_qp_refusal(&mi, 0, buf, sizeof(buf));
	s = fuzz_str(f + v, len - v);
	free(hdr_msgid_value(s));
	free(s);
	if (qp_fold(f, len, v, 78, 76, &out, &outlen) == 0)
		free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *from, *name;
	char *fs, *ns, *f, *ph;
	size_t fn, nn, len;
	struct err rec;

	field(p, size);
	hdr_is_mbox_from(p, size);
	from = fuzz_piece(&p, &size, '\0', &fn);
	name = fuzz_piece(&p, &size, '\0', &nn);
	if (from == NULL || memchr(from, '\r', fn) || memchr(from, '\n', fn))
		return 0;
	fs = fuzz_str(from, fn);
	ns = name != NULL ? fuzz_str(name, nn) : NULL;
	if ((f = hdr_from(fs, ns, &len, &ph, &rec)) != NULL) {
		free(f);
		free(ph);
	}
	if (ns != NULL)
		free(qp_phrase(ns));
	free(fs);
	free(ns);
	return 0;
}
