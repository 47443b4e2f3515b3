/* SPDX-License-Identifier: ISC */
/*
 * The configuration: the libconfuse schema, where the files are, the
 * ownership and mode check for files that hold a password, the choice of
 * account, and errors of the form "FILE:LINE: KEY: problem (fix)" that
 * never show a secret.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <confuse.h>
#include <errno.h>
#include <fcntl.h>
#include <libintl.h>
#include <netdb.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "err.h"
#include "secret.h"

/* Larger files are refused: a config is a few hundred bytes per account,
 * and libconfuse grows quoted strings 32 bytes at a time. */
#define CONF_MAX_SIZE (64 * 1024)
#define SHOW_MAX 40   /* longest value quoted back in a message */
#define PATH_SHOW 200 /* the same for a path */
#define KEY_MAX 32
#define LIST_MAX 200

/*
 * A hidden integer list in every block: [0] is the line of the block's
 * "{", [k] the line where key k was set (0: not set).  libconfuse 3.3 keeps
 * no line per option, so the validate callbacks write them here.  Its
 * default has one zero per key of the larger table.
 */
#define LINES "\001lines"
#define LINES_DEFAULT "{0,0,0,0,0,0,0,0,0,0,0}"

enum akey {
	K_BLOCK,
	K_HOST,
	K_PORT,
	K_TLS,
	K_CA,
	K_AUTH,
	K_USER,
	K_PASSWORD,
	K_FROM,
	K_HELO,
	K_TIMEOUT,
	K_NKEYS
};

enum rkey { R_BLOCK, R_DEFAULT, R_NKEYS };

static const char *const akeys[K_NKEYS] = { "", "host", "port", "tls",
	"tls_ca_file", "auth", "user", "password", "from", "helo", "timeout" };
static const char *const rkeys[R_NKEYS] = { "", "default_account" };

static const char *const tls_modes[] = { "starttls", "implicit", "off" };
static const char *const auth_values[] = { "on", "off", "plain", "login",
	"scram-sha-1", "scram-sha-256" };

/* One configuration file. */
struct cfile {
	char *path;
	int system;	  /* root may own it */
	cfg_t *cfg;	  /* NULL: absent, or could not be opened */
	int open_errno;	  /* why the system file could not be opened */
	int has_password; /* some account in it sets password */
};

/* The user file (or the -C file) and the system file. */
struct files {
	struct cfile f[2];
	int n;
};

/* The file being parsed, for the libconfuse callbacks. */
struct parse {
	const char *path;
	struct err *rec;
	int failed;
	int pw_line; /* line of the last password value */
	int has_password;
};

/* libconfuse keeps its lexer in globals, so one parse at a time anyway. */
static struct parse *parsing;

static int vfail(struct err *, const char *, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));
static int fail(struct err *, const char *, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));
static int pfail(cfg_t *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

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

/* Fill rec with "path:line: text" (or "path: text" for line 0). */
static int
fail(struct err *rec, const char *path, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(rec, path, line, fmt, ap);
	va_end(ap);
	return -1;
}

/* The same during a parse, at the current line; the first error wins. */
static int
pfail(cfg_t *cfg, const char *fmt, ...)
{
	va_list ap;

	if (parsing == NULL || parsing->failed)
		return -1;
	parsing->failed = 1;
	va_start(ap, fmt);
	vfail(parsing->rec, parsing->path, cfg->line, fmt, ap);
	va_end(ap);
	return -1;
}

/* s made safe to quote in a message: no control bytes, cut to size. */
static const char *
show(char *buf, size_t size, const char *s)
{
	err_sanitize(buf, size, s, strlen(s));
	return buf;
}

static int
find(const char *const *tab, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(tab[i], s) == 0)
			return (int)i;
	return -1;
}

static int
in_account(cfg_t *cfg)
{
	return strcmp(cfg_name(cfg), "account") == 0;
}

static int
key_index(cfg_t *cfg, const char *name)
{
	const char *const *keys = in_account(cfg) ? akeys : rkeys;
	int n = in_account(cfg) ? K_NKEYS : R_NKEYS;
	int k;

	for (k = 1; k < n; k++)
		if (strcmp(keys[k], name) == 0)
			return k;
	return -1;
}

static int
key_line(cfg_t *sec, int k)
{
	cfg_opt_t *lines = cfg_getopt(sec, LINES);

	if (lines == NULL || (unsigned int)k >= lines->nvalues)
		return 0;
	return (int)cfg_opt_getnint(lines, (unsigned int)k);
}

