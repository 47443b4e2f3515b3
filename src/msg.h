/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_MSG_H
#define MAILHOP_MSG_H

#include <stddef.h>
#include <time.h>

#include "addr.h"
#include "err.h"

/* Longest line SMTP allows, without its CRLF (RFC 5321 4.5.3.1.6). */
#define MSG_LINE_MAX 998

struct msg_opts {
	/* -t: collect the mailboxes of To, Cc and Bcc into m->rcpt; when the
	 * header has any Resent- field, those of Resent-To, Resent-Cc and
	 * Resent-Bcc of the newest Resent block instead (RFC 5322 3.6.6: the
	 * first run of Resent- fields from the top). */
	int extract;
	const char *from; /* envelope sender, for a missing From header */
	/* -F: display name of the From field added when the message has
	 * none (never used otherwise); NULL or "": "From: sender" alone.
	 * Written as a phrase, quoted or RFC 2047-encoded (qp_phrase); must
	 * be UTF-8; CR, LF and other control bytes become spaces. */
	const char *fullname;
	const char *domain; /* right-hand side of a new Message-ID */
	const char *tmpdir; /* spool directory; NULL: $TMPDIR, else /tmp */
	time_t now;	    /* for a new Date header; 0: time(NULL) */
	/* Header rewriting (bare local names, aliases): when not NULL,
	 * called with rewrite_arg for every mailbox of To, Cc, From,
	 * Resent-To, Resent-Cc and Resent-From, in order, duplicates
	 * included (not Bcc and Resent-Bcc: they are removed).  It returns
	 * NULL to keep the mailbox, or a malloc'ed replacement that msg_read
	 * frees.  The field is then sent with only the text of each changed
	 * addr-spec replaced (addr_rewrite_list): display names, comments,
	 * groups, <>, and folding stay, so "From: root (Cron Daemon)" becomes
	 * "From: root@example.com (Cron Daemon)"; a line pushed past 998
	 * octets is folded at white space.  A field that does not parse is
	 * sent unchanged.  m->from holds the mailboxes as sent (rewritten);
	 * m->rcpt holds them as written (the envelope has its own aliasing).
	 * A replacement with CR or LF fails msg_read (EX_SOFTWARE). */
	addr_rewrite_fn *rewrite;
	void *rewrite_arg;
	/* For From and Resent-From instead of rewrite, when not NULL (the
	 * local From rewrite, issue 4); same contract, same rewrite_arg. */
	addr_rewrite_fn *from_rewrite;
	/* Bytes already read from infd (peek_header): the message starts
	 * with these, then infd is read on to EOF.  NULL: none. */
	const char *head;
	size_t head_len;
};

struct msg {
	int fd;			 /* spool file: the message as it will be sent,
				  * CRLF line ends, unlinked; -1 when closed */
	long long size;		 /* bytes in the spool file */
	struct addr_list rcpt;	 /* with extract: To, Cc, Bcc mailboxes, or
				  * those of the newest Resent block */
	struct addr_list from;	 /* mailboxes of the From header, as sent */
	struct addr_list sender; /* of the Sender fields, as sent */
	/* Of the Resent-From and Resent-Sender fields of the newest Resent
	 * block (the first from the top), as sent: who sends it on now. */
	struct addr_list resent_from, resent_sender;
	/* The name of the first of those fields (From, Sender and the
	 * newest block's Resent-From, Resent-Sender) that did not parse or
	 * is empty, or NULL.  Static. */
	const char *unparsed;
	char *msgid;	/* Message-ID without <> (found or made) */
	int eightbit;	/* a byte over 0x7f anywhere, as sent */
	int from_added; /* the message had no From: one was added
			 * from opts->from and opts->fullname */
	int resent;	/* the header has Resent- fields */
	/* A header field as sent holds a byte over 0x7f (RFC 6532 UTF-8
	 * headers).  Recorded, not acted on: SMTPUTF8 is asked for only when
	 * an envelope address needs it (addr_needs_utf8); such a header goes
	 * as 8-bit data with BODY=8BITMIME, as MUAs and Postfix do (see
	 * DEPARTURES). */
	int utf8_header;
	/* The body had a line over MSG_LINE_MAX and was re-encoded as
	 * quoted-printable (see msg_read). */
	int qp;
};

/* Read infd to EOF and write the message to a new private spool file:
 * every line end becomes CRLF without doubling a CR; a leading mbox
 * "From " line is dropped; the header ends at the first empty line or the
 * first line that is not a header field or continuation; Bcc, Resent-Bcc
 * and Content-Length fields are removed; Date, Message-ID and From are
 * added when missing; fields are rewritten as opts->rewrite says; a header
 * line over MSG_LINE_MAX is folded at white space (RFC 5322 2.2.3).
 * A body line over MSG_LINE_MAX (RFC 5321 4.5.3.1.6) makes the body
 * quoted-printable (RFC 2045 6.7) when that loses nothing: the body is not
 * multipart or message/..., its Content-Transfer-Encoding is absent,
 * 7bit, 8bit, or binary with a text/... type or none, and without a
 * Content-Type an 8-bit body is valid UTF-8.  The Content-Transfer-Encoding
 * field is then
 * replaced, and MIME-Version and Content-Type ("text/plain;
 * charset=us-ascii", or "charset=utf-8" for an 8-bit body) are added when
 * missing.  This takes a second pass over the spool file, never the
 * message in memory.
 * Returns 0 with m filled (the caller frees it with msg_free), or -1 with
 * rec filled: unreadable input ERR_LOCAL/EX_NOINPUT (read error) or
 * EX_IOERR (spool), a NUL byte, a body line over MSG_LINE_MAX that cannot
 * be re-encoded, or a header line that cannot be folded ERR_USAGE/
 * EX_DATAERR naming the line or field (also a line of over 1 MiB before
 * the body starts), an address-list syntax error in To, Cc or Bcc (or the
 * Resent- ones) with extract ERR_USAGE/EX_DATAERR naming the field, a
 * fullname that is not UTF-8 ERR_USAGE/EX_USAGE.
 * Reads everything before returning, also on a data error. */
int msg_read(
    int infd, const struct msg_opts *opts, struct msg *m, struct err *rec);

void msg_free(struct msg *m);

/* Line-end normaliser, exposed for the unit tests: feed chunks of any
 * size; LF, CRLF and lone CR each end a line and come out as CRLF, and a CR
 * split from its LF across chunks is handled. */
struct msg_crlf {
	int cr; /* the last byte fed was CR */
};

/* Convert len bytes from in into out, which has room for 2 * len bytes.
 * Returns the bytes written. */
size_t msg_crlf_feed(
    struct msg_crlf *st, const char *in, size_t len, char *out);

#endif
