/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_BASE64_H
#define MAILHOP_BASE64_H

#include <stddef.h>

/* raw (len bytes) in base64 (RFC 4648 4), NUL-terminated, in *out:
 * malloc'ed, released with secret_free (it may carry a secret).  "" for
 * len 0.  Returns 0, or -1 when out of memory. */
int b64_encode(const void *raw, size_t len, char **out);

/* The bytes of the base64 text in (NUL-terminated), in *out (malloc'ed,
 * *len bytes and a NUL after them; release with secret_free).  Returns 0,
 * or -1 when in is not base64 or memory runs out. */
int b64_decode(const char *in, char **out, size_t *len);

#endif
