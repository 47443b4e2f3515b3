/* SPDX-License-Identifier: ISC */
/*
 * The configuration language: the libconfuse schema, validate callbacks
 * that note the line of each key and check its value (the checks are in
 * confcheck.c), and the parse of one file's text: the pre-scan
 * (confscan.c), then libconfuse, whose errors conferr.c words as
 * "FILE:LINE: KEY: problem (fix)" without showing a value that may be a
 * secret.  conf.c finds and reads the files and picks the account.
 */
#include <confuse.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "conf.h"
#include "confparse.h"
#include "confparse_int.h"
#include "err.h"
#include "secret.h"

/*
 * A hidden integer list in every block: [0] is the line of the block's
 * "{", [k] the line where key k was set (0: not set, or past the end).
 * libconfuse 3.3 keeps no line per option, so the validate callbacks write
 * them here.  Its default is the one zero on_block fills in, and set_at
 * grows it as keys are noted.  libconfuse runs a list's default string
 * through its lexer for every new block: a zero per key (47 tokens, for
 * the root, the defaults block and each account, and again for
 * INHERITED) cost about 130,000 instructions of every send.
 */
#define LINES "\001lines"
#define LINES_DEFAULT "{0}"
/* In an account block: [k] the line in the defaults block of a key the
 * account took from there (0: its own value, or the built-in one). */
#define INHERITED "\001inherited"

const char *const confparse_akeys[K_NKEYS] = { "", "host", "port", "tls",
	"tls_ca_file", "auth", "user", "password", "from", "helo", "timeout",
	"aliases", "local_domain", "partial_delivery", "queue",
	"password_command", "allow_from", "tls_pin", "tls_priorities",
	"tls_cert_file", "tls_key_file", "keyring", "queue_lifetime" };
const char *const confparse_rkeys[R_NKEYS] = { "", "default_account" };

/* Keys whose value --pretend never shows. */
static const char *const secret_keys[] = { "password", NULL };

static const char *const tls_modes[] = { "starttls", "implicit", "off" };
static const char *const bools[] = { "off", "on", "no", "yes", "false",
	"true" };

/* libconfuse keeps its lexer in globals, so one parse at a time anyway. */
struct parse *confparse_parsing;

