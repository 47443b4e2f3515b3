/* SPDX-License-Identifier: ISC */
/*
 * mailhop: read a message on stdin and hand it to the account's own SMTP
 * server.  This file strings the modules together, and is the only one
 * that prints to the terminal or picks the exit code.
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
#include "policy.h"
#include "priv.h"
#include "secret.h"
#include "serverinfo.h"
#include "server.h"
#include "smtp.h"
#include "usage.h"

/* Everything one run knows about its message, for the log line. */
struct run {
	struct options opt;
	struct conf_account acct;
	int have_acct;
	struct msg msg;
	int have_msg;
	struct alias_map *aliases; /* the account's aliases file, or NULL */
	struct alias_ctx actx;	   /* local names: header and sender rewrite */
	char hostname[256];	   /* for actx */
	int infd;		   /* the message */
	int stdin_closed;
	struct peek peek;      /* its start, read to choose the account */
	char *sender;	       /* qualified, or "": for the log and policy */
	char *wire_sender;     /* the same in ASCII form, for MAIL FROM */
	char *wire_from;       /* the account's from, in ASCII form */
	char *wire_local;      /* its local_domain, in ASCII form */
	struct addr_list rcpt; /* as given, for the log line */
	char **wire;	       /* the same, in ASCII form for RCPT */
	struct smtp_result res;
	int *codes; /* each recipient's RCPT reply (smtp.h rcpt_codes) */
	int tried;  /* smtp_send ran: a failure may be queued */
	int queued; /* kept in the queue: exit 0, status=queued */
	/* With partial_delivery, recipients refused with 4xx and others
	 * with 5xx: the 4xx ones are queued (split_queued once they are),
	 * the 5xx ones kept in failed/, and each kind has its log line. */
	int split;
	int split_queued;
	char split_why[ERR_TEXT_MAX];  /* why they could not be queued */
	char params[FLUSH_PARAMS_MAX]; /* for the queue: BODY, DSN, ... */
	/* With the queue on, the message itself, published into the queue
	 * before the first connection and held (locked) during the send,
	 * so that a kill leaves it queued (issue 6); held_kept once keep
	 * made it the queued or failed copy. */
	struct flush_held held;
	int held_kept;
	int held_gone; /* taken out on the server's 250 (held_accepted) */
	/* The ids of the copies keep made: queued for retry, and in the
	 * failed area; "" for none. */
	char queued_id[QUEUE_ID_SIZE];
	char failed_id[QUEUE_ID_SIZE];
	struct err err;
	/* The account's due queued messages, looked for before the send:
	 * 0 not looked, 1 none, 2 some (conn then carried the send without
	 * QUIT, for them; p and port outlive it). */
	int due;
	struct smtp_conn *conn;
	struct smtp_params p;
	char port[16];
};

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

/* Add the recipients of one argument, which may be an address list. */
static int
add_arg_rcpts(struct run *r, const char *arg)
{
	struct addr_list l = { 0 };
	size_t i;
	int rc = 0;

	if (addr_parse_list(arg, &l, &r->err) == -1) {
		r->err.code = EX_USAGE;
		rc = -1;
	}
	for (i = 0; rc == 0 && i < l.n; i++)
		rc = alias_expand(r->aliases, r->acct.local_domain,
		    l.v[i].mailbox, &r->rcpt, &r->err);
	addr_list_free(&l);
	return rc;
}

/* Build the envelope recipients from the arguments and, with -t, the
 * header; check each and convert its domain for the wire. */
static int
collect_rcpts(struct run *r)
{
	size_t i;

	for (i = 0; i < r->opt.nrcpt; i++)
		if (add_arg_rcpts(r, r->opt.rcpt[i]) == -1)
			return -1;
	for (i = 0; i < r->msg.rcpt.n; i++)
		if (alias_expand(r->aliases, r->acct.local_domain,
			r->msg.rcpt.v[i].mailbox, &r->rcpt, &r->err) == -1)
			return -1;
	if (r->rcpt.n == 0 && r->opt.extract)
		return err_set(&r->err, ERR_USAGE, EX_USAGE,
		    "no recipients: -t found no address in To, Cc or Bcc, and none was given as an argument");
	if (r->rcpt.n == 0)
		return err_set(&r->err, ERR_USAGE, EX_USAGE,
		    "no recipients (give them as arguments, or use -t to read To, Cc and Bcc)");
	r->wire = calloc(r->rcpt.n, sizeof(*r->wire));
	if (r->wire == NULL)
		return err_set(&r->err, ERR_LOCAL, EX_OSERR, "out of memory");
	for (i = 0; i < r->rcpt.n; i++) {
		if (addr_check(r->rcpt.v[i].mailbox, &r->err) == -1)
			return -1;
		r->wire[i] = addr_to_ascii(r->rcpt.v[i].mailbox, &r->err);
		if (r->wire[i] == NULL)
			return -1;
	}
	return 0;
}

