/*
 * The log module. Lines look like
 *	2026-11-22T10:00:00Z set-ca[1234]: info: issued merchant certificate
 * on stderr in the foreground, or go to syslog(3) (LOG_DAEMON) otherwise.
 * Each line is scrubbed of card numbers before it is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "log.h"
#include "pan.h"

static const char *log_name = "set";
static int log_foreground = 1;
static int log_verbose;

void
log_init(const char *name, int foreground, int verbose)
{
	log_name = name;
	log_foreground = foreground;
	log_verbose = verbose;
	if (!foreground)
		openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

static void
log_vwrite(enum log_level level, const char *fmt, va_list ap, int with_errno)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[2048];
	int saved = errno, n;

	if (level == LOG_LEVEL_DEBUG && log_verbose < 1)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (with_errno && n >= 0 && (size_t)n < sizeof(line))
		snprintf(line + n, sizeof(line) - (size_t)n, ": %s",
		    strerror(saved));
	pan_scrub(line);

	if (log_foreground) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(stderr, "%s %s[%ld]: %s: %s\n", stamp, log_name,
		    (long)getpid(), names[level], line);
		fflush(stderr);
	} else
		syslog(prio[level], "%s: %s", names[level], line);
	errno = saved;
}

#define LOG_FN(fn, level, with_errno)                                          \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vwrite(level, fmt, ap, with_errno);                        \
		va_end(ap);                                                    \
	}

LOG_FN(log_err, LOG_LEVEL_ERR, 0)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
log_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERR, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
log_openssl(const char *what, char *buf, unsigned long buflen)
{
	unsigned long e;
	int first = 1;

	if (buf != NULL && buflen > 0)
		buf[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char reason[256];

		ERR_error_string_n(e, reason, sizeof(reason));
		log_warnx("%s: %s", what, reason);
		if (first && buf != NULL && buflen > 0) {
			const char *r = ERR_reason_error_string(e);

			snprintf(buf, buflen, "%s", r ? r : reason);
		}
		first = 0;
	}
	if (first)
		log_debug("%s: no OpenSSL error queued", what);
}
