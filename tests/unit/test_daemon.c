/*
 * Unit tests for common/daemon.c: the standard options (each parsed in a
 * child, so that -h and bad options can exit), pidfiles (live, stale,
 * detaching), the signal events on a real libevent loop, and port files.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "unit.h"
#include "xmalloc.h"

#define USAGE "usage: set-test [-dnv] [-f config] [args]"

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", unit_tmpdir(), name);
}

/* The whole file as a string ("" when missing); free() it. */
static char *
slurp(const char *path)
{
	char buf[4096];
	size_t n = 0;
	FILE *fp;

	if ((fp = fopen(path, "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return xstrdup(buf);
}

static void
spit(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		unit_fail(__FILE__, __LINE__, "cannot write %s", path);
	fputs(text, fp);
	fclose(fp);
}

static int
wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			unit_fail(
			    __FILE__, __LINE__, "waitpid: %s", strerror(errno));
	return status;
}

struct getopt_case {
	const char *args; /* after argv[0], split on spaces */
	int status; /* the exit status, or -1 when it returns */
	/* When it returns: the parsed options; when it exits: the stream
	 * that must hold the usage ("stdout" or "stderr"). */
	const char *want;
};

static const struct getopt_case getopt_cases[] = {
	{ "", -1, "config=(null) fg=0 n=0 v=0 next=1" },
	{ "-f ca.json", -1, "config=ca.json fg=0 n=0 v=0 next=3" },
	{ "-fca.json", -1, "config=ca.json fg=0 n=0 v=0 next=2" },
	{ "-d", -1, "config=(null) fg=1 n=0 v=0 next=2" },
	{ "-n", -1, "config=(null) fg=0 n=1 v=0 next=2" },
	{ "-v", -1, "config=(null) fg=0 n=0 v=1 next=2" },
	{ "-vv", -1, "config=(null) fg=0 n=0 v=2 next=2" },
	{ "-v -v -v", -1, "config=(null) fg=0 n=0 v=3 next=4" },
	{ "-dnv -f gw.json extra", -1, "config=gw.json fg=1 n=1 v=1 next=4" },
	{ "-f a.json -f b.json", -1, "config=b.json fg=0 n=0 v=0 next=5" },
	{ "-d -- -n", -1, "config=(null) fg=1 n=0 v=0 next=3" },
	{ "extra -d", -1, "config=(null) fg=0 n=0 v=0 next=1" },
	{ "-f --help", -1, "config=--help fg=0 n=0 v=0 next=3" },
	{ "-h", 0, "stdout" },
	{ "--help", 0, "stdout" },
	{ "-d --help", 0, "stdout" },
	{ "-v -h -x", 0, "stdout" },
	{ "-f", 2, "stderr" },
	{ "-d -f", 2, "stderr" },
	{ "-x", 2, "stderr" },
	{ "-dx", 2, "stderr" },
	{ "--bogus", 2, "stderr" },
};

static void
run_getopt_case(const struct getopt_case *c)
{
	char *out = tmp_path("stdout"), *err = tmp_path("stderr");
	char *res = tmp_path("result"), *got, *other;
	pid_t pid;
	int status;

	if ((pid = fork()) == -1)
		unit_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[16], *copy = xstrdup(c->args), *tok;
		struct daemon_opts opts;
		int argc = 0, next;
		FILE *fp;

		argv[argc++] = xstrdup("set-test");
		for (tok = strtok(copy, " "); tok; tok = strtok(NULL, " "))
			argv[argc++] = tok;
		argv[argc] = NULL;
		if (freopen(out, "w", stdout) == NULL ||
		    freopen(err, "w", stderr) == NULL)
			_exit(99);
		next = daemon_getopt(argc, argv, USAGE, &opts);
		if ((fp = fopen(res, "w")) == NULL)
			_exit(98);
		fprintf(fp, "config=%s fg=%d n=%d v=%d next=%d",
		    opts.config ? opts.config : "(null)", opts.foreground,
		    opts.check_only, opts.verbose, next);
		fclose(fp);
		_exit(100);
	}
	status = wait_status(pid);
	if (!WIFEXITED(status))
		unit_fail(__FILE__, __LINE__, "\"%s\": child status 0x%x",
		    c->args, status);
	if (c->status == -1) {
		if (WEXITSTATUS(status) != 100)
			unit_fail(__FILE__, __LINE__,
			    "\"%s\": exited %d, expected it to return", c->args,
			    WEXITSTATUS(status));
		got = slurp(res);
		if (strcmp(got, c->want) != 0)
			unit_fail(__FILE__, __LINE__,
			    "\"%s\": got \"%s\", expected \"%s\"", c->args, got,
			    c->want);
		free(got);
	} else {
		if (WEXITSTATUS(status) != c->status)
			unit_fail(__FILE__, __LINE__,
			    "\"%s\": exit status %d, expected %d", c->args,
			    WEXITSTATUS(status), c->status);
		got = slurp(strcmp(c->want, "stdout") == 0 ? out : err);
		other = slurp(strcmp(c->want, "stdout") == 0 ? err : out);
		if (strstr(got, USAGE) == NULL)
			unit_fail(__FILE__, __LINE__,
			    "\"%s\": no usage on %s: \"%s\"", c->args, c->want,
			    got);
		if (strstr(other, USAGE) != NULL)
			unit_fail(__FILE__, __LINE__,
			    "\"%s\": usage on the wrong stream", c->args);
		free(got);
		free(other);
	}
	free(out);
	free(err);
	free(res);
}

static void
test_getopt(void)
{
	size_t i;

	for (i = 0; i < UNIT_N(getopt_cases); i++)
		run_getopt_case(&getopt_cases[i]);
}

static long
pidfile_pid(const char *path)
{
	char *s = slurp(path);
	long v = strtol(s, NULL, 10);

	free(s);
	return v;
}

static void
test_pidfile_foreground(void)
{
	struct daemon_opts opts = { NULL, 1, 0, 0 };
	char *pidfile = tmp_path("d.pid"), *text, *want, err[256] = "";
	struct stat sb;

	ASSERT_INT_EQ(daemon_start(&opts, pidfile, err, sizeof(err)), 0);
	text = slurp(pidfile);
	want = xasprintf("%ld\n", (long)getpid());
	ASSERT_STR_EQ(text, want);
	free(text);
	free(want);
	daemon_remove_pidfile();
	ASSERT_INT_EQ(stat(pidfile, &sb), -1);
	ASSERT_INT_EQ(errno, ENOENT);
	/* Without a pidfile nothing is written. */
	ASSERT_INT_EQ(daemon_start(&opts, NULL, err, sizeof(err)), 0);
	daemon_remove_pidfile();
	free(pidfile);
}

static void
test_pidfile_live_and_stale(void)
{
	struct daemon_opts opts = { NULL, 1, 0, 0 };
	char *pidfile = tmp_path("d.pid"), *text, want[256], err[256] = "";
	pid_t live;

	/* A live process named in the pidfile: refused, file untouched. */
	if ((live = fork()) == 0) {
		alarm(60);
		for (;;)
			pause();
	}
	ASSERT_TRUE(live > 0);
	snprintf(want, sizeof(want), "%ld\n", (long)live);
	spit(pidfile, want);
	ASSERT_INT_EQ(daemon_start(&opts, pidfile, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "already running as pid %ld (%s)",
	    (long)live, pidfile);
	ASSERT_STR_EQ(err, want);
	ASSERT_INT_EQ(pidfile_pid(pidfile), live);

	/* Once it is dead, the pidfile is stale and replaced. */
	kill(live, SIGKILL);
	wait_status(live);
	ASSERT_INT_EQ(daemon_start(&opts, pidfile, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pidfile_pid(pidfile), getpid());
	daemon_remove_pidfile();

	/* Garbage, and our own pid (a restart in a new pid namespace). */
	spit(pidfile, "not a pid\n");
	ASSERT_INT_EQ(daemon_start(&opts, pidfile, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pidfile_pid(pidfile), getpid());
	ASSERT_INT_EQ(daemon_start(&opts, pidfile, err, sizeof(err)), 0);
	ASSERT_INT_EQ(pidfile_pid(pidfile), getpid());

	/* daemon_remove_pidfile() leaves another process's pidfile alone. */
	spit(pidfile, "1\n");
	daemon_remove_pidfile();
	text = slurp(pidfile);
	ASSERT_STR_EQ(text, "1\n");
	free(text);

	/* A folder that does not exist. */
	free(pidfile);
	pidfile = tmp_path("nope/d.pid");
	ASSERT_INT_EQ(daemon_start(&opts, pidfile, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, pidfile);
	free(pidfile);
}

/*
 * Runs daemon_start() without -d in a child ("the launcher"). In the
 * daemon, reports its session and stdin to report, then waits to be
 * killed; in the launcher, a failure is written to errfile.
 */
static pid_t
launch(const char *pidfile, const char *report, const char *errfile)
{
	struct daemon_opts opts = { NULL, 0, 0, 0 };
	pid_t pid;

	if ((pid = fork()) == -1)
		unit_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		char err[256] = "", *tmp;
		struct stat in, null;
		FILE *fp;

		if (daemon_start(&opts, pidfile, err, sizeof(err)) == -1) {
			spit(errfile, err);
			_exit(1);
		}
		alarm(60);
		tmp = xasprintf("%s.tmp", report);
		if ((fp = fopen(tmp, "w")) == NULL)
			_exit(1);
		fprintf(fp, "session leader %d, stdin %s",
		    getsid(0) == getpid(),
		    fstat(0, &in) == 0 && stat("/dev/null", &null) == 0 &&
		            in.st_rdev == null.st_rdev
		        ? "/dev/null"
		        : "other");
		fclose(fp);
		rename(tmp, report);
		for (;;)
			pause();
	}
	return pid;
}

static void
test_detach(void)
{
	char *pidfile = tmp_path("d.pid"), *report = tmp_path("report");
	char *errfile = tmp_path("err"), *text, want[128];
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	pid_t launcher, daemon_pid;
	int status, i;

	launcher = launch(pidfile, report, errfile);
	status = wait_status(launcher);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_INT_EQ(WEXITSTATUS(status), 0);

	/* The pidfile is in place by the time the launcher has exited. */
	daemon_pid = (pid_t)pidfile_pid(pidfile);
	ASSERT_TRUE(daemon_pid > 0);
	ASSERT_INT_NE(daemon_pid, launcher);
	ASSERT_INT_EQ(kill(daemon_pid, 0), 0);

	/* The daemon's own report (bounded wait: it is not a timing test). */
	for (i = 0; i < 1000 && access(report, F_OK) == -1; i++)
		nanosleep(&ts, NULL);
	text = slurp(report);
	ASSERT_STR_EQ(text, "session leader 1, stdin /dev/null");
	free(text);

	/* A second start with the same pidfile fails in the launcher. */
	launcher = launch(pidfile, report, errfile);
	status = wait_status(launcher);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_INT_EQ(WEXITSTATUS(status), 1);
	text = slurp(errfile);
	snprintf(
	    want, sizeof(want), "already running as pid %ld", (long)daemon_pid);
	ASSERT_STR_CONTAINS(text, want);
	free(text);
	ASSERT_INT_EQ(pidfile_pid(pidfile), daemon_pid);

	kill(daemon_pid, SIGKILL);
	free(pidfile);
	free(report);
	free(errfile);
}

struct sigstate {
	struct event_base *base;
	int reloads, stops;
	int last; /* the signal the timer raises */
};

static void
stop_cb(void *arg)
{
	struct sigstate *st = arg;

	st->stops++;
	event_base_loopbreak(st->base);
}

static void
reload_cb(void *arg)
{
	struct sigstate *st = arg;

	st->reloads++;
	/* Ignored: the process must survive it. */
	raise(SIGPIPE);
	raise(st->last);
}

static void
raise_hup_cb(evutil_socket_t fd, short what, void *arg)
{
	raise(SIGHUP);
}

static void
run_signal_loop(int last, int with_cbs, struct sigstate *st)
{
	struct daemon_signals *ds;
	struct timeval now = { 0, 0 };

	memset(st, 0, sizeof(*st));
	st->base = event_base_new();
	st->last = last;
	ASSERT_PTR_NOT_NULL(st->base);
	ds = daemon_signals_new(st->base, with_cbs ? stop_cb : NULL,
	    with_cbs ? reload_cb : NULL, st);
	ASSERT_PTR_NOT_NULL(ds);
	ASSERT_INT_EQ(
	    event_base_once(st->base, -1, EV_TIMEOUT, raise_hup_cb, NULL, &now),
	    0);
	if (!with_cbs) {
		/* With no reload callback, HUP must not stop the loop. */
		struct timeval later = { 0, 50 * 1000 };

		ASSERT_INT_EQ(event_base_once(st->base, -1, EV_TIMEOUT,
		                  raise_hup_cb, NULL, &later),
		    0);
	}
	alarm(20);
	ASSERT_INT_EQ(event_base_dispatch(st->base), 0);
	alarm(0);
	daemon_signals_free(ds);
}

static void
test_signals(void)
{
	struct sigstate st;

	run_signal_loop(SIGTERM, 1, &st);
	ASSERT_INT_EQ(st.reloads, 1);
	ASSERT_INT_EQ(st.stops, 1);
	ASSERT_TRUE(event_base_got_break(st.base));
	event_base_free(st.base);

	run_signal_loop(SIGINT, 1, &st);
	ASSERT_INT_EQ(st.reloads, 1);
	ASSERT_INT_EQ(st.stops, 1);
	ASSERT_TRUE(event_base_got_break(st.base));
	event_base_free(st.base);
}

static void
hup_then_term_cb(evutil_socket_t fd, short what, void *arg)
{
	int *n = arg;

	if (++*n == 1)
		raise(SIGHUP);
	else
		raise(SIGTERM);
}

static void
test_signals_default(void)
{
	struct event_base *base = event_base_new();
	struct daemon_signals *ds;
	struct timeval t0 = { 0, 0 }, t1 = { 0, 50 * 1000 };
	int n = 0;

	ASSERT_PTR_NOT_NULL(base);
	ds = daemon_signals_new(base, NULL, NULL, NULL);
	ASSERT_INT_EQ(
	    event_base_once(base, -1, EV_TIMEOUT, hup_then_term_cb, &n, &t0),
	    0);
	ASSERT_INT_EQ(
	    event_base_once(base, -1, EV_TIMEOUT, hup_then_term_cb, &n, &t1),
	    0);
	alarm(20);
	ASSERT_INT_EQ(event_base_dispatch(base), 0);
	alarm(0);
	/* HUP did nothing; TERM ended the loop through loopexit. */
	ASSERT_INT_EQ(n, 2);
	ASSERT_TRUE(event_base_got_exit(base));
	daemon_signals_free(ds);
	event_base_free(base);
}

static void
test_write_port(void)
{
	char *path = tmp_path("ca.port"), *text, err[256] = "";
	struct dirent *de;
	DIR *d;
	int n = 0;

	ASSERT_INT_EQ(daemon_write_port(path, 8443, err, sizeof(err)), 0);
	text = slurp(path);
	ASSERT_STR_EQ(text, "8443\n");
	free(text);
	ASSERT_INT_EQ(daemon_write_port(path, 41234, err, sizeof(err)), 0);
	text = slurp(path);
	ASSERT_STR_EQ(text, "41234\n");
	free(text);

	/* No temporary file is left beside it. */
	ASSERT_PTR_NOT_NULL(d = opendir(unit_tmpdir()));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	ASSERT_INT_EQ(n, 1);

	ASSERT_INT_EQ(daemon_write_port(path, 70000, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, "bad port 70000");
	free(path);
	path = tmp_path("missing/ca.port");
	ASSERT_INT_EQ(daemon_write_port(path, 1, err, sizeof(err)), -1);
	ASSERT_STR_CONTAINS(err, path);
	free(path);
}

/* Operator commands take -f and --help from anywhere. */
static void
test_command_args(void)
{
	char a0[] = "revoke", a1[] = "--reason", a2[] = "superseded",
	     a3[] = "-f", a4[] = "/etc/ca.json", a5[] = "abc123";
	char *argv[] = { a0, a1, a2, a3, a4, a5, NULL };
	char h0[] = "list", h1[] = "certs", h2[] = "--help";
	char *hargv[] = { h0, h1, h2, NULL };
	int argc = 6, help = -1;
	const char *config;

	config =
	    daemon_command_args(&argc, argv, "SET_TEST_NOPE", "x.json", &help);
	ASSERT_STR_EQ(config, "/etc/ca.json");
	ASSERT_INT_EQ(help, 0);
	ASSERT_INT_EQ(argc, 4);
	ASSERT_STR_EQ(argv[1], "--reason");
	ASSERT_STR_EQ(argv[2], "superseded");
	ASSERT_STR_EQ(argv[3], "abc123");
	ASSERT_PTR_NULL(argv[4]);

	argc = 3;
	setenv("SET_TEST_CONFIG", "/from/env.json", 1);
	config = daemon_command_args(
	    &argc, hargv, "SET_TEST_CONFIG", "x.json", &help);
	ASSERT_STR_EQ(config, "/from/env.json");
	ASSERT_INT_EQ(help, 1);
	ASSERT_INT_EQ(argc, 2);
	unsetenv("SET_TEST_CONFIG");
	argc = 2;
	config = daemon_command_args(
	    &argc, hargv, "SET_TEST_CONFIG", "x.json", &help);
	ASSERT_STR_EQ(config, "x.json");
}

static const struct unit_case cases[] = {
	{ "operator command arguments: -f and --help anywhere",
	    test_command_args },
	{ "getopt: flags, -vv, help, bad options", test_getopt },
	{ "pidfile in the foreground", test_pidfile_foreground },
	{ "pidfile: live pid refused, stale replaced",
	    test_pidfile_live_and_stale },
	{ "detach: parent exits 0, second start refused", test_detach },
	{ "signals: HUP reloads, TERM and INT stop", test_signals },
	{ "signals: default stop, HUP without reload", test_signals_default },
	{ "port file written atomically", test_write_port },
};

int
main(void)
{
	return unit_main("daemon", cases, UNIT_N(cases));
}
