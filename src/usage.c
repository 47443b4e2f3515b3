/* --help and --version: what a person who types them expects to see,
 * on standard output, exit 0.  The whole story is in mailhop(1). */
#include <gnutls/gnutls.h>
#include <idn2.h>

#include "usage.h"

#ifndef MAILHOP_VERSION
#define MAILHOP_VERSION "unknown"
#endif

static const char help[] =
    "usage: mailhop [-bm] [-imtv] [-a account] [-B type] [-C file] [-F name]\n"
    "               [-f sender | -r sender] [-N dsn] [-R return] [-V envid]\n"
    "               [--] [recipient ...]\n"
    "       mailhop --pretend [-t] [-a account] [-C file] [-f sender]\n"
    "               [recipient ...]\n"
    "       mailhop --serverinfo [-v] [-a account] [-C file]\n"
    "       mailhop [-C file] -bp\n"
    "       mailq\n"
    "       mailhop [-C file] -bi | -I\n"
    "       newaliases\n"
    "       mailhop [-C file] -q[interval]\n"
    "       mailhop [-C file] -qI[id] | -qIfailed\n"
    "       mailhop [-C file] -qD<id> | -qDfailed\n"
    "       mailhop [-C file] -bs\n"
    "       mailhop [-C file] --store-password account\n"
    "       mailhop --help | --version\n"
    "\n"
    "The message is read from standard input; -t takes the recipients\n"
    "from its To, Cc and Bcc fields.  The accounts are in\n"
    "~/.config/mailhop/config (see mailhop.conf(5)); the whole manual\n"
    "is mailhop(1).\n";

void
usage_help(FILE *f)
{
	fputs(help, f);
}

void
usage_version(FILE *f)
{
	fprintf(f, "mailhop %s (GnuTLS %s, libidn2 %s)\n", MAILHOP_VERSION,
	    gnutls_check_version(NULL), idn2_check_version(NULL));
}
