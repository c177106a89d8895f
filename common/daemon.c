/*
 * The daemon skeleton: main() of every daemon parses the standard options
 * with daemon_getopt(), loads its config, calls daemon_start() to detach and
 * claim its pidfile, installs daemon_signals_new() on its event base and runs
 * the loop. Detaching waits for the child to report back through a pipe, so
 * a daemon that cannot start (say, it is already running) says why on the
 * terminal and exits non-zero instead of failing silently in the background.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "xmalloc.h"

/* The pidfile this process wrote, for daemon_remove_pidfile(). */
static char *daemon_pidfile;
static pid_t daemon_pidfile_pid;

struct daemon_signals {
	struct event_base *base;
	struct event *ev[3];
	void (*stop_cb)(void *);
	void (*reload_cb)(void *);
	void *arg;
};

static void
daemon_usage(FILE *fp, const char *usage, const char *prog)
{
	if (usage != NULL)
		fprintf(fp, "%s\n", usage);
	else
		fprintf(fp, "usage: %s [-dhnv] [-f config]\n", prog);
	fflush(fp);
}

int
daemon_getopt(
    int argc, char **argv, const char *usage, struct daemon_opts *opts)
{
	const char *prog = argc > 0 && argv[0] != NULL ? argv[0] : "daemon";
	int ch;

	memset(opts, 0, sizeof(*opts));
	optind = 1;
	/* "+": stop at the first non-option, as POSIX getopt does. */
	for (;;) {
		if (optind < argc && strcmp(argv[optind], "--help") == 0) {
			daemon_usage(stdout, usage, prog);
			exit(0);
		}
		if ((ch = getopt(argc, argv, "+f:dnvh")) == -1)
			break;
		switch (ch) {
		case 'f':
			opts->config = optarg;
			break;
		case 'd':
			opts->foreground = 1;
			break;
		case 'n':
			opts->check_only = 1;
			break;
		case 'v':
			opts->verbose++;
			break;
		case 'h':
			daemon_usage(stdout, usage, prog);
			exit(0);
		default:
			daemon_usage(stderr, usage, prog);
			exit(2);
		}
	}
	return optind;
}

static int
daemon_pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* The pid a pidfile names: -1 when there is no file, 0 when unreadable. */
static pid_t
daemon_pidfile_read(const char *path)
{
	char buf[32], *end;
	ssize_t n;
	long v;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? -1 : 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || v <= 0 || (*end != '\n' && *end))
		return 0;
	return (pid_t)v;
}

/* Writes "text" to a fresh temporary file beside path; its name, or NULL. */
static char *
daemon_tmpfile(const char *path, const char *text, char *err, size_t errlen)
{
	char *tmp = xasprintf("%s.XXXXXX", path);
	size_t len = strlen(text);
	int fd;

	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(tmp);
		return NULL;
	}
	if (fchmod(fd, 0644) == -1 || write(fd, text, len) != (ssize_t)len ||
	    close(fd) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return NULL;
	}
	return tmp;
}

/*
 * Claims path for this process. The new pidfile is complete before it
 * appears (a hard link of a written temporary file), and link() refuses to
 * replace an existing file, so of two daemons starting together only one
 * wins. A pidfile that names a dead process, or this very pid (a restart in
 * a fresh pid namespace), is stale and replaced.
 */
