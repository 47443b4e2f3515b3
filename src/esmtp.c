/* SPDX-License-Identifier: ISC */
/*
 * The ESMTP parameters of MAIL and RCPT: SIZE (RFC 1870), BODY (RFC
 * 6152), SMTPUTF8 (RFC 6531) and DSN (RFC 3461, with xtext), each sent
 * only when the server offered it and the message needs it; and the
 * checks that refuse a message before MAIL when the server cannot take it.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "err.h"
#include "esmtp.h"
#include "reply.h"
#include "smtp.h"

/* Bounded appends into one parameter string. */
struct pbuf {
	char *p;
	size_t sz, len;
	int over;
};

static void pb_add(struct pbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
pb_add(struct pbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->sz - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->sz - b->len)
		b->over = 1;
	else
		b->len += (size_t)n;
}

static int
pb_end(struct pbuf *b)
{
	if (!b->over)
		return 0;
	b->p[0] = '\0';
	return -1;
}

int
esmtp_xtext(char *dst, size_t sz, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = 0;

	for (; *s != '\0'; s++) {
		if (*s >= '!' && *s <= '~' && *s != '+' && *s != '=') {
			if (n + 1 >= sz)
				break;
			dst[n++] = (char)*s;
		} else {
			if (n + 3 >= sz)
				break;
			snprintf(dst + n, 4, "+%02X", *s);
			n += 3;
		}
	}
	if (*s != '\0') {
		dst[0] = '\0';
		return -1;
	}
	dst[n] = '\0';
	return (int)n;
}

static int
is_keywords(const char *v)
{
	if (v[0] == '\0')
		return 0;
	for (; *v != '\0'; v++)
		if (!((*v >= 'A' && *v <= 'Z') || *v == ','))
			return 0;
	return 1;
}

int
esmtp_check_envelope(const struct smtp_envelope *env, struct err *rec)
{
	char x[ESMTP_ENVID_MAX + 1];
	const char *v;

	if (env->notify != NULL && !is_keywords(env->notify))
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "DSN NOTIFY value is not upper-case keywords");
	if (env->ret != NULL && !is_keywords(env->ret))
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "DSN RET value is not an upper-case keyword");
	if (env->envid == NULL)
		return 0;
	for (v = env->envid; *v != '\0'; v++)
		if (*v < ' ' || *v > '~')
			return err_set(rec, ERR_USAGE, EX_USAGE,
			    "DSN envelope id (-V) must be printable ASCII");
	if (env->envid[0] == '\0' || esmtp_xtext(x, sizeof(x), env->envid) < 0)
		return err_set(rec, ERR_USAGE, EX_USAGE,
		    "DSN envelope id (-V) must be 1 to 100 characters (RFC 3461 4.4)");
	return 0;
}

static int
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* RFC 6531 3.4: say which address needs the extension. */
static int
utf8_missing(const struct smtp_envelope *env, struct err *rec)
{
	size_t i;

	if (has_8bit(env->from))
		return err_set(rec, ERR_PERM, EX_DATAERR,
		    "sender needs SMTPUTF8, the server does not offer it: <%s>",
		    env->from);
	for (i = 0; i < env->nrcpt; i++)
		if (has_8bit(env->rcpt[i]))
			return err_set(rec, ERR_PERM, EX_DATAERR,
			    "recipient needs SMTPUTF8, the server does not offer it: <%s>",
			    env->rcpt[i]);
	return err_set(rec, ERR_PERM, EX_DATAERR,
	    "message needs SMTPUTF8, the server does not offer it");
}

int
esmtp_check(const struct reply_caps *caps, const struct smtp_envelope *env,
    long long size, struct err *rec)
{
	/* RFC 1870 6: a SIZE of 0 means no fixed limit. */
	if ((caps->flags & REPLY_CAP_SIZE) && caps->size > 0 &&
	    size > caps->size)
		return err_set(rec, ERR_PERM, EX_DATAERR,
		    "message is %lld bytes, over the server's limit of %lld",
		    size, caps->size);
	if (env->smtputf8 && !(caps->flags & REPLY_CAP_SMTPUTF8))
		return utf8_missing(env, rec);
	return 0;
}

static int
dsn_asked(const struct smtp_envelope *env)
{
	return env->notify != NULL || env->ret != NULL || env->envid != NULL;
}

int
esmtp_dsn_dropped(
    const struct reply_caps *caps, const struct smtp_envelope *env)
{
	return dsn_asked(env) && !(caps->flags & REPLY_CAP_DSN);
}

int
esmtp_mail_params(char *dst, size_t sz, const struct reply_caps *caps,
    const struct smtp_envelope *env, long long size)
{
	struct pbuf b = { dst, sz, 0, 0 };
	char x[ESMTP_ENVID_MAX + 1];
	int dsn = (caps->flags & REPLY_CAP_DSN) != 0;

	dst[0] = '\0';
	/* RFC 1870 6: the size is an estimate; dot-stuffing adds a few. */
	if (caps->flags & REPLY_CAP_SIZE)
		pb_add(&b, " SIZE=%lld", size);
	/* RFC 6152: with 8-bit data and no 8BITMIME the client should
	 * convert or give up.  We send the message as it is instead: it
	 * is never altered, and the servers we submit to take 8-bit. */
	if (env->eightbit && (caps->flags & REPLY_CAP_8BITMIME))
		pb_add(&b, " BODY=8BITMIME");
	/* RFC 6531 3.4; never when not needed (field-bugs B23). */
	if (env->smtputf8 && (caps->flags & REPLY_CAP_SMTPUTF8))
		pb_add(&b, " SMTPUTF8");
	if (dsn && env->ret != NULL)
		pb_add(&b, " RET=%s", env->ret);
	if (dsn && env->envid != NULL) {
		if (esmtp_xtext(x, sizeof(x), env->envid) < 0)
			b.over = 1;
		pb_add(&b, " ENVID=%s", x);
	}
	return pb_end(&b);
}

int
esmtp_rcpt_params(char *dst, size_t sz, const struct reply_caps *caps,
    const struct smtp_envelope *env, const char *rcpt)
{
	struct pbuf b = { dst, sz, 0, 0 };
	char x[3 * 256 + 1];

	dst[0] = '\0';
	if (!(caps->flags & REPLY_CAP_DSN) || env->notify == NULL)
		return 0;
	pb_add(&b, " NOTIFY=%s", env->notify);
	/* RFC 3461 4.2; a UTF-8 address would need RFC 6533's utf-8
	 * type: it goes without ORCPT. */
	if (!has_8bit(rcpt) && esmtp_xtext(x, sizeof(x), rcpt) >= 0)
		pb_add(&b, " ORCPT=rfc822;%s", x);
	return pb_end(&b);
}
