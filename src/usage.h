/* --help and --version. */
#ifndef MAILHOP_USAGE_H
#define MAILHOP_USAGE_H

#include <stdio.h>

/* A summary of the ways to call mailhop, for --help. */
void usage_help(FILE *f);

/* mailhop's version and those of the libraries it runs with. */
void usage_version(FILE *f);

#endif