static int
daemon_pidfile_write(const char *path, char *err, size_t errlen)
{
	char text[32], *tmp;
	pid_t me = getpid(), other;
	int tries, ret = -1;

	snprintf(text, sizeof(text), "%ld\n", (long)me);
	if ((tmp = daemon_tmpfile(path, text, err, errlen)) == NULL)
		return -1;
	for (tries = 0;; tries++) {
		if (link(tmp, path) == 0)
			break;
		if (errno != EEXIST) {
			/* A file system without hard links. */
			if (rename(tmp, path) == 0)
				break;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
		if (tries == 3) {
			snprintf(err, errlen, "%s: cannot replace it", path);
			goto done;
		}
		other = daemon_pidfile_read(path);
		if (other > 0 && other != me && daemon_pid_alive(other)) {
			snprintf(err, errlen, "already running as pid %ld (%s)",
			    (long)other, path);
			goto done;
		}
		if (other != -1)
			log_info("%s: replacing a stale pidfile", path);
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
	}
	free(daemon_pidfile);
	daemon_pidfile = xstrdup(path);
	daemon_pidfile_pid = me;
	ret = 0;
done:
	unlink(tmp);
	free(tmp);
	return ret;
}

void
daemon_remove_pidfile(void)
{
	if (daemon_pidfile == NULL)
		return;
	if (daemon_pidfile_pid == getpid() &&
	    daemon_pidfile_read(daemon_pidfile) == daemon_pidfile_pid &&
	    unlink(daemon_pidfile) == -1)
		log_warn("%s: cannot remove the pidfile", daemon_pidfile);
	free(daemon_pidfile);
	daemon_pidfile = NULL;
}

/* The parent's half of detaching: wait for the child's word. */
static int
daemon_wait_child(pid_t pid, int fd, char *err, size_t errlen)
{
	char msg[512];
	size_t got = 0;
	ssize_t n;
	int status;

	while (got < sizeof(msg) - 1) {
		n = read(fd, msg + got, sizeof(msg) - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	msg[got] = '\0';
	if (got == 1 && msg[0] == '\0') {
		fflush(NULL);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got > 0)
		snprintf(err, errlen, "%s", msg);
	else if (WIFSIGNALED(status))
		snprintf(err, errlen,
		    "the daemon died during start-up "
		    "(signal %d)",
		    WTERMSIG(status));
	else
		snprintf(err, errlen,
		    "the daemon exited during start-up "
		    "(status %d)",
		    WEXITSTATUS(status));
	return -1;
}

int
daemon_start(const struct daemon_opts *opts, const char *pidfile, char *err,
    size_t errlen)
{
	char msg[512];
	int fds[2], fd;
	pid_t pid;

	if (opts->foreground)
		return pidfile ? daemon_pidfile_write(pidfile, err, errlen) : 0;

	if (pipe(fds) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid > 0) {
		close(fds[1]);
		return daemon_wait_child(pid, fds[0], err, errlen);
	}

	close(fds[0]);
	if (setsid() == -1) {
		snprintf(msg, sizeof(msg), "setsid: %s", strerror(errno));
		goto fail;
	}
	if (pidfile != NULL &&
	    daemon_pidfile_write(pidfile, msg, sizeof(msg)) == -1)
		goto fail;
	if ((fd = open("/dev/null", O_RDWR)) == -1) {
		snprintf(msg, sizeof(msg), "/dev/null: %s", strerror(errno));
		daemon_remove_pidfile();
		goto fail;
	}
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	if (write(fds[1], "", 1) != 1) {
		/* The parent is gone: nobody waits for this daemon. */
		daemon_remove_pidfile();
		_exit(1);
	}
	close(fds[1]);
	return 0;
fail:
	if (write(fds[1], msg, strlen(msg)) == -1)
		log_warnx("%s", msg);
	_exit(1);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon_signals *ds = arg;

	switch (sig) {
	case SIGHUP:
		if (ds->reload_cb == NULL) {
			log_info("SIGHUP: nothing to reload");
			break;
		}
		log_info("SIGHUP: reloading");
		ds->reload_cb(ds->arg);
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		if (ds->stop_cb != NULL)
			ds->stop_cb(ds->arg);
		else
			event_base_loopexit(ds->base, NULL);
		break;
	}
}

struct daemon_signals *
daemon_signals_new(struct event_base *base, void (*stop_cb)(void *),
    void (*reload_cb)(void *), void *arg)
{
	static const int sigs[3] = { SIGTERM, SIGINT, SIGHUP };
	struct daemon_signals *ds;
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		log_fatal("sigaction SIGPIPE");

	ds = xcalloc(1, sizeof(*ds));
	ds->base = base;
	ds->stop_cb = stop_cb;
	ds->reload_cb = reload_cb;
	ds->arg = arg;
	for (i = 0; i < 3; i++) {
		ds->ev[i] = evsignal_new(base, sigs[i], daemon_signal_cb, ds);
		if (ds->ev[i] == NULL || evsignal_add(ds->ev[i], NULL) == -1)
			log_fatalx(
			    "cannot install a handler for signal %d", sigs[i]);
	}
	return ds;
}

void
daemon_signals_free(struct daemon_signals *ds)
{
	size_t i;

	if (ds == NULL)
		return;
	for (i = 0; i < 3; i++)
		if (ds->ev[i] != NULL)
			event_free(ds->ev[i]);
	free(ds);
}

int
daemon_write_port(const char *path, int port, char *err, size_t errlen)
{
	char text[16], *tmp;

	if (port < 0 || port > 65535) {
		snprintf(err, errlen, "%s: bad port %d", path, port);
		return -1;
	}
	snprintf(text, sizeof(text), "%d\n", port);
	if ((tmp = daemon_tmpfile(path, text, err, errlen)) == NULL)
		return -1;
	if (rename(tmp, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

const char *
daemon_command_args(
    int *argc, char **argv, const char *env, const char *def, int *help)
{
	const char *config = NULL;
	int j, k;

	*help = 0;
	for (j = 1, k = 1; j < *argc; j++) {
		if (strcmp(argv[j], "-h") == 0 ||
		    strcmp(argv[j], "--help") == 0) {
			*help = 1;
			continue;
		}
		if (strcmp(argv[j], "-f") == 0 && j + 1 < *argc) {
			config = argv[++j];
			continue;
		}
		argv[k++] = argv[j];
	}
	*argc = k;
	argv[k] = NULL;
	if (config == NULL && (config = getenv(env)) == NULL)
		config = def;
	return config;
}
