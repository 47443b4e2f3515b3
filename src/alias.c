/* SPDX-License-Identifier: ISC */
/*
 * Local names: the aliases file (/etc/aliases format) and the expansion of
 * a bare name ("root", as cron sends it) into addresses with a domain, so
 * that neither RCPT TO:<root> nor MAIL FROM:<root> ever reaches a relay
 * (RFC 5321 4.1.2: a Mailbox has a domain).
 */
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "alias.h"
#include "err.h"

/* An aliases file is a few KiB; this catches a wrong path. */
#define ALIAS_FILE_MAX (1024 * 1024)
#define SHOW_MAX 64 /* longest name or target quoted in a message */

struct alias_entry {
	char *name;	/* as written, without quotes */
	int line;	/* where the entry starts */
	char **targets; /* mailboxes; "\name" for a literal local name */
	size_t ntargets;
	size_t nskipped;
};

struct alias_map {
	char *path;
	struct alias_entry *v;
	size_t n;
	size_t cap;
	size_t skipped;
	char note[ERR_TEXT_MAX];
};

/* One expansion in progress. */
struct expansion {
	const struct alias_map *map;
	const char *domain;
	struct addr_list *out;
	size_t base; /* out->n before: the cap is per name, not per list */
	struct err *rec;
	long steps;  /* targets looked at: a diamond of lists is finite */
	int lenient; /* an entry with only skipped targets gives nothing */
	const struct alias_entry *path[ALIAS_DEPTH_MAX + 1];
};

static const char *
show(char *buf, size_t size, const char *s)
{
	err_sanitize(buf, size, s, strlen(s));
	return buf;
}

static int
oom(struct err *rec)
{
	return err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
}

/* ------------------------------------------------------------ reading */

static int
read_file(const char *path, char **buf, size_t *len, struct err *rec)
{
	struct stat st;
	ssize_t r;
	int fd, e, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		e = errno;
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "cannot read %s: %s (fix the aliases key)", path,
		    strerror(e));
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "%s: not a regular file (fix the aliases key)", path);
	else if (st.st_mode & S_IWOTH)
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "%s: anyone may change it, and so where mail goes (run: chmod o-w %s)",
		    path, path);
	else if (st.st_size > ALIAS_FILE_MAX)
		err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "%s: larger than %d KiB (is this an aliases file?)", path,
		    ALIAS_FILE_MAX / 1024);
	else if ((*buf = malloc((size_t)st.st_size + 1)) == NULL)
		oom(rec);
	else
		rc = 0;
	*len = 0;
	while (rc == 0 && *len < (size_t)st.st_size &&
	    (r = read(fd, *buf + *len, (size_t)st.st_size - *len)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			e = errno;
			rc = err_set(rec, ERR_CONFIG, EX_CONFIG,
			    "cannot read %s: %s", path, strerror(e));
		} else
			*len += (size_t)r;
	}
	close(fd);
	if (rc == 0)
		(*buf)[*len] = '\0';
	return rc;
}

/* ------------------------------------------------------------ parsing */

static int fail_at(const struct alias_map *, int, struct err *, const char *,
    ...) __attribute__((format(printf, 4, 5)));