/* The envelope sender: -f or the account's address, "" for the null
 * sender.  A local -f (no domain, or this host's name: cron's -f root)
 * becomes the account's address (issue 4), as the From field does.  Its
 * domain goes as A-labels, as the recipients' do (RFC 5890). */
static int
set_sender(struct run *r)
{
	const char *given = r->opt.sender;

	if (given == NULL || alias_is_local(&r->actx, given))
		given = r->acct.from;
	r->sender = alias_sender(r->acct.local_domain, given, &r->err);
	if (r->sender == NULL)
		return -1;
	if ((r->sender[0] != '\0' && addr_check(r->sender, &r->err) == -1) ||
	    (r->wire_sender = addr_to_ascii(r->sender, &r->err)) == NULL) {
		if (r->err.class == ERR_USAGE)
			r->err.code =
			    r->opt.sender != NULL ? EX_USAGE : EX_CONFIG;
		return -1;
	}
	return 0;
}

/* Read the message on infd (-t, -F), after the bytes peek_header took;
 * then fill the envelope.  Bare names in To and Cc get the local domain
 * (R16); a local From becomes the account's address (alias.h). */
static int
read_message(struct run *r, int infd)
{
	struct msg_opts mo = { 0 };

	mo.extract = r->opt.extract;
	mo.from = r->sender[0] != '\0' ? r->wire_sender : r->wire_from;
	mo.fullname = r->opt.fullname;
	mo.domain = addr_domain(r->wire_from);
	mo.rewrite = alias_header_rewrite;
	mo.from_rewrite = alias_from_rewrite;
	mo.rewrite_arg = &r->actx;
	mo.head = r->peek.buf;
	mo.head_len = r->peek.len;
	if (msg_read(infd, &mo, &r->msg, &r->err) == -1)
		return -1;
	r->have_msg = 1;
	if (r->actx.oom)
		return err_set(&r->err, ERR_LOCAL, EX_OSERR, "out of memory");
	return collect_rcpts(r);
}

/* The From policy (allow_from): the envelope sender, every From address,
 * Sender, and the newest Resent block's Resent-From and Resent-Sender,
 * before anything is sent.  An added From is the sender; a local From
 * was rewritten to the account's address (read_message). */
