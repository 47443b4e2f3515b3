/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_IO_H
#define MAILHOP_IO_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"
#include "tls.h"

/* Longest line io_getline returns; longer server lines are an error. */
#define IO_LINE_MAX 4096
/* Longest line for a caller that asks for more: the 334 lines of AUTH,
 * whose challenges RFC 4954 4 leaves unbounded.  64 KiB holds 48 KiB of
 * challenge after base64: a Kerberos token for GSSAPI stays under the
 * 48,000 bytes of Windows' MaxTokenSize, and SCRAM's are under 300 bytes;
 * more is not a login but a memory attack (security.md S25). */
#define IO_LONG_LINE_MAX (64 * 1024)

/* A buffered connection over a socket, plain or TLS.  Writes collect in an
 * output buffer and leave in one write per io_flush (one per pipelined
 * group); reads come through an input buffer. */
struct io;

/* Wrap the connected non-blocking socket fd; io owns it from here.
 * Returns NULL only when out of memory. */
struct io *io_new(int fd);

/* Send close_notify (TLS) without waiting, close the socket, free.  NULL
 * is fine. */
void io_free(struct io *io);

/* Every wait in io stops at this monotonic deadline (net_now_ms() scale)
 * and fails with ERR_TEMP/EX_TEMPFAIL "timed out ...". */
void io_set_deadline(struct io *io, long long deadline_ms);

/* Start TLS on the connection (after the 220 to STARTTLS, or at once for
 * implicit TLS).  Fails with ERR_PERM/EX_PROTOCOL when unread bytes wait in
 * the input buffer (response injection, RFC 3207 section 4.2), and as
 * tls_handshake otherwise. */
int io_starttls(
    struct io *io, const struct tls_params *params, struct err *rec);

/* The TLS session, or NULL for a plain connection. */
gnutls_session_t io_tls(struct io *io);

/* Append len bytes to the output buffer; when it fills, it is flushed.
 * Returns 0, or -1 with rec filled. */
int io_put(struct io *io, const void *buf, size_t len, struct err *rec);

/* Wipe what the output buffer held of bytes already written (an AUTH
 * response), so that it does not stay there until io_free. */
void io_forget_sent(struct io *io);

/* Write the whole output buffer in as few writes as the transport allows.
 * Returns 0, or -1 with rec filled (ERR_TEMP on a lost connection). */
int io_flush(struct io *io, struct err *rec);

/* Read one line into buf (size sz, at least IO_LINE_MAX + 1; lines may be
 * as long as sz - 1 bytes, but never over IO_LONG_LINE_MAX), without its
 * CRLF or LF, NUL-terminated; sets *len.  Returns 0; or -1 with rec filled:
 * end of stream or timeout is ERR_TEMP/EX_TEMPFAIL, a line over
 * that limit or containing NUL is ERR_PERM/EX_PROTOCOL. */
int io_getline(
    struct io *io, char *buf, size_t sz, size_t *len, struct err *rec);

/* After io_getline refused a line (over the limit, or with a NUL): drop
 * the rest of it, up to and including its LF, reading and discarding as
 * much as it takes until the deadline.  Returns 0 (at once when no line
 * was refused), or -1 with rec filled as io_getline fills it. */
int io_skip_line(struct io *io, struct err *rec);

/* Bytes received and not yet consumed. */
size_t io_pending(const struct io *io);

#endif
