/* SPDX-License-Identifier: ISC */
/* Unit tests: tls_pin values (pin.c) and tls_priorities strings (tls.c),
 * one row per value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pin.h"
#include "tls.h"
#include "tlsprio.h"

#define P1 "sha256//FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8="
#define P2 "sha256//47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="

static const struct {
	const char *value;
	const char *why; /* NULL: valid; else a word of the reason */
} pins[] = {
	{ P1, NULL },
	{ " " P1 " ", NULL },
	{ P1 ";" P2, NULL },
	{ P1 "; " P2 ";", NULL },
	{ "", "empty" },
	{ ";;", "empty" },
	{ "sha256//", "not a pin" },
	{ "sha256//FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8", "not a pin" },
	{ "sha256//FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8==",
	    "not a pin" },
	{ "SHA256//FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8=", "not a pin" },
	{ "sha1//FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8=", "not a pin" },
	{ "sha256//FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUN*mo8=", "not a pin" },
	/* gnutls-cli's form of the same digest. */
	{ "pin-sha256:FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8=", NULL },
	{ "pin-sha256:FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8",
	    "not a pin" },
	{ "pin-sha256=FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8=",
	    "not a pin" },
	{ P1 ",", "not a pin" },
	{ P1 ":" P2, "not a pin" },
};

static const struct {
	const char *value;
	const char *why;
} prios[] = {
	{ "-VERS-TLS1.2", NULL },
	{ "-VERS-TLS1.3", NULL },
	{ "-CIPHER-ALL:+AES-256-GCM", NULL },
	{ "-GROUP-ALL:+GROUP-X25519", NULL },
	{ "+VERS-TLS1.2", NULL },
	{ "!VERS-TLS1.2", NULL },
	{ "-CIPHER-ALL:+CHACHA20-POLY1305:+AES-256-GCM", NULL },
	{ "-MAC-ALL:+AEAD", NULL },
	{ "-KX-ALL:+ECDHE-RSA:+ECDHE-ECDSA", NULL },
	{ "-SIGN-ALL:+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-RSA-PSS-RSAE-SHA256",
	    NULL },
	{ "-CURVE-ALL:+CURVE-SECP256R1", NULL },
	{ "-GROUP-X25519:+GROUP-SECP384R1", NULL },
	/* Keywords replace the default and its settings (R3). */
	{ "SECURE256", "\"SECURE256\" is not allowed" },
	{ "NORMAL", "\"NORMAL\" is not allowed (write only items that remove" },
	{ "LEGACY", "\"LEGACY\"" },
	{ "PERFORMANCE:-VERS-TLS1.2", "\"PERFORMANCE\"" },
	{ "SECURE128", "\"SECURE128\"" },
	{ "NONE:+VERS-TLS1.3", "does not accept" },
	{ "-VERS-TLS1.2:@SYSTEM", "\"@SYSTEM\"" },
	/* "+" only for one version or algorithm of the default's lists. */
	{ "+CIPHER-ALL", "\"+CIPHER-ALL\" is not allowed" },
	{ "+KX-ALL", "\"+KX-ALL\"" },
	{ "+MAC-ALL", "\"+MAC-ALL\"" },
	{ "+SIGN-ALL", "\"+SIGN-ALL\"" },
	{ "+GROUP-ALL", "\"+GROUP-ALL\"" },
	{ "+CURVE-ALL", "\"+CURVE-ALL\"" },
	{ "+CTYPE-SRV-RAWPK", "\"+CTYPE-SRV-RAWPK\"" },
	{ "+CTYPE-ALL", "\"+CTYPE-ALL\"" },
	{ "+COMP-NULL", "\"+COMP-NULL\"" },
	{ "+VERS-TLS1.1", "enables TLS1.1" },
	{ "+vers-tls1.0", "enables tls1.0" },
	{ "+VERS-SSL3.0", "enables SSL3.0" },
	{ "+VERS-ALL", "enables ALL" },
	{ "+NULL", "enables NULL" },
	{ "+ARCFOUR-128", "enables ARCFOUR-128" },
	{ "+3DES-CBC", "enables 3DES-CBC" },
	{ "%COMPAT", "%flags" },
	{ "-VERS-ALL", "leaves no" },
	{ "-CIPHER-ALL", "leaves no" },
	{ "+BOGUS", "does not accept" },
};

static void
check(const char *what, const char *value, const char *want, int rc,
    const char *why)
{
	if (want == NULL && rc != 0)
		fail_msg("%s \"%s\": refused: %s", what, value, why);
	if (want != NULL && rc == 0)
		fail_msg("%s \"%s\": accepted, want \"%s\"", what, value, want);
	if (want != NULL && strstr(why, want) == NULL)
		fail_msg("%s \"%s\": \"%s\" does not say \"%s\"", what, value,
		    why, want);
}

static void
test_pin_check(void **state)
{
	char why[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		why[0] = '\0';
		check("tls_pin", pins[i].value, pins[i].why,
		    pin_check(pins[i].value, why, sizeof(why)), why);
	}
}

static void
test_pin_listed(void **state)
{
	(void)state;
	assert_int_equal(pin_listed(P1, P1), 1);
	assert_int_equal(pin_listed(P2 "; " P1, P1), 1);
	assert_int_equal(pin_listed(P2, P1), 0);
	assert_int_equal(pin_listed(P1, "sha256//"), 0);
	assert_int_equal(
	    pin_listed(P2 ";pin-sha256:"
			  "FxEIwi1b7WlamWfJ/ven96I2J4fhXyO0T1qzoUNomo8=",
		P1),
	    1);
	assert_int_equal(pin_listed("", P1), 0);
}

static void
test_priorities_check(void **state)
{
	char why[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(prios) / sizeof(prios[0]); i++) {
		why[0] = '\0';
		check("tls_priorities", prios[i].value, prios[i].why,
		    tlsprio_check(prios[i].value, why, sizeof(why)), why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_check),
		cmocka_unit_test(test_pin_listed),
		cmocka_unit_test(test_priorities_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
