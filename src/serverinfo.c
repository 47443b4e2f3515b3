/* SPDX-License-Identifier: ISC */
/*
 * mailhop --serverinfo: connect as the account would (same TLS mode, CA
 * file, pin and priorities; never its client certificate) and report
 * what the server shows: greeting, capabilities before and after TLS,
 * the TLS version and cipher suite, the certificate chain, the
 * verdict and, for a certificate without a known issuer, the tls_pin line
 * with what to check first.  Never AUTH, never MAIL: EHLO, STARTTLS,
 * QUIT.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "io.h"
#include "log.h"
#include "net.h"
#include "pin.h"
#include "reply.h"
#include "serverinfo.h"
#include "tls.h"

#define SHOW_MAX 512 /* longest server line shown */

struct info {
	const struct smtp_params *p;
	struct tls_params tlsp;
	FILE *out;
	struct io *io;
	struct reply reply;
	char line[IO_LINE_MAX + 1];
};

/* Is the dialogue in clear, with TLS to come (STARTTLS)? */
static int
before_tls(struct info *si)
{
	return si->p->tls == SMTP_TLS_STARTTLS && io_tls(si->io) == NULL;
}

/* A command could not be sent or its reply read: say where. */
static int
lost(struct info *si, const char *cmd, struct err *rec)
{
	const char *at = cmd != NULL ? cmd : "GREETING";
	char why[ERR_TEXT_MAX];

	snprintf(why, sizeof(why), "%s", rec->text);
	return err_set(rec, rec->class, rec->code, "%s (%s, at %.*s)", why,
	    si->p->host, (int)strcspn(at, " "), at);
}

/* Send one command and read its whole reply into si->reply. */
static int
exchange(struct info *si, const char *cmd, struct err *rec)
{
	size_t len;
	int rc;

	if (cmd != NULL) {
		log_trace('>', cmd, strlen(cmd));
		if (io_put(si->io, cmd, strlen(cmd), rec) == -1 ||
		    io_put(si->io, "\r\n", 2, rec) == -1 ||
		    io_flush(si->io, rec) == -1)
			return lost(si, cmd, rec);
	}
	io_set_deadline(si->io, net_now_ms() + si->p->timeout_ms);
	reply_init(&si->reply);
	do {
		if (io_getline(si->io, si->line, sizeof(si->line), &len, rec) ==
		    -1)
			return lost(si, cmd, rec);
		log_trace_note('<', si->line, len,
		    before_tls(si) ? "said before TLS, not authenticated"
				   : NULL);
		rc = reply_line(&si->reply, si->line, len, rec);
	} while (rc == 0);
	return rc == -1 ? lost(si, cmd, rec) : 0;
}

/* The reply is not the one hoped for: the error a send would give
 * (smtp_fail_reply), "server HOST " and what, with the server's words. */
static int
fail(struct info *si, int permcode, const char *what, struct err *rec)
{
	char text[256];

	snprintf(text, sizeof(text), "server %s %s", si->p->host, what);
	return reply_fail(&si->reply, text,
	    before_tls(si) ? " (said before TLS, not authenticated)" : "",
	    permcode, rec);
}

/* Each line of the reply, sanitised; from the second line when skip. */
static void
show_lines(struct info *si, const char *indent, int skip)
{
	const char *p = si->reply.text, *end = p + si->reply.len, *nl;
	char shown[SHOW_MAX];
	int n = 0;

	while (p <= end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (n++ >= skip) {
			err_sanitize(shown, sizeof(shown), p, (size_t)(nl - p));
			fprintf(si->out, "%s%s\n", indent, shown);
		}
		p = nl + 1;
	}
}

static int
ehlo(struct info *si, const char *when, struct err *rec)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "EHLO %s", si->p->helo);
	if (exchange(si, cmd, rec) == -1)
		return -1;
	if (si->reply.code != 250)
		return fail(si, EX_PROTOCOL, "refused EHLO", rec);
	fprintf(si->out, "capabilities %s:\n", when);
	show_lines(si, "  ", 1);
	return 0;
}

/* One distinguished name of crt (subject or issuer). */
static void
show_dn(struct info *si, const char *what, gnutls_x509_crt_t crt, int issuer)
{
	gnutls_datum_t dn = { NULL, 0 };
	char shown[SHOW_MAX];
	int r;

	r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0)
		   : gnutls_x509_crt_get_dn3(crt, &dn, 0);
	if (r < 0)
		snprintf(shown, sizeof(shown), "?");
	else
		err_sanitize(
		    shown, sizeof(shown), (const char *)dn.data, dn.size);
	fprintf(si->out, "  %s: %s\n", what, shown);
	gnutls_free(dn.data);
}

