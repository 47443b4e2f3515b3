/* SPDX-License-Identifier: ISC */
/*
 * mailhop: read a message on stdin and hand it to the account's own SMTP
 * server.  This file parses the command line and runs the mode it asks
 * for: a send (prepare.c, send.c), --pretend, -bs, newaliases,
 * --store-password, --serverinfo, and the queue's (flush.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alias.h"
#include "conf.h"
#include "err.h"
#include "flush.h"
#include "keyring.h"
#include "log.h"
#include "msg.h"
#include "options.h"
#include "peek.h"
#include "priv.h"
#include "run.h"
#include "secret.h"
#include "serverinfo.h"
#include "server.h"
#include "smtp.h"
#include "usage.h"

/* Make sure fds 0 to 2 are open, so no socket or spool file lands on
 * them.  Returns whether stdin was closed. */
static int
guard_std_fds(void)
{
	int fd, closed_in;

	closed_in = fcntl(0, F_GETFD) == -1 && errno == EBADF;
	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) == -1)
			exit(EX_OSERR);
	}
	return closed_in;
}

/* The one stderr line of a failure: what, the server's words, and for a
 * temporary failure that nothing was sent (there is no queue yet). */
static void
print_error(const struct run *r)
{
	const struct err *e = &r->err;
	const char *said = "", *reply = "", *end = "", *outcome = "";
	char buf[ERR_TEXT_MAX + 64];

	if (e->reply[0] != '\0' && strstr(e->text, e->reply) == NULL)
		said = " (server said: ", reply = e->reply, end = ")";
	/* With partial_delivery, the accepted recipients have it. */
	if (r->split && !r->split_queued) {
		snprintf(buf, sizeof(buf), "; %s", r->split_why);
		outcome = buf;
	} else if (r->split_queued && r->res.delivered > 0)
		outcome = "; the other recipients got the message, and those "
			  "refused for now (4xx) are queued for retry";
	else if (r->split_queued)
		outcome = "; those refused for now (4xx) are queued for retry";
	else if (r->res.delivered > 0)
		outcome = "; the other recipients got the message";
	else if (e->class == ERR_TEMP)
		outcome = "; the message was not sent";
	fprintf(
	    stderr, "mailhop: %s%s%s%s%s", e->text, said, reply, end, outcome);
	/* Said, so that one who fixes the cause and sends again knows that
	 * -qIfailed would send it twice. */
	if (r->failed_id[0] != '\0')
		fprintf(stderr,
		    "; a copy%s is in the failed area (mailhop -qI%s sends it again, -qD%s deletes it%s)",
		    r->split || r->res.delivered > 0
			? " for the recipients refused for good"
			: "",
		    r->failed_id, r->failed_id,
		    priv_system() && getuid() != 0 ? ", both run as root" : "");
	fputc('\n', stderr);
}

/* After a send: the one line of a failure, or under -v or on a terminal
 * that the message was queued. */
static int
tell(const struct run *r, int code)
{
	if (code != EX_OK)
		print_error(r);
	else if (r->queued && (r->opt.verbose || isatty(STDERR_FILENO)))
		fprintf(stderr, "mailhop: queued: %s\n", r->err.text);
	return code;
}

/* --pretend: the rest of a message on stdin is read and dropped, as a
 * send would read it, so that its writer never sees a broken pipe; a
 * terminal is not read. */
static void
drain(struct run *r)
{
	struct pollfd pfd = { .fd = r->infd, .events = POLLIN };
	char buf[8192];
	ssize_t n;

	if (r->stdin_closed || r->peek.eof || isatty(r->infd))
		return;
	while ((n = read(r->infd, buf, sizeof(buf))) != 0) {
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			poll(&pfd, 1, -1);
		else if (n == -1 && errno != EINTR)
			return;
	}
}

/* --pretend, after the settings: the envelope a send would use, as far
 * as the command line gives it, or the error a send would stop with. */
