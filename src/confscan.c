/* SPDX-License-Identifier: ISC */
/*
 * The pre-scan of a configuration file's text, before libconfuse parses
 * it: comments blanked so that line numbers stay right, and what
 * libconfuse would take quietly but wrongly refused with its line.
 * confparse.c runs it from confparse_buf.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confparse.h"
#include "confparse_int.h"
#include "err.h"

/*
 * The text before libconfuse sees it (confscan_text): comments become
 * spaces, and what libconfuse would take quietly in a way the writer did
 * not mean is refused with the line: a ${VAR} that is not set (it would
 * become ""), an escape it does not know ("\q" would become "q"), a # or
 * // glued to a bare value (it would cut "hun#ter2" to "hun"), a "+"
 * after a value (ignored), a "+" or "*" in a bare value (cut there), a
 * bare value followed by more text (the rest would be taken as keys), a
 * quote never closed (reported where it opened).  msmtp's lines that
 * libconfuse would report late or vaguely are refused too: account NAME
 * : OTHER, and defaults or account NAME with no "{" after it.
 */
struct scan {
	struct parse *p;
	char *s;
	size_t n, i;
	int line;
	int depth; /* blocks left open */
	int failed;
};

/* The len bytes at w as one of our keys (its table's copy), or NULL. */
static const char *
our_key(const char *w, size_t len)
{
	char word[CONFPARSE_KEY_MAX + 1];
	int k;

	if (len > CONFPARSE_KEY_MAX)
		return NULL;
	memcpy(word, w, len);
	word[len] = '\0';
	if ((k = confparse_find(confparse_akeys, K_NKEYS, word)) > 0)
		return confparse_akeys[k];
	if ((k = confparse_find(confparse_rkeys, R_NKEYS, word)) > 0)
		return confparse_rkeys[k];
	return NULL;
}

/* The key the line of s[at] starts with, when it is one of ours (any
 * other word may be a secret), else NULL. */
static const char *
line_key(const struct scan *sc, size_t at)
{
	size_t b = at, len = 0;

	while (b > 0 && sc->s[b - 1] != '\n')
		b--;
	while (b < at && (sc->s[b] == ' ' || sc->s[b] == '\t'))
		b++;
	while (b + len < at && len < CONFPARSE_KEY_MAX &&
	    (isalnum((unsigned char)sc->s[b + len]) || sc->s[b + len] == '_'))
		len++;
	return our_key(sc->s + b, len);
}

static int vsfail(struct scan *, int, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));
static int sfail(struct scan *, int, size_t, const char *, ...)
    __attribute__((format(printf, 4, 5)));
