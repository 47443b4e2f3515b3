/* SPDX-License-Identifier: ISC */
/* Unit tests: the syslog line and err_sanitize, as tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "err.h"
#include "log.h"

static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t dstsz;
	const char *want;
} sanitize_cases[] = {
	{ "250 ok", 0, 64, "250 ok" },
	{ "a\rb\nc", 0, 64, "a\\x0db\\x0ac" },
	{ "\x1b[2J", 0, 64, "\\x1b[2J" },
	{ "bell\x07", 0, 64, "bell\\x07" },
	{ "del\x7f", 0, 64, "del\\x7f" },
	{ "nul\0x", 5, 64, "nul\\x00x" },
	{ "Gr\xc3\xbc\xc3\x9f"
	  "e",
	    0, 64,
	    "Gr\xc3\xbc\xc3\x9f"
	    "e" },
	{ "bad\xc3(", 0, 64, "bad\\xc3(" },
	{ "overlong\xc0\xaf", 0, 64, "overlong\\xc0\\xaf" },
	{ "surrogate\xed\xa0\x80", 0, 64, "surrogate\\xed\\xa0\\x80" },
	/* C1 controls: U+009B (CSI), U+0085 (NEL); U+00A0 is shown. */
	{ "a\xc2\x9b"
	  "2Jb",
	    0, 64, "a\\xc2\\x9b2Jb" },
	{ "nel\xc2\x85", 0, 64, "nel\\xc2\\x85" },
	{ "c1\xc2\x80\xc2\x9f", 0, 64, "c1\\xc2\\x80\\xc2\\x9f" },
	{ "nbsp\xc2\xa0", 0, 64, "nbsp\xc2\xa0" },
	/* Bidi controls: overrides, embeddings, isolates, marks. */
	{ "x\xe2\x80\xae"
	  "exe.jpg",
	    0, 64, "x\\xe2\\x80\\xaeexe.jpg" },
	{ "\xe2\x80\xaa\xe2\x80\xad", 0, 64, "\\xe2\\x80\\xaa\\xe2\\x80\\xad" },
	{ "\xe2\x81\xa6i\xe2\x81\xa9", 0, 64,
	    "\\xe2\\x81\\xa6i\\xe2\\x81\\xa9" },
	{ "\xe2\x80\x8f\xd8\x9c", 0, 64, "\\xe2\\x80\\x8f\\xd8\\x9c" },
	/* U+2028 and U+2029 break lines; U+2027 and U+206A are shown. */
	{ "l\xe2\x80\xa8p\xe2\x80\xa9", 0, 64,
	    "l\\xe2\\x80\\xa8p\\xe2\\x80\\xa9" },
	{ "\xe2\x80\xa7\xe2\x81\xaa", 0, 64, "\xe2\x80\xa7\xe2\x81\xaa" },
	/* Invalid UTF-8: a lone continuation byte, a cut sequence. */
	{ "cont\x80", 0, 64, "cont\\x80" },
	{ "cut\xe2\x80", 0, 64, "cut\\xe2\\x80" },
	{ "0123456789abcdef", 0, 10, "012345..." },
	{ "", 0, 8, "" },
};

static void
test_sanitize(void **state)
{
	char out[64];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(sanitize_cases) / sizeof(sanitize_cases[0]);
	     i++) {
		len = sanitize_cases[i].len;
		if (len == 0)
			len = strlen(sanitize_cases[i].in);
		err_sanitize(
		    out, sanitize_cases[i].dstsz, sanitize_cases[i].in, len);
		assert_string_equal(out, sanitize_cases[i].want);
		assert_true(strlen(out) < sanitize_cases[i].dstsz);
	}
}

static const struct {
	struct log_rec rec;
	const char *want;
} format_cases[] = {
	{ { "1.2@x", "work", "mail.example.org", "TLS1.3", "PLAIN", 1000,
	      "me@example.org", "a@x,b@y", 412, NULL, "sent",
	      "250 2.0.0 Ok: queued as 4Q", 0, NULL },
	    "msgid=1.2@x account=work host=mail.example.org tls=TLS1.3 "
	    "auth=PLAIN uid=1000 from=me@example.org rcpt=a@x,b@y size=412 "
	    "status=sent reply=\"250 2.0.0 Ok: queued as 4Q\" exit=0" },
	/* uid 0 is root, not "unknown": only -1 is "-". */
	{ { NULL, NULL, NULL, "", NULL, 0, "", NULL, 0, NULL, "refused",
	      "bad \"quote\" \\ back", 78, NULL },
	    "msgid=- account=- host=- tls=- auth=- uid=0 from=- rcpt=- "
	    "size=0 status=refused reply=\"bad \\\"quote\\\" \\\\ back\" "
	    "exit=78" },
	{ { "m", "a", "h", "none", "none", 33, "f@x", "r@x", 1, NULL,
	      "deferred", "421 bye\r\nEHLO x=y", 75, NULL },
	    "msgid=m account=a host=h tls=none auth=none uid=33 from=f@x "
	    "rcpt=r@x size=1 status=deferred "
	    "reply=\"421 bye\\\\x0d\\\\x0aEHLO x=y\" exit=75" },
	{ { "m", "a", "h", "TLS1.3", "PLAIN", 65534, "f@x", "r@x", 9, "dropped",
	      "sent", "250 ok", 0, NULL },
	    "msgid=m account=a host=h tls=TLS1.3 auth=PLAIN uid=65534 from=f@x "
	    "rcpt=r@x size=9 dsn=dropped status=sent reply=\"250 ok\" exit=0" },
	/* The copy a send kept: its queue id, after dsn, before status. */
	{ { "m", "a", "h", "TLS1.3", "PLAIN", 1000, "f@x", "r@x", 9, "dropped",
	      "refused", "535 no", 77, "0190a1b2c3d4.5e6f" },
	    "msgid=m account=a host=h tls=TLS1.3 auth=PLAIN uid=1000 from=f@x "
	    "rcpt=r@x size=9 dsn=dropped queue=0190a1b2c3d4.5e6f "
	    "status=refused reply=\"535 no\" exit=77" },
	/* A flushed message queued by a mailhop that kept no uid. */
	{ { "m", "a", "h", "TLS1.3", "PLAIN", -1, "f@x", "r@x", 9, NULL, "sent",
	      "250 ok", 0, "0190a1b2c3d4.5e6f" },
	    "msgid=m account=a host=h tls=TLS1.3 auth=PLAIN uid=- from=f@x "
	    "rcpt=r@x size=9 queue=0190a1b2c3d4.5e6f status=sent "
	    "reply=\"250 ok\" exit=0" },
};

static void
test_format(void **state)
{
	char out[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
		log_format(&format_cases[i].rec, out, sizeof(out));
		assert_string_equal(out, format_cases[i].want);
	}
}

/* A short buffer cuts the line but keeps it terminated. */
static void
test_format_short(void **state)
{
	char out[40];
	size_t n;

	(void)state;
	n = log_format(&format_cases[0].rec, out, sizeof(out));
	assert_true(n < sizeof(out));
	assert_int_equal(strlen(out), n);
	assert_memory_equal(out, "msgid=1.2@x account=work", 24);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
