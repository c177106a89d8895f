/*
 * One logging module for every program: levels, the program's name and pid
 * on each line, stderr in the foreground and syslog otherwise. Every line
 * passes through pan_scrub(), so no full card number is ever written.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/*
 * name: the program's name; foreground: log to stderr (else syslog);
 * verbose: 0 logs up to info, 1 or more adds debug. Before log_init() the
 * module logs to stderr as "set".
 */
void log_init(const char *name, int foreground, int verbose);
void log_set_verbose(int verbose);

void log_err(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Logs with strerror(errno) appended. */
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));

/* Logs and exits with status 1. */
void log_fatalx(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void log_fatal(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * Drains OpenSSL's error queue into the log at warning level, each entry
 * prefixed by "what". Also returns the first reason in buf (if buf != NULL),
 * so a caller can put it into an Error reply.
 */
void log_openssl(const char *what, char *buf, unsigned long buflen);

#endif