static int
pretend_envelope(struct run *r)
{
	size_t i;

	if (run_pretend_envelope(r) == -1) {
		fflush(stdout);
		fprintf(stderr, "mailhop: %s\n", r->err.text);
		return r->err.code;
	}
	printf(
	    "envelope sender: %s\n", r->sender[0] != '\0' ? r->sender : "<>");
	printf("recipients:");
	for (i = 0; i < r->rcpt.n; i++)
		printf("%s %s", i > 0 ? "," : "", r->rcpt.v[i].mailbox);
	if (r->opt.extract && !r->pretend_read)
		printf(
		    "%s those in To, Cc and Bcc (-t; a terminal is not read)",
		    r->rcpt.n > 0 ? "," : "");
	else if (r->rcpt.n == 0)
		printf(" none given");
	putchar('\n');
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

/* --pretend: the account, why, its file and every setting, on stdout.
 * Nothing is sent, queued or logged, and no password command runs; a
 * message on a pipe is read as a send reads it (run_pretend_envelope). */
static int
pretend(struct run *r)
{
	static const char *const origins[] = {
		[CONF_FROM_BUILTIN] = "built-in default",
		[CONF_FROM_ACCOUNT] = "account",
		[CONF_FROM_DEFAULTS] = "defaults",
	};
	const struct conf_setting *c;
	struct group *gr;
	size_t i;
	int code;

	r->infd = STDIN_FILENO;
	/* The system file is root's and the group's to read (S36): its
	 * settings, password_command included, are not shown to others
	 * through the group's privilege. */
	if (priv_system() && getuid() != 0) {
		gr = getgrgid(priv_group());
		fprintf(stderr,
		    "mailhop: --pretend would show the settings of %s, which only root and the group %s may read (run it as root)\n",
		    SYSCONFDIR "/mailhop.conf",
		    gr != NULL ? gr->gr_name : "of mailhop");
		return EX_NOPERM;
	}
	if (run_choose_account(r) == -1) {
		fprintf(stderr, "mailhop: %s\n", r->err.text);
		return r->err.code;
	}
	printf("account: %s\nchosen by: %s\nfile: %s\n", r->acct.name,
	    r->acct.chosen_by, r->acct.file);
	if (r->acct.not_read != NULL)
		printf("not read: %s\n", r->acct.not_read);
	for (i = 0; i < r->acct.nsettings; i++) {
		c = &r->acct.settings[i];
		if (c->value == NULL)
			printf("%-17s (not set)\n", c->key);
		else if (c->line > 0)
			printf("%-17s = %s  (%s, line %d)\n", c->key, c->value,
			    origins[c->origin], c->line);
		else
			printf("%-17s = %s  (%s)\n", c->key, c->value,
			    origins[c->origin]);
	}
	code = pretend_envelope(r);
	drain(r);
	return code;
}

/* -bs: relay one message of the dialogue as a send run would, with the
 * command line's options and the dialogue's envelope. */
static int
bs_relay(void *arg, const struct server_msg *m, struct err *rec)
{
	const struct options *o = arg;
	struct run r;
	int code;

	memset(&r, 0, sizeof(r));
	err_clear(&r.err);
	r.opt = *o;
	r.opt.sender = m->from;
	r.opt.sender_buf = NULL;
	r.opt.extract = 0;
	r.opt.rcpt = calloc(m->nrcpt + 1, sizeof(*r.opt.rcpt));
	if (r.opt.rcpt == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	memcpy(r.opt.rcpt, m->rcpt, m->nrcpt * sizeof(*r.opt.rcpt));
	r.opt.nrcpt = m->nrcpt;
	code = tell(&r, run_send(&r, m->fd, 0));
	*rec = r.err;
	/* The 250 says what happened: one who reads the dialogue (or its
	 * caller's log) learns whether the mail left or waits, and why. */
	if (code == EX_OK) {
		err_clear(rec);
		if (r.queued && r.res.delivered > 0)
			snprintf(rec->text, sizeof(rec->text),
			    "sent to some recipients (server said: %.180s); the others are queued as %s for a later try: %.180s",
			    r.res.reply, r.queued_id, r.err.text);
		else if (r.queued)
			snprintf(rec->text, sizeof(rec->text),
			    "not sent yet, queued as %s for a later try: %.300s",
			    r.queued_id, r.err.text);
		else if (r.res.reply[0] != '\0')
			snprintf(rec->text, sizeof(rec->text),
			    "sent through account %.100s (server said: %.300s)",
			    r.acct.name, r.res.reply);
		else
			snprintf(rec->text, sizeof(rec->text),
			    "sent through account %.100s", r.acct.name);
	}
	run_cleanup(&r);
	return code == EX_OK ? 0 : -1;
}

/* -bs: SMTP on standard input and output, until QUIT. */
static int
run_smtp(const struct options *o)
{
	struct server_params p = { 0 };
	char host[256];
	struct err e;

	err_clear(&e);
	if (gethostname(host, sizeof(host)) == -1)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	p.hostname = host;
	/* RFC 5321 4.5.3.2.7: a server waits 5 minutes for a command. */
	p.timeout_ms = 5 * 60 * 1000;
	if (o->verbose)
		log_trace_enable(STDERR_FILENO);
	if (server_run(STDIN_FILENO, STDOUT_FILENO, &p, bs_relay, (void *)o,
		&e) == -1) {
		fprintf(stderr, "mailhop: %s\n", e.text);
		return e.code;
	}
	return EX_OK;
}

/* newaliases, -bi, -I: check the chosen account's aliases file.  No
 * configuration at all is only a warning, since package scripts run
 * newaliases on machines that do not send yet (R12); a broken aliases
 * file or configuration is an error, since sending would fail on it. */
#define NO_CONFIG "no configuration file:"

static int
newaliases(const struct options *o)
{
	struct conf_account a;
	struct alias_info info;
	struct err e;
	int code = EX_OK;

	err_clear(&e);
	if (conf_load(o->config, o->account, &a, &e) == -1) {
		/* Package scripts run newaliases on hosts where mailhop has
		 * no configuration yet: that alone is not a failure.  A
		 * file that is there and wrong, or -C, is. */
		if (o->config == NULL &&
		    strncmp(e.text, NO_CONFIG, sizeof(NO_CONFIG) - 1) == 0) {
			fprintf(stderr,
			    "mailhop: warning: %s; no aliases file checked\n",
			    e.text);
			return EX_OK;
		}
		fprintf(stderr, "mailhop: %s\n", e.text);
		return e.code;
	}
	if (a.aliases == NULL) {
		if (o->verbose)
			fprintf(stderr,
			    "mailhop: account %s has no aliases file; nothing to check\n",
			    a.name);
	} else if (alias_check_file(a.aliases, &info, &e) == -1) {
		fprintf(stderr, "mailhop: %s\n", e.text);
		code = e.code;
	} else {
		if (info.note[0] != '\0')
			fprintf(stderr, "mailhop: %s\n", info.note);
		if (o->verbose)
			fprintf(stderr, "mailhop: %s: %zu names\n", a.aliases,
			    info.entries);
	}
	conf_account_free(&a);
	return code;
}

/* --store-password ACCOUNT: ask for the account's password and keep it
 * in the keyring under the attributes keyring_lookup uses. */
static int
store_password(const struct options *o)
{
	struct conf_pick pick = { .name = o->account,
		.option = "--store-password" };
	char prompt[300], label[300], *pw = NULL;
	struct conf_account a;
	struct err e;

	err_clear(&e);
	if (conf_choose(o->config, &pick, &a, &e) == -1) {
		fprintf(stderr, "mailhop: %s\n", e.text);
		return e.code;
	}
	if (a.user == NULL)
		err_set(&e, ERR_CONFIG, EX_CONFIG,
		    "%s: account %s has no user, and the keyring entry is found by host and user (add user = \"...\")",
		    a.file, a.name);
	/* The entry is shared (msmtp, secret-tool): not replaced for an
	 * account that would not even read it. */
	else if (!a.keyring)
		err_set(&e, ERR_CONFIG, EX_CONFIG,
		    "%s: account %s does not use the keyring, so nothing was stored: storing would replace the entry of %s at %s that msmtp and others may use (add keyring = on to the account%s first)",
		    a.file, a.name, a.user, a.host,
		    a.password != NULL || a.password_command != NULL
			? " in place of its password or password_command"
			: "");
	snprintf(
	    prompt, sizeof(prompt), "Password for %s at %s: ", a.user, a.host);
	snprintf(label, sizeof(label), "mailhop: %s at %s (account %s)", a.user,
	    a.host, a.name);
	if (e.class == ERR_NONE && secret_ask(prompt, &pw, &e) == 0 &&
	    keyring_store(a.host, a.user, a.name, label, pw, &e) == 0)
		printf(
		    "mailhop: stored the password for %s at %s in the keyring's default collection (Secret Service; host=%s service=%s user=%s)\n",
		    a.user, a.host, a.host, KEYRING_SERVICE, a.user);
	secret_free(pw);
	if (e.class != ERR_NONE)
		fprintf(stderr, "mailhop: %s\n", e.text);
	conf_account_free(&a);
	return e.class == ERR_NONE ? EX_OK : e.code;
}

/* --serverinfo [-a ACCOUNT]: what the account's server shows, on stdout;
 * the usual exit code and one line on stderr when something fails. */
static int
serverinfo(const struct options *o)
{
	struct smtp_params p;
	struct conf_account a;
	char port[16];
	struct err e;
	int rc;

	err_clear(&e);
	if (conf_load(o->config, o->account, &a, &e) == -1) {
		fprintf(stderr, "mailhop: %s\n", e.text);
		return e.code;
	}
	if (o->verbose)
		log_trace_enable(STDERR_FILENO);
	flush_smtp_params(&a, &p, port, sizeof(port));
	rc = serverinfo_run(&p, stdout, &e);
	conf_account_free(&a);
	if (rc == 0)
		return EX_OK;
	fprintf(stderr, "mailhop: %s\n", e.text);
	return e.code;
}

/* The modes other than sending (-bp, -bi, -q, -bs): each runs and picks
 * its exit code here. */
static int
run_mode(const struct options *o)
{
	switch (o->mode) {
	case OPT_MODE_LIST:
		return flush_list(o);
	case OPT_MODE_NEWALIASES:
		return newaliases(o);
	case OPT_MODE_FLUSH:
		return flush_run(o);
	case OPT_MODE_SMTP:
		return run_smtp(o);
	case OPT_MODE_STORE_PASSWORD:
		return store_password(o);
	case OPT_MODE_SERVERINFO:
		return serverinfo(o);
	case OPT_MODE_SEND:
	case OPT_MODE_HELP:
	case OPT_MODE_VERSION:
		break;
	}
	return EX_SOFTWARE;
}

/* The end of a send.  What is left to free the kernel takes back, and
 * the library destructors that exit() would run are GnuTLS's freeing of
 * its ASN.1 trees (a tenth of a million instructions, more than the
 * rest of our own work after the handshake).  The one exit handler of
 * ours (the system file's wipe) runs, stdio is flushed; a sanitizer
 * build exits the usual way, so that LeakSanitizer looks. */
static int
finish(int code)
{
#ifndef __SANITIZE_ADDRESS__
	conf_system_forget();
	if (fflush(NULL) == 0)
		_exit(code);
#endif
	return code;
}

/* How a system-mode run uses the system file, which holds every
 * account's password: -bp not at all, -q and -bs an account for each
 * message, the others one account, chosen once. */
static enum conf_system_use
system_file_use(const struct options *o)
{
	switch (o->mode) {
	case OPT_MODE_LIST:
		return CONF_SYSTEM_UNUSED;
	case OPT_MODE_FLUSH:
	case OPT_MODE_SMTP:
		return CONF_SYSTEM_KEEP;
	default:
		return CONF_SYSTEM_ONCE;
	}
}

int
main(int argc, char *argv[])
{
	struct run r;
	int stdin_closed, code;

	memset(&r, 0, sizeof(r));
	err_clear(&r.err);
	secret_protect_process();
	stdin_closed = guard_std_fds();
	signal(SIGPIPE, SIG_IGN);
	log_open();
	if (opt_parse(argc, argv, &r.opt, &r.err) == -1) {
		fprintf(stderr, "mailhop: %s\n", r.err.text);
		return EX_USAGE;
	}
	if (r.opt.mode == OPT_MODE_HELP || r.opt.mode == OPT_MODE_VERSION) {
		(r.opt.mode == OPT_MODE_HELP ? usage_help : usage_version)(
		    stdout);
		opt_free(&r.opt);
		return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
	}
	if (priv_init(r.opt.config, system_file_use(&r.opt), &r.err) == -1) {
		fprintf(stderr, "mailhop: %s\n", r.err.text);
		opt_free(&r.opt);
		return r.err.code;
	}
	if (r.opt.mode != OPT_MODE_SEND) {
		code = run_mode(&r.opt);
		opt_free(&r.opt);
		return code;
	}
	if (r.opt.pretend) {
		r.stdin_closed = stdin_closed;
		code = pretend(&r);
		run_cleanup(&r);
		return code;
	}
	if (r.opt.verbose)
		log_trace_enable(STDERR_FILENO);
	code = tell(&r, run_send(&r, STDIN_FILENO, stdin_closed));
	run_cleanup(&r);
	return finish(code);
}