static int
check_policy(struct run *r)
{
	const struct {
		const char *what;
		const struct addr_list *l;
	} fields[] = {
		{ "From address", &r->msg.from },
		{ "Sender address", &r->msg.sender },
		{ "Resent-From address", &r->msg.resent_from },
		{ "Resent-Sender address", &r->msg.resent_sender },
	};
	struct policy p;
	size_t f, i;

	p.account = r->acct.name;
	p.file = r->acct.file;
	p.allow = (const char *const *)r->acct.allow_from;
	p.nallow = r->acct.nallow_from;
	p.local_domain = r->acct.local_domain;
	p.from = r->acct.from;
	/* A field the policy cannot read must not slip past it; with "*"
	 * there is nothing to check. */
	if (r->msg.unparsed != NULL && !policy_any(&p))
		return err_set(&r->err, ERR_PERM, EX_NOPERM,
		    "the %s field cannot be parsed, so allow_from of account %s cannot be checked (correct the field)",
		    r->msg.unparsed, r->acct.name);
	if (policy_check(&p, "envelope sender", r->sender, &r->err) == -1)
		return -1;
	for (f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
		for (i = 0; i < fields[f].l->n; i++)
			if (policy_check(&p, fields[f].what,
				fields[f].l->v[i].mailbox, &r->err) == -1)
				return -1;
	return 0;
}

/* conf_pick.get_from: the From addresses of the message's header.  With
 * --pretend, a terminal is not read (it would wait for typing). */
static int
peek_from(void *arg, struct addr_list *from, struct err *rec)
{
	struct run *r = arg;

	if (r->stdin_closed || (r->opt.pretend && isatty(r->infd)))
		return 0;
	return peek_header(r->infd, &r->peek, from, rec);
}

/* Choose the account (-a, -f, the From header, default_account). */
/* domain in A-labels (malloc'ed), or NULL with rec filled. */
static char *
ascii_domain(const char *domain, struct err *rec)
{
	char *box, *ascii, *d = NULL;

	if (asprintf(&box, "x@%s", domain) == -1) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	ascii = addr_to_ascii(box, rec);
	free(box);
	if (ascii != NULL && (d = strdup(ascii + 2)) == NULL)
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	free(ascii);
	return d;
}

static int
choose_account(struct run *r)
{
	struct conf_pick pick = { 0 };

	pick.name = r->opt.account;
	pick.sender = r->opt.sender;
	pick.get_from = peek_from;
	pick.arg = r;
	pick.settings = r->opt.pretend;
	if (conf_choose(r->opt.config, &pick, &r->acct, &r->err) == -1)
		return -1;
	r->have_acct = 1;
	if (r->opt.verbose && r->acct.not_read != NULL)
		fprintf(stderr, "mailhop: not read: %s\n", r->acct.not_read);
	if (gethostname(r->hostname, sizeof(r->hostname)) == 0) {
		r->hostname[sizeof(r->hostname) - 1] = '\0';
		r->actx.hostname = r->hostname;
	}
	/* What mailhop writes into the header itself (an added or a
	 * rewritten From, qualified names, the Message-ID) is ASCII: a
	 * domain in A-labels needs no SMTPUTF8 (RFC 5890). */
	if ((r->wire_from = addr_to_ascii(r->acct.from, &r->err)) == NULL ||
	    (r->wire_local = ascii_domain(r->acct.local_domain, &r->err)) ==
		NULL) {
		if (r->err.class == ERR_USAGE)
			r->err.code = EX_CONFIG;
		return -1;
	}
	r->actx.from = r->wire_from;
	r->actx.local_domain = r->wire_local;
	return 0;
}

/* Read the configuration, then the message; fill the envelope. */
static int
prepare(struct run *r, int infd, int stdin_closed)
{
	r->infd = infd;
	r->stdin_closed = stdin_closed;
	if (choose_account(r) == -1)
		return -1;
	if (r->acct.aliases != NULL) {
		r->aliases = alias_load(r->acct.aliases, &r->err);
		if (r->aliases == NULL)
			return -1;
		r->actx.map = r->aliases;
	}
	if (set_sender(r) == -1)
		return -1;
	if (stdin_closed)
		return err_set(&r->err, ERR_LOCAL, EX_NOINPUT,
		    "standard input is closed: nothing to send");
	if (read_message(r, infd) == -1)
		return -1;
	return check_policy(r);
}

/* Does an envelope address need SMTPUTF8 (RFC 6531)? */
static int
needs_utf8(const struct run *r)
{
	size_t i;

	if (addr_needs_utf8(r->sender))
		return 1;
	for (i = 0; i < r->rcpt.n; i++)
		if (addr_needs_utf8(r->rcpt.v[i].mailbox))
			return 1;
	return 0;
}

/* -N as the NOTIFY value of RFC 3461 section 4.1, in buf. */
static const char *
notify_text(unsigned bits, char *buf, size_t sz)
{
	static const struct {
		unsigned bit;
		const char *word;
	} words[] = {
		{ OPT_NOTIFY_NEVER, "NEVER" },
		{ OPT_NOTIFY_SUCCESS, "SUCCESS" },
		{ OPT_NOTIFY_FAILURE, "FAILURE" },
		{ OPT_NOTIFY_DELAY, "DELAY" },
	};
	size_t i, off = 0;

	if (bits == 0)
		return NULL;
	buf[0] = '\0';
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if ((bits & words[i].bit) && off < sz)
			off += snprintf(buf + off, sz - off, "%s%s",
			    off > 0 ? "," : "", words[i].word);
	return buf;
}

/* The DSN requests of -N, -R and -V (RFC 3461). */
static void
fill_dsn(
    const struct options *o, struct smtp_envelope *env, char *buf, size_t sz)
{
	static const char *const ret[] = {
		[OPT_RET_UNSET] = NULL,
		[OPT_RET_FULL] = "FULL",
		[OPT_RET_HDRS] = "HDRS",
	};

	env->notify = notify_text(o->notify, buf, sz);
	env->ret = ret[o->ret];
	env->envid = o->envid;
}

static size_t queue_rcpts(const struct run *r, int want, const char **v);

/* The queue's envelope of the message for the recipients of kind want
 * (rcpt_is), which go into v (room for every recipient). */
static void
queue_envelope(
    const struct run *r, int want, const char **v, struct queue_env *qe)
{
	memset(qe, 0, sizeof(*qe));
	qe->account = r->acct.name;
	qe->sender = r->wire_sender;
	qe->rcpt = v;
	qe->nrcpt = queue_rcpts(r, want, v);
	qe->msgid = r->msg.msgid;
	qe->params = r->params;
}

/* The server said 250 to the held message: it leaves the queue at once,
 * not after QUIT's reply, so that a kill while QUIT is answered does not
 * send it again.  A failure to remove it is left to settle_held. */
static void
held_accepted(void *arg)
{
	struct run *r = arg;
	struct err qerr;

	err_clear(&qerr);
	if (r->held.m != NULL && !r->held_gone &&
	    queue_done(r->held.m, &qerr) == 0)
		r->held_gone = 1;
}

/* With the queue on: publish the message into the queue, due now, and
 * hold it for the send (flush_hold), so that from here on a kill leaves
 * it queued, and the next flush sends it.  A queue that cannot take it
 * does not stop the send: it goes as without (a failure is then queued
 * as before, if the queue takes it then, or its error is the run's),
 * with a warning under -v. */
static void
hold_message(struct run *r)
{
	struct queue_env qe;
	const char **v = calloc(r->rcpt.n, sizeof(*v));
	struct err qerr;

	err_clear(&qerr);
	if (v == NULL)
		err_set(&qerr, ERR_LOCAL, EX_OSERR, "out of memory");
	else {
		queue_envelope(r, 0, v, &qe);
		(void)flush_hold(
		    r->opt.config, &qe, r->msg.fd, &r->held, &qerr);
	}
	free(v);
	if (r->held.m == NULL && r->opt.verbose)
		fprintf(stderr,
		    "mailhop: warning: cannot queue the message before sending it: %s\n",
		    qerr.text);
}

static int
deliver(struct run *r)
{
	char notify[32];
	struct smtp_envelope env;
	struct smtp_params *p = &r->p;
	int rc;

	flush_smtp_params(&r->acct, p, r->port, sizeof(r->port));
	/* Fields this run does not set stay 0 or NULL (smtp.h). */
	memset(&env, 0, sizeof(env));
	env.from = r->wire_sender;
	env.rcpt = (const char *const *)r->wire;
	env.nrcpt = r->rcpt.n;
	env.eightbit = r->msg.eightbit;
	env.smtputf8 = needs_utf8(r);
	fill_dsn(&r->opt, &env, notify, sizeof(notify));
	r->codes = calloc(r->rcpt.n, sizeof(*r->codes));
	if (r->codes == NULL)
		return err_set(&r->err, ERR_LOCAL, EX_OSERR, "out of memory");
	env.rcpt_codes = r->codes;
	flush_params_format(&env, r->params, sizeof(r->params));
	if (r->acct.queue)
		hold_message(r);
	r->tried = 1;
	/* Due queued messages of the account follow on this connection
	 * (send_one); without any, QUIT goes with the message.  Its own,
	 * held, is not one of them. */
	if (r->acct.queue)
		r->due =
		    flush_due(&r->opt, &r->held, r->acct.name) == 0 ? 1 : 2;
	p->accepted = r->held.m != NULL ? held_accepted : NULL;
	p->accepted_arg = r;
	if (r->due == 2)
		rc = smtp_send_keep(
		    p, &env, r->msg.fd, &r->res, &r->err, &r->conn);
	else
		rc = smtp_send(p, &env, r->msg.fd, &r->res, &r->err);
	p->accepted = NULL; /* the flush that may follow has its own */
	/* smtp wiped the password when the session's AUTH ended (S35);
	 * the buffer goes too.  A -q flush after this loads its own. */
	secret_free(r->acct.password);
	r->acct.password = NULL;
	p->password = NULL;
	return rc;
}

/* Whether recipient i is of the kind want: 0 any, else the class of its
 * RCPT reply (4 or 5). */
static int
rcpt_is(const struct run *r, size_t i, int want)
{
	return want == 0 || (r->codes != NULL && r->codes[i] / 100 == want);
}

/* The comma-joined recipients of the kind want (rcpt_is) for the log
 * line (malloc'ed, or NULL). */
static char *
join_rcpts(const struct run *r, int want)
{
	const struct addr_list *l = &r->rcpt;
	size_t i, len = 1;
	char *s;

	for (i = 0; i < l->n; i++)
		len += strlen(l->v[i].mailbox) + 1;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (!rcpt_is(r, i, want))
			continue;
		if (s[0] != '\0')
			strcat(s, ",");
		strcat(s, l->v[i].mailbox);
	}
	return s;
}

