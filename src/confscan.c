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
 * quote never closed (reported where it opened).
 */
struct scan {
	struct parse *p;
	char *s;
	size_t n, i;
	int line;
	int depth; /* blocks left open */
	int failed;
};

/* The key the line of s[at] starts with, when it is one of ours (any
 * other word may be a secret), else NULL. */
static const char *
line_key(const struct scan *sc, size_t at)
{
	char word[CONFPARSE_KEY_MAX + 1];
	size_t b = at, len = 0;
	int k;

	while (b > 0 && sc->s[b - 1] != '\n')
		b--;
	while (b < at && (sc->s[b] == ' ' || sc->s[b] == '\t'))
		b++;
	while (b + len < at && len < CONFPARSE_KEY_MAX &&
	    (isalnum((unsigned char)sc->s[b + len]) || sc->s[b + len] == '_'))
		len++;
	memcpy(word, sc->s + b, len);
	word[len] = '\0';
	if ((k = confparse_find(confparse_akeys, K_NKEYS, word)) > 0)
		return confparse_akeys[k];
	if ((k = confparse_find(confparse_rkeys, R_NKEYS, word)) > 0)
		return confparse_rkeys[k];
	return NULL;
}

static int sfail(struct scan *, int, size_t, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* The first error wins; "KEY: " goes before it when the line has one. */
static int
sfail(struct scan *sc, int line, size_t at, const char *fmt, ...)
{
	const char *key = line_key(sc, at);
	char msg[ERR_TEXT_MAX];
	va_list ap;

	if (sc->failed++)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return confparse_fail(sc->p->rec, sc->p->path, line, "%s%s%s",
	    key != NULL ? key : "", key != NULL ? ": " : "", msg);
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
	else if (c == ':' && msmtp_default(sc, i))
		sfail(sc, sc->line, i,
		    "account NAME : OTHER is msmtp's way to pick the default account (write default_account = \"OTHER\")");
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