static void
show_dates(struct info *si, gnutls_x509_crt_t crt)
{
	time_t from = gnutls_x509_crt_get_activation_time(crt);
	time_t until = gnutls_x509_crt_get_expiration_time(crt);
	double left = difftime(until, time(NULL)) / 86400;
	char a[32], b[32];

	strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S UTC", gmtime(&from));
	strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S UTC", gmtime(&until));
	fprintf(si->out, "  valid: %s to %s (%s%ld days %s)\n", a, b,
	    left < 0 ? "expired " : "", (long)(left < 0 ? -left : left),
	    left < 0 ? "ago" : "left");
}

/* The subject alternative names: DNS, IP, email, URI. */
static void
show_names(struct info *si, gnutls_x509_crt_t crt)
{
	char name[256], shown[SHOW_MAX], ip[INET6_ADDRSTRLEN];
	size_t len;
	unsigned int i;
	int type, any = 0;

	fprintf(si->out, "  names:");
	for (i = 0; i < 1000; i++) {
		len = sizeof(name);
		type = gnutls_x509_crt_get_subject_alt_name(
		    crt, i, name, &len, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_IPADDRESS &&
		    inet_ntop(len == 16 ? AF_INET6 : AF_INET, name, ip,
			sizeof(ip)) != NULL)
			fprintf(si->out, " IP:%s", ip);
		else if (type == GNUTLS_SAN_DNSNAME ||
		    type == GNUTLS_SAN_RFC822NAME || type == GNUTLS_SAN_URI) {
			err_sanitize(shown, sizeof(shown), name, len);
			fprintf(si->out, " %s:%s",
			    type == GNUTLS_SAN_DNSNAME		? "DNS"
				: type == GNUTLS_SAN_RFC822NAME ? "email"
								: "URI",
			    shown);
		} else
			continue;
		any = 1;
	}
	fprintf(si->out, "%s\n", any ? "" : " (none)");
}

/* Version, cipher suite and every certificate the server sent. */
static void
show_tls(struct info *si)
{
	gnutls_session_t s = io_tls(si->io);
	const gnutls_datum_t *chain;
	gnutls_x509_crt_t crt;
	unsigned int i, n = 0;
	char pin[PIN_MAX], *desc = gnutls_session_get_desc(s);

	fprintf(si->out, "TLS: %s, %s\n", tls_version_name(s),
	    desc != NULL ? desc : "?");
	gnutls_free(desc);
	chain = gnutls_certificate_get_peers(s, &n);
	for (i = 0; chain != NULL && i < n; i++) {
		fprintf(si->out, "certificate %u%s:\n", i,
		    i == 0 ? " (the server's)" : "");
		if (gnutls_x509_crt_init(&crt) < 0)
			continue;
		if (gnutls_x509_crt_import(
			crt, &chain[i], GNUTLS_X509_FMT_DER) == 0) {
			show_dn(si, "subject", crt, 0);
			show_dn(si, "issuer", crt, 1);
			show_dates(si, crt);
			show_names(si, crt);
			if (pin_cert(&chain[i], pin, sizeof(pin)) == 0)
				fprintf(si->out, "  key: %s\n", pin);
		}
		gnutls_x509_crt_deinit(crt);
	}
}

/* What to say about tls_pin after the verdict (S17: pinning what this
 * connection shows is trusting whoever is on the path).  A line to paste
 * only for a certificate without a known issuer (self-signed, a private
 * CA), with what to check first; not for one from a trusted CA that fails
 * for another reason (dates, name), where a pin would hide the fault. */
static void
show_pin_advice(struct info *si, unsigned int status)
{
	const char *pin = tls_peer_pin(io_tls(si->io));

	if (si->tlsp.pin != NULL)
		return;
	if (status == 0) {
		fprintf(si->out,
		    "tls_pin: not needed (the certificate is trusted; a pin would have to change with every new key of the server)\n");
		return;
	}
	if (pin[0] == '\0')
		return;
	if (!(status & GNUTLS_CERT_SIGNER_NOT_FOUND)) {
		fprintf(si->out,
		    "tls_pin: not advised: the certificate comes from a trusted CA but fails for another reason, which pinning its key would hide; have it fixed\n");
		return;
	}
	fprintf(si->out,
	    "tls_pin: the issuer is unknown (self-signed, or a private CA: then tls_ca_file is better).  This connection may have been intercepted: first check the key above with the server's operator by another path (the server's console), then put in the account:\n"
	    "tls_pin = \"%s\"\n",
	    pin);
}