static const char *
status_name(const struct run *r)
{
	const struct err *e = &r->err;

	if (r->queued)
		return "queued";
	if (e->class == ERR_NONE)
		return "sent";
	if (e->class == ERR_LOCAL)
		return "failed";
	return e->class == ERR_TEMP ? "deferred" : "refused";
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
		    "; a copy%s is in the failed area (mailhop -qI%s sends it again, -qD%s%s deletes it)",
		    r->split || r->res.delivered > 0
			? " for the recipients refused for good"
			: "",
		    r->failed_id, r->failed_id,
		    priv_system() && getuid() != 0 ? " run as root" : "");
	fputc('\n', stderr);
}

/* One log line: status, the recipients of the kind want (rcpt_is), the
 * reply, and the exit code. */
static void
log_line(
    struct run *r, const char *status, int want, const char *reply, int code)
{
	struct log_rec lr = { 0 };
	char *rcpts = join_rcpts(r, want);

	lr.msgid = r->have_msg ? r->msg.msgid : NULL;
	lr.account = r->have_acct ? r->acct.name : NULL;
	lr.host = r->have_acct ? r->acct.host : NULL;
	lr.tls = r->res.tls;
	lr.auth = r->res.mech;
	lr.from = r->sender != NULL && r->sender[0] == '\0' ? "<>" : r->sender;
	lr.rcpt = rcpts;
	lr.size = r->have_msg ? r->msg.size : 0;
	lr.dsn = r->res.dsn_dropped ? "dropped" : NULL;
	if (strcmp(status, "queued") == 0 && r->queued_id[0] != '\0')
		lr.queue = r->queued_id;
	else if ((want == 0 || want == 5) && strcmp(status, "refused") == 0 &&
	    r->failed_id[0] != '\0')
		lr.queue = r->failed_id;
	lr.status = status;
	lr.reply = reply;
	lr.exit = code;
	log_message(&lr);
	free(rcpts);
}

