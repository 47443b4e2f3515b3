/* SPDX-License-Identifier: ISC */
#ifndef MAILHOP_PIN_H
#define MAILHOP_PIN_H

#include <stddef.h>
#include <gnutls/gnutls.h>

/* A pin is this prefix and 44 base64 characters; PIN_MAX holds one. */
#define PIN_PREFIX "sha256//"
#define PIN_MAX 64

/* Is v a list of pins (spaces and ";" between them)?  Returns 0, or -1
 * with why (size sz) saying what is wrong. */
int pin_check(const char *v, char *why, size_t sz);

/* Is the pin seen one of the list (as pin_check accepts)?  1 or 0. */
int pin_listed(const char *list, const char *seen);

/* Write the pin of the DER certificate der to out (size sz; PIN_MAX is
 * enough).  Returns 0, or -1 when the certificate does not parse. */
int pin_cert(const gnutls_datum_t *der, char *out, size_t sz);

#endif