static int vfail(struct err *, const char *, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static int
vfail(struct err *rec, const char *path, int line, const char *fmt, va_list ap)
{
	char msg[ERR_TEXT_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (path == NULL)
		return err_set(rec, ERR_CONFIG, EX_CONFIG, "%s", msg);
	if (line > 0)
		return err_set(
		    rec, ERR_CONFIG, EX_CONFIG, "%s:%d: %s", path, line, msg);
	return err_set(rec, ERR_CONFIG, EX_CONFIG, "%s: %s", path, msg);
}

int
confparse_fail(
    struct err *rec, const char *path, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(rec, path, line, fmt, ap);
	va_end(ap);
	return -1;
}

/* The same during a parse, at the current line; the first error wins. */
int
confparse_pfail(cfg_t *cfg, const char *fmt, ...)
{
	va_list ap;

	if (confparse_parsing == NULL || confparse_parsing->failed)
		return -1;
	confparse_parsing->failed = 1;
	va_start(ap, fmt);
	vfail(confparse_parsing->rec, confparse_parsing->path, cfg->line, fmt,
	    ap);
	va_end(ap);
	return -1;
}

const char *
confparse_show(char *buf, size_t size, const char *s)
{
	err_sanitize(buf, size, s, strlen(s));
	return buf;
}

int
confparse_find(const char *const *tab, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(tab[i], s) == 0)
			return (int)i;
	return -1;
}

/* An account block or the defaults block: both take the account keys. */
int
confparse_in_account(cfg_t *cfg)
{
	return strcmp(cfg_name(cfg), "account") == 0 ||
	    strcmp(cfg_name(cfg), "defaults") == 0;
}

static int
key_index(cfg_t *cfg, const char *name)
{
	const char *const *keys =
	    confparse_in_account(cfg) ? confparse_akeys : confparse_rkeys;
	int n = confparse_in_account(cfg) ? K_NKEYS : R_NKEYS;
	int k;

	for (k = 1; k < n; k++)
		if (strcmp(keys[k], name) == 0)
			return k;
	return -1;
}

static int
list_at(cfg_t *sec, const char *list, int k)
{
	cfg_opt_t *lines = cfg_getopt(sec, list);

	if (lines == NULL || (unsigned int)k >= lines->nvalues)
		return 0;
	return (int)cfg_opt_getnint(lines, (unsigned int)k);
}

/* The line where key k was written: in the block, else in defaults. */
static int
key_line(cfg_t *sec, int k)
{
	int line = list_at(sec, LINES, k);

	if (line == 0 && k != K_BLOCK)
		line = list_at(sec, INHERITED, k);
	return line;
}

/* Set [k] of the hidden list opt to line, first growing it with zeros
 * to k + 1 values.  Returns 0, or -1 when out of memory. */
static int
set_at(cfg_opt_t *opt, int k, long line)
{
	if (opt == NULL || k < 0)
		return -1;
	/* No user can write the list, so libconfuse's "the first value
	 * written replaces the default" must not drop [0]. */
	opt->flags &= ~CFGF_RESET;
	while (opt->nvalues <= (unsigned int)k)
		if (cfg_opt_setnint(opt, 0, opt->nvalues) != CFG_SUCCESS)
			return -1;
	opt->values[k]->number = line;
	return 0;
}

/* Remember the line of key k; a key set twice is an error. */
static int
note_line(cfg_t *cfg, int k, const char *key)
{
	cfg_opt_t *lines = cfg_getopt(cfg, LINES);
	long prev;

	if (lines == NULL)
		return 0;
	prev = list_at(cfg, LINES, k);
	if (prev != 0)
		return confparse_pfail(cfg,
		    "%s: set twice, also on line %ld (keep one)", key, prev);
	if (set_at(lines, k, cfg->line) == -1)
		return confparse_pfail(cfg, "%s: out of memory", key);
	return 0;
}

/* Validate callback of the hidden list: runs while libconfuse fills in
 * the defaults of a new block, when cfg->line is the line of its "{". */
static int
on_block(cfg_t *cfg, cfg_opt_t *opt)
{
	if (opt->nvalues > 0)
		opt->values[0]->number = cfg->line;
	return 0;
}

/* Validate callback of every key: note its line, then check its value. */
static int
on_value(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;
	int k;

	if (confparse_parsing == NULL || (k = key_index(cfg, opt->name)) < 0)
		return 0;
	/* libconfuse calls this after each value of a list and once more
	 * at its end: a one-value list {"a"} comes twice on its line. */
	if (k == K_ALLOW_FROM && confparse_in_account(cfg) &&
	    (opt->nvalues > 1 || list_at(cfg, LINES, k) == cfg->line))
		return confcheck_allow_from(cfg, opt);
	if (note_line(cfg, k, opt->name) == -1)
		return -1;
	if (k == K_ALLOW_FROM && confparse_in_account(cfg))
		return confcheck_allow_from(cfg, opt);
	if (opt->type != CFGT_STR || (v = cfg_opt_getnstr(opt, 0)) == NULL)
		return 0;
	return confcheck_value(cfg, opt->name, v);
}

static int
parse_range(
    cfg_t *cfg, const char *key, const char *v, long lo, long hi, void *result)
{
	char buf[CONFPARSE_SHOW_MAX], *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if ((v[0] < '0' || v[0] > '9') && v[0] != '-')
		end = (char *)v;
	if (end == v || *end != '\0')
		return confparse_pfail(cfg,
		    "%s: \"%s\" is not a number (write %ld to %ld)", key,
		    confparse_show(buf, sizeof(buf), v), lo, hi);
	if (errno == ERANGE || n < lo || n > hi)
		return confparse_pfail(cfg,
		    "%s: %s is out of range (write %ld to %ld)", key,
		    confparse_show(buf, sizeof(buf), v), lo, hi);
	*(long *)result = n;
	return 0;
}

static int
parse_port(cfg_t *cfg, cfg_opt_t *opt, const char *v, void *result)
{
	return parse_range(cfg, opt->name, v, 1, 65535, result);
}

static int
parse_timeout(cfg_t *cfg, cfg_opt_t *opt, const char *v, void *result)
{
	return parse_range(cfg, opt->name, v, 1, 3600, result);
}

/* queue_lifetime: a whole number of seconds, or of minutes, hours or
 * days with the suffix m, h or d (s for seconds is allowed too). */
static int
parse_duration(cfg_t *cfg, cfg_opt_t *opt, const char *v, void *result)
{
	static const char units[] = "smhd";
	static const long mult[] = { 1, 60, 3600, 86400 };
	char buf[CONFPARSE_SHOW_MAX], *end;
	const char *u;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	u = end[0] != '\0' ? strchr(units, end[0]) : NULL;
	if (v[0] < '0' || v[0] > '9' ||
	    (end[0] != '\0' && (u == NULL || end[1] != '\0')))
		return confparse_pfail(cfg,
		    "%s: \"%s\" is not a duration (write a number with m, h or d, such as 12h or 5d)",
		    opt->name, confparse_show(buf, sizeof(buf), v));
	if (u != NULL && errno == 0 && n <= CONF_LIFETIME_MAX)
		n *= mult[u - units];
	if (errno == ERANGE || n < CONF_LIFETIME_MIN || n > CONF_LIFETIME_MAX)
		return confparse_pfail(cfg,
		    "%s: %s is out of range (write 1h to 60d)", opt->name,
		    confparse_show(buf, sizeof(buf), v));
	*(long *)result = n;
	return 0;
}

static int
parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *v, void *result)
{
	char buf[CONFPARSE_SHOW_MAX];
	int i = confparse_find(
	    tls_modes, sizeof(tls_modes) / sizeof(tls_modes[0]), v);

	if (i < 0)
		return confparse_pfail(cfg,
		    "%s: \"%s\" is not a TLS mode (write starttls, implicit or off)",
		    opt->name, confparse_show(buf, sizeof(buf), v));
	*(long *)result = i;
	return 0;
}