/* "PATH:LINE: text" as a configuration error. */
static int
fail_at(
    const struct alias_map *m, int line, struct err *rec, const char *fmt, ...)
{
	char msg[ERR_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(
	    rec, ERR_CONFIG, EX_CONFIG, "%s:%d: %s", m->path, line, msg);
}

static struct alias_entry *
lookup(const struct alias_map *m, const char *name)
{
	size_t i;

	for (i = 0; m != NULL && i < m->n; i++)
		if (strcasecmp(m->v[i].name, name) == 0)
			return &m->v[i];
	return NULL;
}

/* The entry of a name given to alias_expand, which may be quoted as a
 * local part ("john doe"). */
static struct alias_entry *
lookup_input(const struct alias_map *m, const char *name)
{
	size_t len = strlen(name);
	struct alias_entry *e;
	char *s;

	if (len < 2 || name[0] != '"' || name[len - 1] != '"')
		return lookup(m, name);
	if ((s = strndup(name + 1, len - 2)) == NULL)
		return NULL;
	e = lookup(m, s);
	free(s);
	return e;
}

static char *
trim(char *s)
{
	char *end;

	s += strspn(s, " \t");
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Split at the first comma outside quotes, <> and (); returns the rest,
 * or NULL at the end. */
static char *
split_target(char *s)
{
	int depth = 0, quoted = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (!quoted && (*s == '<' || *s == '('))
			depth++;
		else if (!quoted && (*s == '>' || *s == ')') && depth > 0)
			depth--;
		else if (!quoted && depth == 0 && *s == ',') {
			*s = '\0';
			return s + 1;
		}
	}
	return NULL;
}

/* |program, /file or :include:, quoted or not: mailhop cannot. */
static int
unsupported(const char *t)
{
	if (t[0] == '"')
		t++;
	return t[0] == '|' || t[0] == '/' ||
	    strncasecmp(t, ":include:", 9) == 0;
}

static void
note_skipped(struct alias_map *m, struct alias_entry *e, const char *t)
{
	char name[SHOW_MAX], target[SHOW_MAX];

	e->nskipped++;
	if (m->skipped++ > 0)
		return;
	snprintf(m->note, sizeof(m->note),
	    "%s:%d: %s: %s: ignored (mailhop sends mail; it cannot run programs, write files or read :include: lists)",
	    m->path, e->line, show(name, sizeof(name), e->name),
	    show(target, sizeof(target), t));
}

static int
add_target(
    struct alias_map *m, struct alias_entry *e, const char *t, struct err *rec)
{
	struct addr_list l = { 0 };
	char **v, shown[SHOW_MAX], name[SHOW_MAX];
	struct err perr;

	/* \name: the local user itself, as in sendmail */
	if ((t[0] != '\\' || t[1] == '\0' || strchr(t, '@') != NULL) &&
	    (addr_parse_list(t, &l, &perr) == -1 || l.n != 1)) {
		addr_list_free(&l);
		return fail_at(m, e->line, rec,
		    "%s: \"%s\" is not an address (write NAME: ADDRESS, ADDRESS)",
		    show(name, sizeof(name), e->name),
		    show(shown, sizeof(shown), t));
	}
	v = realloc(e->targets, (e->ntargets + 1) * sizeof(*v));
	if (v != NULL)
		e->targets = v;
	if (v == NULL ||
	    (v[e->ntargets] = strdup(l.n == 1 ? l.v[0].mailbox : t)) == NULL) {
		addr_list_free(&l);
		return oom(rec);
	}
	e->ntargets++;
	addr_list_free(&l);
	return 0;
}

static int
parse_targets(
    struct alias_map *m, struct alias_entry *e, char *rhs, struct err *rec)
{
	char *t, *next, shown[SHOW_MAX];

	for (t = rhs; t != NULL; t = next) {
		next = split_target(t);
		t = trim(t);
		if (t[0] == '\0')
			continue;
		if (unsupported(t))
			note_skipped(m, e, t);
		else if (add_target(m, e, t, rec) == -1)
			return -1;
	}
	if (e->ntargets + e->nskipped > 0)
		return 0;
	return fail_at(m, e->line, rec,
	    "%s: no target (write %s: ADDRESS, ADDRESS)",
	    show(shown, sizeof(shown), e->name),
	    show(shown, sizeof(shown), e->name));
}

/* The name before the colon: "quoted" or a word.  Returns the text after
 * the colon, or NULL. */
static char *
parse_name(char *s, char **name)
{
	char *colon;

	if (s[0] == '"') {
		*name = s + 1;
		if ((colon = strchr(s + 1, '"')) == NULL)
			return NULL;
		*colon++ = '\0';
		colon += strspn(colon, " \t");
		return *colon == ':' ? colon + 1 : NULL;
	}
	*name = s;
	if ((colon = strchr(s, ':')) == NULL)
		return NULL;
	*colon = '\0';
	*name = trim(s);
	return strpbrk(*name, " \t") == NULL ? colon + 1 : NULL;
}

static struct alias_entry *
new_entry(struct alias_map *m, const char *name, int line, struct err *rec)
{
	struct alias_entry *v;

	if (m->n == m->cap) {
		m->cap = m->cap > 0 ? m->cap * 2 : 32;
		if ((v = realloc(m->v, m->cap * sizeof(*v))) == NULL) {
			oom(rec);
			return NULL;
		}
		m->v = v;
	}
	v = &m->v[m->n];
	memset(v, 0, sizeof(*v));
	v->line = line;
	if ((v->name = strdup(name)) == NULL) {
		oom(rec);
		return NULL;
	}
	m->n++;
	return v;
}

/* One logical line (continuations joined) that starts on line. */
static int
parse_entry(struct alias_map *m, char *s, int line, struct err *rec)
{
	struct alias_entry *e, *dup;
	char *name, *rhs, shown[SHOW_MAX];

	if ((rhs = parse_name(s, &name)) == NULL || name[0] == '\0')
		return fail_at(m, line, rec,
		    "expected NAME: ADDRESS, ADDRESS (put a colon after the name, and quote a name with spaces)");
	if ((dup = lookup(m, name)) != NULL)
		return fail_at(m, line, rec,
		    "%s: defined twice, also on line %d (keep one)",
		    show(shown, sizeof(shown), name), dup->line);
	if ((e = new_entry(m, name, line, rec)) == NULL)
		return -1;
	return parse_targets(m, e, rhs, rec);
}

static int
is_blank_or_comment(const char *s)
{
	s += strspn(s, " \t\r");
	return *s == '\0' || *s == '#';
}

/* Each line of buf in turn; a logical line is flushed when the next one
 * starts.  The buffer is edited in place: a continuation's line end
 * becomes a space. */
static int
parse_buf(struct alias_map *m, char *buf, size_t len, struct err *rec)
{
	char *p = buf, *nl, *start = NULL;
	int line = 0, start_line = 0;

	if (memchr(buf, '\0', len) != NULL)
		return err_set(rec, ERR_CONFIG, EX_CONFIG,
		    "%s: contains a NUL byte (is this an aliases file?)",
		    m->path);
	for (; *p != '\0'; p = nl + 1) {
		line++;
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		if (*nl == '\n')
			*nl = '\0';
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (is_blank_or_comment(p))
			p[0] = '\0';
		else if (p[0] == ' ' || p[0] == '\t') {
			if (start == NULL)
				return fail_at(m, line, rec,
				    "continuation line with no entry above it (remove the leading white space)");
			memmove(start + strlen(start) + 1, p, strlen(p) + 1);
			start[strlen(start)] = ' ';
		} else {
			if (start != NULL &&
			    parse_entry(m, start, start_line, rec) == -1)
				return -1;
			start = p;
			start_line = line;
		}
		if (nl == buf + len)
			break;
	}
	if (start != NULL)
		return parse_entry(m, start, start_line, rec);
	return 0;
}

void
alias_free(struct alias_map *map)
{
	size_t i, j;

	if (map == NULL)
		return;
	for (i = 0; i < map->n; i++) {
		for (j = 0; j < map->v[i].ntargets; j++)
			free(map->v[i].targets[j]);
		free(map->v[i].targets);
		free(map->v[i].name);
	}
	free(map->v);
	free(map->path);
	free(map);
}

struct alias_map *
alias_load(const char *path, struct err *rec)
{
	struct alias_map *m;
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(path)) == NULL)
		oom(rec);
	else if (read_file(path, &buf, &len, rec) == 0)
		rc = parse_buf(m, buf, len, rec);
	free(buf);
	if (rc == -1) {
		alias_free(m);
		return NULL;
	}
	return m;
}

