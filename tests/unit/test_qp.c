/* SPDX-License-Identifier: ISC */
/* Unit tests for qp.c: the rows of tests/data/qp_cases.txt (encoder,
 * display names, folding), and a round trip of random text through the
 * encoder and a decoder written here from RFC 2045, fed in random chunks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "qp.h"
#include "rows.h"

#define CASES "../data/qp_cases.txt"

static char *
run_encode(const char *in, size_t n, size_t *outlen)
{
	struct qp_enc st = { 0 };
	char *out = malloc(QP_OUT_MAX(n) + 16);
	size_t o;

	assert_non_null(out);
	o = qp_encode(&st, in, n, out);
	o += qp_finish(&st, out + o);
	out[o] = '\0';
	*outlen = o;
	return out;
}

static char *
run_phrase(const char *in)
{
	char *out = qp_phrase(in);

	if (out != NULL)
		return out;
	assert_true(errno == EINVAL || errno == EILSEQ);
	return strdup(errno == EINVAL ? "ERROR EINVAL" : "ERROR EILSEQ");
}

static char *
run_fold(const char *in, size_t n, size_t trigger, size_t soft)
{
	const char *colon = memchr(in, ':', n);
	char *out;
	size_t len;

	assert_non_null(colon);
	if (qp_fold(in, n, (size_t)(colon - in) + 1, trigger, soft, &out,
		&len) == -1) {
		assert_int_equal(errno, EINVAL);
		return strdup("ERROR");
	}
	if (out == NULL)
		return strdup("-");
	out[len] = '\0';
	return out;
}

static void
qp_row(char *row, const char *want, int lineno)
{
	char kind[16] = "", *in, *exp, *got;
	const char *p = row;
	size_t n, wn, gn, trigger = 0, soft = 0;
	int used = 0;

	assert_true(sscanf(row, "%15s %n", kind, &used) == 1);
	p += used;
	if (strcmp(kind, "fold") == 0) {
		assert_true(
		    sscanf(p, "%zu %zu %n", &trigger, &soft, &used) == 2);
		p += used;
	}
	in = unescape(&p, '\0', &n);
	exp = unescape(&want, '\0', &wn);
	if (strcmp(kind, "encode") == 0)
		got = run_encode(in, n, &gn);
	else if (strcmp(kind, "phrase") == 0)
		got = run_phrase(in);
	else
		got = run_fold(in, n, trigger, soft);
	if (strcmp(got, exp) != 0)
		bad(lineno, "%s: got \"%.300s\"", kind, got);
	free(in);
	free(exp);
	free(got);
}

static void
test_table(void **state)
{
	(void)state;
	assert_true(each_row(CASES, qp_row) >= 50);
	assert_int_equal(failures, 0);
}

/* RFC 2045 section 6.7 decoding of out (CRLF lines). */
static size_t
decode(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] != '=') {
			out[o++] = in[i];
			continue;
		}
		assert_true(i + 2 < n);
		if (in[i + 1] == '\r' && in[i + 2] == '\n') {
			i += 2;
			continue;
		}
		assert_true(hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0);
		out[o++] = (char)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
		i += 2;
	}
	return o;
}

/* Every output line is at most 76 octets, ends with no white space,
 * holds only printable ASCII, and the output decodes to the input. */
static void
check_round_trip(const char *in, size_t n, const char *enc, size_t en)
{
	char *dec = malloc(en + 1);
	size_t i, col = 0;

	assert_non_null(dec);
	for (i = 0; i < en; i++) {
		if (enc[i] == '\r') {
			assert_true(i + 1 < en && enc[i + 1] == '\n');
			assert_true(i == 0 ||
			    (enc[i - 1] != ' ' && enc[i - 1] != '\t') ||
			    col == 0);
			col = 0;
			i++;
			continue;
		}
		assert_true(enc[i] == '\t' || (enc[i] >= 32 && enc[i] < 127));
		assert_true(++col <= QP_LINE_MAX);
	}
	assert_int_equal(decode(enc, en, dec), n);
	assert_memory_equal(dec, in, n);
	free(dec);
}

static void
test_round_trip(void **state)
{
	static const char pick[] = "ab =\t\r\n.\xc3\xff";
	struct qp_enc st;
	char in[3000], *enc = malloc(QP_OUT_MAX(sizeof(in)) + 16);
	size_t n, i, o, k, off;
	int round;

	(void)state;
	assert_non_null(enc);
	srand(2045);
	for (round = 0; round < 2000; round++) {
		n = (size_t)rand() % sizeof(in);
		for (i = 0; i < n; i++)
			in[i] = rand() % 4 == 0 ? (char)(rand() % 256)
						: pick[rand() % 10];
		memset(&st, 0, sizeof(st));
		for (off = 0, o = 0; off < n; off += k) {
			k = 1 + (size_t)rand() % 200;
			k = k < n - off ? k : n - off;
			o += qp_encode(&st, in + off, k, enc + o);
		}
		o += qp_finish(&st, enc + o);
		check_round_trip(in, n, enc, o);
	}
	free(enc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
