/* SPDX-License-Identifier: ISC */
/*
 * Unit tests: the configuration, one case of tests/data/conf_cases.txt
 * per cmocka test.  Each case runs in a fresh temporary directory that is
 * also the working directory, where the system file is ./mailhop.conf.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ftw.h>
#include <time.h>

/* conffile.c is compiled in, with SYSCONFDIR pointing at the working
 * directory, so the system file can be tested without a hook in conf.h.
 * conf.c and the confparse files, which do not use SYSCONFDIR, come from
 * the library. */
#undef SYSCONFDIR
#define SYSCONFDIR "."
#include "conffile.c"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define CASES "../data/conf_cases.txt"
#define MAX_CASES 320
#define SECRET "hunter2" /* the password of every case; never in a message */
#define NOBODY 65534

enum text { T_USER, T_SYS, T_CONF, T_EXPECT, T_N };

/* Where one case runs. */
struct env {
	char dir[64];
	char path[3][160]; /* user, system, -C */
};

struct tcase {
	char name[96];
	int line;   /* of its "===" line in CASES */
	int mode;   /* of the files written */
	long owner; /* -1: the test's own uid */
	int unreadable;
	int sysloop;
	int symlink;  /* each file is a link to FILE.real, which has mode */
	int use_conf; /* pass -C */
	long big;
	char xdg[16];
	char account[64];
	char option[32];
	char sender[128];
	char fromhdr[256];
	int asked; /* get_from calls */
	char *text[T_N];
	struct env env;
};

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

static struct tcase cases[MAX_CASES];
static char topdir[4096];

static void
put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* text with @user@, @sys@, @conf@, @dir@ and @BIG@ replaced. */
static char *
subst(const char *text, const struct tcase *tc, const struct env *e)
{
	const char *names[] = { "@user@", "@sys@", "@conf@", "@dir@" };
	const char *vals[] = { e->path[0], e->path[1], e->path[2], e->dir };
	struct buf b = { NULL, 0, 0 };
	size_t i, n;
	long k;

	put(&b, "", 0);
	while (*text != '\0') {
		for (i = 0; i < 4; i++)
			if (strncmp(text, names[i], strlen(names[i])) == 0)
				break;
		if (i < 4) {
			put(&b, vals[i], strlen(vals[i]));
			text += strlen(names[i]);
		} else if (strncmp(text, "@BIG@", 5) == 0) {
			for (k = 0; k < tc->big; k++)
				put(&b, "x", 1);
			text += 5;
		} else {
			n = strcspn(text + 1, "@") + 1;
			put(&b, text, n);
			text += n;
		}
	}
	return b.p;
}

static void
setting(struct tcase *tc, const char *s)
{
	if (sscanf(s, "mode %o", (unsigned int *)&tc->mode) == 1 ||
	    sscanf(s, "owner %ld", &tc->owner) == 1 ||
	    sscanf(s, "big %ld", &tc->big) == 1 ||
	    sscanf(s, "xdg %15s", tc->xdg) == 1 ||
	    sscanf(s, "account %63s", tc->account) == 1 ||
	    sscanf(s, "option %31s", tc->option) == 1 ||
	    sscanf(s, "sender %127s", tc->sender) == 1 ||
	    sscanf(s, "fromhdr %255[^\n]", tc->fromhdr) == 1)
		return;
	if (strcmp(s, "unreadable") == 0)
		tc->unreadable = 1;
	else if (strcmp(s, "sysloop") == 0)
		tc->sysloop = 1;
	else if (strcmp(s, "symlink") == 0)
		tc->symlink = 1;
	else if (strcmp(s, "conf") == 0)
		tc->use_conf = 1;
	else if (s[0] != '\0' && s[0] != '#')
		fail_msg("%s: bad setting: %s", CASES, s);
}