/* Remember the line of key k; a key set twice is an error. */
static int
note_line(cfg_t *cfg, int k, const char *key)
{
	cfg_opt_t *lines = cfg_getopt(cfg, LINES);
	long prev;

	if (lines == NULL || (unsigned int)k >= lines->nvalues)
		return 0;
	prev = lines->values[k]->number;
	if (prev != 0)
		return pfail(cfg, "%s: set twice, also on line %ld (keep one)",
		    key, prev);
	lines->values[k]->number = cfg->line;
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

/* No whitespace or control bytes, and not empty. */
static int
is_word(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return s[0] != '\0';
}

static int
check_name(cfg_t *cfg, const char *key, const char *v)
{
	char buf[SHOW_MAX];

	if (is_word(v))
		return 0;
	return pfail(cfg, "%s: \"%s\" is not a host name (write %s = \"%s\")",
	    key, show(buf, sizeof(buf), v), key,
	    strcmp(key, "helo") == 0 ? "myhost.example.com"
				     : "smtp.example.com");
}

static int
check_from(cfg_t *cfg, const char *key, const char *v)
{
	const char *at = strchr(v, '@');
	char buf[SHOW_MAX];

	if (is_word(v) && at != NULL && at != v && at[1] != '\0' &&
	    strchr(at + 1, '@') == NULL)
		return 0;
	return pfail(cfg,
	    "%s: \"%s\" is not an address (write %s = \"you@example.com\")",
	    key, show(buf, sizeof(buf), v), key);
}

static int
check_ca(cfg_t *cfg, const char *key, const char *v)
{
	char buf[PATH_SHOW];
	struct stat st;
	int fd, e;

	if (v[0] != '/')
		return pfail(cfg,
		    "%s: \"%s\" is not an absolute path (write the full path of a PEM file)",
		    key, show(buf, sizeof(buf), v));
	fd = open(v, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		e = errno;
		return pfail(cfg,
		    "%s: cannot read %s: %s (write the path of a readable PEM file)",
		    key, show(buf, sizeof(buf), v), strerror(e));
	}
	e = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	if (e)
		return 0;
	return pfail(cfg,
	    "%s: %s is not a regular file (write the path of a PEM file)", key,
	    show(buf, sizeof(buf), v));
}

/* The value is not shown: a confused user may have put a secret here. */
static int
check_auth(cfg_t *cfg, const char *key, const char *v)
{
	if (find(auth_values, sizeof(auth_values) / sizeof(auth_values[0]),
		v) >= 0)
		return 0;
	return pfail(cfg,
	    "%s: not an authentication method (write on, off, plain, login, scram-sha-1 or scram-sha-256)",
	    key);
}

static int
check_password(cfg_t *cfg, const char *key, const char *v)
{
	parsing->has_password = 1;
	parsing->pw_line = cfg->line;
	if (v[0] != '\0')
		return 0;
	return pfail(cfg,
	    "%s: empty (write the password, or remove the line and set auth = off)",
	    key);
}

static int
check_nonempty(cfg_t *cfg, const char *key, const char *v)
{
	if (v[0] != '\0')
		return 0;
	return pfail(
	    cfg, "%s: empty (remove the line or write %s = \"...\")", key, key);
}

static const struct {
	const char *key;
	int (*check)(cfg_t *, const char *, const char *);
} checks[] = {
	{ "host", check_name },
	{ "helo", check_name },
	{ "from", check_from },
	{ "tls_ca_file", check_ca },
	{ "auth", check_auth },
	{ "password", check_password },
	{ "user", check_nonempty },
	{ "default_account", check_nonempty },
};

/* Validate callback of every key: note its line, then check its value. */
static int
on_value(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v;
	size_t i;
	int k;

	if (parsing == NULL || (k = key_index(cfg, opt->name)) < 0)
		return 0;
	if (note_line(cfg, k, opt->name) == -1)
		return -1;
	if (opt->type != CFGT_STR || (v = cfg_opt_getnstr(opt, 0)) == NULL)
		return 0;
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		if (strcmp(checks[i].key, opt->name) == 0)
			return checks[i].check(cfg, opt->name, v);
	return 0;
}

static int
parse_range(
    cfg_t *cfg, const char *key, const char *v, long lo, long hi, void *result)
{
	char buf[SHOW_MAX], *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if ((v[0] < '0' || v[0] > '9') && v[0] != '-')
		end = (char *)v;
	if (end == v || *end != '\0')
		return pfail(cfg,
		    "%s: \"%s\" is not a number (write %ld to %ld)", key,
		    show(buf, sizeof(buf), v), lo, hi);
	if (errno == ERANGE || n < lo || n > hi)
		return pfail(cfg, "%s: %s is out of range (write %ld to %ld)",
		    key, show(buf, sizeof(buf), v), lo, hi);
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

static int
parse_tls(cfg_t *cfg, cfg_opt_t *opt, const char *v, void *result)
{
	char buf[SHOW_MAX];
	int i = find(tls_modes, sizeof(tls_modes) / sizeof(tls_modes[0]), v);

	if (i < 0)
		return pfail(cfg,
		    "%s: \"%s\" is not a TLS mode (write starttls, implicit or off)",
		    opt->name, show(buf, sizeof(buf), v));
	*(long *)result = i;
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
	CFG_INT_LIST(LINES, LINES_DEFAULT, CFGF_NONE),
	CFG_END(),
};

static cfg_opt_t root_opts[] = {
	CFG_STR("default_account", NULL, CFGF_NODEFAULT),
	CFG_SEC("account", account_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_INT_LIST(LINES, LINES_DEFAULT, CFGF_NONE),
	CFG_END(),
};

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Edits (insert, delete, change, swap two neighbours) from a to b,
 * ignoring case. */
static int
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[KEY_MAX + 1][KEY_MAX + 1], best;

	if (la > KEY_MAX || lb > KEY_MAX)
		return KEY_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			best = d[i - 1][j - 1] +
			    (lower(a[i - 1]) != lower(b[j - 1]));
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 &&
			    lower(a[i - 1]) == lower(b[j - 2]) &&
			    lower(a[i - 2]) == lower(b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* The key of this block closest to name, if it is close enough to be a
 * typo of it. */
static const char *
closest_key(cfg_t *cfg, const char *name)
{
	const char *best = NULL;
	int d, bestd = strlen(name) > 4 ? 3 : 2;
	unsigned int i;

	for (i = 0; i < cfg_num(cfg); i++) {
		const char *key = cfg_getnopt(cfg, i)->name;

		if (key[0] == '\001')
			continue;
		d = edit_distance(name, key);
		if (d < bestd) {
			bestd = d;
			best = key;
		}
	}
	return best;
}

/*
 * libconfuse found a word where a key belongs.  The word is shown only
 * when it is nearly a key: it may be a piece of a password (S38).
 */
static void
unknown_key(cfg_t *cfg, const char *name)
{
	char buf[SHOW_MAX];
	const char *hint;

	if (parsing->pw_line == cfg->line)
		pfail(cfg,
		    "password: unexpected text after the value (put the password in quotes: password = \"...\")");
	else if (!in_account(cfg) && find(akeys, K_NKEYS, name) > 0)
		pfail(cfg,
		    "%s: only allowed inside an account block (write account NAME { %s = ... })",
		    akeys[find(akeys, K_NKEYS, name)],
		    akeys[find(akeys, K_NKEYS, name)]);
	else if (in_account(cfg) && find(rkeys, R_NKEYS, name) > 0)
		pfail(cfg,
		    "default_account: not allowed inside an account block (move it before the block)");
	else if (in_account(cfg) && strcmp(name, "account") == 0)
		pfail(cfg,
		    "account: inside another account block (close the block above with })");
	else if ((hint = closest_key(cfg, name)) != NULL)
		pfail(cfg, "%s: unknown key (did you mean %s?)",
		    show(buf, sizeof(buf), name), hint);
	else
		pfail(cfg, "unknown key (see mailhop.conf(5) for the keys)");
}

/* Only punctuation is shown: any other token may be a secret. */
static void
unexpected_token(cfg_t *cfg, const char *tok)
{
	static const char *const safe[] = { "=", "+=", "{", "}", "(", ")",
		"," };

	if (find(safe, sizeof(safe) / sizeof(safe[0]), tok) >= 0)
		pfail(cfg,
		    "unexpected \"%s\" (write key = value, one per line, e.g. host = \"smtp.example.com\")",
		    tok);
	else
		pfail(cfg,
		    "unexpected word (write key = value, one per line, e.g. host = \"smtp.example.com\")");
}

enum cmsg {
	CM_NOKEY,
	CM_TOKEN,
	CM_NOEQUAL,
	CM_APPEND,
	CM_EOF,
	CM_QUOTE,
	CM_ESCAPE,
	CM_OCTAL,
	CM_DUPTITLE,
	CM_NOBRACE,
	CM_NOTITLE,
	CM_CLOSE,
	CM_OTHER
};

/* libconfuse 3.3's messages, as passed to its error function. */
static const char *const cmsg_ids[CM_OTHER] = {
	[CM_NOKEY] = "no such option '%s'",
	[CM_TOKEN] = "unexpected token '%s'",
	[CM_NOEQUAL] = "missing equal sign after option '%s'",
	[CM_APPEND] = "attempt to append to non-list option '%s'",
	[CM_EOF] = "premature end of file",
	[CM_QUOTE] = "unterminated string constant",
	[CM_ESCAPE] = "bad escape sequence '%s'",
	[CM_OCTAL] = "invalid octal number '%s'",
	[CM_DUPTITLE] = "found duplicate title '%s'",
	[CM_NOBRACE] = "missing opening brace for section '%s'",
	[CM_NOTITLE] = "missing title for section '%s'",
	[CM_CLOSE] = "unexpected closing brace",
};

/* Which message fmt is, also when libconfuse's are translated. */
static enum cmsg
classify(const char *fmt)
{
	int i;

	for (i = 0; i < CM_OTHER; i++)
		if (strcmp(fmt, cmsg_ids[i]) == 0 ||
		    strcmp(fmt, dgettext("confuse", cmsg_ids[i])) == 0)
			return (enum cmsg)i;
	return CM_OTHER;
}

/*
 * Our error function for libconfuse: its text is never printed, since
 * its arguments can be values.  Only the arguments known to be key or
 * block names are used.
 */
static void
on_error(cfg_t *cfg, const char *fmt, va_list ap)
{
	enum cmsg m = classify(fmt);
	char buf[SHOW_MAX];
	const char *arg = "";

	if (parsing == NULL || parsing->failed)
		return;
	if (m == CM_NOKEY || m == CM_TOKEN || m == CM_NOEQUAL ||
	    m == CM_APPEND || m == CM_DUPTITLE)
		arg = va_arg(ap, const char *);
	switch (m) {
	case CM_NOKEY:
		unknown_key(cfg, arg);
		break;
	case CM_TOKEN:
		unexpected_token(cfg, arg);
		break;
	case CM_NOEQUAL:
		pfail(cfg, "%s: missing \"=\" (write %s = value)", arg, arg);
		break;
	case CM_APPEND:
		pfail(cfg, "%s: \"+=\" is not allowed (write %s = value)", arg,
		    arg);
		break;
	case CM_EOF:
		pfail(cfg,
		    "unexpected end of file (close the last quote, or the account block with })");
		break;
	case CM_QUOTE:
		pfail(cfg, "unterminated quote (add the closing ')");
		break;
	case CM_ESCAPE:
	case CM_OCTAL:
		pfail(cfg,
		    "bad escape sequence in a quoted string (write \\\\ for a backslash)");
		break;
	case CM_DUPTITLE:
		pfail(cfg, "account %s: defined twice (keep one block)",
		    show(buf, sizeof(buf), arg));
		break;
	case CM_NOBRACE:
	case CM_NOTITLE:
		pfail(cfg,
		    "account: expected a name and \"{\" (write account NAME { ... })");
		break;
	case CM_CLOSE:
		pfail(cfg,
		    "unexpected \"}\" (remove it, or open a block with account NAME {)");
		break;
	default:
		pfail(cfg, "syntax error (see mailhop.conf(5))");
		break;
	}
}

static size_t
skip_quoted(const char *s, size_t n, size_t i)
{
	char q = s[i++];

	while (i < n && s[i] != q)
		i += s[i] == '\\' ? 2 : 1;
	return i < n ? i + 1 : n;
}

static size_t
blank_line(char *s, size_t n, size_t i)
{
	while (i < n && s[i] != '\n')
		s[i++] = ' ';
	return i;
}

static size_t
blank_block(char *s, size_t n, size_t i)
{
	s[i++] = ' ';
	s[i++] = ' ';
	while (i < n) {
		if (s[i] == '*' && i + 1 < n && s[i + 1] == '/') {
			s[i] = s[i + 1] = ' ';
			return i + 2;
		}
		if (s[i] != '\n')
			s[i] = ' ';
		i++;
	}
	return n;
}

/*
 * Turn comments into spaces, keeping newlines.  libconfuse 3.3 counts
 * each comment as several lines, so a file with comments would get wrong
 * line numbers in every message.  Quotes and ${VAR} are skipped as its
 * lexer does, so a # inside them stays.  Returns how many blocks are left
 * open at the end, which libconfuse lets pass.
 */
static int
blank_comments(char *s, size_t n)
{
	const char *close;
	size_t i = 0;
	int depth = 0;
	char next;

	while (i < n) {
		next = i + 1 < n ? s[i + 1] : '\0';
		if (s[i] == '"' || s[i] == '\'')
			i = skip_quoted(s, n, i);
		else if (s[i] == '$' && next == '{' &&
		    (close = memchr(s + i, '}', n - i)) != NULL)
			i = (size_t)(close - s) + 1;
		else if (s[i] == '#' || (s[i] == '/' && next == '/'))
			i = blank_line(s, n, i);
		else if (s[i] == '/' && next == '*')
			i = blank_block(s, n, i);
		else {
			if (s[i] == '{')
				depth++;
			else if (s[i] == '}')
				depth--;
			i++;
		}
	}
	return depth;
}

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

static cfg_t *
new_cfg(void)
{
	char name[64];
	cfg_t *cfg;
	int k;

	if ((cfg = cfg_init(root_opts, CFGF_NONE)) == NULL)
		return NULL;
	cfg_set_error_function(cfg, on_error);
	cfg_set_validate_func(cfg, "default_account", on_value);
	cfg_set_validate_func(cfg, "account|" LINES, on_block);
	for (k = 1; k < K_NKEYS; k++) {
		snprintf(name, sizeof(name), "account|%s", akeys[k]);
		cfg_set_validate_func(cfg, name, on_value);
	}
	return cfg;
}

/* Read the whole file into *buf, which the caller wipes and frees. */
static int
read_all(int fd, const char *path, char **buf, size_t *len, struct err *rec)
{
	size_t cap = CONF_MAX_SIZE + 1, n = 0;
	ssize_t r;
	int e;

	if ((*buf = malloc(cap)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	while (n < cap && (r = read(fd, *buf + n, cap - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			e = errno;
			return fail(rec, NULL, 0, "cannot read %s: %s", path,
			    strerror(e));
		}
		n += (size_t)r;
	}
	*len = n;
	if (n > CONF_MAX_SIZE)
		return fail(rec, path, 0,
		    "larger than %d KiB (is this the configuration file?)",
		    CONF_MAX_SIZE / 1024);
	if (memchr(*buf, '\0', n) != NULL)
		return fail(rec, path, 0,
		    "contains a NUL byte (is this the configuration file?)");
	return 0;
}

static int
parse_buf(struct cfile *cf, char *buf, size_t len, struct err *rec)
{
	struct parse p = { .path = cf->path, .rec = rec };
	FILE *fp;
	int rc = CFG_SUCCESS, open_blocks;

	if ((cf->cfg = new_cfg()) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	open_blocks = blank_comments(buf, len);
	if (len > 0) {
		if ((fp = fmemopen(buf, len, "r")) == NULL)
			return err_set(
			    rec, ERR_LOCAL, EX_OSERR, "out of memory");
		setvbuf(fp, NULL, _IONBF, 0);
		parsing = &p;
		rc = cfg_parse_fp(cf->cfg, fp);
		parsing = NULL;
		fclose(fp);
	}
	cf->has_password = p.has_password;
	if (rc != CFG_SUCCESS && !p.failed)
		fail(rec, cf->path, 0, "syntax error (see mailhop.conf(5))");
	if (rc == CFG_SUCCESS && open_blocks > 0)
		return fail(rec, cf->path, last_line(buf, len),
		    "unexpected end of file (close the account block with })");
	return rc == CFG_SUCCESS ? 0 : -1;
}

/* S32: a file with a password is its owner's alone. */
static int
check_mode(const struct cfile *cf, const struct stat *st, struct err *rec)
{
	struct passwd *pw;
	char user[64];

	if (!cf->has_password)
		return 0;
	if (st->st_uid != geteuid() && !(cf->system && st->st_uid == 0)) {
		pw = getpwuid(geteuid());
		if (pw != NULL)
			snprintf(user, sizeof(user), "%s", pw->pw_name);
		else
			snprintf(user, sizeof(user), "%u", (unsigned)geteuid());
		return fail(rec, cf->path, 0,
		    "holds a password but is owned by uid %u (run: chown %s %s)",
		    (unsigned)st->st_uid, user, cf->path);
	}
	if (st->st_mode & (S_IRGRP | S_IROTH))
		return fail(rec, cf->path, 0,
		    "holds a password but is readable by others (run: chmod 600 %s)",
		    cf->path);
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		return fail(rec, cf->path, 0,
		    "holds a password but others may change it (run: chmod 600 %s)",
		    cf->path);
	return 0;
}

/* A file that is not there is fine unless it is the -C file; one that
 * cannot be opened is an error (B39), later for the system file. */
static int
open_failed(struct cfile *cf, int required, struct err *rec)
{
	int e = errno;

	if ((e == ENOENT || e == ENOTDIR) && !required)
		return 0;
	if (cf->system) {
		cf->open_errno = e;
		return 0;
	}
	return fail(rec, NULL, 0, "cannot read %s: %s", cf->path, strerror(e));
}

/* Open, check and parse one file from the same descriptor, so what is
 * checked is what is read. */
static int
load_file(struct cfile *cf, int required, struct err *rec)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	int fd, e, rc = -1;

	fd = open(cf->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return open_failed(cf, required, rec);
	if (fstat(fd, &st) == -1) {
		e = errno;
		fail(rec, NULL, 0, "cannot read %s: %s", cf->path, strerror(e));
	} else if (!S_ISREG(st.st_mode))
		fail(rec, cf->path, 0,
		    "not a regular file (name a configuration file)");
	else if (read_all(fd, cf->path, &buf, &len, rec) == 0 &&
	    parse_buf(cf, buf, len, rec) == 0)
		rc = check_mode(cf, &st, rec);
	if (buf != NULL) {
		secret_wipe(buf, len);
		free(buf);
	}
	close(fd);
	return rc;
}

/* $XDG_CONFIG_HOME/mailhop/config, else ~/.config/mailhop/config. */
static char *
user_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;
	char *path;

	if (xdg != NULL && xdg[0] == '/')
		return asprintf(&path, "%s/mailhop/config", xdg) == -1 ? NULL
								       : path;
	if (home == NULL || home[0] != '/') {
		pw = getpwuid(getuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	if (home == NULL || home[0] != '/')
		return NULL;
	return asprintf(&path, "%s/.config/mailhop/config", home) == -1 ? NULL
									: path;
}

static int
load_files(struct files *fs, const char *file, struct err *rec)
{
	if (file != NULL) {
		fs->n = 1;
		if ((fs->f[0].path = strdup(file)) == NULL)
			return err_set(
			    rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return load_file(&fs->f[0], 1, rec);
	}
	fs->n = 2;
	fs->f[0].path = user_path();
	fs->f[1].path = strdup(SYSCONFDIR "/mailhop.conf");
	fs->f[1].system = 1;
	if (fs->f[1].path == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (fs->f[0].path != NULL && load_file(&fs->f[0], 0, rec) == -1)
		return -1;
	if (load_file(&fs->f[1], 0, rec) == -1)
		return -1;
	if (fs->f[0].cfg == NULL && fs->f[1].cfg == NULL &&
	    fs->f[1].open_errno == 0)
		return fail(rec, NULL, 0,
		    "no configuration file: write %s or %s (see mailhop.conf(5))",
		    fs->f[0].path != NULL ? fs->f[0].path
					  : "~/.config/mailhop/config",
		    fs->f[1].path);
	return 0;
}

/* The account called name, first in the user file, then the system's. */
static cfg_t *
lookup(struct files *fs, const char *name, struct cfile **from)
{
	cfg_t *sec;
	int i;

	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].cfg == NULL)
			continue;
		sec = cfg_gettsec(fs->f[i].cfg, "account", name);
		if (sec != NULL) {
			*from = &fs->f[i];
			return sec;
		}
	}
	return NULL;
}

/* "a, b, c": the accounts there are, each once; returns how many. */
static int
list_accounts(struct files *fs, char *buf, size_t size)
{
	struct cfile *from;
	char name[SHOW_MAX];
	size_t len = 0;
	unsigned int j;
	int i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].cfg == NULL)
			continue;
		for (j = 0; j < cfg_size(fs->f[i].cfg, "account"); j++) {
			const char *t =
			    cfg_title(cfg_getnsec(fs->f[i].cfg, "account", j));

			if (lookup(fs, t, &from) == NULL || from != &fs->f[i])
				continue;
			show(name, sizeof(name), t);
			if (len < size)
				len += (size_t)snprintf(buf + len, size - len,
				    "%s%s", n > 0 ? ", " : "", name);
			n++;
		}
	}
	return n;
}

/* "FILE" or "FILE or FILE": the files that were read. */
static const char *
read_files(struct files *fs, char *buf, size_t size)
{
	if (fs->n == 2 && fs->f[0].cfg != NULL && fs->f[1].cfg != NULL)
		snprintf(buf, size, "%s or %s", fs->f[0].path, fs->f[1].path);
	else
		snprintf(buf, size, "%s",
		    fs->f[0].cfg != NULL ? fs->f[0].path : fs->f[1].path);
	return buf;
}

/* The first account of the first file that has one. */
static const char *
first_account(struct files *fs)
{
	int i;

	for (i = 0; i < fs->n; i++)
		if (fs->f[i].cfg != NULL &&
		    cfg_size(fs->f[i].cfg, "account") > 0)
			return cfg_title(
			    cfg_getnsec(fs->f[i].cfg, "account", 0));
	return NULL;
}

/* Whether the user file alone decides the account, so that a system
 * file this user cannot open does not matter. */
static int
settled_by_user(struct files *fs, const char *name)
{
	cfg_t *u = fs->f[0].cfg;

	if (u == NULL)
		return 0;
	if (name == NULL)
		name = cfg_getstr(u, "default_account");
	return name != NULL && cfg_gettsec(u, "account", name) != NULL;
}

static cfg_t *
choose_named(
    struct files *fs, const char *name, struct cfile **from, struct err *rec)
{
	char list[LIST_MAX], files[ERR_TEXT_MAX], buf[SHOW_MAX];
	cfg_t *sec;

	if ((sec = lookup(fs, name, from)) != NULL)
		return sec;
	if (list_accounts(fs, list, sizeof(list)) == 0)
		snprintf(list, sizeof(list), "none");
	fail(rec, NULL, 0, "-a %s: no such account in %s (accounts: %s)",
	    show(buf, sizeof(buf), name), read_files(fs, files, sizeof(files)),
	    list);
	return NULL;
}

static const char *
default_account(struct files *fs, struct cfile **df)
{
	const char *def;
	int i;

	for (i = 0; i < fs->n; i++) {
		if (fs->f[i].cfg == NULL)
			continue;
		def = cfg_getstr(fs->f[i].cfg, "default_account");
		if (def != NULL) {
			*df = &fs->f[i];
			return def;
		}
	}
	return NULL;
}

static cfg_t *
choose_default(struct files *fs, struct cfile **from, struct err *rec)
{
	char list[LIST_MAX], files[ERR_TEXT_MAX], buf[SHOW_MAX];
	struct cfile *df = NULL;
	const char *def = default_account(fs, &df);
	cfg_t *sec;
	int n = list_accounts(fs, list, sizeof(list));

	if (def != NULL && (sec = lookup(fs, def, from)) != NULL)
		return sec;
	if (def != NULL)
		fail(rec, df->path, key_line(df->cfg, R_DEFAULT),
		    "default_account: no account \"%s\" (accounts: %s)",
		    show(buf, sizeof(buf), def), n > 0 ? list : "none");
	else if (n == 1)
		return lookup(fs, first_account(fs), from);
	else if (n == 0)
		fail(rec, NULL, 0,
		    "no account in %s (add account NAME { host = ... })",
		    read_files(fs, files, sizeof(files)));
	else
		fail(rec, NULL, 0,
		    "several accounts (%s) and no default_account (add default_account = \"%s\" to %s, or pass -a NAME)",
		    list, show(buf, sizeof(buf), first_account(fs)),
		    fs->f[0].cfg != NULL ? fs->f[0].path : fs->f[1].path);
	return NULL;
}

static cfg_t *
choose(struct files *fs, const char *name, struct cfile **from, struct err *rec)
{
	struct cfile *sys = fs->n == 2 ? &fs->f[1] : NULL;

	if (sys != NULL && sys->open_errno != 0 && !settled_by_user(fs, name)) {
		fail(rec, NULL, 0, "cannot read %s: %s", sys->path,
		    strerror(sys->open_errno));
		return NULL;
	}
	if (name != NULL)
		return choose_named(fs, name, from, rec);
	return choose_default(fs, from, rec);
}

static char *
dup_str(const char *v, int *oom)
{
	char *s;

	if (v == NULL)
		return NULL;
	if ((s = strdup(v)) == NULL)
		*oom = 1;
	return s;
}

static void
set_auth(cfg_t *sec, struct conf_account *a, int *oom)
{
	const char *v = cfg_getstr(sec, "auth");
	char *p;

	if (v == NULL)
		a->auth = a->user != NULL ? CONF_AUTH_ON : CONF_AUTH_OFF;
	else if (strcasecmp(v, "on") == 0)
		a->auth = CONF_AUTH_ON;
	else if (strcasecmp(v, "off") == 0)
		a->auth = CONF_AUTH_OFF;
	else {
		a->auth = CONF_AUTH_MECH;
		if ((a->auth_mech = dup_str(v, oom)) == NULL)
			return;
		for (p = a->auth_mech; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	}
}

/* Letters, digits, dots and hyphens, with a dot: a usable EHLO name. */
static int
is_fqdn(const char *s)
{
	return s[0] != '\0' && strchr(s, '.') != NULL &&
	    strspn(s,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"0123456789.-") == strlen(s);
}

/* This host's name for EHLO: gethostname, else its canonical name, else
 * "localhost". */
static char *
default_helo(int *oom)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	char *name = NULL;

	if (gethostname(host, sizeof(host)) == -1)
		return dup_str("localhost", oom);
	host[sizeof(host) - 1] = '\0';
	if (is_fqdn(host))
		return dup_str(host, oom);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) == 0 &&
	    res->ai_canonname != NULL && is_fqdn(res->ai_canonname))
		name = dup_str(res->ai_canonname, oom);
	if (res != NULL)
		freeaddrinfo(res);
	return name != NULL ? name : dup_str("localhost", oom);
}

/* The checks across keys, with the line of the key at fault. */
static int
check_account(
    cfg_t *sec, const char *path, const struct conf_account *a, struct err *rec)
{
	char name[SHOW_MAX];

	show(name, sizeof(name), a->name);
	if (a->host == NULL)
		return fail(rec, path, key_line(sec, K_BLOCK),
		    "account %s: host is missing (add host = \"smtp.example.com\")",
		    name);
	if (a->from == NULL)
		return fail(rec, path, key_line(sec, K_BLOCK),
		    "account %s: from is missing (add from = \"you@example.com\")",
		    name);
	if (a->auth != CONF_AUTH_OFF && a->user == NULL)
		return fail(rec, path, key_line(sec, K_AUTH),
		    "account %s: auth is set but user is missing (add user = \"...\" or set auth = off)",
		    name);
	if (a->password != NULL && a->user == NULL &&
	    cfg_size(sec, "auth") == 0)
		return fail(rec, path, key_line(sec, K_PASSWORD),
		    "account %s: password is set but user is missing (add user = \"...\")",
		    name);
	if (a->auth != CONF_AUTH_OFF && a->password == NULL)
		return fail(rec, path, key_line(sec, K_USER),
		    "account %s: user is set but password is missing (add password = \"...\" or set auth = off)",
		    name);
	if (a->auth != CONF_AUTH_OFF && a->tls == CONF_TLS_OFF)
		return fail(rec, path, key_line(sec, K_TLS),
		    "tls: auth over an unencrypted connection would send the password in clear (set tls = starttls or implicit)");
	return 0;
}

static int
fill_account(
    cfg_t *sec, const struct cfile *cf, struct conf_account *a, struct err *rec)
{
	static const int ports[] = { [CONF_TLS_STARTTLS] = 587,
		[CONF_TLS_IMPLICIT] = 465,
		[CONF_TLS_OFF] = 25 };
	int oom = 0;

	a->name = dup_str(cfg_title(sec), &oom);
	a->file = dup_str(cf->path, &oom);
	a->host = dup_str(cfg_getstr(sec, "host"), &oom);
	a->tls = (enum conf_tls)cfg_getint(sec, "tls");
	a->port = cfg_size(sec, "port") > 0 ? (int)cfg_getint(sec, "port")
					    : ports[a->tls];
	a->tls_ca_file = dup_str(cfg_getstr(sec, "tls_ca_file"), &oom);
	a->user = dup_str(cfg_getstr(sec, "user"), &oom);
	a->password = dup_str(cfg_getstr(sec, "password"), &oom);
	a->from = dup_str(cfg_getstr(sec, "from"), &oom);
	a->helo = dup_str(cfg_getstr(sec, "helo"), &oom);
	a->timeout = (int)cfg_getint(sec, "timeout");
	set_auth(sec, a, &oom);
	if (oom)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (check_account(sec, cf->path, a, rec) == -1)
		return -1;
	if (a->helo == NULL && (a->helo = default_helo(&oom)) == NULL)
		return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	return 0;
}

/* libconfuse frees its strings without wiping them. */
static void
wipe_passwords(cfg_t *cfg)
{
	unsigned int i, j;
	cfg_opt_t *opt;
	char *s;

	for (i = 0; i < cfg_size(cfg, "account"); i++) {
		opt = cfg_getopt(cfg_getnsec(cfg, "account", i), "password");
		for (j = 0; opt != NULL && j < opt->nvalues; j++)
			if ((s = cfg_opt_getnstr(opt, j)) != NULL)
				secret_wipe(s, strlen(s));
	}
}

static void
free_files(struct files *fs)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (fs->f[i].cfg != NULL) {
			wipe_passwords(fs->f[i].cfg);
			cfg_free(fs->f[i].cfg);
		}
		free(fs->f[i].path);
	}
}

/*
 * XXX: libconfuse's lexer keeps its own copies of the text it scans (its
 * read buffer, the quoted-string buffer) and frees them unwiped; only
 * our buffer and the values in the cfg tree are wiped.
 */
int
conf_load(const char *file, const char *name, struct conf_account *acct,
    struct err *rec)
{
	struct files fs;
	struct cfile *from = NULL;
	cfg_t *sec;
	int rc = -1;

	memset(acct, 0, sizeof(*acct));
	memset(&fs, 0, sizeof(fs));
	if (load_files(&fs, file, rec) == 0 &&
	    (sec = choose(&fs, name, &from, rec)) != NULL)
		rc = fill_account(sec, from, acct, rec);
	if (rc == -1)
		conf_account_free(acct);
	free_files(&fs);
	return rc;
}

void
conf_account_free(struct conf_account *acct)
{
	if (acct == NULL)
		return;
	free(acct->name);
	free(acct->file);
	free(acct->host);
	free(acct->tls_ca_file);
	free(acct->auth_mech);
	free(acct->user);
	secret_free(acct->password);
	free(acct->from);
	free(acct->helo);
	memset(acct, 0, sizeof(*acct));
}
