/*
 * The skeleton every daemon shares, in the manner of OpenBSD daemons: the
 * standard options, detaching with a pidfile, the signal events (TERM/INT
 * stop, HUP reload) on the libevent loop, and a port file for daemons
 * started on port 0.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>

#include <event2/event.h>

struct daemon_opts {
	const char *config; /* -f; NULL when not given (borrowed from argv) */
	int foreground; /* -d */
	int check_only; /* -n; the caller logs to stderr then */
	int verbose; /* -v, once per -v */
};

/*
 * Parses the standard options from argv starting at optind=1: -f config,
 * -d (foreground, logs on stderr), -n (check the config and exit), -v (more
 * verbose, repeatable), -h / --help (print usage to stdout, exit 0). A bad
 * option prints usage to stderr and exits 2. Parsing stops at the first
 * non-option argument or "--". Returns the index of the first non-option
 * argument. usage is the whole text, e.g. "usage: set-ca [-dnv] [-f file]".
 */
int daemon_getopt(
    int argc, char **argv, const char *usage, struct daemon_opts *opts);

/*
 * Detaches unless opts->foreground (fork, setsid, stdin/out/err to
 * /dev/null; the parent exits 0 once the child is up), then writes the
 * pidfile if pidfile != NULL: refuses to start when the pidfile names a live
 * process ("already running as pid N"), replaces a stale one. The current
 * folder is kept. 0 in the daemon; -1 with the reason in err in the process
 * that called it (when detaching, a child that failed has already exited).
 */
int daemon_start(const struct daemon_opts *opts, const char *pidfile, char *err,
    size_t errlen);
/* Removes the pidfile written by daemon_start, if any, and only when it
 * still names this process. */
void daemon_remove_pidfile(void);

/*
 * Installs TERM and INT (stop) and HUP (reload) handlers on the base, and
 * ignores SIGPIPE. The callbacks run from the loop, not from the signal
 * handler. stop_cb NULL: the loop exits; reload_cb NULL: HUP is logged and
 * ignored. Never NULL; free it before the base.
 */
struct daemon_signals;
struct daemon_signals *daemon_signals_new(struct event_base *base,
    void (*stop_cb)(void *), void (*reload_cb)(void *), void *arg);
void daemon_signals_free(struct daemon_signals *);

/*
 * For the operator commands (set-ca revoke, set-merchant orders, ...): takes
 * "-f CONFIG" and "-h"/"--help" from anywhere in argv (argv[0] is the
 * command's name) and leaves the command's own arguments in argv and *argc.
 * Returns the config path: -f's, else $env, else def. *help is set when
 * help was asked for.
 */
const char *daemon_command_args(
    int *argc, char **argv, const char *env, const char *def, int *help);

/* Writes "port\n" to path atomically (for daemons started on port 0, so
 * scripts can find them). 0, or -1 with the reason in err. */
int daemon_write_port(const char *path, int port, char *err, size_t errlen);

#endif