static int
section(const char *s)
{
	static const char *const names[T_N] = { "--- user", "--- system",
		"--- conf", "--- expect" };
	int i;

	for (i = 0; i < T_N; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static void
append(char **text, const char *line)
{
	size_t len = *text != NULL ? strlen(*text) : 0;

	*text = realloc(*text, len + strlen(line) + 2);
	assert_non_null(*text);
	strcpy(*text + len, line);
	strcat(*text + len, "\n");
}

/* Read CASES; returns the number of cases. */
static int
load_cases(void)
{
	char line[1024];
	struct tcase *tc = NULL;
	int n = 0, lineno = 0, sec = -1;
	FILE *f = fopen(CASES, "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "=== ", 4) == 0) {
			if (n >= MAX_CASES) {
				fprintf(stderr,
				    "%s:%d: over %d cases (raise MAX_CASES)\n",
				    CASES, lineno, MAX_CASES);
				exit(1);
			}
			tc = &cases[n++];
			snprintf(tc->name, sizeof(tc->name), "%.80s", line + 4);
			tc->line = lineno;
			tc->mode = 0600;
			tc->owner = -1;
			sec = -1;
		} else if (tc != NULL && section(line) >= 0) {
			sec = section(line);
			append(&tc->text[sec], "");
			tc->text[sec][0] = '\0';
		} else if (tc != NULL && sec >= 0)
			append(&tc->text[sec], line);
		else if (tc != NULL)
			setting(tc, line);
	}
	fclose(f);
	return n;
}

/* The file of the case at path, or with symlink at path.real, path
 * being a symbolic link (0777) to it. */
static void
write_file(const char *path, const char *text, const struct tcase *tc)
{
	char real[200];
	int fd;

	snprintf(real, sizeof(real), "%s.real", path);
	if (tc->symlink)
		assert_int_equal(symlink(strrchr(real, '/') + 1, path), 0);
	fd = open(tc->symlink ? real : path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, (mode_t)tc->mode), 0);
	if (tc->owner >= 0 && geteuid() == 0)
		assert_int_equal(fchown(fd, (uid_t)tc->owner, (gid_t)-1), 0);
	close(fd);
}

static void
make_dirs(const char *dir)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/xdg", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/xdg/mailhop", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/home", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/home/.config", dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/home/.config/mailhop", dir);
	assert_int_equal(mkdir(p, 0700), 0);
}