/* ---------------------------------------------------------- expansion */

static int
is_local(const char *mailbox)
{
	return strchr(mailbox, '@') == NULL;
}

/* name@domain, malloc'ed. */
static char *
qualify(const char *name, const char *domain)
{
	char *s;

	if (asprintf(&s, "%s@%s", name, domain) == -1)
		return NULL;
	return s;
}

static int
add(struct expansion *x, const char *mailbox)
{
	if (x->out->n - x->base >= ALIAS_EXPAND_MAX)
		return err_set(x->rec, ERR_CONFIG, EX_CONFIG,
		    "%s: a name expands to more than %d addresses (shorten the lists)",
		    x->map->path, ALIAS_EXPAND_MAX);
	if (addr_list_add(x->out, NULL, mailbox) == -1)
		return oom(x->rec);
	return 0;
}

static int
add_qualified(struct expansion *x, const char *name)
{
	char *s = qualify(name, x->domain);
	int rc;

	if (s == NULL)
		return oom(x->rec);
	rc = add(x, s);
	free(s);
	return rc;
}

/* "a -> b -> a": the chain from the given name to e. */
static void
chain(const struct expansion *x, int depth, const struct alias_entry *e,
    char *buf, size_t size)
{
	char name[SHOW_MAX];
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i <= depth && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s -> ",
		    show(name, sizeof(name), x->path[i]->name));
	if (len < size)
		snprintf(buf + len, size - len, "%s",
		    show(name, sizeof(name), e->name));
}