static int kfail(struct scan *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* The first error wins; "KEY: " goes before it when key is not NULL. */
static int
vsfail(struct scan *sc, int line, const char *key, const char *fmt, va_list ap)
{
	char msg[ERR_TEXT_MAX];

	if (sc->failed++)
		return -1;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	return confparse_fail(sc->p->rec, sc->p->path, line, "%s%s%s",
	    key != NULL ? key : "", key != NULL ? ": " : "", msg);
}

/* An error at s[at], after the key its line starts with, if ours. */
static int
sfail(struct scan *sc, int line, size_t at, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsfail(sc, line, line_key(sc, at), fmt, ap);
	va_end(ap);
	return r;
}

/* An error on the current line about key, one of ours. */
static int
kfail(struct scan *sc, const char *key, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsfail(sc, sc->line, key, fmt, ap);
	va_end(ap);
	return r;
}

/* ${NAME} at s[i]: NAME must be set, unless a default follows (:-). */
static size_t
scan_var(struct scan *sc, size_t i)
{
	const char *close = memchr(sc->s + i, '}', sc->n - i);
	char name[CONFPARSE_SHOW_MAX];
	size_t len, k;
	int plain = 1;

	if (close == NULL)
		return i + 1;
	len = (size_t)(close - (sc->s + i + 2));
	if (memmem(sc->s + i + 2, len, ":-", 2) != NULL)
		return (size_t)(close - sc->s) + 1;
	if (len >= sizeof(name))
		len = sizeof(name) - 1, plain = 0;
	memcpy(name, sc->s + i + 2, len);
	name[len] = '\0';
	for (k = 0; k < len; k++)
		plain &= isalnum((unsigned char)name[k]) || name[k] == '_';
	if (getenv(name) == NULL)
		sfail(sc, sc->line, i,
		    "${%s} is not set in the environment (set it, or write ${%s:-default})",
		    plain && len > 0 ? name : "...",
		    plain && len > 0 ? name : "...");
	return (size_t)(close - sc->s) + 1;
}

/* A backslash escape in double quotes, at s[i]; libconfuse knows C's. */
static size_t
scan_escape(struct scan *sc, size_t i)
{
	char c = i + 1 < sc->n ? sc->s[i + 1] : '\0';

	if (c == '\n')
		sc->line++;
	else if (strchr("\"'\\$abfnrtvx01234567", c) == NULL || c == '\0')
		sfail(sc, sc->line, i,
		    "unknown escape in a quoted string (write \\\\ for a backslash, or use single quotes)");
	return i + 2;
}

static int word_char(char);

/* Whether s[i], right after a closing quote, goes on the value: a quote
 * or a word character, where a separator, a brace, a comment or "+"
 * would follow a value.  libconfuse would take the rest as another key
 * ("... host "x" service" as a key "x"). */
static int
glued(const struct scan *sc, size_t i)
{
	char c = i < sc->n ? sc->s[i] : '\0';

	return c == '"' || c == '\'' ||
	    (word_char(c) && strchr("#/+;", c) == NULL);
}

/* A quoted string from s[i]: single quotes take \' and \\ only. */
static size_t
scan_quoted(struct scan *sc, size_t i)
{
	char q = sc->s[i];
	int open = sc->line;
	size_t at = i++;

	while (i < sc->n && sc->s[i] != q && !sc->failed) {
		if (sc->s[i] == '\n')
			sc->line++;
		if (sc->s[i] == '\\' && q == '\'')
			i += 2;
		else if (sc->s[i] == '\\')
			i = scan_escape(sc, i);
		else if (q == '"' && sc->s[i] == '$' && i + 1 < sc->n &&
		    sc->s[i + 1] == '{')
			i = scan_var(sc, i);
		else
			i++;
	}
	if (i >= sc->n)
		sfail(sc, open, at,
		    "unterminated quote (close the %s opened on this line)",
		    q == '"' ? "\"" : "'");
	else if (glued(sc, i + 1))
		sfail(sc, open, at,
		    "a %s inside a value quoted with it ends the value there (write %s for it, or quote the value with %s)",
		    q == '"' ? "\"" : "'", q == '"' ? "\\\"" : "\\'",
		    q == '"' ? "single quotes" : "double quotes");
	return i < sc->n ? i + 1 : sc->n;
}

static size_t
blank_line(char *s, size_t n, size_t i)
{
	while (i < n && s[i] != '\n')
		s[i++] = ' ';
	return i;
}

static size_t
blank_block(struct scan *sc, size_t i)
{
	char *s = sc->s;

	s[i++] = ' ';
	s[i++] = ' ';
	while (i < sc->n) {
		if (s[i] == '*' && i + 1 < sc->n && s[i + 1] == '/') {
			s[i] = s[i + 1] = ' ';
			return i + 2;
		}
		if (s[i] != '\n')
			s[i] = ' ';
		else
			sc->line++;
		i++;
	}
	return sc->n;
}

/* Whether c may be part of a bare word (a value written without
 * quotes). */
static int
word_char(char c)
{
	return c != '\0' && strchr(" \t\r\n\"'{}(),=", c) == NULL;
}

/* A comment (# // or slash-star) at s[i]: blanked; glued to a bare
 * value, refused, since the value would end there. */
static size_t
scan_comment(struct scan *sc, size_t i)
{
	if (i > 0 && word_char(sc->s[i - 1]))
		sfail(sc, sc->line, i,
		    "a comment starts inside a value written without quotes (quote the value, or put a space before the comment)");
	if (sc->s[i] == '/' && sc->s[i + 1] == '*')
		return blank_block(sc, i);
	return blank_line(sc->s, sc->n, i);
}

/* Whether the ':' at s[i] follows "account NAME" on its line, as in
 * msmtp's "account default : work". */
static int
msmtp_default(const struct scan *sc, size_t i)
{
	size_t b = i;

	if (i + 1 < sc->n && sc->s[i + 1] != ' ' && sc->s[i + 1] != '\t')
		return 0;
	while (b > 0 && sc->s[b - 1] != '\n')
		b--;
	while (b < i && (sc->s[b] == ' ' || sc->s[b] == '\t'))
		b++;
	if (i - b < 8 || strncmp(sc->s + b, "account", 7) != 0 ||
	    (sc->s[b + 7] != ' ' && sc->s[b + 7] != '\t'))
		return 0;
	return memchr(sc->s + b, '{', i - b) == NULL &&
	    memchr(sc->s + b, '=', i - b) == NULL;
}

static size_t
skip_blanks(const struct scan *sc, size_t i)
{
	while (i < sc->n &&
	    (sc->s[i] == ' ' || sc->s[i] == '\t' || sc->s[i] == '\r'))
		i++;
	return i;
}

/* Whether a comment starts at s[i]. */
static int
comment_at(const struct scan *sc, size_t i)
{
	return i < sc->n &&
	    (sc->s[i] == '#' ||
		(sc->s[i] == '/' && i + 1 < sc->n &&
		    (sc->s[i + 1] == '/' || sc->s[i + 1] == '*')));
}

/* The key of ours right before the "=" (or "+=") at s[eq], or NULL. */
static const char *
key_before(const struct scan *sc, size_t eq)
{
	size_t e = eq, b;

	if (e > 0 && sc->s[e - 1] == '+')
		e--;
	while (e > 0 && (sc->s[e - 1] == ' ' || sc->s[e - 1] == '\t'))
		e--;
	for (b = e; b > 0 &&
	     (isalnum((unsigned char)sc->s[b - 1]) || sc->s[b - 1] == '_');
	     b--)
		;
	if (e - b == 0 || e - b > CONFPARSE_KEY_MAX ||
	    (b > 0 && strchr(" \t\r\n{}", sc->s[b - 1]) == NULL))
		return NULL;
	return our_key(sc->s + b, e - b);
}

/* The end of the value at s[i]: past its closing quote, or past a bare
 * word, ${VAR} included; a comment ends a bare word (scan_comment
 * refuses it later). */
static size_t
value_end(const struct scan *sc, size_t i)
{
	char q = sc->s[i];
	const char *close;

	if (q == '"' || q == '\'') {
		for (i++; i < sc->n && sc->s[i] != q; i++)
			if (sc->s[i] == '\\')
				i++;
		return i < sc->n ? i + 1 : sc->n;
	}
	while (i < sc->n && !comment_at(sc, i)) {
		if (sc->s[i] == '$' && i + 1 < sc->n && sc->s[i + 1] == '{' &&
		    (close = memchr(sc->s + i, '}', sc->n - i)) != NULL)
			i = (size_t)(close - sc->s) + 1;
		else if (word_char(sc->s[i]))
			i++;
		else
			break;
	}
	return i;
}

/* Whether a key and its "=" (or "+=") start at s[i]: several keys may
 * share a line. */
static int
assignment_at(const struct scan *sc, size_t i)
{
	size_t b = i;

	while (
	    i < sc->n && (isalnum((unsigned char)sc->s[i]) || sc->s[i] == '_'))
		i++;
	if (i == b)
		return 0;
	i = skip_blanks(sc, i);
	return i < sc->n &&
	    (sc->s[i] == '=' ||
		(sc->s[i] == '+' && i + 1 < sc->n && sc->s[i + 1] == '='));
}

/*
 * At the "=" at s[eq] of a key of ours: the value must end the line, or
 * be followed by a comment, a "}" or another key.  libconfuse would take
 * the rest of "password_command = pass show work" as keys, and name one
 * of them ("show") or none; allow_from = "a", "b" wants braces.
 */
static void
check_value(struct scan *sc, size_t eq)
{
	const char *key = key_before(sc, eq);
	int list = key != NULL && strcmp(key, "allow_from") == 0;
	size_t v = skip_blanks(sc, eq + 1), e, a;
	char c;

	if (key == NULL || v >= sc->n || strchr("\n{},", sc->s[v]) != NULL)
		return;
	e = value_end(sc, v);
	a = skip_blanks(sc, e);
	c = a < sc->n ? sc->s[a] : '\n';
	if (c == '\n' || c == '}' || comment_at(sc, a) ||
	    (a > e && assignment_at(sc, a)))
		return;
	if (list)
		kfail(sc, key,
		    "more than one value goes in braces (write %s %s {\"...\", \"...\"})",
		    key, sc->s[eq - 1] == '+' ? "+=" : "=");
	else if (sc->s[v] == '"' || sc->s[v] == '\'')
		return; /* libconfuse says what is wrong after it */
	else if (a > e)
		kfail(sc, key,
		    "a value with spaces must be quoted (write %s = \"...\")",
		    key);
	else if (c != '"' && c != '\'')
		kfail(sc, key,
		    "a value with \"%c\" must be quoted (write %s = \"...\")",
		    c, key);
}

/* The name at s[b..e), blanks around it trimmed, sanitised into buf
 * (CONFPARSE_SHOW_MAX bytes); dflt when there is none. */
static const char *
show_name(
    const struct scan *sc, size_t b, size_t e, char *buf, const char *dflt)
{
	b = skip_blanks(sc, b);
	while (e > b &&
	    (sc->s[e - 1] == ' ' || sc->s[e - 1] == '\t' ||
		sc->s[e - 1] == '\r'))
		e--;
	if (e == b)
		return dflt;
	err_sanitize(buf, CONFPARSE_SHOW_MAX, sc->s + b, e - b);
	return buf;
}

/*
 * msmtp's "account NAME : OTHER", the ':' at s[i]: NAME inherits OTHER's
 * keys, and "account default : OTHER" makes OTHER the default.  mailhop
 * has default_account for the one, and defaults { } for the other.
 * Account names are no secret, and are shown.
 */
static void
msmtp_account(struct scan *sc, size_t i)
{
	char nbuf[CONFPARSE_SHOW_MAX], obuf[CONFPARSE_SHOW_MAX];
	const char *name, *other;
	size_t b = i, e = skip_blanks(sc, i + 1);

	while (b > 0 && sc->s[b - 1] != '\n')
		b--;
	b = skip_blanks(sc, b) + strlen("account");
	name = show_name(sc, b, i, nbuf, "NAME");
	b = e;
	while (e < sc->n && word_char(sc->s[e]) && sc->s[e] != '#')
		e++;
	other = show_name(sc, b, e, obuf, "OTHER");
	if (strcmp(name, "default") == 0)
		sfail(sc, sc->line, i,
		    "account default : %s is msmtp's way to pick the default account (write default_account = \"%s\")",
		    other, other);
	else
		sfail(sc, sc->line, i,
		    "account %s : %s is msmtp's inheritance between accounts, which mailhop does not have (write account %s { ... }, and move the keys it shares with %s into defaults { ... }, which every account inherits)",
		    name, other, name, other);
}

/* The first byte from i that is not a blank, a line break or in a
 * comment. */
static size_t
next_token(const struct scan *sc, size_t i)
{
	const char *end;

	for (;;) {
		i = skip_blanks(sc, i);
		if (i < sc->n && sc->s[i] == '\n')
			i++;
		else if (i + 1 < sc->n && sc->s[i] == '/' &&
		    sc->s[i + 1] == '*') {
			end = memmem(sc->s + i + 2, sc->n - i - 2, "*/", 2);
			i = end != NULL ? (size_t)(end - sc->s) + 2 : sc->n;
		} else if (comment_at(sc, i)) {
			while (i < sc->n && sc->s[i] != '\n')
				i++;
		} else
			return i;
	}
}

/* Whether s[i] is the first byte of its line that is not a blank. */
static int
starts_line(const struct scan *sc, size_t i)
{
	while (i > 0 && (sc->s[i - 1] == ' ' || sc->s[i - 1] == '\t'))
		i--;
	return i == 0 || sc->s[i - 1] == '\n';
}

/* The end of "word" at s[i], when s[i] starts it and it is whole, else
 * i. */
static size_t
word_at(const struct scan *sc, size_t i, const char *word)
{
	size_t len = strlen(word);

	if (sc->n - i < len || memcmp(sc->s + i, word, len) != 0 ||
	    (i + len < sc->n && word_char(sc->s[i + len]) &&
		!comment_at(sc, i + len)))
		return i;
	return i + len;
}

/*
 * msmtp's "defaults" or "account NAME" alone on its line at s[i], its
 * keys after it without braces: refused on this line, where libconfuse
 * would find the "{" missing only at the next.  A "{" on a later line
 * is fine.
 */
static void
block_line(struct scan *sc, size_t i)
{
	char buf[CONFPARSE_SHOW_MAX];
	const char *name;
	int acct = sc->s[i] == 'a';
	size_t e = word_at(sc, i, acct ? "account" : "defaults"), b, name_end;

	if (e == i)
		return;
	b = e = skip_blanks(sc, e);
	while (acct && e < sc->n && word_char(sc->s[e]) && !comment_at(sc, e))
		e++;
	name_end = e;
	e = skip_blanks(sc, e);
	if ((acct && name_end == b) ||
	    (e < sc->n && sc->s[e] != '\n' && !comment_at(sc, e)))
		return;
	if ((e = next_token(sc, e)) < sc->n && sc->s[e] == '{')
		return;
	if (!acct) {
		sfail(sc, sc->line, i,
		    "defaults: expected \"{\" (write defaults { ... } around the keys every account shares)");
		return;
	}
	name = show_name(sc, b, name_end, buf, "NAME");
	sfail(sc, sc->line, i,
	    "account %s: expected \"{\" after the name (write account %s { ... } around its keys)",
	    name, name);
}

/* Outside quotes, at s[i]. */
static size_t
scan_plain(struct scan *sc, size_t i)
{
	char c = sc->s[i], next = i + 1 < sc->n ? sc->s[i + 1] : '\0';

	if (c == '\n')
		sc->line++;
	else if (c == '{')
		sc->depth++;
	else if (c == '}')
		sc->depth--;
	else if (c == '=')
		check_value(sc, i);
	else if ((c == 'd' || c == 'a') && starts_line(sc, i))
		block_line(sc, i);
	else if (c == ':' && msmtp_default(sc, i))
		msmtp_account(sc, i);
	else if (c == '+' && next != '=' &&
	    (i == 0 || !word_char(sc->s[i - 1])) && !word_char(next))
		sfail(sc, sc->line, i,
		    "unexpected \"+\" after the value (remove it: one value per key)");
	/* libconfuse ends a bare word at either ("me+*@example.com" would
	 * become "me", "*@example.com" "@example.com"). */
	else if ((c == '+' && next != '=') || c == '*')
		sfail(sc, sc->line, i,
		    "a value with \"%c\" must be quoted (write %s = \"...\")",
		    c, line_key(sc, i) != NULL ? line_key(sc, i) : "KEY");
	return i + 1;
}

int
confscan_text(struct parse *p, char *s, size_t n)
{
	struct scan sc = { .p = p, .s = s, .n = n, .line = 1 };
	size_t i = 0;
	char c, next;

	while (i < n && !sc.failed) {
		c = s[i];
		next = i + 1 < n ? s[i + 1] : '\0';
		if (c == '"' || c == '\'')
			i = scan_quoted(&sc, i);
		else if (c == '$' && next == '{' &&
		    (i == 0 || !word_char(s[i - 1])))
			i = scan_var(&sc, i);
		else if (c == '#' || (c == '/' && (next == '/' || next == '*')))
			i = scan_comment(&sc, i);
		else
			i = scan_plain(&sc, i);
	}
	if (sc.failed)
		p->failed = 1;
	return sc.failed ? -1 : sc.depth > 0 ? sc.depth : 0;
}