/* A fresh directory, the environment and the files of the case. */
static void
setup_env(const struct tcase *tc, struct env *e)
{
	char xdg[128], home[128], *text;
	int i;

	snprintf(e->dir, sizeof(e->dir), "/tmp/mailhop-conf.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	make_dirs(e->dir);
	assert_int_equal(chdir(e->dir), 0);
	snprintf(xdg, sizeof(xdg), "%s/xdg", e->dir);
	snprintf(home, sizeof(home), "%s/home", e->dir);
	setenv("HOME", home, 1);
	if (strcmp(tc->xdg, "unset") == 0)
		unsetenv("XDG_CONFIG_HOME");
	else
		setenv("XDG_CONFIG_HOME",
		    strcmp(tc->xdg, "relative") == 0 ? "xdg" : xdg, 1);
	if (tc->xdg[0] != '\0')
		snprintf(e->path[0], sizeof(e->path[0]),
		    "%s/.config/mailhop/config", home);
	else
		snprintf(
		    e->path[0], sizeof(e->path[0]), "%s/mailhop/config", xdg);
	snprintf(e->path[1], sizeof(e->path[1]), "./mailhop.conf");
	snprintf(e->path[2], sizeof(e->path[2]), "%s/conf", e->dir);
	for (i = 0; i < 3; i++) {
		if (tc->text[i] == NULL)
			continue;
		text = subst(tc->text[i], tc, e);
		write_file(e->path[i], text, tc);
		free(text);
	}
	if (tc->sysloop)
		assert_int_equal(symlink("mailhop.conf", "mailhop.conf"), 0);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup_case(void **state)
{
	struct tcase *tc = *state;

	memset(&tc->env, 0, sizeof(tc->env));
	setup_env(tc, &tc->env);
	return 0;
}

static int
teardown_case(void **state)
{
	struct tcase *tc = *state;

	assert_int_equal(chdir(topdir), 0);
	assert_int_equal(
	    nftw(tc->env.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	return 0;
}

/* get_from of the case: its fromhdr line, parsed. */
static int
get_from(void *arg, struct addr_list *from, struct err *rec)
{
	struct tcase *tc = arg;

	tc->asked++;
	if (tc->fromhdr[0] == '\0')
		return 0;
	if (strcmp(tc->fromhdr, "FAIL") == 0)
		return err_set(rec, ERR_LOCAL, EX_NOINPUT, "cannot read");
	assert_int_equal(addr_parse_list(tc->fromhdr, from, rec), 0);
	return 0;
}

/* conf_choose as the case wants it: -C, -a, -f, the From header, as
 * nobody when unreadable. */
static int
load(struct tcase *tc, const struct env *e, struct conf_account *a,
    struct err *rec, double *secs, int settings)
{
	struct conf_pick pick = { 0 };
	struct timespec t0, t1;
	int rc, as_nobody = tc->unreadable && geteuid() == 0;
	const char *conf =
	    tc->use_conf || tc->text[T_CONF] != NULL ? e->path[2] : NULL;

	if (tc->unreadable && !as_nobody)
		chmod(conf != NULL ? conf : e->path[0], 0);
	if (as_nobody)
		assert_int_equal(seteuid(NOBODY), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pick.name = tc->account[0] != '\0' ? tc->account : NULL;
	pick.option = tc->option[0] != '\0' ? tc->option : NULL;
	pick.sender = tc->sender[0] != '\0' ? tc->sender : NULL;
	pick.get_from = get_from;
	pick.arg = tc;
	pick.settings = settings;
	rc = conf_choose(conf, &pick, a, rec);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (as_nobody)
		assert_int_equal(seteuid(0), 0);
	*secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return rc;
}

/* What --pretend shows for key: "VALUE|ORIGIN|LINE". */
static void
setting_text(const struct conf_account *a, const char *key, char *buf, size_t n)
{
	static const char *const origins[] = { "builtin", "account",
		"defaults" };
	size_t i;

	snprintf(buf, n, "(no such key)");
	for (i = 0; i < a->nsettings; i++)
		if (strcmp(a->settings[i].key, key) == 0)
			snprintf(buf, n, "%s|%s|%d",
			    a->settings[i].value != NULL ? a->settings[i].value
							 : "(null)",
			    origins[a->settings[i].origin],
			    a->settings[i].line);
}

/* One field of the account as the expect lines write it. */
static void
field(const struct tcase *tc, const struct conf_account *a, const char *key,
    char *buf, size_t n)
{
	static const char *const tls[] = { "starttls", "implicit", "off" };
	static const char *const auth[] = { "off", "on", "mech" };
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "name", offsetof(struct conf_account, name) },
		{ "file", offsetof(struct conf_account, file) },
		{ "host", offsetof(struct conf_account, host) },
		{ "tls_ca_file", offsetof(struct conf_account, tls_ca_file) },
		{ "auth_mech", offsetof(struct conf_account, auth_mech) },
		{ "user", offsetof(struct conf_account, user) },
		{ "password", offsetof(struct conf_account, password) },
		{ "password_command",
		    offsetof(struct conf_account, password_command) },
		{ "from", offsetof(struct conf_account, from) },
		{ "helo", offsetof(struct conf_account, helo) },
		{ "aliases", offsetof(struct conf_account, aliases) },
		{ "local_domain", offsetof(struct conf_account, local_domain) },
		{ "not_read", offsetof(struct conf_account, not_read) },
	};
	const char *s;
	size_t i;

	snprintf(buf, n, "?");
	if (strncmp(key, "setting.", 8) == 0)
		setting_text(a, key + 8, buf, n);
	else if (strcmp(key, "chosen_by") == 0)
		snprintf(buf, n, "%s", a->chosen_by);
	else if (strcmp(key, "get_from") == 0)
		snprintf(buf, n, "%d", tc->asked);
	else if (strcmp(key, "port") == 0)
		snprintf(buf, n, "%d", a->port);
	else if (strcmp(key, "timeout") == 0)
		snprintf(buf, n, "%d", a->timeout);
	else if (strcmp(key, "partial_delivery") == 0)
		snprintf(buf, n, "%d", a->partial_delivery);
	else if (strcmp(key, "queue") == 0)
		snprintf(buf, n, "%d", a->queue);
	else if (strcmp(key, "keyring") == 0)
		snprintf(buf, n, "%d", a->keyring);
	else if (strcmp(key, "queue_lifetime") == 0)
		snprintf(buf, n, "%lld", a->queue_lifetime);
	else if (strcmp(key, "allow_from") == 0) {
		buf[0] = '\0';
		for (i = 0; i < a->nallow_from; i++)
			snprintf(buf + strlen(buf), n - strlen(buf), "%s%s",
			    i > 0 ? " " : "", a->allow_from[i]);
		if (a->nallow_from == 0)
			snprintf(buf, n, "(none)");
	} else if (strcmp(key, "tls") == 0)
		snprintf(buf, n, "%s", tls[a->tls]);
	else if (strcmp(key, "auth") == 0)
		snprintf(buf, n, "%s", auth[a->auth]);
	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcmp(key, strs[i].key) == 0) {
			s = *(char *const *)((const char *)a + strs[i].off);
			snprintf(buf, n, "%s", s != NULL ? s : "(null)");
		}
}

/* "key = value" or "key != value" against the account. */
static void
check_field(
    const struct tcase *tc, const struct conf_account *a, const char *line)
{
	char key[48], op[4], want[600], got[600];

	want[0] = '\0';
	if (sscanf(line, "%47s %3s %599[^\n]", key, op, want) < 2)
		fail_msg("%s:%d: bad expect line: %s", CASES, tc->line, line);
	field(tc, a, key, got, sizeof(got));
	if (strcmp(op, "=") == 0 && strcmp(got, want) != 0)
		fail_msg("%s:%d: %s: want %s, got %s", CASES, tc->line, key,
		    want, got);
	if (strcmp(op, "!=") == 0 && strcmp(got, want) == 0)
		fail_msg("%s:%d: %s: got %s", CASES, tc->line, key, got);
}

static void
check_text(const struct tcase *tc, const char *text, const char *line)
{
	int has = strncmp(line, "has: ", 5) == 0;

	if (!has && strncmp(line, "not: ", 5) != 0)
		fail_msg("%s:%d: bad expect line: %s", CASES, tc->line, line);
	if ((strstr(text, line + 5) != NULL) != has)
		fail_msg("%s:%d: message %s \"%s\": %s", CASES, tc->line,
		    has ? "lacks" : "has", line + 5, text);
}

static void
check(const struct tcase *tc, const struct env *e, int rc,
    struct conf_account *a, const struct err *rec)
{
	char *expect = subst(tc->text[T_EXPECT], tc, e), *line, *save;
	int ok = strncmp(expect, "ok\n", 3) == 0;

	if (strstr(rec->text, SECRET) != NULL || strchr(rec->text, '\n'))
		fail_msg("%s:%d: message shows the secret or a newline: %s",
		    CASES, tc->line, rec->text);
	if (rc != (ok ? 0 : -1))
		fail_msg("%s:%d: want %s, got rc %d: %s", CASES, tc->line,
		    ok ? "ok" : "fail", rc, rec->text);
	if (!ok) {
		assert_int_equal(rec->class, ERR_CONFIG);
		assert_int_equal(rec->code, EX_CONFIG);
	}
	line = strtok_r(expect, "\n", &save);
	while ((line = strtok_r(NULL, "\n", &save)) != NULL)
		if (ok)
			check_field(tc, a, line);
		else
			check_text(tc, rec->text, line);
	free(expect);
}

/* The same choice without conf_pick.settings (a send, not --pretend):
 * the same account, and no settings built. */
static void
check_no_settings(struct tcase *tc, const struct conf_account *a)
{
	struct conf_account b;
	struct err rec;
	double secs;

	err_clear(&rec);
	if (load(tc, &tc->env, &b, &rec, &secs, 0) != 0)
		fail_msg(
		    "%s:%d: without settings: %s", CASES, tc->line, rec.text);
	if (a->nsettings == 0 || b.nsettings != 0 || b.settings != NULL)
		fail_msg("%s:%d: settings %zu with, %zu without", CASES,
		    tc->line, a->nsettings, b.nsettings);
	assert_string_equal(b.name, a->name);
	assert_string_equal(b.host, a->host);
	assert_int_equal(b.port, a->port);
	conf_account_free(&b);
}

static void
run_case(void **state)
{
	struct tcase *tc = *state;
	struct conf_account a, zero;
	struct err rec;
	double secs;
	int rc;

	if (tc->owner >= 0 && geteuid() != 0)
		skip();
	assert_non_null(tc->text[T_EXPECT]);
	err_clear(&rec);
	rc = load(tc, &tc->env, &a, &rec, &secs, 1);
	check(tc, &tc->env, rc, &a, &rec);
	if (secs > 1.0)
		fail_msg("%s:%d: took %.2f s", CASES, tc->line, secs);
	if (rc == 0 && !tc->unreadable)
		check_no_settings(tc, &a);
	conf_account_free(&a);
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(&a, &zero, sizeof(a));
}

static int
free_cases(void **state)
{
	int i, j;

	(void)state;
	for (i = 0; i < MAX_CASES; i++)
		for (j = 0; j < T_N; j++)
			free(cases[i].text[j]);
	return 0;
}

int
main(void)
{
	struct CMUnitTest *tests;
	int i, n, rc;

	assert_non_null(getcwd(topdir, sizeof(topdir)));
	n = load_cases();
	tests = calloc((size_t)n, sizeof(*tests));
	assert_non_null(tests);
	for (i = 0; i < n; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = run_case;
		tests[i].setup_func = setup_case;
		tests[i].teardown_func = teardown_case;
		tests[i].initial_state = &cases[i];
	}
	rc =
	    _cmocka_run_group_tests("conf", tests, (size_t)n, NULL, free_cases);
	free(tests);
	return rc;
}