static int expand_entry(
    struct expansion *x, const struct alias_entry *e, int depth);

/* A target of entry x->path[depth]. */
static int
expand_target(struct expansion *x, const char *t, int depth)
{
	const struct alias_entry *self = x->path[depth], *e;
	char name[SHOW_MAX], how[ERR_TEXT_MAX / 2];
	int i;

	if (++x->steps > 10L * ALIAS_EXPAND_MAX)
		return err_set(x->rec, ERR_CONFIG, EX_CONFIG,
		    "%s: a name expands through more than %d targets (shorten the lists)",
		    x->map->path, 10 * ALIAS_EXPAND_MAX);
	if (!is_local(t))
		return add(x, t);
	if (t[0] == '\\')
		return add_qualified(x, t + 1);
	if (strcasecmp(t, self->name) == 0 || (e = lookup(x->map, t)) == NULL)
		return add_qualified(x, t);
	for (i = 0; i <= depth; i++)
		if (x->path[i] == e) {
			chain(x, depth, e, how, sizeof(how));
			return fail_at(x->map, self->line, x->rec,
			    "%s: alias loop %s (remove one of these entries)",
			    show(name, sizeof(name), self->name), how);
		}
	if (depth + 1 >= ALIAS_DEPTH_MAX)
		return fail_at(x->map, self->line, x->rec,
		    "%s: aliases nest deeper than %d levels (shorten the chain)",
		    show(name, sizeof(name), self->name), ALIAS_DEPTH_MAX);
	return expand_entry(x, e, depth + 1);
}

static int
expand_entry(struct expansion *x, const struct alias_entry *e, int depth)
{
	char name[SHOW_MAX];
	size_t i;

	x->path[depth] = e;
	if (e->ntargets == 0 && !x->lenient)
		return fail_at(x->map, e->line, x->rec,
		    "%s: every target is a program, file or :include: list, which mailhop cannot deliver to (add an address)",
		    show(name, sizeof(name), e->name));
	for (i = 0; i < e->ntargets; i++)
		if (expand_target(x, e->targets[i], depth) == -1)
			return -1;
	return 0;
}

int
alias_expand(const struct alias_map *map, const char *local_domain,
    const char *mailbox, struct addr_list *out, struct err *rec)
{
	struct expansion x = { .map = map,
		.domain = local_domain,
		.out = out,
		.base = out->n,
		.rec = rec };
	const struct alias_entry *e;

	if (mailbox[0] == '\0')
		return err_set(rec, ERR_USAGE, EX_DATAERR,
		    "an empty address is not a recipient");
	if (!is_local(mailbox))
		return add(&x, mailbox);
	if (mailbox[0] == '\\' && mailbox[1] != '\0')
		return add_qualified(&x, mailbox + 1);
	if ((e = lookup_input(map, mailbox)) == NULL)
		e = lookup(map, "*");
	if (e == NULL)
		return add_qualified(&x, mailbox);
	return expand_entry(&x, e, 0);
}

