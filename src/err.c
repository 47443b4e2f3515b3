/* SPDX-License-Identifier: ISC */
/*
 * The error record: every module reports a failure by filling one, and
 * only main.c, send.c and flush.c turn it into a message and an exit
 * code.  Also the one place that makes untrusted text (server replies,
 * input) safe to show.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "err.h"

void
err_clear(struct err *rec)
{
	rec->class = ERR_NONE;
	rec->code = 0;
	rec->text[0] = '\0';
	rec->reply[0] = '\0';
}

int
err_set(struct err *rec, enum err_class cls, int code, const char *fmt, ...)
{
	va_list ap;

	rec->class = cls;
	rec->code = code;
	va_start(ap, fmt);
	vsnprintf(rec->text, sizeof(rec->text), fmt, ap);
	va_end(ap);
	return -1;
}

void
err_reply(struct err *rec, const char *reply, size_t len)
{
	err_sanitize(rec->reply, sizeof(rec->reply), reply, len);
}

/* Code points that are valid UTF-8 and still not shown as they are:
 * the C1 controls (U+009B is CSI, an escape sequence's start on many
 * terminals), the bidirectional controls (Unicode's Bidi_Control: U+202E
 * turns the rest of a line around, so "gpj.exe" reads "exe.jpg"), and the
 * line and paragraph separators, which some terminals and log viewers
 * break lines at. */
static int
is_hidden(unsigned int cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x61c ||
	    (cp >= 0x200e && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes) of a code
 * point that may be shown, or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned int cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff || is_hidden(cp))
		return 0;
	return len;
}

size_t
err_sanitize(char *dst, size_t dstsz, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t i = 0, o = 0, n;

	if (dstsz == 0)
		return 0;
	while (i < len) {
		n = s[i] < 0x80 ? 1 : utf8_len(s + i, len - i);
		if (n > 1 || (n == 1 && s[i] >= 0x20 && s[i] != 0x7f)) {
			if (o + n + 4 > dstsz)
				break;
			memcpy(dst + o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		if (o + 4 + 4 > dstsz)
			break;
		o += snprintf(dst + o, dstsz - o, "\\x%02x", s[i]);
		i++;
	}
	if (i < len && dstsz >= 4) {
		o = o + 4 > dstsz ? dstsz - 4 : o;
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return o;
}

const char *
err_exit_name(int code)
{
	static const struct {
		int code;
		const char *name;
	} names[] = {
		{ EX_OK, "EX_OK" },
		{ EX_USAGE, "EX_USAGE" },
		{ EX_DATAERR, "EX_DATAERR" },
		{ EX_NOINPUT, "EX_NOINPUT" },
		{ EX_NOUSER, "EX_NOUSER" },
		{ EX_NOHOST, "EX_NOHOST" },
		{ EX_UNAVAILABLE, "EX_UNAVAILABLE" },
		{ EX_SOFTWARE, "EX_SOFTWARE" },
		{ EX_OSERR, "EX_OSERR" },
		{ EX_OSFILE, "EX_OSFILE" },
		{ EX_CANTCREAT, "EX_CANTCREAT" },
		{ EX_IOERR, "EX_IOERR" },
		{ EX_TEMPFAIL, "EX_TEMPFAIL" },
		{ EX_PROTOCOL, "EX_PROTOCOL" },
		{ EX_NOPERM, "EX_NOPERM" },
		{ EX_CONFIG, "EX_CONFIG" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].name;
	return "EX_UNKNOWN";
}