/* Whether a recipient is of the kind want (rcpt_is, not 0). */
static int
has_kind(const struct run *r, int want)
{
	size_t i;

	for (i = 0; i < r->rcpt.n; i++)
		if (rcpt_is(r, i, want))
			return 1;
	return 0;
}

/* The error of the recipients of kind want (4 or 5) alone, for their
 * copy and their log line; r->err names every refusal. */
static const char *
part_error(const struct run *r, int want, char *buf, size_t sz)
{
	const char *only = want == 4 ? r->res.refused_temp
	    : want == 5		     ? r->res.refused_perm
				     : "";

	if (only[0] == '\0')
		return r->err.text;
	snprintf(buf, sz, "recipient refused: %s", only);
	return buf;
}

static void
report(struct run *r, int code)
{
	size_t got = r->res.delivered;
	int part =
	    r->codes != NULL && (r->split || (got > 0 && got < r->rcpt.n));
	int kept = r->queued || r->split_queued;
	char why[ERR_TEXT_MAX + 32];

	if (part) {
		/* A line for each outcome: the recipients that got the
		 * message, those refused (5xx), those refused for now (4xx:
		 * queued, or the line says why not). */
		if (got > 0)
			log_line(r, "sent", 2, r->res.reply, EX_OK);
		if (has_kind(r, 5))
			log_line(r, "refused", 5,
			    part_error(r, 5, why, sizeof(why)), code);
		if (has_kind(r, 4))
			log_line(r,
			    kept	   ? "queued"
				: r->split ? "failed"
					   : "deferred",
			    4,
			    r->split && !kept
				? r->split_why
				: part_error(r, 4, why, sizeof(why)),
			    kept ? EX_OK : code);
	} else
		log_line(r, status_name(r), 0,
		    code == 0 && !r->queued ? r->res.reply : r->err.text, code);
	if (code != 0)
		print_error(r);
	else if (r->queued && (r->opt.verbose || isatty(STDERR_FILENO)))
		fprintf(stderr, "mailhop: queued: %s\n", r->err.text);
}

