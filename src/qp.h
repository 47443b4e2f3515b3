/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_QP_H
#define MAILHOP_QP_H

#include <stddef.h>

/* Longest encoded line, without its CRLF (RFC 2045 section 6.7 (5)). */
#define QP_LINE_MAX 76
/* Room qp_encode needs in out for n input bytes. */
#define QP_OUT_MAX(n) (16 * (n) + 16)

/* Streaming quoted-printable encoder (RFC 2045 section 6.7) for text whose
 * line ends are CRLF: each CRLF becomes a hard line break, every other
 * byte outside 33-126 (and "=") is written =XX, a space or tab is encoded
 * only at the end of a line, and soft line breaks keep each line at most
 * QP_LINE_MAX octets.  A CR or LF that is not part of a CRLF is data
 * (=0D, =0A).  Decoding the output gives the input back, byte for byte.
 * Zero-initialise; feed chunks of any size. */
struct qp_enc {
	size_t col; /* octets on the current output line */
	int pend;   /* a held space or tab, or 0 */
	int cr;	    /* a CR was held */
};

/* Encode n bytes from in into out (room for QP_OUT_MAX(n) bytes).
 * Returns the bytes written. */
size_t qp_encode(struct qp_enc *st, const char *in, size_t n, char *out);

/* At the end of the input: write what is held (room for 16 bytes).
 * Returns the bytes written. */
size_t qp_finish(struct qp_enc *st, char *out);

/* Streaming UTF-8 check (RFC 3629: no overlong forms, surrogates or code
 * points over U+10FFFF).  Zero-initialise, feed, then ask qp_utf8_ok. */
struct qp_utf8 {
	int need;     /* continuation bytes still expected */
	unsigned cp;  /* the code point so far */
	unsigned min; /* smallest code point for the sequence's length */
	int bad;
};

void qp_utf8_feed(struct qp_utf8 *st, const char *p, size_t n);

/* 1 when everything fed is complete, valid UTF-8. */
int qp_utf8_ok(const struct qp_utf8 *st);

/* A display name as an RFC 5322 phrase (section 3.2.5): control bytes
 * (CR, LF, tab, ...) become spaces and white space at both ends goes; then
 * plain words of atext stay as they are, other ASCII text becomes one
 * quoted string (" and \ escaped, so specials such as "," and "<" stay
 * inside it), and text with a byte over 0x7f becomes RFC 2047 encoded
 * words "=?UTF-8?Q?...?=" of at most 75 octets each, separated by spaces
 * and cut only between characters.  Returns a malloc'ed phrase; NULL with
 * errno EINVAL when nothing is left of name, EILSEQ when it is not valid
 * UTF-8, ENOMEM. */
char *qp_phrase(const char *name);

/* Fold a header field (len bytes, CRLF line ends, the last line with its
 * CRLF; value is the offset after the colon) where a line is longer than
 * trigger octets: at white space (RFC 5322 section 2.2.3: a CRLF is put
 * before the WSP, so unfolding gives the field back), aiming at lines of
 * at most soft octets, never leaving a line of white space only.  Returns
 * 0 with *out NULL when no line is over trigger, 0 with *out a malloc'ed
 * folded field (*outlen bytes), -1 with errno EINVAL when a line cannot be
 * brought within 998 octets (RFC 5322 2.1.1), ENOMEM. */
int qp_fold(const char *f, size_t len, size_t value, size_t trigger,
    size_t soft, char **out, size_t *outlen);

#endif
