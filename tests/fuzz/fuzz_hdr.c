/* SPDX-License-Identifier: ISC */
/*
 * Fuzz target: one header field and the helpers msg.c runs on it: the
 * field name, the MIME fields, a Message-ID value, folding (line ends
 * made CRLF first, as msg.c does); and the From field made from -f and
 * -F (the input split at its first NUL).
 */
#include "fuzz.h"
#include "hdr.h"
#include "msg.h"
#include "qp.h"

static void
field(const char *f, size_t len)
{
	struct hdr_mime mi = { 0 };
	size_t n, v;
	char *s, buf[256];

	if ((n = hdr_field_name(f, len, &v)) == 0 || v > len)
		return;
	hdr_mime_field(&mi, f, len, n, v);
	hdr_qp_refusal(&mi, 1, buf, sizeof(buf));
	hdr_qp_refusal(&mi, 0, buf, sizeof(buf));
	s = fuzz_str(f + v, len - v);
	free(hdr_msgid_value(s));
	free(s);
}

/* Fold the field f as msg.c gives it to qp_fold: line ends made CRLF
 * (msg_crlf_feed), the last line with its CRLF. */
static void
fold(const char *f, size_t len)
{
	struct msg_crlf st = { 0 };
	size_t n, v, outlen;
	char *c = malloc(2 * len + 2), *out;

	if (c == NULL)
		abort();
	n = msg_crlf_feed(&st, f, len, c);
	if (n < 2 || c[n - 1] != '\n') {
		memcpy(c + n, "\r\n", 2);
		n += 2;
	}
	if (hdr_field_name(c, n, &v) > 0 && v <= n &&
	    qp_fold(c, n, v, 78, 76, &out, &outlen) == 0)
		free(out);
	free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *from, *name;
	char *fs, *ns, *f, *ph;
	size_t fn, nn, len;
	struct err rec;

	field(p, size);
	fold(p, size);
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