/* Start TLS in report mode, show the chain, then the verdict and what to
 * do about tls_pin; -1 (rec filled) when the certificate is not
 * trusted. */
static int
start_tls(struct info *si, struct err *rec)
{
	unsigned int status;

	/* A whole timeout, as for a send (smtp_open_start_tls). */
	io_set_deadline(si->io, net_now_ms() + si->p->timeout_ms);
	if (io_starttls(si->io, &si->tlsp, rec) == -1)
		return -1;
	show_tls(si);
	status = tls_verify_status(io_tls(si->io));
	if (tls_verify_result(io_tls(si->io), rec) == -1) {
		fprintf(si->out, "verification: FAILED: %s\n", rec->text);
		show_pin_advice(si, status);
		return -1;
	}
	fprintf(si->out, "verification: OK (%s)\n",
	    si->tlsp.pin != NULL ? "the server's key is one of tls_pin"
		: si->tlsp.ca_file != NULL
		? "chain to tls_ca_file, and the host name"
		: "chain to the system's trust store, and the host name");
	show_pin_advice(si, status);
	return 0;
}

/* The dialogue after the connection: greeting, EHLO, TLS, EHLO, QUIT. */
static int
dialogue(struct info *si, struct err *rec)
{
	char flat[SHOW_MAX], shown[SHOW_MAX];
	int starttls = si->p->tls == SMTP_TLS_STARTTLS;
	struct reply_caps caps;

	if (si->p->tls == SMTP_TLS_IMPLICIT && start_tls(si, rec) == -1)
		return -1;
	if (exchange(si, NULL, rec) == -1)
		return -1;
	err_sanitize(shown, sizeof(shown), flat,
	    reply_flatten(&si->reply, flat, sizeof(flat)));
	fprintf(si->out, "greeting%s: %s\n",
	    starttls ? " (before TLS, not authenticated)" : "", shown);
	if (si->reply.code != 220)
		return fail(si, EX_UNAVAILABLE, "refused the session", rec);
	if (ehlo(si,
		starttls ? "before TLS (not authenticated)"
		    : si->p->tls == SMTP_TLS_OFF ? "(no TLS: tls = off)"
						 : "(inside TLS)",
		rec) == -1)
		return -1;
	if (!starttls)
		return 0;
	reply_caps_parse(&caps, &si->reply);
	if (!(caps.flags & REPLY_CAP_STARTTLS))
		return err_set(rec, ERR_PERM, EX_UNAVAILABLE,
		    "server %s did not offer STARTTLS (it may be stripped by an attacker; if the server has TLS on port 465, use tls = implicit)",
		    si->p->host);
	if (exchange(si, "STARTTLS", rec) == -1)
		return -1;
	if (si->reply.code != 220)
		return fail(si, EX_PROTOCOL, "did not start TLS", rec);
	if (start_tls(si, rec) == -1)
		return -1;
	return ehlo(si, "after TLS", rec);
}

int
serverinfo_run(const struct smtp_params *p, FILE *out, struct err *rec)
{
	static const char *const modes[] = { [SMTP_TLS_STARTTLS] = "starttls",
		[SMTP_TLS_IMPLICIT] = "implicit",
		[SMTP_TLS_OFF] = "off" };
	struct info *si;
	struct err scratch;
	int fd, rc = -1;

	if ((si = calloc(1, sizeof(*si))) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	si->p = p;
	si->out = out;
	si->tlsp = (struct tls_params){ .host = p->host,
		.ca_file = p->ca_file,
		.pin = p->tls_pin,
		.priorities = p->tls_priorities,
		.report = 1 };
	fprintf(out, "server: %s port %s (tls = %s)\n", p->host, p->port,
	    modes[p->tls]);
	if (p->tls_cert_file != NULL)
		fprintf(out,
		    "client certificate: not presented (tls_cert_file %s is for sending only)\n",
		    p->tls_cert_file);
	fd = net_connect(p->host, p->port, p->timeout_ms, rec);
	if (fd != -1 && (si->io = io_new(fd)) == NULL) {
		close(fd);
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	}
	if (si->io != NULL) {
		io_set_deadline(si->io, net_now_ms() + p->timeout_ms);
		rc = dialogue(si, rec);
		/* QUIT only while the dialogue is in step and trusted. */
		if (rc == 0)
			(void)exchange(si, "QUIT", &scratch);
	}
	io_free(si->io);
	free(si);
	fflush(out);
	return rc;
}
