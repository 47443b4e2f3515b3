/* SPDX-License-Identifier: ISC */
/*
 * Addresses: an RFC 5322 section 3.4 address-list parser (groups, comments,
 * quoted strings, domain literals and the obsolete forms of section 4.4),
 * the mailbox list with de-duplication, the checks an address needs before
 * it goes into MAIL or RCPT, and IDNA conversion of domains (libidn2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <idn2.h>

#include "addr.h"

/* Longest excerpt of the input quoted in an error message. */
#define EXCERPT_MAX 60

enum tok_type { T_END, T_ATOM, T_QSTR, T_DLIT, T_SPEC };

/* One lexical token: its raw span [start, end) of the input. */
struct tok {
	enum tok_type type;
	char c; /* the character of a T_SPEC */
	size_t start, end;
};

/* A growing string for building a mailbox. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

struct parser {
	const char *s;
	size_t pos;  /* where the next token is looked for */
	size_t elem; /* where the current list element starts, for errors */
	struct addr_list *out;
	struct err *rec;
	addr_rewrite_fn *fn; /* with addr_rewrite_list: the callback */
	void *arg;
	struct buf *rw; /* the list rewritten so far */
	size_t copied;	/* input copied to rw */
	int changed;
};

/* atext of RFC 5322 section 3.2.3, plus UTF-8 (RFC 6532 section 3.2). */
static int
is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_wsp(unsigned char c)
{
	/* CR and LF too: a caller may pass a value that is still folded. */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_special(unsigned char c)
{
	return c != '\0' && strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static void
buf_add(struct buf *b, const char *p, size_t n)
{
	char *np;
	size_t ncap;

	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap == 0 ? 64 : b->cap;
		while (b->len + n + 1 > ncap)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

/* Fill rec with "what in "excerpt"", the excerpt taken from the start of
 * the current list element, sanitised and short. */
static int
parse_error(struct parser *ps, const char *what)
{
	char ex[EXCERPT_MAX];
	size_t at = ps->elem;

	while (is_wsp((unsigned char)ps->s[at]))
		at++;
	err_sanitize(ex, sizeof(ex), ps->s + at, strlen(ps->s + at));
	return err_set(
	    ps->rec, ERR_USAGE, EX_DATAERR, "%s in \"%s\"", what, ex);
}

/* An error about the token t: 'unexpected "x" in "..."'. */
static int
unexpected(struct parser *ps, const struct tok *t)
{
	char what[64], tx[24];

	if (t->type == T_END)
		return parse_error(ps, "unexpected end");
	err_sanitize(tx, sizeof(tx), ps->s + t->start, t->end - t->start);
	if (t->type == T_SPEC && t->c == '>')
		snprintf(what, sizeof(what), "unbalanced \">\"");
	else
		snprintf(what, sizeof(what), "unexpected \"%s\"", tx);
	return parse_error(ps, what);
}

/* Skip a comment starting at s[i] == '(': comments nest and may hold
 * quoted-pairs (RFC 5322 section 3.2.2).  Returns the index after it, or
 * 0 when it is not closed. */
static size_t
skip_comment(const char *s, size_t i)
{
	int depth = 0;

	for (; s[i] != '\0'; i++) {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			return i + 1;
	}
	return 0;
}

/* Skip CFWS (folding white space and comments) from *pos. */
static int
skip_cfws(struct parser *ps, size_t *pos)
{
	const char *s = ps->s;
	size_t i = *pos, e;

	for (;;) {
		while (is_wsp((unsigned char)s[i]))
			i++;
		if (s[i] != '(')
			break;
		e = skip_comment(s, i);
		if (e == 0)
			return parse_error(ps, "unbalanced \"(\"");
		i = e;
	}
	*pos = i;
	return 0;
}

/* End of a quoted string or domain literal opened at s[i]: the index
 * after the closing character, or 0. */
static size_t
skip_quoted(const char *s, size_t i, char close)
{
	for (i++; s[i] != '\0'; i++) {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		else if (s[i] == close)
			return i + 1;
	}
	return 0;
}

static int
lex_quoted(struct parser *ps, struct tok *t, size_t i)
{
	char close = ps->s[i] == '"' ? '"' : ']';
	size_t e = skip_quoted(ps->s, i, close);

	if (e == 0)
		return parse_error(ps,
		    close == '"' ? "unterminated quoted string"
				 : "unbalanced \"[\"");
	t->type = close == '"' ? T_QSTR : T_DLIT;
	t->end = e;
	return 0;
}

/* The token after CFWS at pos, without consuming it. */
static int
lex(struct parser *ps, size_t pos, struct tok *t)
{
	const unsigned char *s = (const unsigned char *)ps->s;
	size_t i = pos;

	if (skip_cfws(ps, &i) == -1)
		return -1;
	t->start = i;
	t->end = i + 1;
	t->c = (char)s[i];
	if (s[i] == '\0') {
		t->type = T_END;
		t->end = i;
		return 0;
	}
	if (s[i] == '"' || s[i] == '[')
		return lex_quoted(ps, t, i);
	if (s[i] == ')' || s[i] == ']') {
		t->type = T_SPEC;
		return parse_error(
		    ps, s[i] == ')' ? "unbalanced \")\"" : "unbalanced \"]\"");
	}
	if (is_atext(s[i])) {
		while (is_atext(s[i]))
			i++;
		t->type = T_ATOM;
		t->end = i;
		return 0;
	}
	t->type = T_SPEC;
	if (is_special(s[i]) && s[i] != '\\')
		return 0;
	return unexpected(ps, t);
}

/* Consume the next token into t. */
static int
next(struct parser *ps, struct tok *t)
{
	if (lex(ps, ps->pos, t) == -1)
		return -1;
	ps->pos = t->end;
	return 0;
}

static int
is_spec(const struct tok *t, char c)
{
	return t->type == T_SPEC && t->c == c;
}

static int
is_word(const struct tok *t)
{
	return t->type == T_ATOM || t->type == T_QSTR;
}

/* Append the content of a quoted string (quoted-pairs resolved) or of a
 * domain literal (quoted-pairs kept, white space dropped); line ends of
 * folding are dropped (RFC 5322 sections 3.2.4, 3.4.1). */
static void
add_quoted(struct buf *b, const char *s, const struct tok *t, int literal)
{
	size_t i;

	for (i = t->start + 1; i + 1 < t->end; i++) {
		if (s[i] == '\\' && literal)
			buf_addc(b, s[i++]);
		else if (s[i] == '\\')
			i++;
		else if (s[i] == '\r' || s[i] == '\n')
			continue;
		else if (literal && (s[i] == ' ' || s[i] == '\t'))
			continue;
		buf_addc(b, s[i]);
	}
}

/* dot-atom-text of RFC 5322 section 3.2.3. */
static int
is_dot_atom(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '.' && (s[i + 1] == '.' || s[i + 1] == '\0'))
			return 0;
		if (s[i] != '.' && !is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* Write local (plain text) as the local part of a mailbox: unquoted when
 * it is a dot-atom, else as a quoted string (RFC 5322 section 3.4.1). */
static void
add_local(struct buf *b, const char *local)
{
	if (is_dot_atom(local)) {
		buf_add(b, local, strlen(local));
		return;
	}
	buf_addc(b, '"');
	for (; *local != '\0'; local++) {
		if (strchr("\"\\\r\n", *local) != NULL)
			buf_addc(b, '\\');
		buf_addc(b, *local);
	}
	buf_addc(b, '"');
}

/* local-part = word *("." word), which covers dot-atom, quoted-string and
 * obs-local-part with CFWS around the dots (RFC 5322 sections 3.4.1 and
 * 4.4).  The plain text goes to b. */
static int
parse_local(struct parser *ps, struct buf *b)
{
	struct tok t, dot;

	if (next(ps, &t) == -1)
		return -1;
	if (is_spec(&t, '@'))
		return parse_error(ps, "missing local part before \"@\"");
	for (;;) {
		if (!is_word(&t))
			return unexpected(ps, &t);
		if (t.type == T_ATOM)
			buf_add(b, ps->s + t.start, t.end - t.start);
		else
			add_quoted(b, ps->s, &t, 0);
		if (lex(ps, ps->pos, &dot) == -1)
			return -1;
		if (!is_spec(&dot, '.'))
			return 0;
		ps->pos = dot.end;
		buf_addc(b, '.');
		if (next(ps, &t) == -1)
			return -1;
	}
}

/* domain = dot-atom / domain-literal / obs-domain (RFC 5322 3.4.1, 4.4),
 * after its "@"; the text, without CFWS, goes to b. */
static int
parse_domain(struct parser *ps, struct buf *b)
{
	struct tok t, dot;

	if (next(ps, &t) == -1)
		return -1;
	if (t.type == T_DLIT) {
		buf_addc(b, '[');
		add_quoted(b, ps->s, &t, 1);
		buf_addc(b, ']');
		return 0;
	}
	if (t.type != T_ATOM)
		return parse_error(ps, "missing domain after \"@\"");
	for (;;) {
		buf_add(b, ps->s + t.start, t.end - t.start);
		if (lex(ps, ps->pos, &dot) == -1)
			return -1;
		if (!is_spec(&dot, '.'))
			return 0;
		ps->pos = dot.end;
		buf_addc(b, '.');
		if (next(ps, &t) == -1)
			return -1;
		if (t.type != T_ATOM)
			return unexpected(ps, &t);
	}
}

/* Append the mailbox to the output list. */
static int
emit(struct parser *ps, const char *name, size_t namelen, struct buf *mb)
{
	char *n = NULL;
	int rc;

	if (mb->oom)
		return err_set(ps->rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (name != NULL && (n = strndup(name, namelen)) == NULL)
		return err_set(ps->rec, ERR_LOCAL, EX_OSERR, "out of memory");
	rc = addr_list_add(ps->out, n, mb->p);
	free(n);
	if (rc == -1)
		return err_set(ps->rec, ERR_LOCAL, EX_OSERR, "out of memory");
	return 0;
}

/* With addr_rewrite_list: offer the mailbox mb, written at [start, end)
 * of the input, to the callback, and put what it returns in its place. */
static int
rewrite_span(struct parser *ps, size_t start, size_t end, struct buf *mb)
{
	char *nb;

	if (ps->fn == NULL || mb->oom)
		return 0;
	if ((nb = ps->fn(ps->arg, mb->p != NULL ? mb->p : "")) == NULL)
		return 0;
	if (strcmp(nb, mb->p != NULL ? mb->p : "") != 0) {
		if (strpbrk(nb, "\r\n") != NULL) {
			free(nb);
			return err_set(ps->rec, ERR_LOCAL, EX_SOFTWARE,
			    "a rewritten address contains a line break");
		}
		buf_add(ps->rw, ps->s + ps->copied, start - ps->copied);
		buf_add(ps->rw, nb, strlen(nb));
		ps->copied = end;
		ps->changed = 1;
	}
	free(nb);
	return 0;
}

/* addr-spec, or a bare local part with no "@" (cron's "root"). */
static int
parse_addr_spec(struct parser *ps, struct buf *mb)
{
	struct buf local = { 0 };
	struct tok t;
	size_t start;
	int rc;

	if (lex(ps, ps->pos, &t) == -1)
		return -1;
	start = t.start;
	rc = parse_local(ps, &local);
	if (rc == 0 && !local.oom)
		add_local(mb, local.p != NULL ? local.p : "");
	free(local.p);
	if (rc == -1 || lex(ps, ps->pos, &t) == -1)
		return -1;
	if (is_spec(&t, '@')) {
		ps->pos = t.end;
		buf_addc(mb, '@');
		if (parse_domain(ps, mb) == -1)
			return -1;
	}
	return rewrite_span(ps, start, ps->pos, mb);
}

/* obs-route = obs-domain-list ":" (RFC 5322 section 4.4): source routes
 * are skipped, as RFC 5321 appendix C allows. */
static int
skip_route(struct parser *ps)
{
	struct buf junk = { 0 };
	struct tok t;
	int rc = 0;

	for (;;) {
		if ((rc = next(ps, &t)) == -1)
			break;
		if (is_spec(&t, ':'))
			break;
		if (is_spec(&t, ','))
			continue;
		if (!is_spec(&t, '@')) {
			rc = unexpected(ps, &t);
			break;
		}
		junk.len = 0;
		if ((rc = parse_domain(ps, &junk)) == -1)
			break;
	}
	free(junk.p);
	return rc;
}

/* angle-addr = "<" [obs-route] addr-spec ">", the "<" already taken. */
static int
parse_angle(struct parser *ps, struct buf *mb)
{
	struct tok t;

	if (lex(ps, ps->pos, &t) == -1)
		return -1;
	if ((is_spec(&t, '@') || is_spec(&t, ',')) && skip_route(ps) == -1)
		return -1;
	if (lex(ps, ps->pos, &t) == -1)
		return -1;
	if (is_spec(&t, '>'))
		return parse_error(ps, "empty address \"<>\"");
	if (t.type == T_END)
		return parse_error(ps, "unbalanced \"<\"");
	if (parse_addr_spec(ps, mb) == -1 || next(ps, &t) == -1)
		return -1;
	if (t.type == T_END || is_spec(&t, ',') || is_spec(&t, ';'))
		return parse_error(ps, "unbalanced \"<\"");
	if (!is_spec(&t, '>'))
		return unexpected(ps, &t);
	return 0;
}

/* Look past a phrase (word *(word / "."), obs-phrase of RFC 5322 section
 * 4.1) from pos; t gets the token after it, *end the phrase's end. */
static int
scan_phrase(struct parser *ps, struct tok *t, size_t *end)
{
	size_t pos = ps->pos;

	*end = 0;
	if (lex(ps, pos, t) == -1)
		return -1;
	if (!is_word(t))
		return 0;
	while (is_word(t) || is_spec(t, '.')) {
		*end = t->end;
		if (lex(ps, t->end, t) == -1)
			return -1;
	}
	return 0;
}

/* mailbox = name-addr / addr-spec; with ingroup, a group is an error;
 * without, *isgroup tells that a group name and ":" were taken. */
static int
parse_mailbox(struct parser *ps, int ingroup, int *isgroup)
{
	struct buf mb = { 0 };
	struct tok t, first;
	size_t end;
	int rc;

	if (lex(ps, ps->pos, &first) == -1 || scan_phrase(ps, &t, &end) == -1)
		return -1;
	if (is_spec(&t, ':') && end != 0) {
		if (ingroup)
			return parse_error(ps, "group inside a group");
		ps->pos = t.end;
		*isgroup = 1;
		return 0;
	}
	if (is_spec(&t, '<')) {
		ps->pos = t.end;
		rc = parse_angle(ps, &mb);
	} else {
		end = 0;
		rc = parse_addr_spec(ps, &mb);
	}
	if (rc == 0 && end != 0)
		rc = emit(ps, ps->s + first.start, end - first.start, &mb);
	else if (rc == 0)
		rc = emit(ps, NULL, 0, &mb);
	free(mb.p);
	return rc;
}

static int parse_elements(struct parser *ps, int ingroup);

/* group = display-name ":" [group-list] ";" (RFC 5322 section 3.4), the
 * name and ":" taken.  A missing ";" at the very end is forgiven. */
static int
parse_group_rest(struct parser *ps)
{
	struct tok t;

	if (parse_elements(ps, 1) == -1 || lex(ps, ps->pos, &t) == -1)
		return -1;
	if (is_spec(&t, ';'))
		ps->pos = t.end;
	return 0;
}

/* Take list elements separated by commas until stop (';' in a group) or
 * the end.  Empty elements are allowed (obs-addr-list, RFC 5322 4.4). */
static int
parse_elements(struct parser *ps, int ingroup)
{
	struct tok t;
	int isgroup;

	for (;;) {
		if (lex(ps, ps->pos, &t) == -1)
			return -1;
		if (is_spec(&t, ',')) {
			ps->pos = t.end;
			if (!ingroup)
				ps->elem = t.end;
			continue;
		}
		if (t.type == T_END || (ingroup && is_spec(&t, ';')))
			return 0;
		if (!ingroup)
			ps->elem = t.start;
		isgroup = 0;
		if (parse_mailbox(ps, ingroup, &isgroup) == -1)
			return -1;
		if (isgroup && parse_group_rest(ps) == -1)
			return -1;
		if (lex(ps, ps->pos, &t) == -1)
			return -1;
		if (!is_spec(&t, ',') && t.type != T_END &&
		    !(ingroup && is_spec(&t, ';')))
			return unexpected(ps, &t);
	}
}

int
addr_parse_list(const char *s, struct addr_list *out, struct err *rec)
{
	struct parser ps = { 0 };

	ps.s = s;
	ps.out = out;
	ps.rec = rec;
	return parse_elements(&ps, 0);
}

int
addr_rewrite_list(
    const char *s, addr_rewrite_fn *fn, void *arg, char **out, struct err *rec)
{
	struct parser ps = { 0 };
	struct addr_list l = { 0 };
	struct buf rw = { 0 };
	int rc;

	*out = NULL;
	ps.s = s;
	ps.out = &l;
	ps.rec = rec;
	ps.fn = fn;
	ps.arg = arg;
	ps.rw = &rw;
	rc = parse_elements(&ps, 0);
	addr_list_free(&l);
	if (rc == 0 && ps.changed)
		buf_add(&rw, s + ps.copied, strlen(s + ps.copied));
	if (rc == 0 && rw.oom)
		rc = err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	if (rc == 0 && ps.changed)
		*out = rw.p;
	else
		free(rw.p);
	return rc;
}

int
addr_list_add(struct addr_list *l, const char *name, const char *mailbox)
{
	struct addr *nv, a;
	size_t i, ncap;

	for (i = 0; i < l->n; i++)
		if (addr_equal(l->v[i].mailbox, mailbox))
			return 0;
	if (l->n == l->cap) {
		ncap = l->cap == 0 ? 8 : l->cap * 2;
		nv = reallocarray(l->v, ncap, sizeof(*nv));
		if (nv == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	a.name = name != NULL ? strdup(name) : NULL;
	a.mailbox = strdup(mailbox);
	if (a.mailbox == NULL || (name != NULL && a.name == NULL)) {
		free(a.name);
		free(a.mailbox);
		return -1;
	}
	l->v[l->n++] = a;
	return 0;
}

void
addr_list_free(struct addr_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].mailbox);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static int
ascii_casecmp(const char *a, const char *b)
{
	unsigned char ca, cb;

	do {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
	} while (ca == cb && ca != '\0');
	return ca - cb;
}

int
addr_equal(const char *a, const char *b)
{
	const char *da = addr_domain(a), *db = addr_domain(b);
	size_t la, lb;

	if ((da == NULL) != (db == NULL))
		return 0;
	if (da == NULL)
		return strcmp(a, b) == 0;
	la = (size_t)(da - a);
	lb = (size_t)(db - b);
	return la == lb && memcmp(a, b, la) == 0 && ascii_casecmp(da, db) == 0;
}

const char *
addr_domain(const char *mailbox)
{
	const char *at = strrchr(mailbox, '@');

	return at != NULL ? at + 1 : NULL;
}

static int
check_error(struct err *rec, const char *mailbox, const char *what)
{
	char ex[EXCERPT_MAX];

	err_sanitize(ex, sizeof(ex), mailbox, strlen(mailbox));
	return err_set(
	    rec, ERR_USAGE, EX_DATAERR, "address \"%s\" %s", ex, what);
}

/* Scan mailbox for bytes SMTP cannot carry (RFC 5321 section 4.1.2);
 * *at gets the offset of the '@' before the domain, or the length. */
static const char *
check_bytes(const char *mailbox, size_t *at)
{
	const unsigned char *s = (const unsigned char *)mailbox;
	size_t i;
	int inq = 0;

	*at = strlen(mailbox);
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "contains a control character";
		if (inq && s[i] == '\\' && s[i + 1] != '\0')
			i++;
		else if (s[i] == '"')
			inq = !inq;
		else if (!inq && s[i] == ' ')
			return "contains a space";
		else if (!inq && (s[i] == '<' || s[i] == '>'))
			return "contains \"<\" or \">\"";
		else if (!inq && s[i] == '@')
			*at = i;
	}
	return inq ? "has an unterminated quoted string" : NULL;
}

int
addr_check(const char *mailbox, struct err *rec)
{
	const char *why;
	size_t at, len = strlen(mailbox);

	if (len == 0)
		return err_set(rec, ERR_USAGE, EX_DATAERR, "empty address");
	if ((why = check_bytes(mailbox, &at)) != NULL)
		return check_error(rec, mailbox, why);
	/* RFC 5321 section 4.5.3.1: local part, domain and path limits. */
	if (at == 0)
		return check_error(rec, mailbox, "has an empty local part");
	if (at > 64)
		return check_error(rec, mailbox,
		    "has a local part over 64 octets (RFC 5321 4.5.3.1.1)");
	if (at < len && at + 1 == len)
		return check_error(rec, mailbox, "has an empty domain");
	if (at < len && len - at - 1 > 255)
		return check_error(rec, mailbox,
		    "has a domain over 255 octets (RFC 5321 4.5.3.1.2)");
	if (len + 2 > 256)
		return check_error(rec, mailbox,
		    "is over 256 octets with its <> (RFC 5321 4.5.3.1.3)");
	return 0;
}

static int
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

int
addr_needs_utf8(const char *mailbox)
{
	const char *dom = addr_domain(mailbox);
	size_t i, n = dom != NULL ? (size_t)(dom - mailbox) : strlen(mailbox);

	for (i = 0; i < n; i++)
		if ((unsigned char)mailbox[i] >= 0x80)
			return 1;
	return 0;
}

char *
addr_to_ascii(const char *mailbox, struct err *rec)
{
	const char *dom = addr_domain(mailbox);
	char *ace = NULL, *out;
	size_t llen;
	int rc;

	if (dom == NULL || is_ascii(dom)) {
		if ((out = strdup(mailbox)) == NULL)
			err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
		return out;
	}
	/* IDNA 2008 with the UTS #46 mapping, non-transitional (RFC 5890;
	 * UTS #46 section 4): "ß" stays "ß" and becomes its own A-label. */
	rc = idn2_to_ascii_8z(dom, &ace, IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK) {
		check_error(rec, mailbox, "has a domain IDNA refuses: ");
		strncat(rec->text, idn2_strerror(rc),
		    sizeof(rec->text) - strlen(rec->text) - 1);
		return NULL;
	}
	llen = (size_t)(dom - mailbox);
	if ((out = malloc(llen + strlen(ace) + 1)) == NULL) {
		err_set(rec, ERR_LOCAL, EX_OSERR, "out of memory");
	} else {
		memcpy(out, mailbox, llen);
		strcpy(out + llen, ace);
	}
	idn2_free(ace);
	return out;
}