char *
alias_sender(const char *local_domain, const char *mailbox, struct err *rec)
{
	char *s;

	if (mailbox[0] == '\0' || !is_local(mailbox))
		s = strdup(mailbox);
	else
		s = qualify(mailbox, local_domain);
	if (s == NULL)
		oom(rec);
	return s;
}

char *
alias_to_rewrite(void *ctx, const char *mailbox)
{
	struct alias_ctx *c = ctx;
	struct addr_list l = { 0 };
	struct err rec;
	char *s = NULL;

	if (mailbox[0] == '\0' || !is_local(mailbox))
		return NULL;
	err_clear(&rec);
	if (alias_expand(c->map, c->local_domain, mailbox, &l, &rec) == 0 &&
	    l.n == 1)
		s = strdup(l.v[0].mailbox);
	else if (rec.class != ERR_LOCAL)
		s = qualify(mailbox, c->local_domain);
	addr_list_free(&l);
	if (s == NULL)
		c->oom = 1;
	return s;
}

char *
alias_header_rewrite(void *ctx, const char *mailbox)
{
	struct alias_ctx *c = ctx;
	char *s;

	if (mailbox[0] == '\0' || !is_local(mailbox))
		return NULL;
	if ((s = qualify(mailbox, c->local_domain)) == NULL)
		c->oom = 1;
	return s;
}

/* Expand every entry, as newaliases should find a loop before mail does.
 * An entry with only programs and files is no error here: the note says
 * so, and /etc/aliases often has one ("decode: /dev/null"). */
static int
check_entries(const struct alias_map *m, struct err *rec)
{
	struct expansion x = {
		.map = m, .domain = "localhost", .rec = rec, .lenient = 1
	};
	struct addr_list l = { 0 };
	size_t i;
	int rc = 0;

	x.out = &l;
	for (i = 0; rc == 0 && i < m->n; i++) {
		x.steps = 0;
		rc = expand_entry(&x, &m->v[i], 0);
		addr_list_free(&l);
	}
	return rc;
}

int
alias_check_file(const char *path, struct alias_info *info, struct err *rec)
{
	struct alias_map *m = alias_load(path, rec);
	int rc;

	if (m == NULL)
		return -1;
	rc = check_entries(m, rec);
	if (rc == 0 && info != NULL) {
		info->entries = m->n;
		info->skipped = m->skipped;
		snprintf(info->note, sizeof(info->note), "%s", m->note);
	}
	alias_free(m);
	return rc;
}

/* The canonical name of ctx->hostname (what `hostname -f` prints), once.
 * Also for a name with dots: /etc/hosts may give another one first. */
static const char *
canonical(struct alias_ctx *c)
{
	struct addrinfo hints, *res = NULL;

	if (c->canon_done)
		return c->canon[0] != '\0' ? c->canon : NULL;
	c->canon_done = 1;
	if (c->hostname == NULL)
		return NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_CANONNAME;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(c->hostname, NULL, &hints, &res) == 0 &&
	    res->ai_canonname != NULL)
		snprintf(c->canon, sizeof(c->canon), "%s", res->ai_canonname);
	if (res != NULL)
		freeaddrinfo(res);
	return c->canon[0] != '\0' ? c->canon : NULL;
}

int
alias_is_local(struct alias_ctx *c, const char *mailbox)
{
	const char *at = strrchr(mailbox, '@'), *canon;

	if (mailbox[0] == '\0')
		return 0;
	if (at == NULL)
		return 1;
	/* Every host's own name too, whatever it is called otherwise. */
	if (strcasecmp(at + 1, "localhost") == 0 ||
	    strcasecmp(at + 1, "localhost.localdomain") == 0)
		return 1;
	if (c->hostname != NULL && strcasecmp(at + 1, c->hostname) == 0)
		return 1;
	canon = canonical(c);
	return canon != NULL && strcasecmp(at + 1, canon) == 0;
}

char *
alias_from_rewrite(void *ctx, const char *mailbox)
{
	struct alias_ctx *c = ctx;
	char *s;

	if (c->from == NULL || !alias_is_local(c, mailbox))
		return NULL;
	if ((s = strdup(c->from)) == NULL)
		c->oom = 1;
	return s;
}
