/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_MECH_H
#define MAILHOP_MECH_H

#include "err.h"

/* Is mech PLAIN, LOGIN or EXTERNAL (any case), whose framing is ours? */
int mech_is_own(const char *mech);

struct mech;

/* Start an exchange of mech for user and password (not copied: they
 * must outlive it; EXTERNAL uses neither, the others need both).
 * Returns NULL with rec filled on failure. */
struct mech *mech_new(
    const char *mech, const char *user, const char *password, struct err *rec);

/* One step, as sasl_step: in is the server's base64 challenge, NULL for
 * the initial response.  PLAIN and EXTERNAL answer once (returns 0);
 * LOGIN answers its first challenge with the user (returns 1) and the
 * second with the password (returns 0).  A step past the last: -1 with
 * rec filled (EX_PROTOCOL).  *out is malloc'ed base64, released with
 * secret_free. */
int mech_step(struct mech *m, const char *in, char **out, struct err *rec);

/* Free; the credentials are the caller's.  NULL is fine. */
void mech_free(struct mech *m);

#endif