/* The recipients to keep, of the kind want (rcpt_is).  Returns how
 * many. */
static size_t
queue_rcpts(const struct run *r, int want, const char **v)
{
	size_t i, n = 0;

	for (i = 0; i < r->rcpt.n; i++)
		if (rcpt_is(r, i, want))
			v[n++] = r->wire[i];
	return n;
}

/* A permanent refusal of recipients with partial_delivery on, where
 * others were refused only for now: those are retried, as
 * mailhop.conf(5) promises, not kept in failed/ with the rest. */
static int
is_split(const struct run *r)
{
	size_t i;

	if (!r->p.partial || r->err.class != ERR_PERM ||
	    r->err.code != EX_NOUSER || r->codes == NULL)
		return 0;
	for (i = 0; i < r->rcpt.n; i++)
		if (rcpt_is(r, i, 4))
			return 1;
	return 0;
}

/* Keep a copy of the message for the recipients of kind want (see
 * rcpt_is), queued for retry or in the failed area.  For all of them
 * (want 0), the held message is the copy: counted as a failed attempt
 * (queue_retry_later) or moved to failed/ (queue_fail), each made
 * durable before it returns 0; for some, a new copy is written
 * (flush_keep), and the held one goes (settle_held). */
static int
keep_copy(struct run *r, int want, int failed, struct err *qerr)
{
	struct queue_env qe;
	char id[QUEUE_ID_SIZE];
	const char **v;
	char why[ERR_TEXT_MAX + 32];
	const char *reason = part_error(r, want, why, sizeof(why));
	char *kept = failed ? r->failed_id : r->queued_id;
	int rc, expired = 0;

	if (want == 0 && r->held.m != NULL) {
		rc = failed ? queue_fail(r->held.m, reason, qerr)
			    : queue_retry_later(r->held.m, reason,
				  (long long)time(NULL), &expired, qerr);
		r->held_kept = rc == 0;
		if (rc == 0)
			snprintf(kept, QUEUE_ID_SIZE, "%s", r->held.id);
		return rc;
	}
	if ((v = calloc(r->rcpt.n, sizeof(*v))) == NULL)
		return err_set(qerr, ERR_LOCAL, EX_OSERR, "out of memory");
	queue_envelope(r, want, v, &qe);
	rc =
	    flush_keep(r->opt.config, &qe, r->msg.fd, reason, failed, id, qerr);
	free(v);
	if (rc == 0)
		snprintf(kept, QUEUE_ID_SIZE, "%s", id);
	return rc;
}

/* The attempt failed with the queue on: queue a temporary failure (exit
 * 0, or the queue's error); keep a permanent one in the failed area
 * (exit with its code even when the copy cannot be written); with a
 * split (is_split), both, each for its own recipients.  After a partial
 * delivery only the refused recipients are kept, so that a copy sent
 * again never reaches one who has the message.  Returns the exit
 * code. */
