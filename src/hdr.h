/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_HDR_H
#define MAILHOP_HDR_H

#include <stddef.h>
#include <time.h>

#include "err.h"

/* Length of the field name at the start of l (printable ASCII but ':',
 * RFC 5322 section 2.2), or 0 when l is not a field.  WSP before the
 * colon is allowed, as obs-optional of section 4.5 does.  *value gets the
 * offset after the colon. */
size_t hdr_field_name(const char *l, size_t len, size_t *value);

/* 1 when the name of n bytes is want, ignoring ASCII case. */
int hdr_name_is(const char *name, size_t n, const char *want);

/* 1 when the name of n bytes is one of names (NULL-terminated). */
int hdr_name_in(const char *name, size_t n, const char *const names[]);

/* 1 when the line l is an mbox From_ line ("From " or ">From "). */
int hdr_is_mbox_from(const char *l, size_t len);

/* t as an RFC 5322 section 3.3 date-time in local time, without the
 * locale, into buf. */
void hdr_date(time_t t, char *buf, size_t sz);

/* A new unique msg-id (RFC 5322 section 3.6.4), without <>: UTC time of
 * now, 96 random bits, "@" domain (or the host name, or "localhost", when
 * domain is not fit).  Returns a malloc'ed id, or NULL with rec filled
 * (ERR_LOCAL, EX_OSERR). */
char *hdr_make_msgid(const char *domain, time_t now, struct err *rec);

/* The id of an unfolded Message-ID value: the text between "<" and ">",
 * else the whole value without surrounding white space.  Returns a
 * malloc'ed string, or NULL when out of memory. */
char *hdr_msgid_value(const char *val);

/* The From field for a message that has none: "From: Name <from>" with
 * the phrase of fullname (qp_phrase), or "From: from" when fullname is
 * NULL or has no text; folded to lines of 78 octets where it can be, with
 * CRLF.  from must hold no CR or LF.  Returns the malloc'ed field (*len
 * bytes) and *name the malloc'ed phrase (or NULL); or NULL with rec
 * filled: fullname not UTF-8 or too long to fold (ERR_USAGE, EX_USAGE),
 * out of memory (ERR_LOCAL, EX_OSERR). */
char *hdr_from(const char *from, const char *fullname, size_t *len, char **name,
    struct err *rec);

/* Content-Transfer-Encoding of a body (RFC 2045 section 6.1). */
enum hdr_cte {
	HDR_CTE_NONE,
	HDR_CTE_7BIT,
	HDR_CTE_8BIT,
	HDR_CTE_BINARY,
	HDR_CTE_OTHER
};

/* What a header says about the body's MIME form; zero-initialise. */
struct hdr_mime {
	int version;   /* MIME-Version seen */
	int ntype;     /* Content-Type fields */
	int composite; /* the last type is multipart/... or message/... */
	int text;      /* the last type is text/... */
	int ncte;      /* Content-Transfer-Encoding fields */
	enum hdr_cte cte;
	char cte_name[32]; /* the mechanism as written, lower case */
};

/* Note field f (len bytes, name of n bytes, value at v) when it is
 * MIME-Version, Content-Type or Content-Transfer-Encoding.  Returns 1
 * for a Content-Transfer-Encoding field, else 0. */
int hdr_mime_field(
    struct hdr_mime *mi, const char *f, size_t len, size_t n, size_t v);

/* Why re-encoding a body with header mi as quoted-printable would change
 * what it means (utf8: the body is valid UTF-8), as a message in buf; or
 * NULL when it would not (RFC 2045 sections 5, 6; RFC 2046 section 5). */
const char *hdr_qp_refusal(
    const struct hdr_mime *mi, int utf8, char *buf, size_t sz);

#endif