static int
parse_bool(cfg_t *cfg, cfg_opt_t *opt, const char *v, void *result)
{
	char buf[CONFPARSE_SHOW_MAX];
	int i = confparse_find(bools, sizeof(bools) / sizeof(bools[0]), v);

	if (i < 0)
		return confparse_pfail(cfg,
		    "%s: \"%s\" is not on or off (write on or off)", opt->name,
		    confparse_show(buf, sizeof(buf), v));
	*(long *)result = i % 2;
	return 0;
}

static cfg_opt_t account_opts[] = {
	CFG_STR("host", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("port", 0, CFGF_NODEFAULT, parse_port),
	CFG_INT_CB("tls", CONF_TLS_STARTTLS, CFGF_NONE, parse_tls),
	CFG_STR("tls_ca_file", NULL, CFGF_NODEFAULT),
	CFG_STR("auth", NULL, CFGF_NODEFAULT),
	CFG_STR("user", NULL, CFGF_NODEFAULT),
	CFG_STR("password", NULL, CFGF_NODEFAULT),
	CFG_STR("from", NULL, CFGF_NODEFAULT),
	CFG_STR("helo", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("timeout", 60, CFGF_NONE, parse_timeout),
	CFG_STR("aliases", NULL, CFGF_NODEFAULT),
	CFG_STR("local_domain", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("partial_delivery", 0, CFGF_NONE, parse_bool),
	CFG_INT_CB("queue", 1, CFGF_NONE, parse_bool),
	CFG_STR("password_command", NULL, CFGF_NODEFAULT),
	CFG_STR_LIST("allow_from", NULL, CFGF_NODEFAULT),
	CFG_STR("tls_pin", NULL, CFGF_NODEFAULT),
	CFG_STR("tls_priorities", NULL, CFGF_NODEFAULT),
	CFG_STR("tls_cert_file", NULL, CFGF_NODEFAULT),
	CFG_STR("tls_key_file", NULL, CFGF_NODEFAULT),
	CFG_INT_CB("keyring", 0, CFGF_NONE, parse_bool),
	CFG_INT_CB(
	    "queue_lifetime", CONF_LIFETIME_DEFAULT, CFGF_NONE, parse_duration),
	CFG_INT_LIST(LINES, LINES_DEFAULT, CFGF_NONE),
	CFG_INT_LIST(INHERITED, NULL, CFGF_NONE),
	CFG_END(),
};

static cfg_opt_t root_opts[] = {
	CFG_STR("default_account", NULL, CFGF_NODEFAULT),
	/* What every account inherits, key by key. */
	CFG_SEC("defaults", account_opts, CFGF_NONE),
	CFG_SEC("account", account_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	/* No block, so no [0] to fill in. */
	CFG_INT_LIST(LINES, NULL, CFGF_NONE),
	CFG_END(),
};

/* The line a parser is on at the end of s. */
static int
last_line(const char *s, size_t n)
{
	int line = 1;
	size_t i;

	for (i = 0; i + 1 < n; i++)
		line += s[i] == '\n';
	return line;
}

/* Copy the values of src into dst, an option of the same type. */
static int
copy_values(cfg_opt_t *dst, cfg_opt_t *src)
{
	unsigned int i;
	int rc = CFG_SUCCESS;

	if (dst == NULL || src == NULL || dst->type != src->type)
		return -1;
	cfg_free_value(dst);
	for (i = 0; rc == CFG_SUCCESS && i < src->nvalues; i++) {
		switch (src->type) {
		case CFGT_STR:
			rc = cfg_opt_setnstr(dst, cfg_opt_getnstr(src, i), i);
			break;
		case CFGT_INT:
			rc = cfg_opt_setnint(dst, cfg_opt_getnint(src, i), i);
			break;
		case CFGT_BOOL:
			rc = cfg_opt_setnbool(dst, cfg_opt_getnbool(src, i), i);
			break;
		case CFGT_FLOAT:
			rc = cfg_opt_setnfloat(
			    dst, cfg_opt_getnfloat(src, i), i);
			break;
		default:
			rc = CFG_FAIL;
			break;
		}
	}
	return rc == CFG_SUCCESS ? 0 : -1;
}

/* Keys that are ways of doing one thing: an account that sets one of a
 * group inherits none of it, so that password_command or keyring in an
 * account replaces a password in defaults. */
static const int alternatives[][4] = {
	{ K_PASSWORD, K_PASSWORD_COMMAND, K_KEYRING, 0 },
};

/* Whether the block has an empty list "key = {}": libconfuse calls no
 * validate callback for it, so no line is noted, but marks it changed. */
static int
empty_list(cfg_t *sec, int k)
{
	cfg_opt_t *opt = cfg_getopt(sec, confparse_akeys[k]);

	return opt != NULL && (opt->flags & CFGF_LIST) && opt->nvalues == 0 &&
	    (opt->flags & CFGF_MODIFIED);
}

/* Whether the block sets key k itself. */
static int
written(cfg_t *sec, int k)
{
	return list_at(sec, LINES, k) != 0 || empty_list(sec, k);
}

/* Whether the account chose the source k of its password: keyring =
 * off, the default written out, chooses none. */
static int
chooses(cfg_t *acct, int k)
{
	if (!written(acct, k))
		return 0;
	return k != K_KEYRING || cfg_getint(acct, confparse_akeys[k]) != 0;
}

/* Whether the account sets k, or a key that is an alternative to it. */
static int
sets_key(cfg_t *acct, int k)
{
	size_t g, i;

	if (written(acct, k))
		return 1;
	for (g = 0; g < sizeof(alternatives) / sizeof(alternatives[0]); g++)
		for (i = 0; alternatives[g][i] != 0; i++)
			if (alternatives[g][i] == k) {
				for (i = 0; alternatives[g][i] != 0; i++)
					if (chooses(acct, alternatives[g][i]))
						return 1;
				break;
			}
	return 0;
}

/*
 * Give the account every key the defaults block sets and the account
 * does not, noting the line it was written on, so that an error about
 * it points there.  Any key of the table is inherited the same way.
 */
static int
inherit(cfg_t *acct, cfg_t *defs)
{
	cfg_opt_t *inh = cfg_getopt(acct, INHERITED);
	int k, line;

	for (k = 1; k < K_NKEYS; k++) {
		line = list_at(defs, LINES, k);
		if (line == 0 || sets_key(acct, k))
			continue;
		if (copy_values(cfg_getopt(acct, confparse_akeys[k]),
			cfg_getopt(defs, confparse_akeys[k])) == -1 ||
		    set_at(inh, k, line) == -1)
			return -1;
	}
	return 0;
}

static int
inherit_all(cfg_t *cfg, struct err *rec)
{
	cfg_t *defs = cfg_getsec(cfg, "defaults");
	unsigned int i;

	for (i = 0; defs != NULL && i < cfg_size(cfg, "account"); i++)
		if (inherit(cfg_getnsec(cfg, "account", i), defs) == -1)
			return err_set(
			    rec, ERR_LOCAL, EX_OSERR, "out of memory");
	return 0;
}

/* The validate callbacks go into the option tables, which cfg_init
 * copies, rather than through cfg_set_validate_func on each new cfg: that
 * looks up "account|KEY" and "defaults|KEY" by name, 45 lookups and 42
 * snprintf calls (about 70,000 instructions) on every send. */
static void
set_validators(void)
{
	static int done;
	cfg_opt_t *o;

	if (done)
		return;
	done = 1;
	root_opts[0].validcb = on_value; /* default_account */
	for (o = account_opts; o->name != NULL; o++)
		if (strcmp(o->name, LINES) == 0)
			o->validcb = on_block;
		else if (confparse_find(
			     confparse_akeys + 1, K_NKEYS - 1, o->name) >= 0)
			o->validcb = on_value;
}

static cfg_t *
new_cfg(void)
{
	cfg_t *cfg;

	set_validators();
	if ((cfg = cfg_init(root_opts, CFGF_NONE)) == NULL)
		return NULL;
	cfg_set_error_function(cfg, conferr_on_error);
	return cfg;
}

static int
parse_buf(cfg_t *cfg, struct parse *p, char *buf, size_t len)
{
	/* The stream's buffer is ours, to wipe (the file may hold a
	 * password).  Unbuffered, libconfuse's reads of 8 KiB came a byte at
	 * a time through fmemopen's read function: 58,000 instructions for a
	 * file of 300 bytes. */
	char iobuf[4096];
	FILE *fp;
	int rc = CFG_SUCCESS, open_blocks;

	if ((open_blocks = confscan_text(p, buf, len)) == -1)
		return -1;
	if (len > 0) {
		if ((fp = fmemopen(buf, len, "r")) == NULL)
			return err_set(
			    p->rec, ERR_LOCAL, EX_OSERR, "out of memory");
		setvbuf(fp, iobuf, _IOFBF, sizeof(iobuf));
		confparse_parsing = p;
		rc = cfg_parse_fp(cfg, fp);
		confparse_parsing = NULL;
		fclose(fp);
		secret_wipe(iobuf, sizeof(iobuf));
	}
	if (rc != CFG_SUCCESS && !p->failed)
		confparse_fail(
		    p->rec, p->path, 0, "syntax error (see mailhop.conf(5))");
	if (rc == CFG_SUCCESS && open_blocks > 0)
		return confparse_fail(p->rec, p->path, last_line(buf, len),
		    "unexpected end of file (close the account block with })");
	return rc == CFG_SUCCESS ? 0 : -1;
}

cfg_t *
confparse_buf(
    const char *path, char *buf, size_t len, int *has_password, struct err *rec)
{
	struct parse p = { .path = path, .rec = rec };
	cfg_t *cfg;
	int rc;

	*has_password = 0;
	if ((cfg = new_cfg()) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return NULL;
	}
	rc = parse_buf(cfg, &p, buf, len);
	if (rc == 0)
		rc = inherit_all(cfg, rec);
	*has_password = p.has_password;
	if (rc == -1) {
		confparse_free(cfg);
		return NULL;
	}
	return cfg;
}

int
confparse_key_line(cfg_t *sec, const char *key)
{
	int k = key == NULL ? K_BLOCK : key_index(sec, key);

	return k < 0 ? 0 : key_line(sec, k);
}

static void
wipe_password(cfg_t *sec)
{
	cfg_opt_t *opt = sec != NULL ? cfg_getopt(sec, "password") : NULL;
	unsigned int j;
	char *s;

	for (j = 0; opt != NULL && j < opt->nvalues; j++)
		if ((s = cfg_opt_getnstr(opt, j)) != NULL)
			secret_wipe(s, strlen(s));
}

/* libconfuse frees its strings without wiping them. */
static void
wipe_passwords(cfg_t *cfg)
{
	unsigned int i;

	for (i = 0; i < cfg_size(cfg, "account"); i++)
		wipe_password(cfg_getnsec(cfg, "account", i));
	wipe_password(cfg_getsec(cfg, "defaults"));
}

void
confparse_free(cfg_t *cfg)
{
	if (cfg == NULL)
		return;
	wipe_passwords(cfg);
	cfg_free(cfg);
}

/* A duration as it may be written: in the largest of d, h and m that
 * divides it (432000 is 5d, 5400 is 90m), else in seconds. */
static void
show_duration(long n, char *buf, size_t size)
{
	static const char units[] = "dhm";
	static const long mult[] = { 86400, 3600, 60 };
	size_t i;

	for (i = 0; i < sizeof(mult) / sizeof(mult[0]); i++)
		if (n > 0 && n % mult[i] == 0) {
			snprintf(buf, size, "%ld%c", n / mult[i], units[i]);
			return;
		}
	snprintf(buf, size, "%ld", n);
}

/* One value of opt as it would be written in the file. */
static void
show_value(cfg_opt_t *opt, unsigned int i, char *buf, size_t size)
{
	const char *v;
	long n;

	switch (opt->type) {
	case CFGT_STR:
		v = cfg_opt_getnstr(opt, i);
		buf[0] = '"';
		err_sanitize(buf + 1, size - 2, v, strlen(v));
		strcat(buf, "\"");
		break;
	case CFGT_INT:
		n = cfg_opt_getnint(opt, i);
		if (opt->parsecb == parse_tls && n >= 0 && n < 3)
			snprintf(buf, size, "%s", tls_modes[n]);
		else if (opt->parsecb == parse_bool)
			snprintf(buf, size, "%s", n ? "on" : "off");
		else if (opt->parsecb == parse_duration)
			show_duration(n, buf, size);
		else
			snprintf(buf, size, "%ld", n);
		break;
	case CFGT_BOOL:
		snprintf(buf, size, "%s",
		    cfg_opt_getnbool(opt, i) ? "true" : "false");
		break;
	default:
		snprintf(buf, size, "?");
		break;
	}
}

/* The value of opt as it would be written, a list in { }, a secret
 * masked; NULL when it has none.  *oom is set when out of memory. */
static char *
show_opt(cfg_opt_t *opt, int *oom)
{
	char one[CONFPARSE_VALUE_MAX], all[CONFPARSE_VALUE_MAX];
	size_t len = 0;
	unsigned int i;
	char *s;

	if (opt->nvalues == 0)
		return NULL;
	if (confparse_find(secret_keys,
		sizeof(secret_keys) / sizeof(secret_keys[0]) - 1,
		opt->name) >= 0)
		snprintf(all, sizeof(all), "(set, hidden)");
	else if (!(opt->flags & CFGF_LIST))
		show_value(opt, 0, all, sizeof(all));
	else
		for (i = 0; i < opt->nvalues && len < sizeof(all); i++) {
			show_value(opt, i, one, sizeof(one));
			len += (size_t)snprintf(all + len, sizeof(all) - len,
			    "%s%s%s", i == 0 ? "{" : ", ", one,
			    i + 1 == opt->nvalues ? "}" : "");
		}
	if ((s = strdup(all)) == NULL)
		*oom = 1;
	return s;
}

int
confparse_settings(cfg_t *sec, struct conf_setting **v, size_t *n)
{
	int k, oom = 0;

	*n = 0;
	if ((*v = calloc(K_NKEYS, sizeof(**v))) == NULL)
		return -1;
	for (k = 1; k < K_NKEYS; k++) {
		struct conf_setting *c = &(*v)[k - 1];

		c->key = confparse_akeys[k];
		c->value = show_opt(cfg_getopt(sec, confparse_akeys[k]), &oom);
		c->line = key_line(sec, k);
		if (c->value == NULL && empty_list(sec, k) &&
		    (c->value = strdup("{}")) == NULL)
			oom = 1;
		if (written(sec, k))
			c->origin = CONF_FROM_ACCOUNT;
		else if (c->line != 0)
			c->origin = CONF_FROM_DEFAULTS;
		else
			c->origin = CONF_FROM_BUILTIN;
	}
	*n = K_NKEYS - 1;
	return oom ? -1 : 0;
}
