/* SPDX-License-Identifier: ISC */
/*
 * One send run, shared by main.c (the modes, --pretend, -bs, and what a
 * send tells its caller), prepare.c (the account and the envelope) and
 * send.c (the attempt, the queue's copy and the log line).  Only -v
 * warnings are printed outside main.c, as the -v transcript is.
 */
#ifndef MAILHOP_RUN_H
#define MAILHOP_RUN_H

#include "addr.h"
#include "alias.h"
#include "conf.h"
#include "err.h"
#include "flush.h"
#include "msg.h"
#include "options.h"
#include "peek.h"
#include "queue.h"
#include "smtp.h"

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
	int pretend_read;      /* --pretend read the message (not a terminal) */
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

/* prepare.c: choose the account (-a, -f, the From header,
 * default_account) and fill what depends on it.  Returns 0, or -1 with
 * r->err filled. */
int run_choose_account(struct run *r);

/* prepare.c: the account, then the message on infd and the envelope,
 * and the From policy.  Returns 0, or -1 with r->err filled. */
int run_prepare(struct run *r, int infd, int stdin_closed);

/* prepare.c, for --pretend: after run_choose_account, the envelope as a
 * send would make it (aliases, local names) and the From policy.  A
 * message on a pipe or in a file is read (pretend_read): -t takes its
 * recipients, and its From fields are checked; from a terminal or a
 * closed stdin, only the arguments and the sender.  Returns 0, or -1
 * with r->err filled as a send's. */
int run_pretend_envelope(struct run *r);

/* send.c: send the message on infd as r->opt says, keep a copy in the
 * queue if it fails, and log it; main.c then tells the caller.  Returns
 * the exit code. */
int run_send(struct run *r, int infd, int stdin_closed);

/* send.c: free what the run holds. */
void run_cleanup(struct run *r);

#endif