static int
keep(struct run *r, int code)
{
	int some = r->res.delivered > 0;
	char why[ERR_TEXT_MAX];
	struct err qerr;

	err_clear(&qerr);
	r->split = is_split(r);
	if (r->split) {
		if (keep_copy(r, 4, 0, &qerr) == 0)
			r->split_queued = 1;
		else {
			snprintf(r->split_why, sizeof(r->split_why),
			    "the recipients refused for now could not be queued: %.400s",
			    qerr.text);
			code = qerr.code;
		}
	} else if (r->err.class == ERR_TEMP) {
		if (keep_copy(r, some ? 4 : 0, 0, &qerr) == 0) {
			/* DURABILITY POINT of a queued send: the copy is
			 * fsynced (queue_retry_later or queue_put), and only
			 * now is the caller told 0. */
			r->queued = 1;
			return EX_OK;
		}
		snprintf(why, sizeof(why), "%s", r->err.text);
		err_set(&r->err, qerr.class, qerr.code,
		    "%s; the message was not sent and could not be queued: %s",
		    why, qerr.text);
		return qerr.code;
	}
	err_clear(&qerr);
	if (keep_copy(r, r->split || some ? 5 : 0, 1, &qerr) == -1)
		syslog(LOG_ERR, "cannot keep a copy of the refused message: %s",
		    qerr.text);
	return code;
}

/* The held message after the attempt: kept by keep (queued or failed),
 * or else taken out of the queue: the server took it, or copies for the
 * refused recipients alone were kept, or the failure is not one the
 * queue keeps (the caller hears that nothing was sent).  The lock goes
 * with it.  Before the send's own flush, which must not see it. */
static void
settle_held(struct run *r, int code)
{
	struct err qerr;

	if (r->held.m == NULL)
		return;
	err_clear(&qerr);
	if (!r->held_kept && !r->held_gone &&
	    queue_done(r->held.m, &qerr) == -1)
		syslog(LOG_ERR, "queue %s: %s%s", r->held.id, qerr.text,
		    code == EX_OK ? " (it may be sent again)" : "");
	flush_release(&r->held);
}

static void
cleanup(struct run *r)
{
	size_t i;

	for (i = 0; r->wire != NULL && i < r->rcpt.n; i++)
		free(r->wire[i]);
	free(r->wire);
	free(r->codes);
	addr_list_free(&r->rcpt);
	alias_free(r->aliases);
	peek_free(&r->peek);
	free(r->sender);
	free(r->wire_sender);
	free(r->wire_from);
	free(r->wire_local);
	flush_release(&r->held);
	if (r->have_msg)
		msg_free(&r->msg);
	if (r->have_acct)
		conf_account_free(&r->acct);
	opt_free(&r->opt);
}

/* Send the message on infd as r->opt says; log it.  Returns the exit
 * code, with r->err filled on failure. */
static int
send_one(struct run *r, int infd, int stdin_closed)
{
	int code;

	/* The password command runs only for a message that will be sent. */
	if (prepare(r, infd, stdin_closed) == 0 &&
	    conf_password(&r->acct, &r->err) == 0 && deliver(r) == 0)
		err_clear(&r->err);
	code = r->err.class == ERR_NONE ? EX_OK : r->err.code;
	if (r->err.class == ERR_TEMP)
		code = EX_TEMPFAIL;
	if (r->tried && code != EX_OK && r->acct.queue &&
	    (r->err.class == ERR_TEMP || r->err.class == ERR_PERM))
		code = keep(r, code);
	settle_held(r, code);
	report(r, code);
	if (code == EX_OK && !r->queued && r->acct.queue && r->due != 1)
		flush_account_over(&r->opt, &r->acct, r->conn);
	else
		smtp_conn_close(r->conn);
	r->conn = NULL;
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

/* --pretend: the account, why, its file and every setting, on stdout.
 * Nothing is sent, no password command runs, no message is spooled. */
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
	if (choose_account(r) == -1) {
		fprintf(stderr, "mailhop: %s\n", r->err.text);
		return r->err.code;
	}
	drain(r);
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
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
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
	code = send_one(&r, m->fd, 0);
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
	cleanup(&r);
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
	char prompt[300], label[300], *pw = NULL;
	struct conf_account a;
	struct err e;

	err_clear(&e);
	if (conf_load(o->config, o->account, &a, &e) == -1) {
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
	    keyring_store(a.host, a.user, label, pw, &e) == 0)
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
		cleanup(&r);
		return code;
	}
	if (r.opt.verbose)
		log_trace_enable(STDERR_FILENO);
	code = send_one(&r, STDIN_FILENO, stdin_closed);
	cleanup(&r);
	return finish(code);
}
