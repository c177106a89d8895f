/*
 * Reasons for the caller. Functions that can fail because of a peer, the
 * disk or the crypto layer take a `char *err, size_t errlen` buffer and write
 * a sentence into it for the person who will read the Error or the log.
 */
#ifndef ERRBUF_H
#define ERRBUF_H

#include <stddef.h>

/* printf into err (when err != NULL and errlen > 0), always terminated. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * An OpenSSL call failed: drains OpenSSL's error queue into the log and
 * writes "what: <first reason>" (or just "what") into err.
 */
void errbuf_openssl(char *err, size_t errlen, const char *what);

#endif
